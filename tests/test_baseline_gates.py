"""Regression gates against a saved run (`--baseline` with `--fail-on-regression`).

- `parse_tolerance`: a plain number is absolute (in the figure's units), `N%` relative
  to the baseline's figure, no text is 0; anything else is a usage error with a hint.
- `judge_regressions`: PASS -> FAIL, or a judged figure worse by more than the tolerance
  (a rated test's fail_rate; a check's figure, in the direction its comparison bounds);
  a worsening exactly equal to the tolerance is not one; missing figures are not judged.
- the console shows REGRESSED with its reason, the baseline's judged figures of every
  kind, `1 error` in the singular and a capability's errors; JSON counts `regressed`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlspec.cli import main
from mlspec.errors import UsageError
from mlspec.report import console_summary, json_report
from mlspec.results import JudgedFigure, RunResult, SpecResult, judged_figures
from mlspec.results import TestResult as TResult  # not collected by pytest
from mlspec.run.baseline import Tolerance, judge_regressions, parse_tolerance

ROOT = Path(__file__).resolve().parent.parent


def make_test(
    kind: str = "mft", status: str = "PASS", metrics: dict | None = None, checks: list[str] | None = None, baseline: dict | None = None, **fields
) -> TResult:
    fields = {"id": f"{kind}-1", "title": f"a {kind} test", "capability": "Cap", "model": "m", "file": "s.mlspec", "line": 1, "message": "", **fields}
    return TResult(kind=kind, status=status, metrics=metrics or {}, checks=checks or [], baseline=baseline, **fields)


def rated(fail_rate: float | None, before: float | None, status: str = "PASS", before_status: str = "PASS") -> TResult:
    return make_test(
        "inv", status, {"cases": 60, "failures": 0, "fail_rate": fail_rate, "max_fail_rate": 0.2}, ["unchanged tolerance 0.1"],
        {"status": before_status, "fail_rate": before}, rated=True,
    )


def run_of(*tests: TResult) -> RunResult:
    return RunResult(specs=[SpecResult(spec="s", path="s.mlspec", seed=0, tests=list(tests))], seconds=1.0)


def judged(test: TResult, tolerance: str | None = None) -> str | None:
    return judge_regressions(run_of(test), parse_tolerance(tolerance)).tests[0].regression


# ---- tolerance


@pytest.mark.parametrize(
    "text, expected",
    [(None, Tolerance(0.0)), ("", Tolerance(0.0)), ("0", Tolerance(0.0)), ("0.02", Tolerance(0.02)), (".5", Tolerance(0.5)),
     ("3", Tolerance(3.0)), ("10%", Tolerance(0.1, relative=True)), (" 2.5% ", Tolerance(0.025, relative=True))],
)
def test_tolerance_parses(text, expected):
    assert parse_tolerance(text) == expected


@pytest.mark.parametrize("text", ["abc", "-0.1", "10%%", "%", "5 points", "nan", "inf", "1e-3", "0.1.2", "+1"])
def test_bad_tolerance_is_a_usage_error_with_a_hint(text):
    with pytest.raises(UsageError) as raised:
        parse_tolerance(text)
    assert repr(text) in str(raised.value)
    assert "10%" in raised.value.diagnostic.hint


def test_tolerance_is_shown_as_written():
    assert [str(parse_tolerance(t)) for t in (None, "0.02", "10%")] == ["0", "0.02", "10%"]


# ---- which figures a test is judged by


def test_judged_figures_of_each_kind():
    assert judged_figures(rated(0.1, 0.05)) == [JudgedFigure("fail_rate", True, "%")]
    fairness = make_test("fairness", metrics={"max_gap": 0.1, "min_ratio": 0.9}, checks=["min_ratio >= 0.8", "max_gap <= 0.2"])
    assert judged_figures(fairness) == [JudgedFigure("min_ratio", False), JudgedFigure("max_gap", True)]
    load = make_test("load", metrics={"p95_latency": 0.012, "error_rate": 0.0, "throughput": 80.0},
                       checks=["p95_latency <= 50ms", "error_rate <= 1%", "throughput >= 50"])
    assert judged_figures(load) == [JudgedFigure("p95_latency", True, "ms"), JudgedFigure("error_rate", True, "%"), JudgedFigure("throughput", False)]


def test_judged_figures_of_an_attack_sweep():
    metrics = {"clean_accuracy": 0.9, "robust_accuracy@eps=0.1": 0.6, "robust_accuracy@eps=0.2": 0.4, "attack_success_rate@eps=0.2": 0.5}
    sweep = make_test("attack", metrics=metrics, checks=["robust_accuracy >= 0.3", "attack_success_rate <= 0.6 at eps 0.2", "clean_accuracy >= 0.8"])
    assert [f.name for f in judged_figures(sweep)] == ["robust_accuracy@eps=0.1", "robust_accuracy@eps=0.2", "attack_success_rate@eps=0.2", "clean_accuracy"]
    single = make_test("attack", metrics={"robust_accuracy": 0.5, "eps": 0.1}, checks=["robust_accuracy >= 0.3 at eps 0.1"])
    assert judged_figures(single) == [JudgedFigure("robust_accuracy", False)]


def test_checks_without_a_direction_or_a_figure_are_not_judged():
    data = make_test(
        "data", metrics={"rows": 100, "duplicates": 3, "duplicates_share": 0.03, "missing": 0.0, "sex in [1, 2]": 0},
        checks=["rows >= 50", "duplicates <= 5%", "missing == 0", "sex in [1, 2]", "bmi between 15 and 50", "column age: integer", "where sex == \"F\""],
    )
    assert judged_figures(data) == [JudgedFigure("rows", False), JudgedFigure("duplicates_share", True, "%")]
    assert judged_figures(make_test("metrics", metrics={"accuracy": 0.8}, checks=["recall(>50K) >= 0.6"])) == []  # not in its metrics
    assert judged_figures(rated(None, 0.1).model_copy(update={"metrics": {"cases": 3}})) == []  # an ERROR's metrics


# ---- the judgement


def test_rated_fail_rate_up_beyond_the_tolerance():
    assert judged(rated(0.1166, 0.05)) == "fail_rate 5.0% -> 11.7% (+6.7 points, tolerance 0)"
    assert judged(rated(0.1166, 0.05), "0.05") == "fail_rate 5.0% -> 11.7% (+6.7 points, tolerance 0.05)"


def test_rated_fail_rate_up_within_the_tolerance():
    assert judged(rated(0.06, 0.05), "0.02") is None


def test_a_worsening_exactly_the_tolerance_is_not_a_regression():
    assert judged(rated(0.07, 0.05), "0.02") is None  # 0.07 - 0.05 is 0.020000000000000004 in floats
    assert judged(rated(0.11, 0.10), "10%") is None
    assert judged(rated(0.0701, 0.05), "0.02") is not None


def test_relative_tolerance_is_of_the_baseline_figure():
    assert judged(rated(0.21, 0.20), "10%") is None  # 5% worse
    assert judged(rated(0.23, 0.20), "10%") == "fail_rate 20.0% -> 23.0% (+3.0 points, tolerance 10% of baseline)"
    assert judged(rated(0.01, 0.0), "10%") is not None  # of nothing: any worsening


def test_an_improvement_or_no_change_is_not_a_regression():
    assert judged(rated(0.01, 0.05)) is None
    assert judged(rated(0.05, 0.05)) is None


def test_fairness_max_gap_up_and_min_ratio_down():
    test = make_test("fairness", metrics={"max_gap": 0.15, "min_ratio": 0.85}, checks=["max_gap <= 0.2", "min_ratio >= 0.8"],
                       baseline={"status": "PASS", "max_gap": 0.08, "min_ratio": 0.85})
    assert judged(test) == "max_gap 0.080 -> 0.150 (+0.070, tolerance 0)"
    worse_ratio = test.model_copy(update={"metrics": {"max_gap": 0.08, "min_ratio": 0.81}})
    assert judged(worse_ratio) == "min_ratio 0.850 -> 0.810 (-0.040, tolerance 0)"
    assert judged(worse_ratio, "0.05") is None
    better = test.model_copy(update={"metrics": {"max_gap": 0.05, "min_ratio": 0.95}})
    assert judged(better) is None


def test_attack_robust_accuracy_down():
    test = make_test("attack", metrics={"clean_accuracy": 0.9, "robust_accuracy": 0.5}, checks=["robust_accuracy >= 0.4"],
                       baseline={"status": "PASS", "clean_accuracy": 0.9, "robust_accuracy": 0.74})
    assert judged(test) == "robust_accuracy 0.740 -> 0.500 (-0.240, tolerance 0)"
    assert judged(test, "0.3") is None
    sweep = make_test("attack", metrics={"robust_accuracy@eps=0.1": 0.5}, checks=["robust_accuracy >= 0.4"],
                        baseline={"status": "PASS", "robust_accuracy@eps=0.1": 0.6})
    assert judged(sweep) == "robust_accuracy(eps=0.1) 0.600 -> 0.500 (-0.100, tolerance 0)"


def test_latency_up():
    test = make_test("load", metrics={"p95_latency": 0.020, "throughput": 100.0}, checks=["p95_latency <= 50ms", "throughput >= 10"],
                       baseline={"status": "PASS", "p95_latency": 0.012, "throughput": 100.0})
    assert judged(test) == "p95_latency 12ms -> 20ms (+8ms, tolerance 0)"
    assert judged(test, "100%") is None
    assert judged(test, "0.005") is not None  # absolute: in seconds


def test_a_count_judged_in_whole_numbers():
    data = make_test("data", metrics={"rows": 90}, checks=["rows >= 50"], baseline={"status": "PASS", "rows": 100})
    assert judged(data) == "rows 100 -> 90 (-10, tolerance 0)"
    assert judged(data, "10%") is None


def test_pass_to_fail_with_equal_figures():
    assert judged(rated(0.1, 0.1, status="FAIL")) == "PASS -> FAIL"
    assert judged(rated(0.3, 0.1, status="FAIL"), "0.5") == "PASS -> FAIL"  # whatever the tolerance
    assert judged(rated(0.3, 0.1, status="FAIL")) == "PASS -> FAIL; fail_rate 10.0% -> 30.0% (+20.0 points, tolerance 0)"
    assert judged(rated(0.1, 0.1, status="FAIL", before_status="FAIL")) is None


def test_missing_figures_are_not_judged():
    assert judged(rated(None, 0.05)) is None
    assert judged(rated(0.5, None)) is None
    no_figure = make_test("fairness", metrics={"max_gap": 0.5}, checks=["max_gap <= 0.1"], baseline={"status": "PASS"})
    assert judged(no_figure) is None
    undefined = no_figure.model_copy(update={"baseline": {"status": "PASS", "max_gap": float("nan")}})
    assert judged(undefined) is None


def test_no_baseline_error_and_skip_are_not_judged():
    assert judged(rated(0.5, 0.1).model_copy(update={"baseline": None})) is None
    assert judged(rated(0.5, 0.1, status="ERROR")) is None
    assert judged(rated(0.5, 0.1, status="SKIP")) is None


def test_judgement_is_pure_and_sets_the_exit_code():
    result = run_of(rated(0.2, 0.1), rated(0.1, 0.1).model_copy(update={"id": "other"}))
    before = result.model_copy(deep=True)
    judged_run = judge_regressions(result, Tolerance())
    assert result == before and result.regressed == 0 and result.exit_code() == 0
    assert judged_run.regressed == 1 and judged_run.exit_code() == 1
    assert [t.regression is not None for t in judged_run.tests] == [True, False]


# ---- console and JSON


def judged_run(*tests: TResult, tolerance: str | None = None) -> RunResult:
    return judge_regressions(run_of(*tests), parse_tolerance(tolerance))


def line_of(text: str, title: str) -> str:
    return next(line for line in text.splitlines() if title in line)


def test_console_regressed_word_and_reason():
    regressed = rated(0.2, 0.1).model_copy(update={"title": "gets worse", "digest": "12/60 failed (20.0%), max 20.0%"})
    steady = rated(0.1, 0.1).model_copy(update={"id": "b", "title": "stays", "digest": "6/60 failed (10.0%), max 20.0%"})
    text = console_summary(judged_run(regressed, steady))
    lines = text.splitlines()
    worse = line_of(text, "gets worse")
    assert worse.startswith("    REGRESSED  inv  ") and worse.endswith("| baseline 10.0% PASS")
    assert lines[lines.index(worse) + 1] == "               regressed: fail_rate 10.0% -> 20.0% (+10.0 points, tolerance 0)"
    assert line_of(text, "stays").startswith("    PASS       inv  ")  # the status column fits REGRESSED
    assert lines[-1] == "mlspec: 2 passed, 0 failed, 0 errors, 0 skipped, 1 regressed (2 tests, 1.0s)"
    assert "\x1b[31mREGRESSED\x1b[0m  " in console_summary(judged_run(regressed, steady), color=True)


def test_console_without_regressions_keeps_its_columns():
    text = console_summary(judged_run(rated(0.1, 0.1)))
    assert line_of(text, "a inv test").startswith("    PASS   inv  ")
    assert text.splitlines()[-1] == "mlspec: 1 passed, 0 failed, 0 errors, 0 skipped (1 test, 1.0s)"


def test_console_baseline_figures_of_every_kind():
    tests = [
        rated(0.05, 0.12),
        make_test("fairness", metrics={"max_gap": 0.05}, checks=["max_gap <= 0.1"], baseline={"status": "PASS", "max_gap": 0.08}, id="f"),
        make_test("attack", metrics={"robust_accuracy": 0.3, "clean_accuracy": 0.9}, checks=["robust_accuracy >= 0.1"],
                    baseline={"status": "PASS", "robust_accuracy": 0.196, "clean_accuracy": 0.9}, id="a"),
        make_test("load", metrics={"p95_latency": 0.01}, checks=["p95_latency <= 50ms"], baseline={"status": "PASS", "p95_latency": 0.012}, id="l"),
        make_test("metrics", metrics={"accuracy": 0.9, "mae": 3.0}, checks=["accuracy >= 0.8", "mae <= 5"],
                    baseline={"status": "FAIL", "accuracy": 0.85, "mae": 4.0}, id="m"),
        make_test("fairness", metrics={"max_gap": 0.05}, checks=["max_gap <= 0.1"], baseline={"status": "FAIL"}, id="g", title="no figure"),
    ]
    text = console_summary(run_of(*tests))
    assert line_of(text, "a inv test").endswith(" | baseline 12.0% PASS")
    assert line_of(text, "a fairness test").endswith(" | baseline max_gap=0.080 PASS")
    assert line_of(text, "a attack test").endswith(" | baseline robust_accuracy=0.196 PASS")
    assert line_of(text, "a load test").endswith(" | baseline p95_latency=12ms PASS")
    assert line_of(text, "a metrics test").endswith(" | baseline accuracy=0.850 mae=4.000 FAIL")
    assert line_of(text, "no figure").endswith(" | baseline FAIL")


def test_console_singular_error_and_capability_errors():
    errored = make_test("inv", "ERROR", {"cases": 40}, rated=True, message="model was not run", id="e1")
    also = errored.model_copy(update={"id": "e2"})
    text = console_summary(run_of(errored))
    assert text.splitlines()[-1] == "mlspec: 0 passed, 0 failed, 1 error, 0 skipped (1 test, 1.0s)"
    assert "  Cap: 1 test, 1 error" in text.splitlines()  # not "40 cases, 0 failures": they never ran
    two = console_summary(run_of(errored, also, rated(0.5, 0.5).model_copy(update={"metrics": {"cases": 4, "failures": 2, "fail_rate": 0.5}})))
    assert "  Cap: 3 tests, 2 errors, 4 cases, 2 failures (50.0%)" in two.splitlines()
    assert two.splitlines()[-1].startswith("mlspec: 1 passed, 0 failed, 2 errors, 0 skipped (")


def test_json_summary_counts_regressed():
    summary = json.loads(json_report(judged_run(rated(0.2, 0.1), rated(0.1, 0.1))))["summary"]
    assert summary == {"tests": 2, "passed": 2, "failed": 0, "errors": 0, "skipped": 0, "regressed": 1}
    data = json.loads(json_report(judged_run(rated(0.2, 0.1))))
    assert data["specs"][0]["tests"][0]["regression"].startswith("fail_rate 10.0% -> 20.0%")


# ---- end to end through the command line

SPEC = f"""spec "gate" seed 1

