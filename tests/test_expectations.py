"""Expectation semantics (CheckList's MFT / INV / DIR) on hand-made probabilities.

Each case states the figures and the verdict CheckList's definitions give for them
(see shared/data/README.md, "How CheckList scores a test").
"""

import numpy as np
import pytest

from mlspec.compile.plan import LabelCheck, MetricCheck, MonotonicCheck, ScoreCheck, Subject, TestPlan, UnchangedCheck, WithinCheck
from mlspec.kinds.fairness import FairnessPlan, GroupMetric, spread_result
from mlspec.run.expectations import evaluate

LABELS = ("negative", "neutral", "positive")


def plan(kind="inv", checks=(), where=(), originals=(0,), variants=(1,), variant_case=(0,), **extra):
    return TestPlan(
        id="t",
        title="t",
        capability="c",
        kind=kind,
        models=("m",),
        file="f",
        line=1,
        checks=tuple(checks),
        where=tuple(where),
        inputs=np.array(originals, dtype=np.int64),
        variants=None if variants is None else np.array(variants, dtype=np.int64),
        variant_case=None if variant_case is None else np.array(variant_case, dtype=np.int64),
        **extra,
    )


def probs(*rows):
    return np.array(rows, dtype=np.float32)


@pytest.mark.parametrize(
    "original, variant, tolerance, passes",
    [
        ((0.1, 0.2, 0.7), (0.2, 0.2, 0.6), None, True),  # same predicted class
        ((0.1, 0.2, 0.7), (0.5, 0.1, 0.4), None, False),  # prediction changed, no tolerance
        ((0.45, 0.1, 0.45001), (0.46, 0.1, 0.44), 0.1, True),  # changed, but p[c] moved by 0.01
        ((0.1, 0.2, 0.7), (0.6, 0.1, 0.3), 0.1, False),  # changed and p[c] moved by 0.4
    ],
)
def test_unchanged_compares_the_originally_predicted_class(original, variant, tolerance, passes):
    test = plan(checks=[UnchangedCheck(tolerance)])
    result = evaluate(test, probs(original, variant), LABELS)
    assert result.passed.tolist() == [passes]


def test_a_case_passes_only_if_every_variant_passes():
    test = plan(checks=[UnchangedCheck(0.1)], originals=(0, 3), variants=(1, 2, 4), variant_case=(0, 0, 1))
    scores = probs((0.1, 0.1, 0.8), (0.1, 0.2, 0.7), (0.8, 0.1, 0.1), (0.7, 0.2, 0.1), (0.65, 0.25, 0.1))
    result = evaluate(test, scores, LABELS)
    assert result.variant_passed.tolist() == [True, False, True]
    assert result.passed.tolist() == [False, True]


@pytest.mark.parametrize(
    "direction, negated, tolerance, diff, passes",
    [
        ("decreasing", True, 0.1, -0.05, True),  # not decreasing: may drop by 0.1
        ("decreasing", True, 0.1, -0.2, False),
        ("increasing", True, 0.1, 0.05, True),  # not increasing: may rise by 0.1
        ("increasing", True, 0.1, 0.2, False),
        ("increasing", False, 0.0, 0.0, False),  # strict: must rise
        ("increasing", False, 0.0, 0.01, True),
        ("decreasing", False, 0.0, -0.01, True),
        ("decreasing", False, 0.0, 0.0, False),
    ],
)
def test_monotonic_on_a_label_probability(direction, negated, tolerance, diff, passes):
    original = (0.5, 0.0, 0.5)
    variant = (0.5 - diff, 0.0, 0.5 + diff)
    test = plan(kind="dir", checks=[MonotonicCheck(Subject("positive"), direction, negated, tolerance)])
    scores = np.array([original, variant], dtype=np.float64)
    assert evaluate(test, scores, LABELS).passed.tolist() == [passes]


def test_confidence_is_the_probability_of_the_originals_predicted_class():
    # The original predicts negative (0.6); the variant predicts positive, and its
    # negative probability is 0.45: confidence dropped by 0.15.
    test = plan(kind="dir", checks=[MonotonicCheck(Subject(None), "decreasing", True, 0.1)])
    result = evaluate(test, probs((0.6, 0.1, 0.3), (0.45, 0.05, 0.5)), LABELS)
    assert result.passed.tolist() == [False]


