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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlspec.compile.plan import LABEL_SET, LabelCheck, MonotonicCheck, ScoreCheck, Subject, TestPlan, UnchangedCheck

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
        if isinstance(check, UnchangedCheck):
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
    assert isinstance(check, LabelCheck)
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


def _monotonic(check: MonotonicCheck, originals, variants, original_class, index) -> np.ndarray:
    diff = subject_values(check.subject, variants, original_class, index) - subject_values(
        check.subject, originals, original_class, index
    )
    t = check.tolerance
    if check.direction == "increasing":
        return diff <= t if check.negated else diff > -t
    return diff >= -t if check.negated else diff < t


def figure_against(check, value: float | None, ok: bool) -> str:
    """`robust_accuracy=0.42 < 0.6 at eps 0.1`: a figure, the relation that holds, the threshold."""
    where = f" at eps {check.at:g}" if getattr(check, "at", None) is not None else ""
    if value is None:
        return f"{check.metric}=undefined, expected {check.op} {check.value:g}{where}"
    relation = check.op if ok else negate(check.op)
    return f"{check.metric}={value:.4g} {relation} {check.value:g}{where}"


def negate(op: str) -> str:
    """The comparison that holds when `op` does not."""
    return {"<=": ">", ">=": "<", "<": ">=", ">": "<=", "==": "!=", "!=": "=="}[op]
