"""A fairness test over a labelled dataset, on one model, as a TestResult.

Predictions and truths become booleans against the test's `positive` label, the group
rates and metrics come from `mlspec.library.fairness`, and each expectation is judged on its
metric; an undefined metric fails its expectation and the message names the groups
that make it undefined.
"""

from __future__ import annotations

import numpy as np

from mlspec.compile.plan import TestPlan
from mlspec.library.fairness import METRIC_RATES, RATES, group_fairness
from mlspec.results import GroupFigure, TestResult
from mlspec.run.expectations import COMPARE, figure_against

WHY_UNDEFINED = {
    "true_positive_rate": "no positive labels",
    "false_positive_rate": "no negative labels",
    "selection_rate": "no cases",
    "accuracy": "no cases",
}


def group_fairness_result(base: dict, test: TestPlan, probs: np.ndarray, labels: tuple[str, ...]) -> TestResult:
    positive = labels.index(test.positive)
    y_pred = probs.argmax(axis=1) == positive
    y_true = np.array([test.expected_labels[e] == test.positive for e in test.expected], dtype=bool)
    found = group_fairness(y_true, y_pred, test.groups, len(test.group_names), test.min_group_size, test.privileged)
    groups = [
        GroupFigure(
            group=name,
            count=int(found.counts[g]),
            value=_rounded(found.rates["selection_rate"][g]),
            figures={rate: _rounded(found.rates[rate][g]) for rate in RATES},
            scored=bool(found.kept[g]),
        )
        for g, name in enumerate(test.group_names)
        if found.counts[g]
    ]
    kept = int(found.kept.sum())
    too_small = int(((found.counts > 0) & ~found.kept).sum())
    metrics = {"cases": test.n_cases, "groups": kept, "groups_too_small": too_small, **found.metrics}
    if kept < 2:
        message = f"{kept} group(s) of at least {test.min_group_size} cases; group metrics compare two or more"
        return TestResult(**base, status="SKIP", message=message, metrics=metrics, groups=groups)
    verdicts = [(check, found.metrics.get(check.metric)) for check in test.checks]
    oks = [value is not None and bool(COMPARE[check.op](value, check.value)) for check, value in verdicts]
    parts = [figure_against(check, value, ok) + _undefined_reason(check.metric, value, found, test.group_names) for (check, value), ok in zip(verdicts, oks)]
    if too_small:
        parts.append(f"({too_small} group(s) below min_group_size {test.min_group_size} not scored)")
    return TestResult(**base, status="PASS" if all(oks) else "FAIL", message=" ".join(parts), metrics=metrics, groups=groups)


def _undefined_reason(metric: str, value: float | None, found, names) -> str:
    if value is not None:
        return ""
    if metric == "disparate_impact":
        return " (the privileged group has no positive predictions)"
    reasons = [
        f"{WHY_UNDEFINED[rate]} in {', '.join(names[g] for g in found.undefined_in[rate])}"
        for rate in METRIC_RATES[metric]
        if found.undefined_in[rate]
    ]
    return f" ({'; '.join(reasons)})" if reasons else " (all rates are zero)"


def _rounded(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)
