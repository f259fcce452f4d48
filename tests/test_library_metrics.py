"""Quality figures over a dataset (mlspec.library.metrics), checked against scikit-learn 1.9.

- Every classification figure equals sklearn.metrics' on generated data (binary;
  multiclass with a label never predicted, one only predicted, one never seen; tied scores)
  and on the demo income data with two rule-based classifiers. Where sklearn's figure is
  undefined, we say None and sklearn, asked with `zero_division=np.nan`, says NaN.
- roc_auc equals roc_auc_score with and without ties; one class: None where sklearn warns, NaN.
- Regression figures equal sklearn's on generated data and on the demo diabetes data with a
  least-squares fit; r2 of a constant target is None, where sklearn says 1.0, 0.0, or (for a
  constant it cannot average exactly) about -5e31.
- group_means and group_mae equal Fairlearn's MetricFrame per group; empty groups: None.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from mlspec.library import metrics

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT / "specs" / "income" / "data" / "adult_test.csv"
DIABETES = ROOT / "specs" / "diabetes" / "data"
EXACT = {"abs": 1e-9, "rel": 1e-9}  # pytest.approx: the same figure


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    return {name: np.array([row[name] for row in rows], dtype=object) for name in rows[0]}


def _same(found, sklearn_value) -> bool:
    """Equal to 1e-9, our None standing for sklearn's NaN."""
    if found is None or np.isnan(sklearn_value):
        return found is None and np.isnan(sklearn_value)
    return found == pytest.approx(float(sklearn_value), **EXACT)


# ---------------------------------------------------------------- classification data


def _generated_classification() -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """name -> (expected, predicted, n_labels)."""
    rng = np.random.default_rng(2024)
    expected = rng.integers(0, 2, 500)
    binary = np.where(rng.random(500) < 0.8, expected, 1 - expected)
    four = rng.integers(0, 4, 600)
    return {
        "binary": (expected, binary, 2),
        "label 3 never predicted": (four, np.minimum(np.where(rng.random(600) < 0.6, four, rng.integers(0, 4, 600)), 2), 4),
        "label 3 only predicted": (np.minimum(four, 2), np.where(rng.random(600) < 0.7, four, rng.integers(0, 4, 600)), 4),
        "label 4 never seen": (four, np.where(rng.random(600) < 0.5, four, rng.integers(0, 4, 600)), 5),
        "everything predicted 0": (four, np.zeros(600, dtype=np.int64), 4),
        "one case": (np.array([1]), np.array([0]), 3),
    }


