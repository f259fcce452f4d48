"""The review workflow: imports, `check --format json` and warnings, `plan --against`,
stable test ids, and the JUnit fields CI systems read."""

import json
import shutil
import subprocess
from pathlib import Path

import junitparser
import pytest

from mlspec.cli import main
from mlspec.run.pipeline import plan_file

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "specs/sentiment/model/sentiment.onnx"

SHARED = f"""
model sentiment {{
  onnx "{MODEL}"
  input text
  output probabilities labels [negative, positive]
}}
lexicon adj = file "adj.txt"
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A spec importing shared declarations from a sub-folder (with a file path of its own)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared/common.mlspec").write_text('import "more.mlspec"\n' + SHARED)
    (tmp_path / "shared/more.mlspec").write_text('lexicon thing = ["movie", "film"]\n')
    (tmp_path / "shared/adj.txt").write_text("good\ngreat\n")
    return tmp_path


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path.name)


TEST = """
capability "Vocabulary" {
  mft "adjectives" {
    template "The {thing} was {adj}." -> positive
  }
}
"""


def test_import_brings_models_lexicons_and_their_imports(project):
    spec = write(project / "a.mlspec", 'import "shared/common.mlspec"\n' + TEST)
    _, plan = plan_file(spec)
    assert list(plan.models) == ["sentiment"]
    texts = [plan.inputs[i] for i in plan.tests[0].inputs]
    # `adj.txt` is read relative to the imported file, `thing` comes from its own import
    assert texts == ["The movie was good.", "The movie was great.", "The film was good.", "The film was great."]


def test_import_cycle_is_reported_at_the_import_line(project, capsys):
    write(project / "a.mlspec", 'import "b.mlspec"\n')
    write(project / "b.mlspec", '\nimport "a.mlspec"\n')
    assert main(["check", "a.mlspec"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("b.mlspec:2:8: error: import cycle: a.mlspec -> b.mlspec -> a.mlspec\n")
    assert '    2 | import "a.mlspec"' in err


def test_import_name_clash_and_missing_file(project, capsys):
    write(project / "a.mlspec", 'import "shared/common.mlspec"\nlexicon adj = ["x", "y"]\nimport "nope.mlspec"\n' + TEST)
    assert main(["check", "a.mlspec"]) == 2
    err = capsys.readouterr().err
    assert 'a.mlspec:1:1: error: `import "shared/common.mlspec"` brings lexicon `adj`, already declared at a.mlspec:2' in err
    assert "a.mlspec:3:8: error: imported file not found: nope.mlspec" in err


def test_a_file_imported_twice_is_read_once(project):
    write(project / "a.mlspec", 'import "shared/common.mlspec"\nimport "shared/more.mlspec"\n' + TEST)
    _, plan = plan_file("a.mlspec")
    assert plan.tests[0].n_cases == 4


def test_check_json_lists_errors_and_warnings_as_data(project, capsys):
    write(project / "ok.mlspec", 'import "shared/common.mlspec"\ncapability "C" {\n  mft "t" {\n    template "The {thing} was {adj}." -> positive\n    sample 10 seed 1\n  }\n}\n')
    write(project / "bad.mlspec", 'import "shared/common.mlspec"\ncapability "C" {\n  mft "t" {\n    template "The {thing} was {adjs}." -> positive\n  }\n}\n')
    assert main(["check", "--format", "json", "ok.mlspec", "bad.mlspec"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == [{"path": "ok.mlspec", "ok": True, "tests": 1, "cases": 4}, {"path": "bad.mlspec", "ok": False}]
    warning, error = report["diagnostics"]
    assert warning["severity"] == "warning" and "larger than the 4 cases" in warning["message"]
    assert warning["span"] == {"file": "ok.mlspec", "line": 5, "col": 5, "end_line": 5, "end_col": 21}
    assert error == {
        "severity": "error",
        "message": "template placeholder `{adjs}` names no lexicon",
        "hint": "did you mean `adj`?",
        "span": {"file": "bad.mlspec", "line": 4, "col": 31, "end_line": 4, "end_col": 37},
    }


def test_a_warning_alone_does_not_fail_check(project, capsys):
    write(project / "w.mlspec", 'import "shared/common.mlspec"\ncapability "C" {\n  mft "t" {\n    template "The {thing} was {adj}." -> positive\n    sample 10\n  }\n}\n')
    assert main(["check", "w.mlspec"]) == 0
    captured = capsys.readouterr()
    assert "w.mlspec:5:5: warning: `sample 10` is larger than the 4 cases there are" in captured.err
    assert "ok: w.mlspec" in captured.out


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_plan_against_a_git_revision(project, capsys):
    git("init", "-q", cwd=project)
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "root", cwd=project)
    spec = project / "a.mlspec"
    spec.write_text('import "shared/common.mlspec"\n' + TEST)
    git("add", "-A", cwd=project)
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "first", cwd=project)
    spec.write_text(
        'import "shared/common.mlspec"\nlexicon extra = ["dull"]\n'
        + TEST.replace("{adj}.\" -> positive", "{adj}.\" -> positive\n    max_fail_rate 10%")
        + 'capability "Negation" {\n  mft "not adj" {\n    template "The {thing} was not {extra}." -> positive\n  }\n}\n'
    )
    assert main(["plan", "a.mlspec", "--against", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "a.mlspec against HEAD: 1 test added, 0 removed, 1 changed"
    assert "+ a.Negation.not adj: 2 cases" in out
    assert "~ a.Vocabulary.adjectives: 4 -> 4 cases (+0 -0)" in out
    assert "    max_fail_rate: 0.0 -> 0.1" in out
    assert main(["plan", "a.mlspec", "--against", "HEAD", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    added = next(t for t in report["tests"] if t["status"] == "added")
    assert added["examples_added"] == ["The movie was not dull.  -> positive", "The film was not dull.  -> positive"]


def test_plan_against_the_same_spec_reports_no_change(capsys):
    demo = ROOT / "specs/sentiment/sentiment.mlspec"
    assert main(["plan", str(demo), "--against", str(demo)]) == 0
    assert "no change to the plan" in capsys.readouterr().out


def test_test_ids_and_results_do_not_depend_on_the_order_of_tests(tmp_path, monkeypatch):
    """Dashboards follow a test across commits: reordering tests changes neither ids nor cases."""
    source = (ROOT / "specs/sentiment/sentiment.mlspec").read_text()
    first = source.index('capability "Vocabulary"')
    vocabulary_end = source.index('capability "Negation"')
    reordered = source[:first] + source[vocabulary_end:] + "\n" + source[first:vocabulary_end]
    folder = tmp_path / "sentiment"
    shutil.copytree(ROOT / "specs/sentiment", folder, ignore=shutil.ignore_patterns("train"))
    (folder / "sentiment.mlspec").write_text(reordered)
    monkeypatch.chdir(ROOT)
    _, original = plan_file("specs/sentiment/sentiment.mlspec")
    _, moved = plan_file(folder / "sentiment.mlspec")

    def cases(plan):
        return {t.id: [plan.inputs[i] for i in t.input_ids()] for t in plan.tests}

    assert [t.id for t in moved.tests] != [t.id for t in original.tests]
    assert cases(moved) == cases(original)


def test_junit_file_and_line_point_at_each_test_for_annotations(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    junit = tmp_path / "junit.xml"
    main(["run", "specs/income/income.mlspec", "--junit", str(junit)])
    source = (ROOT / "specs/income/income.mlspec").read_text().splitlines()
    (suite,) = list(junitparser.JUnitXml.fromfile(str(junit)))
    for case in suite:
        assert case._elem.get("file") == "specs/income/income.mlspec"
        line = int(case._elem.get("line"))
        assert source[line - 1].lstrip().startswith(("mft", "fairness", "metrics", "data", "inv", "dir")) and f'"{case.name}"' in source[line - 1]


SCHEMA = Path(__file__).resolve().parent / "schemas/junit-ci.xsd"


@pytest.mark.parametrize("spec", ["specs/sentiment/sentiment.mlspec", "specs/income/income.mlspec"])
def test_junit_reports_validate_against_the_ci_junit_schema(spec, tmp_path, monkeypatch):
    xmlschema = pytest.importorskip("xmlschema")
    monkeypatch.chdir(ROOT)
    junit = tmp_path / "junit.xml"
    main(["run", spec, "--junit", str(junit)])
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(junit))


def test_the_schema_rejects_what_ci_readers_would_not_take(tmp_path):
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(SCHEMA))
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase name="t" line="0"/></testsuite></testsuites>')
    assert not schema.is_valid(str(bad))  # no classname, and lines count from 1
