"""Hardening of the files mlspec reads (each test reproduces a problem found in review):

1. a spec reads files only inside its project (its git repository, else its folder),
   symbolic links resolved, unless `--allow-path DIR` allows more: no
   `lexicon env = file "/proc/self/environ"` copying the environment into reports;
2. the analysed grammar is never unpickled from the shared temporary folder, nor from a
   cache folder or file another user could write;
3. broken data files (JSON nested 100k deep, an NPZ of Python objects, NaN or infinite
   pixels, a path below a file, a loop of links, a FIFO) are located ERRORs of the tests
   using them, never tracebacks;
4. unreadable inputs of the front end (a NUL in a path, a FIFO or directory as spec, a
   name too long, a path below a file, a loop of links, a chain of 1,500 imports) are
   located errors, exit 2.
"""

from __future__ import annotations

import glob
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlspec.cli import main
from mlspec.compile.compiler import compile_spec
from mlspec.errors import MlspecError, UsageError
from mlspec.language.imports import MAX_DEPTH
from mlspec.language.sources import DiskSources, MemorySources, OutsideProjectError
from mlspec.run.pipeline import check_file, plan_file

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT_MODEL = ROOT / "specs/sentiment/model/sentiment.onnx"
DIGITS_MODEL = ROOT / "specs/digits/model/digits.onnx"

TEXT_MODEL = """model m {
  onnx "m.onnx"
  input text
  output probabilities labels [negative, positive]
}
"""
IMAGE_MODEL = """model digits {
  onnx "digits.onnx"
  input image shape [1, 28, 28] range [0, 1]
  output logits labels ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (a git repository: it holds `.git`) with a text model, as the current directory."""
    folder = tmp_path / "project"
    (folder / ".git").mkdir(parents=True)
    shutil.copy(SENTIMENT_MODEL, folder / "m.onnx")
    monkeypatch.chdir(folder)
    monkeypatch.delenv("MLSPEC_ALLOW_PATH", raising=False)
    return folder


