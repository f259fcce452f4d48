"""Tests for the reporters in mlspec.report (JUnit XML, JSON, console)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from junitparser import Error, Failure, JUnitXml, Properties, Skipped

from mlspec.report import console_summary, junit_xml, write_json, write_junit
from mlspec.report._text import xml_safe
from mlspec.results import Example, GroupFigure, Prediction, RunResult, SpecResult
from mlspec.results import TestResult as TResult  # not collected by pytest
from mlspec.run.executor import with_figures

NASTY_ORIGINAL = 'He said <b>"great" & fun</b>\x00 \x1b[31mred\x0b end'
NASTY_VARIANT = 'He said <b>"grate" & fun</b>\x00 \x1b[31mred\x0b end'
INV_MESSAGE = "fail rate 0.5 > max_fail_rate 0.1 (2 of 4 cases)"


def probs(neg: float) -> dict[str, float]:
    return {"negative": neg, "positive": round(1 - neg, 6)}


def make_result() -> RunResult:
    mft_pass = TResult(
        id="vocab-1", title="short positive phrases", capability="Vocabulary", kind="mft",
        model="sent", file="specs/sentiment.mlspec", line=12, status="PASS",
        message="fail rate 0.0 <= max_fail_rate 0.05 (0 of 40 cases)",
        checks=["fail_rate 0.0 <= 0.05"],
        metrics={"cases": 40, "failures": 0, "fail_rate": 0.0, "max_fail_rate": 0.05},
        seconds=0.25,
    )
    inv_fail = TResult(
        id="robust-1", title="typos keep the label", capability="Robustness", kind="inv",
        model="sent", file="specs/sentiment.mlspec", line=30, status="FAIL",
        message=INV_MESSAGE,
        checks=["fail_rate 0.5 <= 0.1: failed"],
        metrics={"cases": 4, "failures": 2, "fail_rate": 0.5, "max_fail_rate": 0.1},
        examples=[
            Example(
                original=Prediction(text=NASTY_ORIGINAL, label="positive", probs=probs(0.1)),
                prediction=Prediction(text=NASTY_VARIANT, label="negative", probs=probs(0.8123)),
                expected="positive",
            ),
            Example(
                original=Prediction(text="nice film", label="positive", probs=probs(0.2)),
                prediction=Prediction(text="nice flim", label="negative", probs=probs(0.6)),
            ),
        ],
        seconds=1.5,
    )
    mft_fail = TResult(
        id="vocab-2", title="negated positives", capability="Vocabulary", kind="mft",
        model="sent", file="specs/sentiment.mlspec", line=20, status="FAIL",
        message="fail rate 0.333 > max_fail_rate 0.0 (1 of 3 cases)",
        metrics={"cases": 3, "failures": 1, "fail_rate": 1 / 3, "max_fail_rate": 0.0},
        examples=[
            Example(
                prediction=Prediction(text="not " + "very " * 40 + "good", label="positive", probs=probs(0.3)),
                expected="negative",
            )
        ],
    )
    error = TResult(
        id="robust-2", title="model server down", capability="Robustness", kind="dir",
        model="sent", file="specs/sentiment.mlspec", line=44, status="ERROR",
        message="model 'sent' failed: connection refused\nretry later",
    )
    skip = TResult(
        id="robust-3", title="needs gradients", capability="Robustness", kind="inv",
        model="sent", file="specs/sentiment.mlspec", line=50, status="SKIP",
        message="runner has no gradients",
    )
    fairness = TResult(
        id="fair-1", title="religion parity", capability="Fairness", kind="fairness",
        model="sent", file="specs/fair.mlspec", line=7, status="FAIL",
        message="max_gap 0.5 > 0.1",
        checks=["max_gap 0.5 <= 0.1: failed"],
        metrics={"cases": 90, "max_gap": 0.5, "min_ratio": None},
        groups=[
            GroupFigure(group="Muslim", count=30, value=0.4),
            GroupFigure(group="atheist", count=0, value=None),
            GroupFigure(group="Christian", count=30, value=0.9),
            GroupFigure(group="Jewish", count=30, value=0.65),
        ],
        seconds=0.75,
    )
    return RunResult(
        specs=[
            SpecResult(spec="sentiment", path="specs/sentiment.mlspec", seed=13,
                       tests=[with_figures(t) for t in (mft_pass, inv_fail, mft_fail, error, skip)]),
            SpecResult(spec="fair", path="specs/fair.mlspec", seed=0, tests=[with_figures(fairness)]),
        ],
        seconds=3.25,
    )


@pytest.fixture
def result() -> RunResult:
    return make_result()


@pytest.fixture
def junit(result, tmp_path):
    path = tmp_path / "out" / "junit.xml"
    write_junit(result, path)
    return JUnitXml.fromfile(str(path))


def cases_by_name(junit) -> dict:
    return {case.name: case for suite in junit for case in suite}


def case_properties(case) -> dict[str, str]:
    props = case.child(Properties)
    return {} if props is None else {p.name: p.value for p in props}


# ---- JUnit


def test_junit_suites_one_per_spec(junit):
    suites = list(junit)
    assert [s.name for s in suites] == ["sentiment", "fair"]
    assert [s.tests for s in suites] == [5, 1]
    assert [(s.failures, s.errors, s.skipped) for s in suites] == [(2, 1, 1), (1, 0, 0)]
    assert suites[0]._elem.get("file") == "specs/sentiment.mlspec"
    assert {p.name: p.value for p in suites[0].properties()} == {"seed": "13"}


def test_junit_testcase_attributes(junit):
    cases = cases_by_name(junit)
    assert list(cases) == [
        "short positive phrases", "typos keep the label", "negated positives",
        "model server down", "needs gradients", "religion parity",
    ]
    inv = cases["typos keep the label"]
    assert inv.classname == "sentiment.Robustness"
    assert inv._elem.get("file") == "specs/sentiment.mlspec"
    assert inv._elem.get("line") == "30"
    assert inv.time == 1.5
    assert cases["religion parity"].classname == "fair.Fairness"
    assert cases["religion parity"]._elem.get("line") == "7"


def test_junit_result_types_and_messages(junit):
    cases = cases_by_name(junit)
    assert cases["short positive phrases"].is_passed
    [failure] = cases["typos keep the label"].result
    assert isinstance(failure, Failure)
    assert failure.message == INV_MESSAGE
    [error] = cases["model server down"].result
    assert isinstance(error, Error)
    assert error.message == "model 'sent' failed: connection refused"  # the first line
    assert "connection refused\nretry later" in error.text  # full message in the body
    [skipped] = cases["needs gradients"].result
    assert isinstance(skipped, Skipped)
    assert skipped.message == "runner has no gradients"
    assert isinstance(cases["religion parity"].result[0], Failure)


def test_junit_failure_body_lists_checks_then_examples(junit):
    body = cases_by_name(junit)["typos keep the label"].result[0].text
    lines = body.splitlines()
    assert lines[:2] == ["checks:", "  fail_rate 0.5 <= 0.1: failed"]
    escaped_original = 'He said <b>"great" & fun</b>\\x00 \\x1b[31mred\\x0b end'
    escaped_variant = 'He said <b>"grate" & fun</b>\\x00 \\x1b[31mred\\x0b end'
    assert "     expected: positive" in lines
    assert f"     original: {escaped_original} -> positive (negative=0.100 positive=0.900)" in lines
    assert f"     variant:  {escaped_variant} -> negative (negative=0.812 positive=0.188)" in lines
    assert "     original: nice film -> positive (negative=0.200 positive=0.800)" in lines
    assert lines.index("checks:") < lines.index("     expected: positive")
    mft_body = cases_by_name(junit)["negated positives"].result[0].text
    assert "     input:    not very very" in mft_body
    assert "     expected: negative" in mft_body.splitlines()


def test_junit_fairness_body_has_group_table_by_value(junit):
    body = cases_by_name(junit)["religion parity"].result[0].text
    rows = [line.split() for line in body.splitlines() if line.startswith("  ") and not line.startswith("  max_gap")]
    table = rows[rows.index(["group", "count", "value"]) + 1 :]
    assert table == [
        ["Christian", "30", "0.9000"],
        ["Jewish", "30", "0.6500"],
        ["Muslim", "30", "0.4000"],
        ["atheist", "0", "undefined"],
    ]


def test_junit_metrics_as_testcase_properties(junit):
    cases = cases_by_name(junit)
    assert case_properties(cases["typos keep the label"]) == {
        "cases": "4", "failures": "2", "fail_rate": "0.5", "max_fail_rate": "0.1",
    }
    assert case_properties(cases["negated positives"])["fail_rate"] == repr(1 / 3)
    assert case_properties(cases["religion parity"]) == {"cases": "90", "max_gap": "0.5", "min_ratio": "undefined"}
    assert case_properties(cases["model server down"]) == {}
    # properties come first in the testcase
    assert cases["typos keep the label"]._elem[0].tag == "properties"


def test_junit_parses_with_elementtree_and_is_well_formed(result):
    root = ET.fromstring(junit_xml(result))
    assert root.tag == "testsuites"
    assert [root.get(k) for k in ("tests", "failures", "errors", "skipped")] == ["6", "3", "1", "1"]
    testcases = root.findall("testsuite/testcase")
    assert len(testcases) == 6
    for case in testcases:
        assert case.get("classname")
        assert case.get("name")
        assert case.get("file")
        assert re.fullmatch(r"[1-9]\d*", case.get("line"))
        assert case.get("timestamp") is None


def test_junit_specials_round_trip_and_controls_are_escaped(result):
    text = junit_xml(result)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", text)
    assert '&lt;b&gt;"great" &amp; fun&lt;/b&gt;\\x00 \\x1b[31mred\\x0b end -&gt; positive' in text
    root = ET.fromstring(text)
    body = root.find("testsuite/testcase[@name='typos keep the label']/failure").text
    assert 'He said <b>"great" & fun</b>\\x00 \\x1b[31mred\\x0b end' in body


def test_junit_control_characters_in_names_and_messages():
    test = TResult(
        id="x", title="bell\x07 <title> & \"q\"", capability="Cap\x1b", kind="mft", model="m",
        file="a.mlspec", line=1, status="FAIL", message="bad\x00 value\r\nsecond line",
        examples=[Example(prediction=Prediction(text="lone \ud800 \U0001fffe \x7f", label="l", probs={"l": 1.0}))],
    )
    spec = SpecResult(spec="s", path="a.mlspec", seed=1, tests=[test])
    text = junit_xml(RunResult(specs=[spec]))
    [parsed] = [c for suite in JUnitXml.fromstring(text) for c in suite]
    assert parsed.name == 'bell\\x07 <title> & "q"'
    root = ET.fromstring(text)
    case = root.find("testsuite/testcase")
    assert case.get("name") == 'bell\\x07 <title> & "q"'
    assert case.get("classname") == "s.Cap\\x1b"
    failure = case.find("failure")
    assert failure.get("message") == "bad\\x00 value"
    assert "lone \\ud800 \\U0001fffe \\x7f -> l (l=1.000)" in failure.text


@pytest.mark.parametrize("code", [0x7F, 0x80, 0x85, 0x9F])
def test_xml_safe_escapes_del_and_c1_controls(code):
    assert xml_safe(f"a{chr(code)}b") == f"a\\x{code:02x}b"


def test_xml_safe_keeps_what_xml_can_carry():
    kept = "tab\t new\nline \x7e \xa0 \u00e9 \ufdcf \ufdf0 \ufffd \U0001fffd"
    assert xml_safe(kept) == kept
    assert xml_safe("\ud800 \ufdd0 \ufffe \U0010ffff \r") == "\\ud800 \\ufdd0 \\ufffe \\U0010ffff \\r"


def test_junit_title_with_del_and_c1_keeps_visible_escapes():
    """junit-xml drops DEL and C1 controls from attributes; mlspec escapes them first."""
    test = TResult(id="x", title="a\x85b\x7fc", capability="C", kind="mft", model="m", file="a.mlspec", line=1, status="PASS", message="")
    root = ET.fromstring(junit_xml(RunResult(specs=[SpecResult(spec="s", path="a.mlspec", seed=1, tests=[test])])))
    assert root.find("testsuite/testcase").get("name") == "a\\x85b\\x7fc"


def test_junit_is_deterministic_apart_from_time(result):
    def without_time(text: str) -> str:
        return re.sub(r' time="[^"]*"', "", text)

    first = junit_xml(result)
    changed = make_result()
    for spec in changed.specs:
        for test in spec.tests:
            test.seconds += 7.0
    assert first == junit_xml(make_result())
    assert first != junit_xml(changed)
    assert without_time(first) == without_time(junit_xml(changed))


def test_junit_fail_without_message_still_fails():
    test = TResult(id="x", title="t", capability="C", kind="mft", model="m", file="f", line=3,
                      status="FAIL", message="")
    root = ET.fromstring(junit_xml(RunResult(specs=[SpecResult(spec="s", path="f", seed=0, tests=[test])])))
    assert root.find("testsuite/testcase/failure").get("message") == "test failed"


def test_reporters_do_not_mutate_the_result(result, tmp_path):
    before = result.model_dump()
    junit_xml(result)
    write_json(result, tmp_path / "r.json")
    console_summary(result, color=True)
    assert result.model_dump() == before


# ---- JSON


def test_json_round_trips_with_summary(result, tmp_path):
    path = tmp_path / "nested" / "result.json"
    write_json(result, path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["summary"] == {"tests": 6, "passed": 1, "failed": 3, "errors": 1, "skipped": 1, "regressed": 0}
    assert list(data) == ["summary", "specs", "seconds"]
    assert RunResult.model_validate({k: v for k, v in data.items() if k != "summary"}) == result
    assert data["specs"][0]["tests"][1]["examples"][0]["original"]["text"] == NASTY_ORIGINAL
    assert text.startswith('{\n "summary": {\n  "tests": 6,')  # indent=1


def test_results_normalise_their_fields_as_a_json_reader_gets_them():
    """Records are plain dataclasses: numpy numbers become Python ones, a whole figure stays
    an int only when it is one (so reports write `cases=3`, not `3.000`), sequences are lists."""
    import numpy as np

    test = TResult(id="x", title="t", capability="C", kind="mft", model="m", file="f", line=np.int64(3), status="PASS", message="",
                   checks=("a",), metrics={"cases": 3, "n": np.int64(3), "rate": np.float32(0.5), "flag": True, "none": None},
                   groups=[GroupFigure(group="g", count=np.int64(2), value=np.float64(0.25))])
    assert test.line == 3 and type(test.line) is int
    assert test.checks == ["a"]
    assert [(key, type(value)) for key, value in test.metrics.items()] == [
        ("cases", int), ("n", float), ("rate", float), ("flag", float), ("none", type(None))]
    assert (type(test.groups[0].count), type(test.groups[0].value)) == (int, float)
    with pytest.raises(ValueError, match="status"):
        TResult(id="x", title="t", capability="C", kind="mft", model="m", file="f", line=1, status="OK", message="")
    with pytest.raises(ValueError, match="must be a number"):
        TResult(id="x", title="t", capability="C", kind="mft", model="m", file="f", line=1, status="PASS", message="", metrics={"a": "1"})


def test_results_read_back_from_data_and_refuse_what_is_not_a_result(result):
    data = result.model_dump()
    assert RunResult.model_validate({**data, "summary": {"tests": 6}}) == result  # keys that are no field are ignored
    assert RunResult.model_validate_json(result.model_dump_json()) == result
    copy = result.model_copy(deep=True)
    assert copy == result and copy.specs[0] is not result.specs[0]
    for broken in ([], {"specs": [{"spec": "s"}]}, {"specs": [{"spec": "s", "path": "p", "seed": 1, "tests": [{"id": 1}]}]}, {"specs": 3}):
        with pytest.raises(ValueError):
            RunResult.model_validate(broken)


def test_json_non_finite_and_lone_surrogates(tmp_path):
    test = TResult(id="x", title="t", capability="C", kind="mft", model="m", file="f", line=1,
                      status="FAIL", message="m", metrics={"fail_rate": float("nan")},
                      examples=[Example(prediction=Prediction(text="caf\u00e9 \ud800", label="l", probs={"l": 1.0}))])
    result = RunResult(specs=[SpecResult(spec="s", path="f", seed=0, tests=[test])])
    path = tmp_path / "r.json"
    write_json(result, path)
    raw = path.read_text(encoding="utf-8")
    assert "café" in raw  # ensure_ascii=False
    data = json.loads(raw)
    assert data["specs"][0]["tests"][0]["metrics"]["fail_rate"] is None
    assert data["specs"][0]["tests"][0]["examples"][0]["prediction"]["text"] == "caf\u00e9 \ud800"


# ---- console


def test_console_summary_plain(result):
    text = console_summary(result)
    lines = text.splitlines()
    assert "\x1b" not in text
    assert lines[-1] == "mlspec: 1 passed, 3 failed, 1 error, 1 skipped (6 tests, 3.2s)"
    assert lines[0] == "spec sentiment (specs/sentiment.mlspec, seed 13)"
    assert "  Vocabulary: 2 tests, 43 cases, 1 failure (2.3%)" in lines
    assert "  Robustness: 3 tests, 1 error, 4 cases, 2 failures (50.0%)" in lines
    assert "  Fairness: 1 test" in lines
    # capabilities in order of first appearance, tests grouped under them
    assert lines.index("  Vocabulary: 2 tests, 43 cases, 1 failure (2.3%)") < lines.index(
        "  Robustness: 3 tests, 1 error, 4 cases, 2 failures (50.0%)")
    for word in ("PASS", "FAIL", "ERROR", "SKIP"):
        assert any(line.startswith(f"    {word}") for line in lines), word
    assert all(line == line.rstrip() for line in lines)
    assert text.endswith("\n")


def test_console_test_lines_are_aligned(result):
    lines = console_summary(result).splitlines()
    sentiment = [l for l in lines if re.match(r"    (PASS|FAIL|ERROR|SKIP) ", l) and "fairness" not in l]
    assert len(sentiment) == 5
    # status, kind, title and figures each start in the same column on every line
    assert {re.search(r"\b(mft|inv|dir)\b", l).start() for l in sentiment} == {11}
    # grouped by capability: Vocabulary first, then Robustness
    titles = ["short positive phrases", "negated positives", "typos keep the label", "model server down", "needs gradients"]
    assert [l.index(t) for l, t in zip(sentiment, titles)] == [21] * 5
    figures = [re.search(r"\d+/\d+ failed", l).start() for l in sentiment if " failed" in l]
    assert figures == [21 + len("short positive phrases") + 2] * 3
    assert sentiment[0].endswith("0/40 failed (0.0%), max 5.0%")
    assert sentiment[1].endswith("1/3 failed (33.3%), max 0.0%")
    assert sentiment[2].endswith("2/4 failed (50.0%), max 10.0%")


def test_console_failing_examples(result):
    text = console_summary(result)
    assert '- "He said <b>"great" & fun</b>\\x00 \\x1b[31mred\\x0b end" -> positive (negative=0.10 positive=0.90); expected positive' in text
    assert '  => "He said <b>"grate" & fun</b>\\x00 \\x1b[31mred\\x0b end" -> negative (negative=0.81 positive=0.19)' in text
    long_line = next(l for l in text.splitlines() if '"not very' in l)
    quoted = long_line.split('"')[1]
    assert len(quoted) == 100 and quoted.endswith("...")
    assert "; expected negative" in long_line
    assert "error: model 'sent' failed: connection refused\n" in text
    assert "           retry later\n" in text  # the rest of a multi-line error, below it


def test_console_max_examples(result):
    text = console_summary(result, max_examples=1)
    assert '"nice film"' not in text
    assert "... 1 more example in the JUnit/JSON report" in text
    assert '"nice film" -> positive (negative=0.20 positive=0.80)' in console_summary(result)


def test_console_fairness_extremes(result):
    lines = console_summary(result).splitlines()
    fair_line = next(l for l in lines if "religion parity" in l)
    assert fair_line.split()[:2] == ["FAIL", "fairness"]
    assert fair_line.endswith("cases=90 max_gap=0.500")  # the figures the checks hold
    detail = [l.strip() for l in lines[lines.index(fair_line) + 1 :]]
    # the one-line message (figure against threshold) first, then the extreme groups
    assert detail[1:4] == ["highest: Christian = 0.900 (30 cases)", "lowest:  Muslim = 0.400 (30 cases)", "no value: atheist"]


def test_console_color(result):
    text = console_summary(result, color=True)
    assert "\x1b[32mPASS\x1b[0m" in text
    assert "\x1b[31mFAIL\x1b[0m" in text
    assert "\x1b[33mERROR\x1b[0m" in text
    assert "\x1b[90mSKIP\x1b[0m" in text
    # the model's own ESC is still escaped, colours are the only escapes
    assert re.sub(r"\x1b\[(0|3[0-9]|9[0-9])m", "", text) == console_summary(result)


def test_console_is_ascii_apart_from_model_texts(result):
    text = console_summary(result)
    assert text.isascii()


def test_console_model_column_only_with_several_models(result):
    assert " sent " not in console_summary(result)
    result.specs[0].tests[0].model = "other"  # a fresh fixture: two models in one spec
    lines = console_summary(result).splitlines()
    line = next(l for l in lines if "short positive phrases" in l)
    assert re.search(r"short positive phrases\s+other\s+0/40 failed", line)
    assert re.search(r"typos keep the label\s+sent\s+2/4 failed", next(l for l in lines if "typos" in l))
