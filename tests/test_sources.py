"""Sources: every file a spec names is read through one object (mlspec/language/sources.py).

- Disk, memory and git sources fail as reading from disk does;
- a spec that imports another, reads a lexicon file and a CSV dataset checks and compiles
  entirely in memory, to the plan the same files give on disk;
- what a check read is recorded (`read_paths`, `digest`);
- `plan --against REV` reads data files, lexicons and imports at REV.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from mlspec.cli import main
from mlspec.compile.compiler import compile_spec
from mlspec.compile.datasets import load_dataset, load_images
from mlspec.errors import MlspecError, Span, render
from mlspec.language.checker import DatasetInfo, check
from mlspec.language.parser import parse
from mlspec.language.sources import DiskSources, GitSources, MemorySources
from mlspec.model import ImageInfo
from mlspec.run.pipeline import check_file, plan_file

MODEL = """model m {
  onnx "m.onnx"
  input text
  output probabilities labels [negative, positive]
}
"""

SPEC = """spec "main"
import "shared/common.mlspec"
dataset reviews = csv "data/reviews.csv"
capability "Vocabulary" {
  mft "things" {
    template "The {thing} was {adj}." -> positive
  }
  inv "typos" {
    from reviews
    perturb typos variants 2
  }
  mft "labelled" {
    from reviews
  }
}
"""

FILES = {
    "main.mlspec": SPEC,
    "shared/common.mlspec": MODEL + 'lexicon adj = file "adj.txt"\nlexicon thing = ["movie", "film"]\n',
    "shared/adj.txt": "# adjectives\ngood\r\ngreat\n",
    "data/reviews.csv": "text,label\ngood film,positive\nbad film,negative\nan 8 out of 10,positive\n",
}


def memory(folder: Path, files: dict[str, str | bytes] = FILES) -> MemorySources:
    return MemorySources({folder / name: content for name, content in files.items()})


def write_files(folder: Path, files: dict[str, str | bytes] = FILES) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


def plan_texts(plan) -> tuple[str, str]:
    import json

    return json.dumps(plan.to_json(), indent=1, ensure_ascii=False), plan.summary()


# ---------------------------------------------------------------- reading


@pytest.fixture(params=["disk", "memory"])
def sources_of(request, tmp_path):
    """A function: {name: content} -> Sources holding those files under tmp_path."""

    def make(files: dict[str, str | bytes]):
        if request.param == "memory":
            return memory(tmp_path, files)
        write_files(tmp_path, files)
        return DiskSources()

    return make


def test_reads_fail_as_reading_from_disk_does(sources_of, tmp_path):
    sources = sources_of({"sub/a.txt": "one\r\ntwo\n", "latin.txt": b"caf\xe9\n"})
    assert sources.read_text(tmp_path / "sub/a.txt") == "one\ntwo\n"  # universal newlines, as Path.read_text
    assert sources.read_bytes(tmp_path / "sub/a.txt") == b"one\r\ntwo\n"
    assert sources.is_file(tmp_path / "sub/a.txt") and not sources.is_dir(tmp_path / "sub/a.txt")
    assert sources.is_dir(tmp_path / "sub") and not sources.is_file(tmp_path / "sub")
    assert not sources.is_file(tmp_path / "nope.txt") and not sources.is_dir(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError):
        sources.read_text(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError):
        sources.version(tmp_path / "nope.txt")
    with pytest.raises(IsADirectoryError):
        sources.read_text(tmp_path / "sub")
    with pytest.raises(UnicodeDecodeError) as error:
        sources.read_text(tmp_path / "latin.txt")
    assert error.value.start == 3
    assert sources.resolve("../x.csv", tmp_path / "sub/spec.mlspec") == tmp_path / "x.csv"


def test_read_paths_and_digest(sources_of, tmp_path):
    sources = sources_of({"a.txt": "a", "b.txt": "b"})
    sources.read_text(tmp_path / "b.txt")
    sources.is_file(tmp_path / "missing.txt")
    sources.read_bytes(tmp_path / "a.txt")
    assert sources.read_paths == (tmp_path / "b.txt", tmp_path / "missing.txt", tmp_path / "a.txt")
    same = memory(tmp_path, {"a.txt": "a", "b.txt": "b"})
    for name in ("a.txt", "b.txt", "missing.txt"):
        same.is_file(tmp_path / name)
    assert sources.digest() == same.digest()
    other = memory(tmp_path, {"a.txt": "A", "b.txt": "b"})
    for name in ("a.txt", "b.txt", "missing.txt"):
        other.is_file(tmp_path / name)
    assert other.digest() != same.digest()


# ---------------------------------------------------------------- a spec in memory


def test_a_spec_checks_and_compiles_in_memory_as_on_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "project"
    sources = memory(folder)
    _, in_memory = plan_file(folder / "main.mlspec", sources=sources)
    assert not folder.exists()  # nothing was written, nothing read from disk
    assert {folder / name for name in FILES} <= set(sources.read_paths)

    write_files(folder)
    disk = DiskSources()
    _, on_disk = plan_file(folder / "main.mlspec", sources=disk)
    assert plan_texts(in_memory) == plan_texts(on_disk)
    assert sources.digest() == disk.digest()
    assert plan_texts(plan_file(folder / "main.mlspec")[1]) == plan_texts(on_disk)  # the default: the disk

    texts = [in_memory.inputs[i] for i in in_memory.tests[0].inputs]
    assert texts == ["The movie was good.", "The movie was great.", "The film was good.", "The film was great."]
    labelled = in_memory.tests[2]
    assert [in_memory.inputs[i] for i in labelled.inputs] == ["good film", "bad film", "an 8 out of 10"]


def test_the_checked_spec_and_its_datasets_carry_the_sources(tmp_path):
    sources = memory(tmp_path)
    checked = check_file(tmp_path / "main.mlspec", sources=sources)
    assert checked.sources is sources
    assert checked.datasets["reviews"].sources is sources
    assert load_dataset(checked.datasets["reviews"]).labels == ("positive", "negative", "positive")


def test_data_read_in_memory_is_cached_by_content(tmp_path):
    """Two sources holding different files at one path do not share cached rows."""
    one = memory(tmp_path)
    two = memory(tmp_path, {**FILES, "data/reviews.csv": "text,label\nfine,positive\n"})
    plan_one = compile_spec(check_file(tmp_path / "main.mlspec", sources=one), "main.mlspec")
    plan_two = compile_spec(check_file(tmp_path / "main.mlspec", sources=two), "main.mlspec")
    assert [plan_two.inputs[i] for i in plan_two.tests[2].inputs] == ["fine"]
    assert len(plan_one.tests[2].inputs) == 3
    again = memory(tmp_path)  # same content: the cached rows are shared, the read still recorded
    check_file(tmp_path / "main.mlspec", sources=again)
    compile_spec(check_file(tmp_path / "main.mlspec", sources=again), "main.mlspec")
    assert tmp_path / "data/reviews.csv" in again.read_paths


def test_images_read_in_memory_as_on_disk(tmp_path):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, input=np.arange(8, dtype=np.float32).reshape(2, 2, 2) / 8, label=np.array([0, 1]))
    files = {"d.npz": buffer.getvalue()}
    span = Span(file="t.mlspec", line=1, col=1, end_line=1, end_col=2)
    image = ImageInfo((2, 2), 0.0, 1.0)

    def images(sources):
        info = DatasetInfo("d", "npz", tmp_path / "d.npz", {"input": "input", "label": "label"}, span, sources=sources)
        return load_images(info, image)

    in_memory = images(memory(tmp_path, files))
    write_files(tmp_path, files)
    on_disk = images(DiskSources())
    assert np.array_equal(in_memory.images, on_disk.images) and in_memory.labels == on_disk.labels == ("0", "1")


ERROR_CASES = {
    "import missing": ('import "nope.mlspec"\n', {}),
    "lexicon missing": ('lexicon x = file "words.txt"\n', {}),
    "lexicon directory": ('lexicon x = file "words"\n', {"words/a.txt": "a\n"}),
    "lexicon not UTF-8": ('lexicon x = file "words.txt"\n', {"words.txt": b"caf\xe9\n"}),
    "lexicon empty": ('lexicon x = file "words.txt"\n', {"words.txt": "# nothing\n"}),
    "vocabulary missing": ('model t {\n  torch "t.pt"\n  input tokens vocabulary "v.txt"\n  output logits labels [a, b]\n}\n', {}),
    "vocabulary directory": ('model t {\n  torch "t.pt"\n  input tokens vocabulary "v"\n  output logits labels [a, b]\n}\n', {"v/x": "x"}),
    "vocabulary malformed": ('model t {\n  torch "t.pt"\n  input tokens vocabulary "v.txt"\n  output logits labels [a, b]\n}\n', {"v.txt": "<pad>\n<pad>\n"}),
    "vocabulary not UTF-8": ('model t {\n  torch "t.pt"\n  input tokens vocabulary "v.txt"\n  output logits labels [a, b]\n}\n', {"v.txt": b"\xff\n"}),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_file_problems_are_reported_alike_in_memory_and_on_disk(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source, files = ERROR_CASES[case]

    def rendered(sources) -> list[str]:
        with pytest.raises(MlspecError) as error:
            check(parse(source, "t.mlspec"), sources=sources)
        return [render(d) for d in error.value.diagnostics]

    in_memory = rendered(memory(tmp_path, files))
    write_files(tmp_path, files)
    assert in_memory == rendered(DiskSources())


def test_a_model_card_and_its_vocabulary_are_read_through_the_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    card = 'model lstm {\n  torch "lstm.pt"\n  input tokens vocabulary "vocab.txt" max_length 4\n  output logits labels [negative, positive]\n}\n'
    sources = memory(tmp_path, {"t.mlspec": MODEL, "cards/card.mlspec": card, "cards/vocab.txt": "<pad>\n<unk>\ngood\n"})
    checked = check_file("t.mlspec", {"m": "cards/card.mlspec"}, sources=sources)
    model = checked.models["m"]
    assert model.tokenizer.vocabulary == ("<pad>", "<unk>", "good")
    assert model.path == tmp_path / "cards/lstm.pt"
    assert tmp_path / "cards/vocab.txt" in sources.read_paths


# ---------------------------------------------------------------- git revisions


def git(*args: str, cwd: Path) -> str:
    command = ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A git repository holding FILES, committed."""
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path)
    git("init", "-q", cwd=tmp_path)
    git("add", "-A", cwd=tmp_path)
    git("commit", "-q", "-m", "first", cwd=tmp_path)
    return tmp_path