def spec_text(*declarations: str, tests: str = 'mft "t" {\n    template "I liked it." -> positive\n  }') -> str:
    return 'spec "s"\n' + TEXT_MODEL + "".join(declarations) + 'capability "C" {\n  ' + tests + "\n}\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def check_errors(capsys, *argv: str) -> str:
    """Run `mlspec check ARGV`, expect exit 2 and no traceback; its error output."""
    assert main(["check", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# ====================================================================== 1. confinement


def test_a_lexicon_of_the_environment_is_refused(project, capsys):
    write(project / "env.mlspec", spec_text('lexicon env = file "/proc/self/environ"\n', tests='mft "t" {\n    template "{env}" -> positive\n  }'))
    err = check_errors(capsys, "env.mlspec")
    assert err.startswith("env.mlspec:7:20: error: lexicon file is outside the project: /proc/self/environ\n")
    assert '    7 | lexicon env = file "/proc/self/environ"\n      |                    ^^^^^^^^^^^^^^^^^^^^\n' in err
    assert f"hint: a spec reads files inside its project, {project}" in err and "--allow-path DIR" in err
    # nor does a run read it, write it into a report or send it to the model
    assert main(["run", "env.mlspec", "--junit", "r.xml", "--json", "r.json"]) == 2
    assert "outside the project" in capsys.readouterr().err
    assert not (project / "r.xml").exists() and not (project / "r.json").exists()
    assert main(["plan", "env.mlspec"]) == 2
    assert "outside the project" in capsys.readouterr().err


def test_a_dataset_outside_the_project_is_refused(project, capsys):
    write(project.parent / "outside.csv", "text,label\nsecret,positive\n")
    write(project / "s.mlspec", spec_text('dataset d = csv "../outside.csv"\n', tests='mft "t" {\n    from d\n  }'))
    err = check_errors(capsys, "s.mlspec")
    assert "s.mlspec:7:17: error: dataset file is outside the project: ../outside.csv" in err
    assert f"(../outside.csv is {project.parent / 'outside.csv'})" in err
    # --allow-path lets it through
    assert main(["check", "s.mlspec", "--allow-path", str(project.parent)]) == 0
    assert "ok: s.mlspec (1 tests, 1 cases)" in capsys.readouterr().out
    _, plan = plan_file("s.mlspec", allowed=[project.parent / "outside.csv"])
    assert [plan.inputs[i] for i in plan.tests[0].inputs] == ["secret"]


def test_a_link_inside_the_project_to_a_file_outside_is_refused(project, capsys):
    write(project.parent / "elsewhere/words.txt", "secret\nwords\n")
    (project / "lexicons").mkdir()
    (project / "lexicons/words.txt").symlink_to(project.parent / "elsewhere/words.txt")
    (project / "linked").symlink_to(project.parent / "elsewhere")  # a linked folder, too
    write(project / "s.mlspec", spec_text('lexicon w = file "lexicons/words.txt"\nlexicon v = file "linked/words.txt"\n', tests='mft "t" {\n    template "{w} {v}" -> positive\n  }'))
    err = check_errors(capsys, "s.mlspec")
    assert "s.mlspec:7:18: error: lexicon file is outside the project: lexicons/words.txt" in err
    assert "s.mlspec:8:18: error: lexicon file is outside the project: linked/words.txt" in err
    assert main(["check", "s.mlspec", "--allow-path", str(project.parent / "elsewhere")]) == 0


def test_the_project_is_the_git_repository_else_the_spec_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLSPEC_ALLOW_PATH", raising=False)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    shutil.copy(SENTIMENT_MODEL, repo / "m.onnx")
    write(repo / "data/d.csv", "text,label\ngood,positive\n")
    body = spec_text('dataset d = csv "../data/d.csv"\n', tests='mft "t" {\n    from d\n  }').replace('"m.onnx"', '"../m.onnx"')
    write(repo / "specs/s.mlspec", body)
    assert main(["check", "repo/specs/s.mlspec"]) == 0  # ../data is inside the repository
    capsys.readouterr()
    shutil.rmtree(repo / ".git")  # no repository: the spec's own folder tree
    err = check_errors(capsys, "repo/specs/s.mlspec")
    assert "error: model file is outside the project: ../m.onnx" in err
    assert "error: dataset file is outside the project: ../data/d.csv" in err
    write(repo / "specs/sub/d.csv", "text,label\ngood,positive\n")
    shutil.copy(SENTIMENT_MODEL, repo / "specs/m.onnx")
    write(repo / "specs/s.mlspec", spec_text('dataset d = csv "sub/d.csv"\n', tests='mft "t" {\n    from d\n  }'))
    assert main(["check", "repo/specs/s.mlspec"]) == 0


def test_models_vocabularies_and_imports_outside_the_project_are_refused(project, capsys):
    outside = project.parent / "outside"
    outside.mkdir()
    shutil.copy(SENTIMENT_MODEL, outside / "m.onnx")
    write(outside / "vocab.txt", "<unk>\n<pad>\ngood\n")
    write(outside / "shared.mlspec", 'lexicon thing = ["film"]\n')
    tokens = 'model t {\n  torch "t.pt"\n  input tokens vocabulary "../outside/vocab.txt"\n  output logits labels [negative, positive]\n}\n'
    write(project / "s.mlspec", 'spec "s"\nimport "../outside/shared.mlspec"\nmodel m {\n  onnx "../outside/m.onnx"\n  input text\n  output probabilities labels [negative, positive]\n}\n' + tokens)
    err = check_errors(capsys, "s.mlspec")
    assert "s.mlspec:2:8: error: imported file is outside the project: ../outside/shared.mlspec" in err
    capsys.readouterr()
    write(project / "s.mlspec", 'spec "s"\nmodel m {\n  onnx "../outside/m.onnx"\n  input text\n  output probabilities labels [negative, positive]\n}\n' + tokens)
    err = check_errors(capsys, "s.mlspec")
    assert "s.mlspec:3:8: error: model file is outside the project: ../outside/m.onnx" in err
    assert "s.mlspec:9:27: error: vocabulary file is outside the project: ../outside/vocab.txt" in err


def test_a_model_named_on_the_command_line_is_allowed(project, capsys):
    outside = project.parent / "models"
    outside.mkdir()
    shutil.copy(SENTIMENT_MODEL, outside / "other.onnx")
    write(outside / "card.mlspec", 'model card {\n  onnx "other.onnx"\n  input text\n  output probabilities labels [negative, positive]\n}\n')
    write(project / "s.mlspec", spec_text())
    assert main(["plan", "s.mlspec", "--model", f"m={outside / 'other.onnx'}"]) == 0
    assert main(["plan", "s.mlspec", "--model", f"m={outside / 'card.mlspec'}"]) == 0
    assert "other.onnx" in capsys.readouterr().out


def test_the_sources_refuse_reads_outside_once_confined(project, monkeypatch):
    write(project.parent / "secret.txt", "secret")
    sources = DiskSources()
    assert sources.read_text(project.parent / "secret.txt") == "secret"  # not confined yet
    sources.confine(project / "s.mlspec")
    assert sources.project == project
    for path in (project.parent / "secret.txt", "/proc/self/environ", project / "../secret.txt"):
        with pytest.raises(OutsideProjectError):
            sources.read_bytes(path)
        with pytest.raises(OutsideProjectError):
            sources.is_file(path)
    sources.allow(project.parent / "secret.txt")
    assert sources.read_text(project.parent / "secret.txt") == "secret"
    elsewhere = write(project.parent / "elsewhere/x.txt", "x")
    with pytest.raises(OutsideProjectError):
        sources.read_bytes(elsewhere)
    monkeypatch.setenv("MLSPEC_ALLOW_PATH", os.pathsep.join(["/nowhere", str(elsewhere.parent)]))  # the environment allows too
    sources.confine(project / "s.mlspec")
    assert sources.read_text(elsewhere) == "x"
    anywhere = DiskSources(allowed=None)  # for trusted callers
    anywhere.confine(project / "s.mlspec")
    assert anywhere.read_text(project.parent / "secret.txt") == "secret"
    memory = MemorySources({project / "s.mlspec": "", project.parent / "x.txt": "x"})
    memory.confine(project / "s.mlspec")
    with pytest.raises(OutsideProjectError):
        memory.read_text(project.parent / "x.txt")


def test_every_demo_spec_still_checks():
    specs = sorted(glob.glob(str(ROOT / "specs/**/*.mlspec"), recursive=True))
    assert len(specs) >= 5
    for spec in specs:
        checked, plan = plan_file(spec)
        assert checked.sources.project == ROOT, spec
        assert not [t for t in plan.tests if t.error], spec


def test_allow_path_is_an_option_of_every_command_that_reads_a_spec(project, capsys):
    write(project.parent / "outside.txt", "good\ngreat\n")
    write(project / "s.mlspec", spec_text('lexicon adj = file "../outside.txt"\n', tests='mft "t" {\n    template "It was {adj}." -> positive\n  }'))
    allow = ["--allow-path", str(project.parent)]
    assert main(["predict", "s.mlspec", "fine"]) == 2
    assert "outside the project" in capsys.readouterr().err
    assert main(["predict", "s.mlspec", "fine", *allow]) == 0
    assert main(["plan", "s.mlspec", *allow]) == 0
    assert main(["run", "s.mlspec", "--no-cache", *allow]) in (0, 1)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "s.mlspec", "--allow-path", "a\0b"])  # parsed like the others
    assert exit_.value.code == 2