def test_where_filters_on_the_originals_prediction_and_confidence():
    where = [LabelCheck("!=", ("neutral",)), ScoreCheck(Subject(None), "<", 0.9)]
    test = plan(kind="dir", checks=[LabelCheck("==", ("negative",))], where=where, originals=(0, 2, 4), variants=(1, 3, 5), variant_case=(0, 1, 2))
    scores = probs(
        (0.2, 0.7, 0.1), (0.1, 0.8, 0.1),  # original neutral: not applicable
        (0.05, 0.0, 0.95), (0.9, 0.0, 0.1),  # confident (0.95): not applicable
        (0.3, 0.1, 0.6), (0.2, 0.1, 0.7),  # applies; the variant is not negative: fails
    )
    result = evaluate(test, scores, LABELS)
    assert result.applicable.tolist() == [False, False, True]
    assert result.passed[2] == False  # noqa: E712


def test_mft_label_checks():
    scores = probs((0.7, 0.2, 0.1), (0.1, 0.2, 0.7), (0.2, 0.6, 0.2))
    mft = dict(kind="mft", originals=(0, 1, 2), variants=None, variant_case=None)
    expected = dict(expected=np.array([0, 1, -1]), expected_labels=("negative", "positive"))
    cases = {
        LabelCheck("==", ("negative",)): [True, False, False],
        LabelCheck("!=", ("negative",)): [False, True, True],
        LabelCheck("in", ("neutral", "positive")): [False, True, True],
        LabelCheck("not in", ("neutral", "positive")): [True, False, False],
        ScoreCheck(Subject("positive"), ">=", 0.7): [False, True, False],
        ScoreCheck(Subject(None), ">", 0.65): [True, True, False],
    }
    for check, verdicts in cases.items():
        assert evaluate(plan(checks=[check], **mft), scores, LABELS).passed.tolist() == verdicts, check
    equal = evaluate(plan(checks=[LabelCheck("==", expected=True)], **mft, **expected), scores, LABELS)
    assert equal.passed.tolist() == [True, True, False]


def test_fairness_group_means_and_spread():
    test = plan(
        kind="fairness",
        checks=[MetricCheck("max_gap", "<=", 0.2), MetricCheck("min_ratio", ">=", 0.5)],
        originals=(0, 1, 2, 3),
        variants=None,
        variant_case=None,
        payload=FairnessPlan(groups=np.array([0, 0, 1, 1]), group_names=("a", "b", "c"), metric=GroupMetric("mean", "positive", Subject("positive"))),
    )
    scores = probs((0.2, 0.0, 0.8), (0.4, 0.0, 0.6), (0.7, 0.0, 0.3), (0.5, 0.0, 0.5))
    base = dict(id="t", title="t", capability="c", kind="fairness", model="m", file="f", line=1)
    result = spread_result(base, test, scores, LABELS)
    assert [g.count for g in result.groups] == [2, 2, 0]
    assert [g.value for g in result.groups[:2]] == pytest.approx([0.7, 0.4])
    assert result.groups[2].value is None  # an empty group has no value, and is left out
    assert result.metrics["max_gap"] == pytest.approx(0.3)
    assert result.metrics["min_ratio"] == pytest.approx(0.4 / 0.7)
    assert result.status == "FAIL"  # max_gap 0.3 > 0.2, while min_ratio 0.571 >= 0.5 holds
    assert result.message.startswith("max_gap=0.3 > 0.2 min_ratio=0.5714 >= 0.5")


# ---- boundaries: a change of exactly the tolerance is allowed, one step more is not
# Figures are dyadic (exact in float32 and float64), so `diff == t` holds exactly.

STEP = 2.0**-20  # just above: representable next to every figure below


def monotonic_verdict(direction, negated, tolerance, before, after, *, value=False, relative=False, dtype=np.float64):
    """Whether one variant passes a monotonic check of prob(positive), or of a regression value."""
    subject = Subject(value=True) if value else Subject("positive")
    test = plan(kind="dir", checks=[MonotonicCheck(subject, direction, negated, tolerance, relative)])
    if value:
        scores = np.array([[before], [after]], dtype=dtype)
        return evaluate(test, scores, ("value",)).passed.tolist() == [True]
    scores = np.array([(1 - before, 0.0, before), (1 - after, 0.0, after)], dtype=dtype)
    return evaluate(test, scores, LABELS).passed.tolist() == [True]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tolerance", [0.0, 0.25])