model sentiment {{
  onnx "{ROOT / "specs/sentiment/model/sentiment.onnx"}"
  input text
  output probabilities labels [negative, positive]
}}

lexicon pos_adj = ["good", "great", "excellent", "amazing", "wonderful", "brilliant", "enjoyable"]
lexicon thing = ["movie", "film", "plot", "cast", "ending"]

capability "Vocabulary" {{
  mft "positive adjectives" {{
    template "The {{thing}} was {{pos_adj}}."
    expect label == EXPECTED
    max_fail_rate 100%
  }}
}}
"""


def test_fail_on_regression_end_to_end(tmp_path, capsys):
    # the same test, still PASS (max 100%), now expecting the label the model mostly does not give: worse
    spec = tmp_path / "gate.mlspec"
    spec.write_text(SPEC.replace("EXPECTED", "positive"), encoding="utf-8")
    saved = tmp_path / "a.json"
    assert main(["run", str(spec), "--json", str(saved)]) == 0
    spec.write_text(SPEC.replace("EXPECTED", "negative"), encoding="utf-8")
    assert main(["run", str(spec), "--baseline", str(saved)]) == 0  # shown, not judged
    capsys.readouterr()
    after = tmp_path / "b.json"
    assert main(["run", str(spec), "--baseline", str(saved), "--fail-on-regression", "--json", str(after)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED" in line_of(out, "positive adjectives")
    assert "regressed: fail_rate " in out and ", 1 regressed (" in out
    assert json.loads(after.read_text(encoding="utf-8"))["summary"]["regressed"] == 1
    assert main(["run", str(spec), "--baseline", str(saved), "--fail-on-regression", "100%"]) == 1  # more than doubled
