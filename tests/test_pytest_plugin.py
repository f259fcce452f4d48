"""The pytest plugin (`mlspec.pytest_plugin`): .mlspec files run as pytest items."""

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

# pytester's in-process runs drop the modules imported during a run, and numpy cannot be
# imported twice in a process (nor a test kind registered twice): import what the plugin
# imports lazily up front.
import mlspec.report.console  # noqa: F401
import mlspec.run.executor  # noqa: F401
import mlspec.run.pipeline  # noqa: F401
import runners.onnx_runner  # noqa: F401
import runners.python_runner  # noqa: F401
from mlspec.language.kinds import all_kinds

pytest_plugins = ["pytester"]
all_kinds()  # every kind module, imported once

REPO = Path(__file__).resolve().parents[1]
DEMO_MODEL = REPO / "specs" / "sentiment" / "model" / "sentiment.onnx"
MODEL_CARD = REPO / "specs" / "sentiment" / "model" / "lstm.mlspec"

# `-p no:mlspec` keeps the installed entry point (if any) from registering the module a second time.
PLUGIN = ("-p", "no:mlspec", "-p", "mlspec.pytest_plugin")

DEMO = """\
spec "demo"

model sentiment {
  onnx "MODEL"
  input text
  output probabilities labels [negative, positive]
}

lexicon pos_adj = ["good", "great", "excellent"]
lexicon neg_adj = ["bad", "terrible", "awful"]
lexicon thing = ["movie", "film", "book"]

capability "Vocabulary" {
  mft "positive adjectives" {
    template "The {thing} was {pos_adj}."
    expect label == positive
    max_fail_rate 50%
  }
}

capability "Negation" {
  mft "negated negative is not negative" {
    template "The {thing} was not {neg_adj}."
    expect label != negative
    max_fail_rate 10%
  }
}

capability "Robustness" {
  inv "a final period keeps the label" {
    template "The {thing} was {pos_adj}"
    perturb punctuation
    expect unchanged tolerance 0.1
    max_fail_rate 50%
  }

  inv "only very confident cases" {
    template "The {thing} was {pos_adj}"
    perturb punctuation
    where original.confidence > 0.999
  }
}
"""

# A Python model that appends the size of each batch it scores to calls.txt.
COUNTING_MODEL = """\
from pathlib import Path

def predict(texts):
    with Path(__file__).with_name("calls.txt").open("a") as calls:
        calls.write(f"{len(texts)}\\n")
    return [[0.1, 0.9] if "good" in text else [0.9, 0.1] for text in texts]
"""

COUNTED = """\
spec "counted"

model counted {
  python "counting_model:predict"
  input text
  output probabilities labels [negative, positive]
}

lexicon adj = ["good", "bad", "fine"]

capability "Counting" {
  mft "good is positive" {
    template "It was good."
    expect label == positive
  }
  mft "bad is positive" {
    template "It was bad."
    expect label == positive
  }
  inv "a final period keeps the label" {
    template "It was {adj}"
    perturb punctuation
  }
}
"""

BROKEN = """\
spec "broken"
model sentiment {
  onnx "MODEL"
  input text
  output probabilities labels [negative, positive]
}
lexicon pos_adj = ["good"]
capability "Vocabulary" {
  mft "typo in a placeholder" {
    template "The film was {pos_adjs}."
    expect label == positive
  }
}
"""

TWO_MODELS = """\
model first {
  onnx "MODEL"
  input text
  output probabilities labels [negative, positive]
}
model second {
  onnx "MODEL"
  input text
  output probabilities labels [negative, positive]
}
capability "Vocabulary" {
  mft "positive adjectives" on first, second {
    template "The film was good."
    expect label == positive
  }
  mft "negative adjectives" on second {
    template "The film was bad."
    expect label == negative
  }
}
"""


# A model file that is not ONNX: its tests cannot run (ERROR), with a multi-line diagnostic.
BROKEN_MODEL = """\
spec "broken model"

model sentiment {
  onnx "MODEL"
  input text
  output probabilities labels [negative, positive]
}

capability "Vocabulary" {
  mft "positive adjectives" {
    template "The film was good."
    expect label == positive
  }
  mft "negative adjectives" {
    template "The film was bad."
    expect label == negative
  }
}
"""

