"""Metrics (mlspec.library.metrics) on the inputs the mutation run found untested: narrow or
unsigned integer dtypes, labels and scores that are not bool and float64, a single positive
case and the NaN message (docs/mutation.md). Figures are scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from mlspec.library import metrics


def test_confusion_matrix_of_narrow_expected_labels():
    """int8 labels times 20 labels would overflow int8."""
    expected, predicted = np.array([10, 19, 0, 19], dtype=np.int8), np.array([10, 0, 19, 19])
    matrix = metrics.confusion_matrix(expected, predicted, 20)
    assert (matrix == sk.confusion_matrix(expected, predicted, labels=range(20))).all()


def test_confusion_matrix_of_unsigned_predicted_labels():
    """uint64 plus int64 would be float64, which bincount refuses."""
    expected, predicted = np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1], dtype=np.uint64)
    matrix = metrics.confusion_matrix(expected, predicted, 3)
    assert (matrix == sk.confusion_matrix(expected, predicted.astype(np.int64), labels=range(3))).all()


def test_roc_auc_with_one_positive_case():
    is_positive, score = [False, True, False, False], [0.1, 0.7, 0.8, 0.3]
    assert metrics.roc_auc(is_positive, score) == pytest.approx(sk.roc_auc_score(is_positive, score), abs=1e-15)


def test_roc_auc_of_positives_given_as_zero_and_one():
    is_positive, score = np.array([0, 1, 1, 0, 1]), np.array([0.2, 0.9, 0.4, 0.6, 0.6])
    assert metrics.roc_auc(is_positive, score) == pytest.approx(sk.roc_auc_score(is_positive, score), abs=1e-15)


@pytest.mark.parametrize("score", [np.array([0, 200, 1, 255, 3], dtype=np.uint8), np.array([False, True, False, True, True])])
def test_roc_auc_of_unsigned_and_boolean_scores(score):
    """Negating a uint8 or bool score would wrap or fail: scores are read as float64."""
    is_positive = [False, True, True, True, False]
    assert metrics.roc_auc(is_positive, score) == pytest.approx(sk.roc_auc_score(is_positive, score.astype(float)), abs=1e-15)


def test_roc_auc_nan_message():
    with pytest.raises(ValueError, match=r"^roc_auc: a score is NaN$"):
        metrics.roc_auc([True, False], [0.5, np.nan])


def test_mape_of_narrow_integer_expected_values():
    """|-128| is -128 in int8: expected values are read as float64."""
    expected, predicted = np.array([-128, 100, 1], dtype=np.int8), np.array([-64.0, 50.0, 2.0])
    assert metrics.mape(expected, predicted) == pytest.approx(sk.mean_absolute_percentage_error(expected.astype(float), predicted), rel=1e-15)
