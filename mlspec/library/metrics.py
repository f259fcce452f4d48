"""Model quality over a labelled dataset: the figures the metrics kind checks.

Every figure equals scikit-learn's (`sklearn.metrics`, 1.9) wherever that is defined, and is
computed with bincount and at most one sort over whole arrays. Where scikit-learn warns and
substitutes a number (its `zero_division`, a constant target), the figure here is undefined:
None, so an expectation on it fails as "undefined" instead of passing or failing on a stand-in.
An empty dataset leaves every figure undefined.

Classification, from label indices 0..n_labels-1 (`expected` the true label, `predicted` the
model's); tp, fp, fn count the cases of one label k:

- confusion_matrix[i, j]: the cases expected i and predicted j (rows expected, as sklearn).
- accuracy: the share of cases predicted right.
- precision(k) = tp / (tp + fp): undefined when nothing is predicted k (sklearn: 0, warning).
- recall(k) = tp / (tp + fn): undefined when no case is expected k (sklearn: 0, warning).
- f1(k) = 2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall, as sklearn
  computes it: 0 when either of them is 0, even when the other is undefined (a label the
  model never predicts has recall 0, so f1 0). Undefined only when k is neither expected nor
  predicted (sklearn: 0, warning).
- balanced_accuracy: the mean recall over the labels that are expected at least once
  (sklearn likewise leaves out labels that are only predicted).
- macro_f1: the mean f1 over the labels expected or predicted at least once, as sklearn's
  `f1_score(average="macro")` without `labels` (the union of the labels in y_true and y_pred).
- roc_auc (binary): the area under the ROC curve of a score for the positive class, tied
  scores taken as one step of the curve (the trapezoid rule, as `roc_auc_score`); undefined
  when only one class occurs (sklearn: NaN, warning).

Regression, from float64 `expected` and `predicted`:

- mae, rmse, max_error: the mean, root mean square and largest |expected - predicted|.
- r2 = 1 - sum (e - p)^2 / sum (e - mean e)^2: undefined when every expected value is the
  same (one row included): there is no variance to explain. sklearn's `r2_score` returns 1.0
  for perfect predictions and 0.0 otherwise, but it subtracts a floating-point mean, so for a
  constant such as 0.1 it finds a tiny variance and returns about -5e31 instead.
- mape = mean |e - p| / max(|e|, eps), eps = np.finfo(np.float64).eps, as a fraction (0.5 is
  50%): sklearn's `mean_absolute_percentage_error`.
"""

from __future__ import annotations

import numpy as np

CLASSIFICATION_FIGURES = ("accuracy", "balanced_accuracy", "macro_f1")
LABEL_FIGURES = ("precision", "recall", "f1")  # one per label, keyed `precision(>50K)`
REGRESSION_FIGURES = ("mae", "rmse", "r2", "max_error", "mape")


def label_figure(figure: str, label: str) -> str:
    """The key of a per-label figure, as results name it: `precision(>50K)`."""
    return f"{figure}({label})"


# --- classification ---------------------------------------------------------------------


def confusion_matrix(expected: np.ndarray, predicted: np.ndarray, n_labels: int) -> np.ndarray:
    """Counts of (expected, predicted) label pairs, int64 [n_labels, n_labels]."""
    pairs = np.asarray(expected, dtype=np.int64) * n_labels + np.asarray(predicted, dtype=np.int64)
    return np.bincount(pairs, minlength=n_labels * n_labels).reshape(n_labels, n_labels).astype(np.int64)


def _share(part: float, whole: float) -> float | None:
    return float(part / whole) if whole > 0 else None


def accuracy(matrix: np.ndarray) -> float | None:
    return _share(np.trace(matrix), matrix.sum())


def precision(matrix: np.ndarray, k: int) -> float | None:
    return _share(matrix[k, k], matrix[:, k].sum())


def recall(matrix: np.ndarray, k: int) -> float | None:
    return _share(matrix[k, k], matrix[k, :].sum())


def f1(matrix: np.ndarray, k: int) -> float | None:
    true_positives = matrix[k, k]
    false_positives = matrix[:, k].sum() - true_positives
    false_negatives = matrix[k, :].sum() - true_positives
    return _share(2 * true_positives, 2 * true_positives + false_positives + false_negatives)


