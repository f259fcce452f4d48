"""Drift statistics (mlspec.library.drift) on the inputs the mutation run found untested:
categories given as integer codes, the Kolmogorov-Smirnov cache, the 20-value limit, the
0.0001 boundary of empty bins and scipy's NaN Jensen-Shannon distance (docs/mutation.md)."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from mlspec.library import drift


def _counted_by_value(reference, current):
    """Counts per value, sorted by value: the reference computation for codes."""
    values = sorted(set(reference.tolist()) | set(current.tolist()))
    ref, cur = Counter(reference.tolist()), Counter(current.tolist())
    return [ref[v] for v in values], [cur[v] for v in values]


CODES = {
    "reference reaches the highest code": (np.array([0, 4, 4, 2, 4]), np.array([2, 2, 0])),
    "current reaches the highest code": (np.array([1, 1, 0]), np.array([5, 1, 0, 5])),
    "a code in one sample only, once": (np.array([0, 0, 3]), np.array([0, 1, 1, 1])),
    "unsigned codes": (np.array([2, 0, 2], dtype=np.uint8), np.array([1, 2], dtype=np.uint8)),
}


@pytest.mark.parametrize("case", CODES)
def test_codes_are_counted_per_code_in_code_order(case):
    """Codes no sample holds are left out; both samples' counts line up."""
    reference, current = CODES[case]
    counts = drift.category_counts(reference, current)
    assert [list(c) for c in counts] == list(_counted_by_value(reference, current))


def test_codes_are_counted_without_hashing(monkeypatch):
    """Non-negative integer codes take the bincount path, never `_codes`."""

    def refuse(values):
        raise AssertionError("codes hashed")

    monkeypatch.setattr(drift, "_codes", refuse)
    reference, current = CODES["reference reaches the highest code"]
    assert [list(c) for c in drift.category_counts(reference, current)] == [[1, 1, 3], [1, 2, 0]]


def test_codes_with_an_empty_sample():
    assert [list(c) for c in drift.category_counts(np.array([0, 2]), np.array([], dtype=np.int64))] == [[1, 1], [0, 0]]
    assert [list(c) for c in drift.category_counts(np.array([], dtype=np.int64), np.array([1]))] == [[0], [1]]


@pytest.mark.parametrize(
    "reference, current",
    [
        (np.array([-1, 0, 1, 1]), np.array([1, -1])),  # negative: not codes
        (np.array([3, 1, 3]), np.array([1.0, 2.5])),  # integers against floats
        (np.array([1.0, 2.5]), np.array([3, 1, 3])),
    ],
)
def test_integers_that_are_not_codes_are_counted_by_value(reference, current):
    counts = drift.category_counts(reference, current)
    assert [list(c) for c in counts] == list(_counted_by_value(reference, current))


def test_text_counts_cover_a_value_only_the_reference_holds():
    reference, current = np.array(["a", "b", "c"], dtype=object), np.array(["a", "a"], dtype=object)
    counts = dict(zip(("a", "b", "c"), zip(*drift.category_counts(reference, current))))
    assert counts == {"a": (1, 2), "b": (1, 0), "c": (1, 0)}


def test_chi2_on_codes_equals_chi2_on_text():
    reference, current = CODES["current reaches the highest code"]
    text = drift.chi2_pvalue(reference.astype(str).astype(object), current.astype(str).astype(object))
    assert drift.chi2_pvalue(reference, current) == pytest.approx(text, rel=1e-12)


# --- Kolmogorov-Smirnov cache ----------------------------------------------------------

A, B, C = np.arange(10.0), np.arange(10.0) + 3.5, np.arange(10.0) * 2


@pytest.mark.parametrize("second", [(C, B), (A, C), (B, B)], ids=["new reference", "new current", "current as reference"])
def test_ks_recomputes_for_other_arrays(second):
    drift.ks_statistic(A, B)
    expected = stats.ks_2samp(*second)
    assert drift.ks_statistic(*second) == expected.statistic
    assert drift.ks_pvalue(*second) == expected.pvalue


def test_ks_reuses_the_test_of_the_same_arrays(monkeypatch):
    statistic, pvalue = drift.ks_statistic(A, C), drift.ks_pvalue(A, C)

    def refuse(*args, **kwargs):
        raise AssertionError("tested again")

    monkeypatch.setattr(stats, "ks_2samp", refuse)
    assert (drift.ks_statistic(A, C), drift.ks_pvalue(A, C)) == (statistic, pvalue)


# --- binning boundaries ----------------------------------------------------------------


@pytest.mark.parametrize("n_values, expected", [(20, True), (21, False)])
def test_twenty_distinct_values_are_categories(n_values, expected):
    reference = np.arange(2000.0) % n_values
    assert drift.counts_as_categories(reference, True) is expected


def test_values_past_the_first_thousand_rows_count():
    reference = np.append(np.zeros(1000), np.arange(1.0, 30.0))
    assert drift.counts_as_categories(reference, True) is False


def test_empty_bin_next_to_a_share_of_exactly_0_0001():
    filled = drift.fill_empty_bins(np.array([0.0001, 0.0, 0.9999]))
    assert filled.tolist() == [0.0001, 0.0001 / 10**6, 0.9999]


def test_column_drift_bins_a_continuous_column_by_sturges():
    reference, current = np.arange(200.0), np.arange(200.0) + 50
    for statistic in ("psi", "js_distance"):
        by_name = drift.column_drift(statistic, reference, current, True)
        assert by_name == getattr(drift, statistic)(reference, current, True)
        assert by_name != getattr(drift, statistic)(reference, current, False)


def test_a_nan_js_distance_from_scipy_is_zero_without_a_warning(monkeypatch):
    """scipy takes the square root of a sum rounded below 0 for (all but) equal shares."""
    from scipy.spatial import distance

    monkeypatch.setattr(distance, "jensenshannon", lambda p, q: np.sqrt(np.float64(-1e-17)))
    values = np.array(["a", "b"], dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert drift.js_distance(values, values, False) == 0.0