SLEEP = 0.5

# A Python model that takes SLEEP seconds for each batch: the scoring time dwarfs the rest.
SLOW_MODEL = f"""\
import time

def predict(texts):
    time.sleep({SLEEP})
    return [[0.1, 0.9] if "good" in text else [0.9, 0.1] for text in texts]
"""


def write_spec(pytester: pytest.Pytester, name: str, text: str, model: Path | str = DEMO_MODEL) -> Path:
    return pytester.makefile(".mlspec", **{name: text.replace("MODEL", str(model))})


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = pytester.runpytest(*PLUGIN, *args)
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    return result


def write_broken_model_spec(folder: Path) -> None:
    """`broken_model.mlspec` in `folder`, whose model file is not an ONNX model."""
    (folder / "not_onnx.onnx").write_text("this is not a model")
    (folder / "broken_model.mlspec").write_text(BROKEN_MODEL.replace("MODEL", "not_onnx.onnx"))


def junit_cases(pytester: pytest.Pytester, name: str = "junit.xml") -> dict[tuple[str, str], ET.Element]:
    """The JUnit testcases pytest wrote, by (classname, name)."""
    return {(case.get("classname"), case.get("name")): case for case in ET.parse(pytester.path / name).iter("testcase")}


def reported_items(result: pytest.RunResult) -> set[str]:
    """The node ids of the mlspec items a `-v` run reports an outcome for."""
    pattern = re.compile(r"^(\S+\.mlspec::.+?) (PASSED|FAILED|ERROR|SKIPPED)")
    return {match.group(1) for line in result.stdout.lines if (match := pattern.match(line))}


def test_each_mlspec_test_is_an_item_with_its_outcome(pytester):
    write_spec(pytester, "demo", DEMO)
    result = run(pytester, "-v", "-rs")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "demo.mlspec::Vocabulary::positive adjectives PASSED*",
            "demo.mlspec::Negation::negated negative is not negative FAILED*",
            "demo.mlspec::Robustness::a final period keeps the label PASSED*",
            "demo.mlspec::Robustness::only very confident cases SKIPPED*",
        ]
    )
    # The failure: headed by the mlspec id, the message, then failing examples.
    result.stdout.fnmatch_lines(
        [
            "*_ demo.Negation.negated negative is not negative _*",
            "fail_rate=1 > max_fail_rate=0.1 (9/9 cases)",
            '- "The movie was not bad." -> negative (negative=* positive=*)',
            "... 6 more failing cases",
        ]
    )
    # A skip names the spec line of the test and the reason.
    line = DEMO.splitlines().index('  inv "only very confident cases" {') + 1
    result.stdout.fnmatch_lines([f"SKIPPED [1] demo.mlspec:{line}: no case meets the `where` conditions (9 cases)"])


def test_junitxml_has_the_tests_and_their_metrics(pytester):
    write_spec(pytester, "demo", DEMO)
    run(pytester, "--junitxml=junit.xml")
    cases = {case.get("name"): case for case in ET.parse(pytester.path / "junit.xml").iter("testcase")}
    assert set(cases) == {
        "positive adjectives",
        "negated negative is not negative",
        "a final period keeps the label",
        "only very confident cases",
    }
    failed = cases["negated negative is not negative"]
    assert failed.get("classname") == "demo.Negation"  # as `mlspec run --junit`: <spec name>.<capability>
    properties = {p.get("name"): p.get("value") for p in failed.iter("property")}
    assert properties["cases"] == "9"
    assert properties["failures"] == "9"
    assert properties["max_fail_rate"] == "0.1"
    assert float(properties["fail_rate"]) == 1.0
    assert "fail_rate=1 > max_fail_rate=0.1" in failed.find("failure").get("message")
    assert cases["only very confident cases"].find("skipped") is not None
    assert cases["positive adjectives"].find("failure") is None


