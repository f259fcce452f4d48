"""Vectorized evaluation of a test's expectations over all its cases at once.

Given the probabilities a model gave every input of the plan, each check is a numpy
expression over whole arrays: MFT checks over cases, INV/DIR checks over all variants
(then reduced to cases with `bincount`). No Python loop
runs per case. Semantics follow CheckList:

- `unchanged tolerance t` (INV): with c the original's predicted class, a variant passes
  if it predicts c, or if |p_variant[c] - p_original[c]| <= t.
- monotonic (DIR), with diff = subject(variant) - subject(original), where `confidence`
  is the probability of the original's predicted class: `not decreasing` passes if
  diff >= -t, `not increasing` if diff <= t; the strict forms `increasing` and
  `decreasing` pass if diff > -t and diff < t (with t = 0: it must move).
- `where original...` conditions select the cases a test applies to; the rest are not
  counted. A case passes when every one of its variants passes every check.
- a regression model's `value` (its output, or output `value(name)`): `value within t of
  expected` passes if |value - expected| <= t (t% of |expected| when written in percent);
  `value unchanged tolerance t` if |value_variant - value_original| <= t (t% of
  |value_original| in percent; exactly equal without a tolerance); monotonic expectations
  as above, with a tolerance in percent taken of |value_original|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlspec.compile.plan import LABEL_SET, LabelCheck, MonotonicCheck, ScoreCheck, Subject, TestPlan, UnchangedCheck, WithinCheck

COMPARE = {"==": np.equal, "!=": np.not_equal, ">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less}


@dataclass(frozen=True)
class Evaluation:
    applicable: np.ndarray  # bool per case
    passed: np.ndarray  # bool per case; only meaningful where applicable
    variant_passed: np.ndarray | None = None  # bool per variant (INV/DIR)


def evaluate(test: TestPlan, probs: np.ndarray, labels: tuple[str, ...]) -> Evaluation:
    """Evaluate `test` given `probs` ([n_inputs, n_labels], rows indexed by input id)."""
    index = {label: i for i, label in enumerate(labels)}
    if test.variants is None:
        return _single(test, probs, index)
    return _pairwise(test, probs, index)


def _single(test: TestPlan, probs: np.ndarray, index: dict[str, int]) -> Evaluation:
    scores = probs[test.inputs]
    predicted = scores.argmax(axis=1)
    expected = _expected_match(test, index, predicted)
    passed = np.ones(len(predicted), dtype=bool)
    for check in test.checks:
        if isinstance(check, WithinCheck):
            passed &= _within(check, scores, test.expected_values, index)
        else:
            passed &= _holds(check, scores, predicted, predicted, expected, index)
    return Evaluation(applicable=np.ones(len(predicted), dtype=bool), passed=passed)


def _pairwise(test: TestPlan, probs: np.ndarray, index: dict[str, int]) -> Evaluation:
    originals = probs[test.inputs]
    original_class = originals.argmax(axis=1)
    applicable = np.ones(len(originals), dtype=bool)
    for condition in test.where:
        applicable &= _holds(condition, originals, original_class, original_class, None, index)
    case = test.variant_case
    variants = probs[test.variants]
    variant_class = variants.argmax(axis=1)
    class_of_case = original_class[case]
    ok = np.ones(len(variants), dtype=bool)
    for check in test.checks:
        if isinstance(check, UnchangedCheck) and check.subject is not None:
            ok &= _value_unchanged(check, originals[case], variants, index)
        elif isinstance(check, UnchangedCheck):
            ok &= _unchanged(check, originals[case], variants, variant_class, class_of_case)
        elif isinstance(check, MonotonicCheck):
            ok &= _monotonic(check, originals[case], variants, class_of_case, index)
        else:
            ok &= _holds(check, variants, variant_class, class_of_case, None, index)
    failures = np.bincount(case, weights=~ok, minlength=len(originals))
    return Evaluation(applicable=applicable, passed=failures == 0, variant_passed=ok)


def _expected_match(test: TestPlan, index: dict[str, int], predicted: np.ndarray) -> np.ndarray | None:
    """Per case: the prediction is the case's expected label, or one of them (`neutral|positive`)."""
    if test.expected is None:
        return None
    allowed = np.zeros((len(test.expected_labels) + 1, len(index)), dtype=bool)  # the last row: no label
    for row, names in enumerate(test.expected_labels):
        allowed[row, [index[name] for name in names.split(LABEL_SET)]] = True
    return allowed[test.expected, predicted]


