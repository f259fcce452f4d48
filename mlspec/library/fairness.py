"""Group fairness over a labelled dataset: per-group rates and the metrics built on them.

Definitions (Fairlearn's; each is computed over the groups kept, see below):

- per group: count; selection_rate = P(predicted positive); true_positive_rate =
  P(predicted positive | positive); false_positive_rate = P(predicted positive |
  negative); accuracy = P(predicted == true).
- demographic_parity_difference / _ratio: largest minus smallest selection rate /
  smallest over largest.
- equalized_odds_difference: the larger of the true- and false-positive-rate
  differences; equalized_odds_ratio: the smaller of their ratios.
- equal_opportunity_difference / _ratio: the same over true positive rates only.
- accuracy_difference: largest minus smallest group accuracy.
- disparate_impact: selection rate of the cases outside the privileged group over that of
  the cases inside it (`privileged COLUMN == VALUE`), both within the kept groups; the
  four-fifths rule is `>= 0.8`. Only computed when the test names a privileged group.

Groups smaller than `min_group_size` are reported with their figures but left out of the
metrics. A rate with nothing to count (a true positive rate in a group with no positive
labels) is undefined, and so is every metric built on it: reported as "undefined"
(None), never as Fairlearn's silent 0, and an expectation on it fails, naming the groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")


@dataclass(frozen=True)
class GroupFairness:
    counts: np.ndarray  # cases per group
    rates: dict[str, np.ndarray]  # rate name -> value per group (NaN where undefined)
    kept: np.ndarray  # bool per group: at least min_group_size cases
    metrics: dict[str, float | None]
    undefined_in: dict[str, list[int]]  # rate name -> kept groups where it is undefined


def group_fairness(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n_groups: int, min_group_size: int = 1, privileged: np.ndarray | None = None
) -> GroupFairness:
    """All group rates and metrics for boolean truths and predictions (True = the positive label)."""
    counts = np.bincount(groups, minlength=n_groups)
    rates = _rates(y_true, y_pred, groups, n_groups, counts)
    kept = counts >= max(min_group_size, 1)
    undefined_in = {name: [int(g) for g in np.flatnonzero(kept & np.isnan(values))] for name, values in rates.items()}
    metrics = _metrics(rates, kept)
    if privileged is not None:
        in_kept_group = kept[groups]
        metrics["disparate_impact"] = _disparate_impact(y_pred[in_kept_group], privileged[in_kept_group])
    return GroupFairness(counts, rates, kept, metrics, undefined_in)


def _rates(y_true, y_pred, groups, n_groups, counts) -> dict[str, np.ndarray]:
    def per_group(mask: np.ndarray) -> np.ndarray:
        return np.bincount(groups, weights=mask.astype(np.float64), minlength=n_groups)

    positives = per_group(y_true)
    negatives = counts - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "selection_rate": _divide(per_group(y_pred), counts),
            "true_positive_rate": _divide(per_group(y_pred & y_true), positives),
            "false_positive_rate": _divide(per_group(y_pred & ~y_true), negatives),
            "accuracy": _divide(per_group(y_pred == y_true), counts),
        }


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _difference(values: np.ndarray) -> float | None:
    if len(values) == 0 or np.isnan(values).any():
        return None
    return float(values.max() - values.min())


def _ratio(values: np.ndarray) -> float | None:
    if len(values) == 0 or np.isnan(values).any() or values.max() == 0:
        return None
    return float(values.min() / values.max())


def _worst(first: float | None, second: float | None, pick) -> float | None:
    return None if first is None or second is None else pick(first, second)


def _metrics(rates: dict[str, np.ndarray], kept: np.ndarray) -> dict[str, float | None]:
    selection, tpr, fpr, accuracy = (rates[name][kept] for name in RATES)
    return {
        "demographic_parity_difference": _difference(selection),
        "demographic_parity_ratio": _ratio(selection),
        "equalized_odds_difference": _worst(_difference(tpr), _difference(fpr), max),
        "equalized_odds_ratio": _worst(_ratio(tpr), _ratio(fpr), min),
        "equal_opportunity_difference": _difference(tpr),
        "equal_opportunity_ratio": _ratio(tpr),
        "accuracy_difference": _difference(accuracy),
    }


def _disparate_impact(y_pred: np.ndarray, privileged: np.ndarray) -> float | None:
    inside, outside = y_pred[privileged], y_pred[~privileged]
    if len(inside) == 0 or len(outside) == 0 or inside.mean() == 0:
        return None
    return float(outside.mean() / inside.mean())


# Which rates each metric is built on, to name the groups that make it undefined.
METRIC_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "equalized_odds_difference": ("true_positive_rate", "false_positive_rate"),
    "equalized_odds_ratio": ("true_positive_rate", "false_positive_rate"),
    "equal_opportunity_difference": ("true_positive_rate",),
    "equal_opportunity_ratio": ("true_positive_rate",),
    "accuracy_difference": ("accuracy",),
    "disparate_impact": (),
}