def balanced_accuracy(matrix: np.ndarray) -> float | None:
    """Mean recall over the labels expected at least once."""
    expected_counts = matrix.sum(axis=1)
    occurring = expected_counts > 0
    if not occurring.any():
        return None
    return float(np.mean(np.diag(matrix)[occurring] / expected_counts[occurring]))


def macro_f1(matrix: np.ndarray) -> float | None:
    """Mean f1 over the labels expected or predicted at least once."""
    occurring = (matrix.sum(axis=1) + matrix.sum(axis=0)) > 0
    if not occurring.any():
        return None
    return float(np.mean([f1(matrix, k) for k in np.flatnonzero(occurring)]))


def classification_figures(expected: np.ndarray, predicted: np.ndarray, n_labels: int, labels: tuple[str, ...]) -> dict[str, float | None]:
    """Every classification figure but roc_auc, per-label ones named by `label_figure`."""
    matrix = confusion_matrix(expected, predicted, n_labels)
    figures = {"accuracy": accuracy(matrix), "balanced_accuracy": balanced_accuracy(matrix), "macro_f1": macro_f1(matrix)}
    for figure in (precision, recall, f1):
        for k, label in enumerate(labels):
            figures[label_figure(figure.__name__, label)] = figure(matrix, k)
    return figures


def roc_auc(is_positive: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve of `score` (higher: more likely positive); None with one class."""
    is_positive = np.asarray(is_positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    if np.isnan(score).any():
        raise ValueError("roc_auc: a score is NaN")
    positives = int(is_positive.sum())
    negatives = len(is_positive) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(-score, kind="stable")
    sorted_score, hits = score[order], is_positive[order]
    last_of_tie = np.append(sorted_score[1:] != sorted_score[:-1], True)  # one point of the curve per distinct score
    tp = np.concatenate(([0], np.cumsum(hits)[last_of_tie]))
    fp = np.concatenate(([0], np.cumsum(~hits)[last_of_tie]))
    doubled_area = np.sum(np.diff(fp) * (tp[1:] + tp[:-1]))  # trapezoids, in whole counts: exact
    return float(doubled_area / (2 * positives * negatives))


# --- regression -------------------------------------------------------------------------


def _errors(expected: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.asarray(expected, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)


def mae(expected: np.ndarray, predicted: np.ndarray) -> float | None:
    errors = _errors(expected, predicted)
    return float(np.mean(np.abs(errors))) if len(errors) else None


def rmse(expected: np.ndarray, predicted: np.ndarray) -> float | None:
    errors = _errors(expected, predicted)
    return float(np.sqrt(np.mean(errors**2))) if len(errors) else None


def max_error(expected: np.ndarray, predicted: np.ndarray) -> float | None:
    errors = _errors(expected, predicted)
    return float(np.max(np.abs(errors))) if len(errors) else None


def r2(expected: np.ndarray, predicted: np.ndarray) -> float | None:
    """Coefficient of determination; None when `expected` is constant (or empty)."""
    expected = np.asarray(expected, dtype=np.float64)
    if len(expected) == 0 or expected.min() == expected.max():
        return None
    residual = np.sum(_errors(expected, predicted) ** 2)
    total = np.sum((expected - expected.mean()) ** 2)
    return float(1 - residual / total)


def mape(expected: np.ndarray, predicted: np.ndarray) -> float | None:
    """Mean absolute percentage error, as a fraction."""
    expected = np.asarray(expected, dtype=np.float64)
    if len(expected) == 0:
        return None
    scale = np.maximum(np.abs(expected), np.finfo(np.float64).eps)
    return float(np.mean(np.abs(_errors(expected, predicted)) / scale))


def regression_figures(expected: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    figures = (mae, rmse, r2, max_error, mape)
    return {figure.__name__: figure(expected, predicted) for figure in figures}


# --- per group (fairness over regression) -----------------------------------------------


def group_means(values: np.ndarray, groups: np.ndarray, n_groups: int) -> list[float | None]:
    """The mean of `values` in each group 0..n_groups-1; None for a group with no rows."""
    counts = np.bincount(groups, minlength=n_groups)
    sums = np.bincount(groups, weights=np.asarray(values, dtype=np.float64), minlength=n_groups)
    return [float(total / count) if count else None for total, count in zip(sums, counts)]


def group_mae(expected: np.ndarray, predicted: np.ndarray, groups: np.ndarray, n_groups: int) -> list[float | None]:
    """The mean absolute error in each group; None for a group with no rows."""
    return group_means(np.abs(_errors(expected, predicted)), groups, n_groups)