def subject_values(subject: Subject, scores: np.ndarray, of_class: np.ndarray, index: dict[str, int]) -> np.ndarray:
    if subject.value:
        return scores[:, index[subject.label] if subject.label else 0]
    if subject.minus is not None:
        return scores[:, index[subject.label]] - scores[:, index[subject.minus]]
    if subject.label is not None:
        return scores[:, index[subject.label]]
    return scores[np.arange(len(scores)), of_class]


def _holds(check, scores, predicted, confidence_class, expected, index) -> np.ndarray:
    """A label or score check over rows of `scores`."""
    if isinstance(check, ScoreCheck):
        values = subject_values(check.subject, scores, confidence_class, index)
        return COMPARE[check.op](values, check.value)
    if not isinstance(check, LabelCheck):
        raise TypeError(f"`{check}` is not a check of one prediction")  # the checker keeps others out
    if check.expected:  # `expected` is already the per-case match
        return expected if check.op == "==" else ~expected
    wanted = np.array([index[label] for label in check.labels], dtype=np.int64)
    if check.op == "==":
        return predicted == wanted[0]
    if check.op == "!=":
        return predicted != wanted[0]
    inside = np.isin(predicted, wanted)
    return inside if check.op == "in" else ~inside


def _unchanged(check: UnchangedCheck, originals, variants, variant_class, original_class) -> np.ndarray:
    same = variant_class == original_class
    if check.tolerance is None:
        return same
    rows = np.arange(len(variants))
    moved = np.abs(variants[rows, original_class] - originals[rows, original_class])
    return same | (moved <= check.tolerance)


def _within(check: WithinCheck, scores, expected: np.ndarray, index) -> np.ndarray:
    values = subject_values(check.subject, scores, None, index)
    allowed = check.tolerance * np.abs(expected) if check.relative else check.tolerance
    return np.abs(values - expected) <= allowed


def _value_unchanged(check: UnchangedCheck, originals, variants, index) -> np.ndarray:
    before = subject_values(check.subject, originals, None, index)
    moved = np.abs(subject_values(check.subject, variants, None, index) - before)
    if check.tolerance is None:
        return moved == 0
    return moved <= (check.tolerance * np.abs(before) if check.relative else check.tolerance)


def _monotonic(check: MonotonicCheck, originals, variants, original_class, index) -> np.ndarray:
    before = subject_values(check.subject, originals, original_class, index)
    diff = subject_values(check.subject, variants, original_class, index) - before
    t = check.tolerance * np.abs(before) if check.relative else check.tolerance
    if check.direction == "increasing":
        return diff <= t if check.negated else diff > -t
    return diff >= -t if check.negated else diff < t


def figure_against(check, value: float | None, ok: bool) -> str:
    """`robust_accuracy=0.42 < 0.6 at eps 0.1`: a figure, the relation that holds, the threshold."""
    where = f" at eps {check.at:g}" if getattr(check, "at", None) is not None else ""
    name = getattr(check, "figure", check.metric)
    if value is None:
        return f"{name}=undefined, expected {check.op} {check.value:g}{where}"
    relation = check.op if ok else negate(check.op)
    shown = str(value) if isinstance(value, int) else f"{value:.4g}"
    return f"{name}={shown} {relation} {check.value:g}{where}"


def negate(op: str) -> str:
    """The comparison that holds when `op` does not."""
    return {"<=": ">", ">=": "<", "<": ">=", ">": "<=", "==": "!=", "!=": "=="}[op]