def test_a_spec_with_errors_is_one_failing_item_with_its_diagnostics(pytester):
    write_spec(pytester, "broken", BROKEN)
    write_spec(pytester, "demo", DEMO)
    result = run(pytester, "-rf")
    result.assert_outcomes(passed=2, failed=2, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "broken.mlspec:10:28: error: template placeholder `{pos_adjs}` names no lexicon",
            '   10 |     template "The film was {pos_adjs}."',
            "      |                            ^^^^^^^^^^",
            "hint: did you mean `pos_adj`?",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED broken.mlspec::check*"])


def test_the_model_scores_a_file_once_for_all_its_tests(pytester):
    pytester.makepyfile(counting_model=COUNTING_MODEL)
    write_spec(pytester, "counted", COUNTED)
    result = run(pytester, "--mlspec-allow-python", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["counted.mlspec::Counting::bad is positive FAILED*"])
    calls = (pytester.path / "calls.txt").read_text().split()
    assert len(calls) == 1  # one batch: every unique input of the file


def test_a_spec_that_cannot_run_is_an_error_for_each_item(pytester):
    pytester.makepyfile(counting_model=COUNTING_MODEL)
    write_spec(pytester, "counted", COUNTED)
    result = run(pytester)  # no --mlspec-allow-python
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["ERROR: counted.mlspec:3:1: error: model `counted` is Python code*"])
    assert not (pytester.path / "calls.txt").exists()


def test_mlspec_model_replaces_a_model_in_the_specs_that_declare_it(pytester):
    write_spec(pytester, "demo", DEMO, model="missing.onnx")
    pytester.makepyfile(counting_model=COUNTING_MODEL)
    write_spec(pytester, "counted", COUNTED)  # declares no `sentiment`: left as it is
    copy = shutil.copy(DEMO_MODEL, pytester.path / "copy.onnx")

    without = run(pytester, "--mlspec-allow-python")
    without.assert_outcomes(passed=2, failed=1, errors=4)
    without.stdout.fnmatch_lines(["ERROR: demo.mlspec:4:8: error: file not found: missing.onnx (looked in .)*"])

    options = ("--mlspec-allow-python", "--mlspec-model", f"sentiment={Path(copy).name}", "--mlspec-device", "cpu", "--mlspec-seed", "3")
    run(pytester, *options).assert_outcomes(passed=4, failed=2, skipped=1)


def test_mlspec_model_must_name_an_existing_file(pytester):
    write_spec(pytester, "demo", DEMO)
    result = pytester.runpytest(*PLUGIN, "--mlspec-model", "sentiment=nope.onnx")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlspec-model sentiment: no such file: nope.onnx"])


def test_model_cards_collect_nothing(pytester):
    pytester.makefile(".mlspec", lstm=MODEL_CARD.read_text())
    result = run(pytester)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_test_on_several_models_is_an_item_per_model(pytester):
    write_spec(pytester, "two", TWO_MODELS)
    result = run(pytester, "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "two.mlspec::Vocabulary::positive adjectives [first]",
            "two.mlspec::Vocabulary::positive adjectives [second]",
            "two.mlspec::Vocabulary::negative adjectives",
        ]
    )


def test_junitxml_testcases_are_named_as_by_the_cli(pytester):
    write_spec(pytester, "demo", DEMO)
    write_broken_model_spec(pytester.path)
    write_spec(pytester, "two", TWO_MODELS)  # no `spec` line: the spec is named after its file
    run(pytester, "--junitxml=junit.xml")
    assert set(junit_cases(pytester)) == {
        ("demo.Vocabulary", "positive adjectives"),
        ("demo.Negation", "negated negative is not negative"),
        ("demo.Robustness", "a final period keeps the label"),
        ("demo.Robustness", "only very confident cases"),
        ("broken model.Vocabulary", "positive adjectives"),
        ("broken model.Vocabulary", "negative adjectives"),
        ("two.Vocabulary", "positive adjectives [first]"),
        ("two.Vocabulary", "positive adjectives [second]"),
        ("two.Vocabulary", "negative adjectives"),
    }


def test_junitprefix_still_prefixes_the_classname(pytester):
    write_spec(pytester, "two", TWO_MODELS)
    run(pytester, "--junitxml=junit.xml", "--junitprefix=team")
    assert {classname for classname, _ in junit_cases(pytester)} == {"team.two.Vocabulary"}


