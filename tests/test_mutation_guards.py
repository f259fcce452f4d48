"""Exact figures at the edges, where mutation testing (tests/mutation/run.py, docs/mutation.md)
found that a changed comparison or constant went unnoticed: each test here kills such mutants."""

import numpy as np
import pytest

from mlspec.compile.plan import LabelCheck, MetricCheck, MonotonicCheck, Subject, TestPlan, UnchangedCheck, WithinCheck
from mlspec.kinds.behavioural import rate_result
from mlspec.report._text import escape_char, format_probs, one_line, truncate
from mlspec.run.expectations import evaluate, figure_against, negate

# ---- report text


@pytest.mark.parametrize(
    "char, shown",
    [("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\x00", "\\x00"), ("\xff", "\\xff"), ("\u0100", "\\u0100"),
     ("\uffff", "\\uffff"), ("\U00010000", "\\U00010000"), ("\U0010ffff", "\\U0010ffff")],
)
def test_escape_char_width_changes_exactly_at_ff_and_ffff(char, shown):
    assert escape_char(char) == shown


def test_one_line_escapes_every_control_and_keeps_the_rest():
    assert one_line("a\nb\x1fc\x7fd\x9fe\xa0f\ud800") == "a\\nb\\x1fc\\x7fd\\x9fe\xa0f\\ud800"
    assert one_line(" ~\x20") == " ~ "


def test_format_probs_keeps_the_model_order_unless_cut():
    probs = {"negative": 0.2, "neutral": 0.1, "positive": 0.7}
    assert format_probs(probs, 3) == "negative=0.200 neutral=0.100 positive=0.700"
    assert format_probs(probs, 2, top=3) == "negative=0.20 neutral=0.10 positive=0.70"  # as many as top: not reordered
    assert format_probs(probs, 1, top=2) == "positive=0.7 negative=0.2"  # the most probable first


@pytest.mark.parametrize("text, limit, cut", [("abcdef", 6, "abcdef"), ("abcdef", 5, "ab..."), ("abcdef", 3, "..."), ("abcdef", 2, "..."), ("", 0, "")])
def test_truncate_at_the_limit(text, limit, cut):
    assert truncate(text, limit) == cut


# ---- expectations: figures against thresholds, and the messages that show them


@pytest.mark.parametrize("op, holds_not", [("<=", ">"), (">=", "<"), ("<", ">="), (">", "<="), ("==", "!="), ("!=", "==")])
def test_negate_gives_the_relation_that_holds_when_op_does_not(op, holds_not):
    assert negate(op) == holds_not


def test_figure_against_shows_the_figure_the_relation_and_the_threshold():
    check = MetricCheck("robust_accuracy", ">=", 0.6, at=0.1)
    assert figure_against(check, 0.42, False) == "robust_accuracy=0.42 < 0.6 at eps 0.1"
    assert figure_against(check, 0.75, True) == "robust_accuracy=0.75 >= 0.6 at eps 0.1"
    assert figure_against(MetricCheck("recall", ">=", 0.5, argument=">50K"), 1 / 3, False) == "recall(>50K)=0.3333 < 0.5"
    assert figure_against(MetricCheck("failures", "<=", 2), 3, False) == "failures=3 > 2"
    assert figure_against(MetricCheck("max_gap", "<=", 0.2, at=0.05), None, False) == "max_gap=undefined, expected <= 0.2 at eps 0.05"


def test_a_check_that_is_not_of_one_prediction_is_refused():
    test = TestPlan(id="t", title="t", capability="c", kind="mft", models=("m",), file="f", line=1, checks=(MetricCheck("max_gap", "<=", 0.1),),
                    where=(), inputs=np.array([0]), variants=None, variant_case=None)
    with pytest.raises(TypeError, match="`max_gap <= 0.1` is not a check of one prediction"):
        evaluate(test, np.array([[0.5, 0.5]]), ("a", "b"))


def pairs_plan(checks, kind="inv", **extra):
    return TestPlan(id="t", title="t", capability="c", kind=kind, models=("m",), file="f", line=1, checks=tuple(checks), where=(),
                    inputs=np.array([0]), variants=np.array([1]), variant_case=np.array([0]), **extra)


def test_a_passing_check_after_a_failing_one_does_not_make_the_variant_pass():
    scores = np.array([(0.2, 0.8), (0.4, 0.6)])  # the variant stays positive; p[positive] drops by 0.2
    fails = LabelCheck("==", ("negative",))
    for passes in (UnchangedCheck(None), UnchangedCheck(0.5), MonotonicCheck(Subject("positive"), "decreasing", True, 0.5)):
        assert evaluate(pairs_plan([fails, passes], kind="dir"), scores, ("negative", "positive")).passed.tolist() == [False], passes


def test_a_named_regression_output_is_the_one_checked():
    """`value(high)` reads the second output column, in `within`, `value unchanged` and monotonic checks."""
    outputs, labels, high = np.array([(100.0, 4.0), (-100.0, 4.5)]), ("low", "high"), Subject("high", value=True)
    assert evaluate(pairs_plan([UnchangedCheck(0.5, high)]), outputs, labels).passed.tolist() == [True]
    assert evaluate(pairs_plan([MonotonicCheck(high, "increasing", True, 0.5)]), outputs, labels).passed.tolist() == [True]
    mft = TestPlan(id="t", title="t", capability="c", kind="mft", models=("m",), file="f", line=1, checks=(WithinCheck(high, 0.5),), where=(),
                   inputs=np.array([0, 1]), variants=None, variant_case=None, expected_values=np.array([4.5, 4.0]))
    assert evaluate(mft, outputs, labels).passed.tolist() == [True, True]


def test_an_mft_result_counts_every_case_as_applicable():
    test = TestPlan(id="t", title="t", capability="c", kind="mft", models=("m",), file="f", line=1, checks=(LabelCheck("==", ("b",)),), where=(),
                    inputs=np.array([0, 1, 2]), variants=None, variant_case=None)
    scores = np.array([(0.9, 0.1), (0.2, 0.8), (0.3, 0.7)])
    evaluation = evaluate(test, scores, ("a", "b"))
    assert evaluation.applicable.dtype == bool and evaluation.applicable.tolist() == [True, True, True]
    base = dict(id="t", title="t", capability="c", kind="mft", model="m", file="f", line=1)
    result = rate_result(base, test, evaluation, scores, ("a", "b"), describe=str)
    assert (result.metrics["applicable"], result.metrics["failures"]) == (3, 1)
    assert [e.prediction.text for e in result.examples] == ["0"]


def test_large_integer_figures_are_shown_in_full():
    assert figure_against(MetricCheck("failures", "<=", 10), 12345, False) == "failures=12345 > 10"


def test_a_passing_label_check_after_a_failing_one_does_not_make_the_case_pass():
    test = TestPlan(id="t", title="t", capability="c", kind="mft", models=("m",), file="f", line=1, where=(), inputs=np.array([0]), variants=None,
                    variant_case=None, checks=(LabelCheck("==", ("a",)), LabelCheck("==", ("b",))))
    assert evaluate(test, np.array([(0.2, 0.8)]), ("a", "b")).passed.tolist() == [False]