def test_git_sources_read_files_as_they_were_at_a_revision(repository, tmp_path_factory):
    (repository / "shared/adj.txt").write_text("dull\n", encoding="utf-8")
    (repository / "new.txt").write_text("new\n", encoding="utf-8")
    outside = tmp_path_factory.mktemp("outside") / "o.txt"
    outside.write_text("outside\n", encoding="utf-8")
    sources = GitSources("HEAD", repository)
    assert sources.read_text(repository / "shared/adj.txt") == "# adjectives\ngood\ngreat\n"
    assert sources.is_dir(repository / "shared") and sources.is_file(repository / "shared/adj.txt")
    assert not sources.is_file(repository / "new.txt")  # absent at HEAD: missing
    with pytest.raises(FileNotFoundError):
        sources.read_bytes(repository / "new.txt")
    with pytest.raises(IsADirectoryError):
        sources.read_bytes(repository / "shared")
    assert sources.read_text(outside) == "outside\n"  # outside the repository: the disk


def test_plan_against_a_revision_reads_the_data_at_that_revision(repository, capsys):
    assert main(["plan", "main.mlspec", "--against", "HEAD"]) == 0
    assert capsys.readouterr().out.strip() == "main.mlspec: no change to the plan against HEAD"
    csv = repository / "data/reviews.csv"
    csv.write_text(csv.read_text(encoding="utf-8").replace("bad film", "awful film"), encoding="utf-8")
    assert main(["plan", "main.mlspec", "--against", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "main.mlspec against HEAD: 0 tests added, 0 removed, 2 changed"
    assert "~ main.Vocabulary.labelled: 3 -> 3 cases (+1 -1)" in out
    assert "    + awful film  -> negative" in out
    assert "    - bad film  -> negative" in out


def test_plan_against_a_revision_reads_imports_and_lexicons_at_that_revision(repository, capsys):
    (repository / "shared/adj.txt").write_text("good\ngreat\nsplendid\n", encoding="utf-8")
    common = repository / "shared/common.mlspec"
    common.write_text(common.read_text(encoding="utf-8").replace('"film"]', '"film", "show"]'), encoding="utf-8")
    assert main(["plan", "main.mlspec", "--against", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert "~ main.Vocabulary.things: 4 -> 9 cases (+5 -0)" in out