def test_junitxml_failure_message_is_the_first_line_and_the_body_the_report(pytester):
    write_spec(pytester, "demo", DEMO)
    run(pytester, "--junitxml=junit.xml")
    failure = junit_cases(pytester)["demo.Negation", "negated negative is not negative"].find("failure")
    assert failure.get("message") == "fail_rate=1 > max_fail_rate=0.1 (9/9 cases)"
    lines = failure.text.splitlines()
    assert lines[0] == "fail_rate=1 > max_fail_rate=0.1 (9/9 cases)"
    assert lines[1].startswith('- "The movie was not bad." -> negative (negative=')
    assert lines[-1] == "... 6 more failing cases"


def test_a_test_that_cannot_run_is_an_error_with_a_one_line_message(pytester):
    write_spec(pytester, "demo", DEMO)
    write_broken_model_spec(pytester.path)
    result = run(pytester, "--junitxml=junit.xml", "-rfE", "-vv")  # -vv: summary lines in full
    result.assert_outcomes(passed=2, failed=1, skipped=1, errors=2)
    diagnostic = "broken_model.mlspec:3:1: error: model `sentiment`: not_onnx.onnx could not be loaded as an ONNX model"
    result.stdout.fnmatch_lines([f"ERROR broken_model.mlspec::Vocabulary::positive adjectives - {diagnostic}*"])
    cases = junit_cases(pytester)
    assert cases["demo.Negation", "negated negative is not negative"].find("error") is None
    for title in ("positive adjectives", "negative adjectives"):
        case = cases["broken model.Vocabulary", title]
        assert case.find("failure") is None
        error = case.find("error")
        message = error.get("message")
        assert message.startswith(f'failed on setup with "{diagnostic}') and "\n" not in message
        assert error.text.splitlines()[:3] == [f"ERROR: {message.split(chr(34))[1]}", "    3 | model sentiment {", "      | ^^^^^^^^^^^^^^^^^"]
        assert {p.get("name"): p.get("value") for p in case.iter("property")} == {"cases": "1"}


def test_each_testcase_takes_its_own_share_of_the_spec_time(pytester):
    pytester.makepyfile(counting_model=SLOW_MODEL)
    write_spec(pytester, "counted", COUNTED)
    recorder = pytester.inline_run(*PLUGIN, "--mlspec-allow-python", "--junitxml=junit.xml")
    recorder.assertoutcome(passed=2, failed=1)
    seconds = {call.item.name: call.item.result.seconds for call in recorder.getcalls("pytest_runtest_setup")}
    times = {name: float(case.get("time")) for (_, name), case in junit_cases(pytester).items()}
    assert times == pytest.approx(seconds, abs=0.02)  # JUnit's time: the result's `seconds`
    total = sum(times.values())
    assert SLEEP <= total < SLEEP + 1.0  # the run is counted once
    assert times["good is positive"] < 0.25 * total  # the first item, which ran the spec: 1 of its 8 inputs
    assert times["a final period keeps the label"] > 0.5 * total  # 6 of the 8 inputs


def test_lf_reruns_only_the_items_that_failed(pytester):
    specs = pytester.mkdir("specs")
    (specs / "demo.mlspec").write_text(DEMO.replace("MODEL", str(DEMO_MODEL)))
    write_broken_model_spec(specs)
    cache = ("-p", "cacheprovider")  # the repository's configuration may turn it off
    first = run(pytester, *cache, "-v", "specs")
    first.assert_outcomes(passed=2, failed=1, skipped=1, errors=2)
    failed = {
        "specs/demo.mlspec::Negation::negated negative is not negative",
        "specs/broken_model.mlspec::Vocabulary::positive adjectives",
        "specs/broken_model.mlspec::Vocabulary::negative adjectives",
    }
    assert len(reported_items(first)) == 6 and failed < reported_items(first)
    again = run(pytester, *cache, "-v", "--lf", "specs")
    again.assert_outcomes(failed=1, errors=2, deselected=3)
    assert reported_items(again) == failed