def _adult_classification() -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Two rule-based classifiers on the demo data: income, and a relationship guessed from sex
    and marital status (three of its six labels never predicted)."""
    adult = _read_csv(ADULT)
    schooled = adult["education_num"].astype(float) >= 13
    income = (adult["income"] == ">50K").astype(np.int64)
    relationships = np.unique(adult["relationship"])
    relationship = np.searchsorted(relationships, adult["relationship"])
    married = np.isin(adult["marital_status"], ["Married-civ-spouse", "Married-AF-spouse"])
    guess = np.where(married, np.where(adult["sex"] == "Male", "Husband", "Wife"), np.where(adult["age"].astype(float) < 25, "Own-child", "Not-in-family"))
    return {
        "adult income by schooling": (income, schooled.astype(np.int64), 2),
        "adult relationship by sex and marriage": (relationship, np.searchsorted(relationships, guess), len(relationships)),
    }


CLASSIFICATION = {**_generated_classification(), **_adult_classification()}


def _sklearn_per_label(expected, predicted, n_labels) -> dict[str, np.ndarray]:
    every = list(range(n_labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "precision": skm.precision_score(expected, predicted, labels=every, average=None, zero_division=np.nan),
            "recall": skm.recall_score(expected, predicted, labels=every, average=None, zero_division=np.nan),
            "f1": skm.f1_score(expected, predicted, labels=every, average=None, zero_division=np.nan),
        }


# ---------------------------------------------------------------- classification


@pytest.mark.parametrize("case", CLASSIFICATION)
def test_classification_figures_equal_sklearns(case):
    expected, predicted, n_labels = CLASSIFICATION[case]
    labels = tuple(f"L{k}" for k in range(n_labels))
    found = metrics.classification_figures(expected, predicted, n_labels, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        assert _same(found["accuracy"], skm.accuracy_score(expected, predicted))
        assert _same(found["balanced_accuracy"], skm.balanced_accuracy_score(expected, predicted))
        assert _same(found["macro_f1"], skm.f1_score(expected, predicted, average="macro"))
    for figure, values in _sklearn_per_label(expected, predicted, n_labels).items():
        for k, label in enumerate(labels):
            assert _same(found[f"{figure}({label})"], values[k]), f"{figure}({label})"
    assert len(found) == 3 + 3 * n_labels


@pytest.mark.parametrize("case", CLASSIFICATION)
def test_confusion_matrix_is_sklearns(case):
    expected, predicted, n_labels = CLASSIFICATION[case]
    matrix = metrics.confusion_matrix(expected, predicted, n_labels)
    assert matrix.dtype == np.int64
    assert (matrix == skm.confusion_matrix(expected, predicted, labels=list(range(n_labels)))).all()


def test_undefined_classification_figures():
    expected, predicted = np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])  # label 1 never predicted, label 2 never seen
    matrix = metrics.confusion_matrix(expected, predicted, 3)
    assert metrics.precision(matrix, 1) is None  # nothing predicted 1 (sklearn: 0.0 with a warning)
    assert metrics.recall(matrix, 1) == 0.0
    assert metrics.f1(matrix, 1) == 0.0  # recall 0: the harmonic mean is 0, as sklearn
    assert metrics.recall(matrix, 2) is None and metrics.precision(matrix, 2) is None and metrics.f1(matrix, 2) is None
    assert metrics.macro_f1(matrix) == pytest.approx((2 / 3 + 0) / 2)  # over labels 0 and 1, as sklearn
    assert metrics.balanced_accuracy(matrix) == pytest.approx(0.5)
    empty = metrics.classification_figures(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 2, ("no", "yes"))
    assert set(empty.values()) == {None}


def test_per_label_figures_are_keyed_as_results_name_them():
    found = metrics.classification_figures(np.array([0, 1]), np.array([0, 1]), 2, ("<=50K", ">50K"))
    assert found["precision(>50K)"] == found["recall(<=50K)"] == found["f1(>50K)"] == 1.0
    assert metrics.label_figure("recall", ">50K") == "recall(>50K)"


# ---------------------------------------------------------------- roc_auc


def _scored() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (is_positive, score)."""
    rng = np.random.default_rng(11)
    positive = rng.random(2000) < 0.3
    score = rng.normal(size=2000) + positive
    adult = _read_csv(ADULT)
    schooling = adult["education_num"].astype(float) + adult["hours_per_week"].astype(float) / 100
    return {
        "continuous": (positive, score),
        "ties (one decimal)": (positive, np.round(score, 1)),
        "few scores": (positive, np.round(score).clip(-1, 2)),
        "all tied": (positive, np.full(2000, 0.5)),
        "perfect": (positive, positive.astype(float)),
        "reversed": (positive, -positive.astype(float)),
        "adult income by schooling and hours": (adult["income"] == ">50K", schooling),
    }


@pytest.mark.parametrize("case", _scored())
def test_roc_auc_equals_sklearns(case):
    is_positive, score = _scored()[case]
    assert metrics.roc_auc(is_positive, score) == pytest.approx(skm.roc_auc_score(is_positive, score), **EXACT)


