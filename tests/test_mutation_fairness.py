"""Group fairness (mlspec.library.fairness.group_fairness) called directly, figures against
Fairlearn's: disparate impact and its undefined cases, small groups left out, rates with
nothing to count (docs/mutation.md)."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn import metrics as flm

from mlspec.library.fairness import group_fairness

EXACT = {"abs": 1e-12, "rel": 1e-12}
RNG = np.random.default_rng(11)
N = 400
Y_TRUE = RNG.random(N) < 0.4
Y_PRED = RNG.random(N) < np.where(Y_TRUE, 0.7, 0.25)
GROUPS = RNG.choice(3, size=N, p=[0.5, 0.3, 0.2])
PRIVILEGED = RNG.random(N) < 0.45

FAIRLEARN = {
    "demographic_parity_difference": flm.demographic_parity_difference,
    "demographic_parity_ratio": flm.demographic_parity_ratio,
    "equalized_odds_difference": flm.equalized_odds_difference,
    "equalized_odds_ratio": flm.equalized_odds_ratio,
    "equal_opportunity_difference": flm.equal_opportunity_difference,
    "equal_opportunity_ratio": flm.equal_opportunity_ratio,
}


def _disparate_impact(y_pred, privileged):
    """Fairlearn's selection rate outside the privileged cases over inside them."""
    return flm.selection_rate(y_pred, y_pred, pos_label=True, sample_weight=(~privileged).astype(float)) / flm.selection_rate(
        y_pred, y_pred, pos_label=True, sample_weight=privileged.astype(float)
    )


@pytest.mark.parametrize("metric", FAIRLEARN)
def test_metrics_equal_fairlearns(metric):
    found = group_fairness(Y_TRUE, Y_PRED, GROUPS, 3, privileged=PRIVILEGED)
    expected = FAIRLEARN[metric](Y_TRUE, Y_PRED, sensitive_features=GROUPS)
    assert found.metrics[metric] == pytest.approx(expected, **EXACT)


def test_accuracy_difference_equals_fairlearns():
    found = group_fairness(Y_TRUE, Y_PRED, GROUPS, 3)
    frame = flm.MetricFrame(metrics=flm.selection_rate, y_true=Y_TRUE, y_pred=Y_PRED == Y_TRUE, sensitive_features=GROUPS)
    assert found.metrics["accuracy_difference"] == pytest.approx(frame.difference(), **EXACT)


def test_disparate_impact_is_outside_over_inside():
    found = group_fairness(Y_TRUE, Y_PRED, GROUPS, 3, privileged=PRIVILEGED)
    assert found.metrics["disparate_impact"] == pytest.approx(_disparate_impact(Y_PRED, PRIVILEGED), **EXACT)


def test_disparate_impact_over_kept_groups_only():
    found = group_fairness(Y_TRUE, Y_PRED, GROUPS, 3, min_group_size=int((GROUPS == 2).sum()) + 1, privileged=PRIVILEGED)
    kept = GROUPS != 2
    assert list(found.kept) == [True, True, False]
    assert found.metrics["disparate_impact"] == pytest.approx(_disparate_impact(Y_PRED[kept], PRIVILEGED[kept]), **EXACT)


def test_disparate_impact_of_single_cases_inside_and_outside():
    y = np.array([True, True])
    found = group_fairness(y, np.array([True, False]), np.array([0, 1]), 2, privileged=np.array([True, False]))
    assert found.metrics["disparate_impact"] == 0.0


def test_disparate_impact_when_every_case_is_selected():
    y = np.ones(4, dtype=bool)
    found = group_fairness(y, y, np.array([0, 0, 1, 1]), 2, privileged=np.array([True, False, False, False]))
    assert found.metrics["disparate_impact"] == 1.0


@pytest.mark.parametrize(
    "y_pred, privileged",
    [
        ([True, False, True], [True, True, True]),  # nobody outside
        ([True, False, True], [False, False, False]),  # nobody inside
        ([False, False, True], [True, True, False]),  # nobody selected inside
    ],
)
def test_disparate_impact_undefined(y_pred, privileged):
    y_pred = np.array(y_pred)
    found = group_fairness(y_pred, y_pred, np.array([0, 1, 1]), 2, privileged=np.array(privileged))
    assert found.metrics["disparate_impact"] is None


def test_one_group_has_no_difference_and_a_ratio_of_one():
    y = np.array([True, False, True])
    found = group_fairness(y, y, np.zeros(3, dtype=np.int64), 1)
    assert found.metrics["demographic_parity_difference"] == flm.demographic_parity_difference(y, y, sensitive_features=[0, 0, 0]) == 0.0
    assert found.metrics["demographic_parity_ratio"] == flm.demographic_parity_ratio(y, y, sensitive_features=[0, 0, 0]) == 1.0


def test_no_kept_group_leaves_the_metrics_undefined():
    y = np.array([True, False])
    found = group_fairness(y, y, np.array([0, 1]), 2, min_group_size=2)
    assert found.metrics["demographic_parity_difference"] is None and found.metrics["demographic_parity_ratio"] is None


def test_every_case_selected_is_a_ratio_of_one():
    y_true, y_pred, groups = np.array([True, False, True, False]), np.ones(4, dtype=bool), np.array([0, 0, 1, 1])
    found = group_fairness(y_true, y_pred, groups, 2)
    assert found.metrics["demographic_parity_ratio"] == flm.demographic_parity_ratio(y_true, y_pred, sensitive_features=groups) == 1.0


def test_a_group_of_one_case_is_kept_by_default():
    y_true, y_pred, groups = np.array([True, True, False, True]), np.array([True, False, False, True]), np.array([0, 0, 0, 1])
    found = group_fairness(y_true, y_pred, groups, 2)
    assert list(found.kept) == [True, True]
    assert found.metrics["demographic_parity_difference"] == pytest.approx(
        flm.demographic_parity_difference(y_true, y_pred, sensitive_features=groups), **EXACT
    )


def test_a_group_without_cases_is_counted_empty():
    y = np.array([True, False, True, True])
    found = group_fairness(y, y, np.array([0, 0, 1, 1]), 3)
    assert found.counts.tolist() == [2, 2, 0] and found.kept.tolist() == [True, True, False]
    assert np.isnan(found.rates["selection_rate"][2]) and found.rates["selection_rate"][:2].tolist() == [0.5, 1.0]