# ====================================================================== 2. the grammar cache


def _marker_pickle(marker: Path) -> bytes:
    """A pickle whose loading creates `marker` (what a planted cache file could do)."""

    class Plant:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps(Plant())


# the options mlspec gave Lark(..., cache=True) before: the parser's and the formatter's
OLD_OPTIONS = (
    dict(parser="lalr", propagate_positions=True, strict=True, maybe_placeholders=True, cache=True),
    dict(parser="lalr", strict=True, maybe_placeholders=True, keep_all_tokens=True, cache=True),
)

OLD_CACHE_FILES = """
import json, os, sys
from importlib import resources
from lark import Lark
grammar = resources.files("grammar").joinpath("mlspec.lark").read_text(encoding="utf-8")
for options in json.loads(sys.argv[1]):
    Lark(grammar, **options)
print(json.dumps(sorted(n for n in os.listdir(os.environ["TMPDIR"]) if n.startswith(".lark_cache"))))
"""

NO_CACHE_OPTION = """
import sys, lark
built = lark.Lark.__init__
def init(self, *args, **options):
    assert not options.get("cache"), "Lark's own cache is a pickle in the shared temporary folder"
    built(self, *args, **options)
lark.Lark.__init__ = init
from mlspec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _mlspec(env: dict, *argv: str, script: str = "from mlspec.cli import main; import sys; sys.exit(main(sys.argv[1:]))") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *argv], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def _environment(tmp_path: Path, cache_home: Path) -> dict:
    shared = tmp_path / "shared-tmp"
    shared.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(shared), "XDG_CACHE_HOME": str(cache_home)}


SPEC = str(ROOT / "specs/sentiment/sentiment.mlspec")


def test_a_cache_planted_in_the_shared_temporary_folder_is_never_loaded(tmp_path):
    env = _environment(tmp_path, tmp_path / "cache")
    shared = Path(env["TMPDIR"])
    made = subprocess.run([sys.executable, "-c", OLD_CACHE_FILES, json.dumps(OLD_OPTIONS)], env=env, capture_output=True, text=True, check=True)
    names = json.loads(made.stdout)
    assert len(names) == 2
    marker = tmp_path / "planted-code-ran"
    for name in names:  # Lark reads a digest line, then unpickles
        (shared / name).write_bytes(b"0" * 64 + b"\n" + _marker_pickle(marker))
    # the plant works on Lark's own cache: this is what mlspec used to do
    subprocess.run([sys.executable, "-c", OLD_CACHE_FILES, json.dumps(OLD_OPTIONS[:1])], env=env, capture_output=True, check=True)
    assert marker.exists()
    marker.unlink()
    for name in names:  # planted again: Lark replaced the one it loaded
        (shared / name).write_bytes(b"0" * 64 + b"\n" + _marker_pickle(marker))
    for argv in (["fmt", "--check", SPEC], ["check", SPEC]):
        done = _mlspec(env, *argv)
        assert done.returncode == 0, done.stderr
        assert not marker.exists()
    done = _mlspec(env, "fmt", "--check", SPEC, script=NO_CACHE_OPTION)  # no Lark is built with cache=...
    assert done.returncode == 0, done.stderr
    assert sorted(n for n in os.listdir(shared) if n.startswith(".lark")) == names  # nothing new written there


def test_the_grammar_cache_is_private_and_reused(tmp_path):
    env = _environment(tmp_path, tmp_path / "cache")
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0
    folder = tmp_path / "cache/mlspec"
    assert folder.stat().st_mode & 0o777 == 0o700
    files = sorted(folder.iterdir())
    assert len(files) == 2 and all(f.stat().st_mode & 0o777 == 0o600 and f.name.endswith(".pickle") for f in files)
    before = [f.stat().st_mtime_ns for f in files]
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0
    assert [f.stat().st_mtime_ns for f in sorted(folder.iterdir())] == before  # read, not written again


def _planted_cache(tmp_path: Path, name: str) -> tuple[dict, Path, list[str], Path]:
    """A cache folder whose files (named as mlspec names them) each create a marker when unpickled."""
    names = [f.name for f in sorted((tmp_path / "names/mlspec").iterdir())] if (tmp_path / "names/mlspec").exists() else None
    if names is None:
        assert _mlspec(_environment(tmp_path, tmp_path / "names"), "fmt", "--check", SPEC).returncode == 0
        names = [f.name for f in sorted((tmp_path / "names/mlspec").iterdir())]
    folder = tmp_path / name / "mlspec"
    folder.mkdir(parents=True)
    marker = tmp_path / f"{name}-code-ran"
    for cache_file in names:
        write(folder / cache_file, _marker_pickle(marker))
        os.chmod(folder / cache_file, 0o600)
    os.chmod(folder, 0o700)
    return _environment(tmp_path, tmp_path / name), folder, names, marker


def test_a_cache_folder_or_file_others_can_write_is_not_used(tmp_path):
    # the plant is where mlspec looks: in a private folder, its own files are unpickled
    env, folder, names, marker = _planted_cache(tmp_path, "private")
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0
    assert marker.exists()

    env, folder, names, marker = _planted_cache(tmp_path, "open-folder")
    os.chmod(folder, 0o777)
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0
    assert not marker.exists()
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0  # nor written there
    assert all((folder / n).read_bytes() == _marker_pickle(marker) for n in names)

    env, folder, names, marker = _planted_cache(tmp_path, "open-files")
    for cache_file in names:
        os.chmod(folder / cache_file, 0o666)
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0
    assert not marker.exists()

    env, folder, names, marker = _planted_cache(tmp_path, "group-folder")
    os.chmod(folder, 0o770)
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0
    assert not marker.exists()

    env, folder, names, marker = _planted_cache(tmp_path, "linked")  # the folder a link to another
    os.rename(folder, tmp_path / "linked/elsewhere")
    (tmp_path / "linked/mlspec").symlink_to(tmp_path / "linked/elsewhere")
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0
    assert not marker.exists()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_cache_file_of_another_user_is_not_used(tmp_path):
    env, folder, names, marker = _planted_cache(tmp_path, "foreign")
    for cache_file in names:
        os.chown(folder / cache_file, 65534, 65534)
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0
    assert not marker.exists()
    env, folder, names, marker = _planted_cache(tmp_path, "foreign-folder")
    os.chown(folder, 65534, 65534)
    assert _mlspec(env, "fmt", "--check", SPEC).returncode == 0
    assert not marker.exists()


# ====================================================================== 3. data files


def data_project(project: Path, dataset: str, files: dict[str, str | bytes], image: bool = False) -> Path:
    """A spec with a good test and a test taking its cases from `dataset`."""
    for name, content in files.items():
        write(project / name, content)
    if image:
        shutil.copy(DIGITS_MODEL, project / "digits.onnx")
        body = 'spec "s"\n' + IMAGE_MODEL + dataset + "\n" + 'dataset good = npz "good.npz" { input: x, label: y }\n'
        body += 'capability "C" {\n  mft "good" {\n    from good\n  }\n  mft "broken" {\n    from d\n  }\n}\n'
        buffer = _npz(x=np.zeros((2, 1, 28, 28), dtype=np.float32), y=np.array([0, 1]))
        write(project / "good.npz", buffer)
    else:
        body = spec_text(dataset + "\n", tests='mft "good" {\n    template "I liked it." -> positive\n  }\n  mft "broken" {\n    from d\n  }')
    return write(project / "s.mlspec", body)


def _npz(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def broken_test(spec: Path) -> str:
    """The error of the test `broken` (the compiler keeps going), `good` having none."""
    _, plan = plan_file(spec)
    errors = {t.title: t.error for t in plan.tests}
    assert errors["good"] is None
    assert errors["broken"] is not None
    return errors["broken"]


def run_reports(project: Path, capsys) -> tuple[int, dict]:
    code = main(["run", "s.mlspec", "--no-cache", "--json", "r.json", "--junit", "r.xml"])
    assert "Traceback" not in capsys.readouterr().err
    results = json.loads((project / "r.json").read_text())
    assert (project / "r.xml").exists()
    return code, {t["title"]: t for spec in results["specs"] for t in spec["tests"]}


def test_json_lines_nested_100k_deep(project, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    spec = data_project(project, 'dataset d = jsonl "d.jsonl"', {"d.jsonl": '{"text": "fine", "label": "positive"}\n{"text": ' + deep + ', "label": "positive"}\n'})
    assert "dataset `d`: d.jsonl: line 2: JSON nested too deeply" in broken_test(spec)
    err = check_errors(capsys, "s.mlspec")
    assert "s.mlspec:7:1: error: dataset `d`: d.jsonl: line 2: JSON nested too deeply" in err
    code, tests = run_reports(project, capsys)
    assert code == 3
    assert tests["broken"]["status"] == "ERROR" and "nested too deeply" in tests["broken"]["message"]
    assert tests["good"]["status"] != "ERROR"


def test_an_npz_of_python_objects_is_never_unpickled(project, tmp_path, capsys):
    marker = tmp_path / "unpickled"

    class Plant:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    objects = np.empty((2, 1), dtype=object)
    objects[0, 0], objects[1, 0] = Plant(), Plant()
    spec = data_project(project, 'dataset d = npz "d.npz" { input: x, label: y }', {"d.npz": _npz(x=objects, y=np.array([0, 1]))}, image=True)
    error = broken_test(spec)
    assert "dataset `d`: d.npz: array `x` holds Python objects (a pickle), which mlspec does not load" in error
    labels = _npz(x=np.zeros((2, 1, 28, 28), dtype=np.float32), y=objects[:, 0])  # labels of objects, too
    write(project / "d.npz", labels)
    assert "array `y` holds Python objects" in broken_test(spec)
    err = check_errors(capsys, "s.mlspec")
    assert "s.mlspec:" in err and "array `y` holds Python objects" in err
    code, tests = run_reports(project, capsys)
    assert code == 3 and tests["broken"]["status"] == "ERROR" and tests["good"]["status"] != "ERROR"
    assert not marker.exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_nan_or_infinite_pixels_in_an_npz_are_a_data_error(project, capsys, bad):
    images = np.zeros((4, 1, 28, 28), dtype=np.float64)
    images[2, 0, 5, 5] = bad
    images[3, 0, 0, 0] = bad
    spec = data_project(project, 'dataset d = npz "d.npz" { input: x, label: y }', {"d.npz": _npz(x=images, y=np.arange(4))}, image=True)
    assert "dataset `d`: d.npz: image 2 of array `x` (counting from 0) holds NaN or infinite pixel values" in broken_test(spec)
    code, tests = run_reports(project, capsys)
    assert code == 3 and tests["broken"]["status"] == "ERROR" and tests["good"]["status"] != "ERROR"


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity", "1e999"])
def test_nan_or_infinite_pixels_in_a_csv_are_a_data_error(project, bad):
    header = ",".join(["label", *(f"p{i}" for i in range(784))])
    good_row = ",".join(["1", *["0"] * 784])
    bad_row = ",".join(["2", *["0"] * 783, bad])
    spec = data_project(project, 'dataset d = csv "d.csv" { pixel_max: 255 }', {"d.csv": "\n".join([header, good_row, good_row, bad_row, bad_row]) + "\n"}, image=True)
    assert "dataset `d`: d.csv: line 4 holds NaN or infinite pixel values" in broken_test(spec)


def test_a_data_path_below_a_file_a_loop_of_links_and_a_fifo(project, capsys):
    write(project / "plain.txt", "x")
    (project / "loop.csv").symlink_to(project / "loop.csv")
    os.mkfifo(project / "fifo.csv")
    for path, reason in (
        ("plain.txt/d.csv", "cannot be read: a part of its path is a file, not a folder"),
        ("loop.csv", "cannot be read: too many levels of symbolic links (a loop?)"),
        ("fifo.csv", "cannot be read: not a regular file (a FIFO, socket or device)"),
        ("x" * 300 + ".csv", "cannot be read: its name is too long"),
    ):
        spec = data_project(project, f'dataset d = csv "{path}"', {})
        assert reason in broken_test(spec), path
        assert reason in check_errors(capsys, "s.mlspec")


# ====================================================================== 4. the front end


def test_a_nul_in_a_path(project, capsys):
    with pytest.raises(SystemExit) as exit_:  # the command line: argparse's usage error
        main(["check", "s\0.mlspec"])
    assert exit_.value.code == 2
    assert "a path holds no NUL character" in capsys.readouterr().err
    with pytest.raises(UsageError, match="the path holds a NUL character"):
        check_file("s\0.mlspec")
    cases = {
        "import": ('import "a\0.mlspec"\n', 'imported file path holds a NUL character', "s.mlspec:2:8"),
        "lexicon": ('lexicon w = file "w\0.txt"\n', "lexicon file path holds a NUL character", "s.mlspec:7:18"),
        "dataset": ('dataset d = csv "d\0.csv"\n', "dataset file path holds a NUL character", "s.mlspec:7:17"),
    }
    for name, (line, message, where) in cases.items():
        text = spec_text(line) if name != "import" else 'spec "s"\n' + line + TEXT_MODEL
        write(project / "s.mlspec", text)
        assert f"{where}: error: {message}" in check_errors(capsys, "s.mlspec"), name
    write(project / "s.mlspec", spec_text().replace('"m.onnx"', '"m\0.onnx"'))
    assert "s.mlspec:3:8: error: model file path holds a NUL character" in check_errors(capsys, "s.mlspec")
    vocabulary = 'model t {\n  torch "t.pt"\n  input tokens vocabulary "v\0.txt"\n  output logits labels [negative, positive]\n}\n'
    write(project / "s.mlspec", 'spec "s"\n' + vocabulary)
    assert "vocabulary file path holds a NUL character" in check_errors(capsys, "s.mlspec")


def test_an_unreadable_spec_file(project, capsys):
    os.mkfifo(project / "fifo.mlspec")  # reading it would wait for a writer forever
    assert "error: spec file fifo.mlspec cannot be read: not a regular file" in check_errors(capsys, "fifo.mlspec")
    (project / "folder.mlspec").mkdir()
    assert "error: folder.mlspec is a directory" in check_errors(capsys, "folder.mlspec")
    write(project / "plain.txt", "x")
    assert "cannot be read: a part of its path is a file, not a folder" in check_errors(capsys, "plain.txt/s.mlspec")
    (project / "loop.mlspec").symlink_to(project / "loop.mlspec")
    with pytest.raises(SystemExit) as exit_:  # the command line: argparse's usage error
        main(["check", "loop.mlspec"])
    assert exit_.value.code == 2
    assert "loop.mlspec: too many levels of symbolic links" in capsys.readouterr().err
    with pytest.raises(UsageError, match="spec file loop.mlspec cannot be read: too many levels of symbolic links"):
        check_file("loop.mlspec")
    assert "cannot be read: its name is too long" in check_errors(capsys, "x" * 300 + ".mlspec")
    assert main(["fmt", "--check", "fifo.mlspec"]) == 2
    assert main(["run", "fifo.mlspec"]) == 2
    assert main(["plan", "plain.txt/s.mlspec"]) == 2
    if os.getuid() != 0:  # root reads every file
        locked = write(project / "locked.mlspec", 'spec "s"\n')
        locked.chmod(0)
        assert "spec file locked.mlspec cannot be read: permission denied" in check_errors(capsys, "locked.mlspec")


def test_unreadable_files_a_spec_names(project, capsys):
    write(project / "plain.txt", "x")
    (project / "loop.txt").symlink_to(project / "loop.txt")
    (project / "loop.mlspec").symlink_to(project / "loop.mlspec")
    os.mkfifo(project / "fifo.txt")
    long = "x" * 300
    for path, reason in (
        ("plain.txt/w.txt", "cannot be read: a part of its path is a file, not a folder"),
        ("loop.txt", "cannot be read: too many levels of symbolic links (a loop?)"),
        (long + ".txt", "cannot be read: its name is too long"),
        ("fifo.txt", "cannot be read: not a regular file"),
    ):
        write(project / "s.mlspec", spec_text(f'lexicon w = file "{path}"\n'))
        assert f"s.mlspec:7:18: error: lexicon file {path} {reason}" in check_errors(capsys, "s.mlspec"), path
        vocabulary = f'model t {{\n  torch "t.pt"\n  input tokens vocabulary "{path}"\n  output logits labels [negative, positive]\n}}\n'
        write(project / "s.mlspec", 'spec "s"\n' + vocabulary)
        assert f"s.mlspec:4:27: error: vocabulary file {path} {reason}" in check_errors(capsys, "s.mlspec"), path
    for path, reason in (
        ("plain.txt/a.mlspec", "cannot be read: a part of its path is a file, not a folder"),
        ("loop.mlspec", "cannot be read: too many levels of symbolic links (a loop?)"),
        (long + ".mlspec", "cannot be read: its name is too long"),
    ):
        write(project / "s.mlspec", f'spec "s"\nimport "{path}"\n')
        assert f"s.mlspec:2:8: error: imported file {path} {reason}" in check_errors(capsys, "s.mlspec"), path


def test_a_chain_of_1500_imports_is_cut_at_the_depth_limit(project, capsys):
    for i in range(1500):
        write(project / f"chain/f{i}.mlspec", f'import "f{i + 1}.mlspec"\nlexicon l{i} = ["a", "b"]\n' if i < 1499 else 'lexicon last = ["a", "b"]\n')
    write(project / "s.mlspec", spec_text('import "chain/f0.mlspec"\n'))
    err = check_errors(capsys, "s.mlspec")
    deepest = MAX_DEPTH - 2  # the spec and MAX_DEPTH - 1 imported files
    assert f"chain/f{deepest}.mlspec:1:8: error: imports nest more than {MAX_DEPTH} files deep" in err
    # a chain within the limit merges every file's declarations
    write(project / f"chain/f{deepest}.mlspec", f'lexicon l{deepest} = ["a", "b"]\n')
    checked = check_file("s.mlspec")
    assert {f"l{i}" for i in range(deepest + 1)} <= set(checked.lexicons)


def test_nested_imports_keep_paths_relative_to_the_file_that_wrote_them(project):
    """A file imported through another in a sub-folder: its paths are moved once, not twice."""
    write(project / "a/b/words.txt", "good\ngreat\n")
    write(project / "a/b/y.mlspec", 'lexicon adj = file "words.txt"\n')
    write(project / "a/x.mlspec", 'import "b/y.mlspec"\n')
    write(project / "s.mlspec", spec_text(tests='mft "t" {\n    template "It was {adj}." -> positive\n  }').replace('spec "s"\n', 'spec "s"\nimport "a/x.mlspec"\n'))
    checked = check_file("s.mlspec")
    assert checked.lexicons["adj"] == ("good", "great")


def test_the_compiler_keeps_refused_reads_out_of_the_plan(project):
    """Even a checked spec's data, read at compile time, stays inside the project."""
    write(project / "d.csv", "text,label\ngood,positive\n")
    spec = data_project(project, 'dataset d = csv "d.csv"', {})
    checked = check_file(spec)
    moved = checked.datasets["d"].__class__(**{**checked.datasets["d"].__dict__, "path": Path("/proc/self/environ")})
    checked.datasets["d"] = moved
    plan = compile_spec(checked, "s.mlspec")
    assert "is outside the project" in {t.title: t.error for t in plan.tests}["broken"]
    with pytest.raises(MlspecError):
        check_file(write(project / "t.mlspec", spec_text('dataset d = csv "/proc/self/environ"\n')))