def test_roc_auc_with_one_class_is_undefined():
    assert metrics.roc_auc(np.ones(5, dtype=bool), np.arange(5.0)) is None
    assert metrics.roc_auc(np.array([], dtype=bool), np.array([])) is None
    with pytest.warns(UndefinedMetricWarning, match="Only one class"):
        assert np.isnan(skm.roc_auc_score(np.ones(5, dtype=bool), np.arange(5.0)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.roc_auc(np.array([True, False]), np.array([0.5, np.nan]))


# ---------------------------------------------------------------- regression


def _diabetes_fit() -> tuple[np.ndarray, np.ndarray]:
    """Least squares on the demo diabetes training split, scored on its test split."""
    train, test = _read_csv(DIABETES / "train.csv"), _read_csv(DIABETES / "test.csv")
    features = [name for name in train if name != "progression"]

    def design(table):
        return np.column_stack([np.ones(len(table["progression"]))] + [table[name].astype(float) for name in features])

    weights = np.linalg.lstsq(design(train), train["progression"].astype(float), rcond=None)[0]
    return test["progression"].astype(float), design(test) @ weights


def _regression() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(5)
    expected = rng.normal(100, 30, 1000)
    with_zeros = np.round(rng.normal(0, 2, 1000))
    adult = _read_csv(ADULT)
    age, hours = adult["age"].astype(float), adult["hours_per_week"].astype(float)
    return {
        "noisy": (expected, expected + rng.normal(0, 10, 1000)),
        "zeros in expected (mape's eps)": (with_zeros, with_zeros + rng.normal(0, 1, 1000)),
        "two rows": (np.array([1.0, 2.0]), np.array([2.0, 2.0])),
        "diabetes least squares": _diabetes_fit(),
        "adult hours from age": (hours, np.polyval(np.polyfit(age, hours, 2), age)),
    }


REGRESSION = _regression()


@pytest.mark.parametrize("case", REGRESSION)
def test_regression_figures_equal_sklearns(case):
    expected, predicted = REGRESSION[case]
    found = metrics.regression_figures(expected, predicted)
    assert found == {
        "mae": pytest.approx(skm.mean_absolute_error(expected, predicted), **EXACT),
        "rmse": pytest.approx(skm.root_mean_squared_error(expected, predicted), **EXACT),
        "r2": pytest.approx(skm.r2_score(expected, predicted), **EXACT),
        "max_error": pytest.approx(skm.max_error(expected, predicted), **EXACT),
        "mape": pytest.approx(skm.mean_absolute_percentage_error(expected, predicted), **EXACT),
    }


def test_r2_of_a_constant_target_is_undefined():
    constant = np.full(3, 0.1)
    assert metrics.r2(constant, constant) is None
    assert metrics.r2(constant, constant + 0.1) is None
    assert metrics.r2(np.array([5.0]), np.array([4.0])) is None
    assert skm.r2_score(constant, constant) == 1.0
    assert skm.r2_score(constant, constant + 0.1) < -1e30  # 0.1 * 3 / 3 != 0.1: a variance of rounding error
    assert skm.r2_score(np.full(4, 5.0), np.full(4, 6.0)) == 0.0
    assert metrics.mae(constant, constant + 0.1) == pytest.approx(0.1)  # the other figures stay defined


def test_empty_regression_is_undefined():
    assert set(metrics.regression_figures(np.array([]), np.array([])).values()) == {None}


def test_mape_is_a_fraction_with_sklearns_epsilon():
    assert metrics.mape(np.array([2.0, 4.0]), np.array([3.0, 3.0])) == pytest.approx(0.375)
    assert metrics.mape(np.array([0.0]), np.array([1.0])) == pytest.approx(1 / np.finfo(np.float64).eps)


# ---------------------------------------------------------------- per group


def test_group_means_and_mae_equal_fairlearns():
    expected, predicted = REGRESSION["adult hours from age"]
    race = _read_csv(ADULT)["race"]
    names, groups = np.unique(race, return_inverse=True)
    frame = MetricFrame(
        metrics={"mae": skm.mean_absolute_error, "mean": lambda _, p: float(np.mean(p))}, y_true=expected, y_pred=predicted, sensitive_features=race
    )
    by_group = frame.by_group
    found_mae = metrics.group_mae(expected, predicted, groups, len(names))
    found_mean = metrics.group_means(predicted, groups, len(names))
    for g, name in enumerate(names):
        assert found_mae[g] == pytest.approx(by_group.loc[name, "mae"], **EXACT)
        assert found_mean[g] == pytest.approx(by_group.loc[name, "mean"], **EXACT)


def test_empty_groups_have_no_figure():
    groups = np.array([0, 0, 2])
    assert metrics.group_means(np.array([1.0, 3.0, 5.0]), groups, 4) == [2.0, None, 5.0, None]
    assert metrics.group_mae(np.array([1.0, 3.0, 5.0]), np.array([2.0, 3.0, 1.0]), groups, 3) == [0.5, None, 4.0]