def test_not_increasing_allows_a_rise_of_exactly_the_tolerance(tolerance, dtype):
    assert monotonic_verdict("increasing", True, tolerance, 0.5, 0.5 + tolerance, dtype=dtype)
    assert not monotonic_verdict("increasing", True, tolerance, 0.5, 0.5 + tolerance + STEP, dtype=dtype)
    assert monotonic_verdict("increasing", True, tolerance, 0.5, 0.5 - 0.25, dtype=dtype)  # a fall always passes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tolerance", [0.0, 0.25])
def test_not_decreasing_allows_a_fall_of_exactly_the_tolerance(tolerance, dtype):
    assert monotonic_verdict("decreasing", True, tolerance, 0.5, 0.5 - tolerance, dtype=dtype)
    assert not monotonic_verdict("decreasing", True, tolerance, 0.5, 0.5 - tolerance - STEP, dtype=dtype)
    assert monotonic_verdict("decreasing", True, tolerance, 0.5, 0.5 + 0.25, dtype=dtype)  # a rise always passes


@pytest.mark.parametrize("tolerance", [0.0, 0.25])
def test_strict_directions_fail_on_exactly_the_tolerance(tolerance):
    """`increasing` passes if diff > -t, `decreasing` if diff < t: the boundary itself fails."""
    assert not monotonic_verdict("increasing", False, tolerance, 0.5, 0.5 - tolerance)
    assert monotonic_verdict("increasing", False, tolerance, 0.5, 0.5 - tolerance + STEP)
    assert not monotonic_verdict("decreasing", False, tolerance, 0.5, 0.5 + tolerance)
    assert monotonic_verdict("decreasing", False, tolerance, 0.5, 0.5 + tolerance - STEP)


@pytest.mark.parametrize("tolerance", [0.0, 1.5])
def test_regression_value_not_increasing_and_not_decreasing_at_the_boundary(tolerance):
    for before in (-4.0, 4.0):
        assert monotonic_verdict("increasing", True, tolerance, before, before + tolerance, value=True)
        assert not monotonic_verdict("increasing", True, tolerance, before, before + tolerance + STEP, value=True)
        assert monotonic_verdict("decreasing", True, tolerance, before, before - tolerance, value=True)
        assert not monotonic_verdict("decreasing", True, tolerance, before, before - tolerance - STEP, value=True)


@pytest.mark.parametrize("before", [-4.0, 4.0])
def test_regression_relative_tolerance_is_taken_of_the_originals_magnitude(before):
    """`tolerance 25%` of an original 4 or -4 allows a change of exactly 1 either way it is checked."""
    assert monotonic_verdict("increasing", True, 0.25, before, before + 1.0, value=True, relative=True)
    assert not monotonic_verdict("increasing", True, 0.25, before, before + 1.0 + STEP, value=True, relative=True)
    assert monotonic_verdict("decreasing", True, 0.25, before, before - 1.0, value=True, relative=True)
    assert not monotonic_verdict("decreasing", True, 0.25, before, before - 1.0 - STEP, value=True, relative=True)
    assert not monotonic_verdict("increasing", False, 0.25, before, before - 1.0, value=True, relative=True)
    assert monotonic_verdict("increasing", False, 0.25, before, before - 1.0 + STEP, value=True, relative=True)


def test_an_unchanged_score_passes_not_increasing_and_not_decreasing_with_tolerance_0():
    """The reviewed bug: with `diff < t`, an unchanged score failed `not increasing tolerance 0`."""
    same = probs((0.3, 0.1, 0.6), (0.3, 0.1, 0.6))
    for direction in ("increasing", "decreasing"):
        for subject in (Subject("positive"), Subject(None), Subject("positive", "negative")):
            test = plan(kind="dir", checks=[MonotonicCheck(subject, direction, True, 0.0)])
            assert evaluate(test, same, LABELS).passed.tolist() == [True], (direction, subject)


# ---- regression values: `within`, `value unchanged`, and several checks at once

VALUE = Subject(value=True)


def value_plan(checks, originals, variants=None, variant_case=None, **extra):
    kind = "mft" if variants is None else "inv"
    return plan(kind=kind, checks=checks, originals=originals, variants=variants, variant_case=variant_case, **extra)


def values(*column):
    return np.array(column, dtype=np.float64).reshape(-1, 1)


