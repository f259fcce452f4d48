"""Expectation semantics (CheckList's MFT / INV / DIR) on hand-made probabilities.

Each case states the figures and the verdict CheckList's definitions give for them
(see shared/data/README.md, "How CheckList scores a test").
"""

import numpy as np
import pytest

from mlspec.compile.plan import LabelCheck, MetricCheck, MonotonicCheck, ScoreCheck, Subject, TestPlan, UnchangedCheck
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