@pytest.mark.parametrize("relative, tolerance", [(False, 1.0), (True, 0.25)])
def test_within_allows_exactly_the_tolerance_of_the_expected_value(relative, tolerance):
    """Expected -4 and 4; 1 away passes (absolute 1, or 25% of |expected|), a step more fails."""
    outputs = values(-5.0, -3.0 + STEP, 3.0, 5.0 + STEP)
    test = value_plan([WithinCheck(VALUE, tolerance, relative)], originals=(0, 1, 2, 3), expected_values=np.array([-4.0, -4.0, 4.0, 4.0]))
    assert evaluate(test, outputs, ("value",)).passed.tolist() == [True, False, True, False]


@pytest.mark.parametrize(
    "tolerance, relative, after, passes",
    [(None, False, 4.0, True), (None, False, 4.0 + STEP, False), (1.0, False, 5.0, True), (1.0, False, 3.0 - STEP, False),
     (0.25, True, 3.0, True), (0.25, True, 5.0 + STEP, False)],
)
def test_value_unchanged_at_the_boundary(tolerance, relative, after, passes):
    test = value_plan([UnchangedCheck(tolerance, VALUE, relative)], originals=(0,), variants=(1,), variant_case=(0,))
    assert evaluate(test, values(4.0, after), ("value",)).passed.tolist() == [passes]


def test_unchanged_allows_a_move_of_exactly_the_tolerance():
    moved = probs((0.25, 0.0, 0.75), (0.5, 0.0, 0.5))  # the prediction flips; p[positive] moved by exactly 0.25
    assert evaluate(plan(checks=[UnchangedCheck(0.25)]), moved, LABELS).passed.tolist() == [True]
    assert evaluate(plan(checks=[UnchangedCheck(0.25 - STEP)]), moved, LABELS).passed.tolist() == [False]


def test_every_check_must_hold_whatever_their_order():
    """A case passes only if all its checks pass: a failing check is not undone by a later one."""
    mft = dict(originals=(0,), expected_values=np.array([4.0]))
    near, far = WithinCheck(VALUE, 1.0), WithinCheck(VALUE, 0.5)
    for checks in ([near, far], [far, near]):
        assert evaluate(value_plan(checks, **mft), values(4.75), ("value",)).passed.tolist() == [False]
    pairs = dict(originals=(0,), variants=(1,), variant_case=(0,))
    for checks in ([UnchangedCheck(1.0, VALUE), UnchangedCheck(0.5, VALUE)], [UnchangedCheck(0.5, VALUE), UnchangedCheck(1.0, VALUE)]):
        assert evaluate(value_plan(checks, **pairs), values(4.0, 4.75), ("value",)).passed.tolist() == [False]
    scores = probs((0.2, 0.1, 0.7), (0.6, 0.1, 0.3))
    for checks in ([UnchangedCheck(None), LabelCheck("!=", ("neutral",))], [LabelCheck("!=", ("neutral",)), UnchangedCheck(None)]):
        assert evaluate(plan(checks=checks), scores, LABELS).passed.tolist() == [False]
    for checks in ([MonotonicCheck(Subject("positive"), "decreasing", True, 0.0), LabelCheck("==", ("negative",))],
                   [LabelCheck("==", ("negative",)), MonotonicCheck(Subject("positive"), "decreasing", True, 0.0)]):
        assert evaluate(plan(kind="dir", checks=checks), scores, LABELS).passed.tolist() == [False]


def test_a_label_check_of_the_variants_uses_their_own_prediction():
    scores = probs((0.2, 0.1, 0.7), (0.6, 0.1, 0.3), (0.1, 0.1, 0.8))
    test = plan(kind="dir", checks=[LabelCheck("==", ("negative",)), ScoreCheck(Subject(None), "<", 0.5)], variants=(1, 2), variant_case=(0, 0))
    result = evaluate(test, scores, LABELS)
    assert result.variant_passed.tolist() == [True, False]  # confidence: p[positive], the original's class: 0.3, then 0.8


def test_a_last_case_without_variants_is_counted_as_passing():
    test = plan(checks=[UnchangedCheck(None)], originals=(0, 2), variants=(1,), variant_case=(0,))
    result = evaluate(test, probs((0.2, 0.1, 0.7), (0.6, 0.1, 0.3), (0.2, 0.1, 0.7)), LABELS)
    assert result.passed.tolist() == [False, True]
