"""Drift statistics of one column (mlspec.library.drift), checked three ways.

- psi, js_distance, chi2_pvalue (two categories) and Evidently's normed wasserstein equal the figures
  Evidently 0.7.23 computed on the same samples (fixed below: evidently's
  `legacy.calculations.stattests` `_psi`, `_jensenshannon`, `_z_stat_test`,
  `_wasserstein_distance_norm`, run on pandas Series of these arrays in a separate
  environment; Evidently is not a dependency of mlspec). chi2_pvalue is a test of
  homogeneity, which Evidently runs for two categories only (its "z" test); its
  "chisquare" is a goodness of fit to the reference, shown here to differ.
- ks_statistic, ks_pvalue, wasserstein, js_distance and chi2_pvalue (chi2_contingency) equal SciPy's on counts
  and shares worked out here independently.
- psi equals a plain-numpy computation written from the documented binning: Sturges bins
  over both samples, or one bin per value; empty bins filled with 0.0001 (or a millionth
  of the smallest share).
- column_drift dispatches by name and refuses what does not apply, with clear messages.
"""

from __future__ import annotations

import csv
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from mlspec.library import drift

ADULT = Path(__file__).resolve().parents[1] / "specs" / "income" / "data" / "adult_test.csv"
EXACT = {"abs": 1e-9, "rel": 1e-9}  # pytest.approx: the same figure
BINNED = ("psi", "js_distance")


def _adult_columns() -> dict[str, np.ndarray]:
    with open(ADULT, newline="") as file:
        rows = list(csv.DictReader(file))
    return {name: np.array([row[name] for row in rows], dtype=object) for name in rows[0]}


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
    """name -> (reference, current, numeric): every branch of the binning, and the demo data."""
    columns = _adult_columns()
    male = columns["sex"] == "Male"
    first_half = np.arange(len(male)) < len(male) // 2
    occupation = columns["occupation"]
    known = occupation != "?"  # the dataset's missing marker

    def numbers(name):
        return columns[name].astype(np.float64)

    return {
        "sturges, disjoint ranges (empty bins)": (np.arange(100.0), np.arange(100.0) + 1000, True),
        "sturges, one reference share below 0.0001": (np.append(np.arange(30000) / 1000, 100.0), np.arange(20000) / 500, True),
        "sturges, squares vs roots": ((np.arange(5000) / 5000) ** 2, np.sqrt(np.arange(4000) / 4000), True),
        "per value, two values new in current": ((np.arange(3000) * 7 % 10).astype(float), (np.arange(2000) * 3 % 12).astype(float), True),
        "categories": (np.array(list("aabbbcccd" * 100), dtype=object), np.array(list("abbcccdddd" * 80), dtype=object), False),
        "adult age, men vs women": (numbers("age")[male], numbers("age")[~male], True),
        "adult hours_per_week, men vs women": (numbers("hours_per_week")[male], numbers("hours_per_week")[~male], True),
        "adult education_num, first vs second half": (numbers("education_num")[first_half], numbers("education_num")[~first_half], True),
        "adult race, men vs women": (columns["race"][male], columns["race"][~male], False),
        "adult occupation, first vs second half": (occupation[first_half & known], occupation[~first_half & known], False),
        "adult income, men vs women": (columns["income"][male], columns["income"][~male], False),
        "adult sex, first vs second half": (columns["sex"][first_half], columns["sex"][~first_half], False),
        "adult income, first vs second half": (columns["income"][first_half], columns["income"][~first_half], False),
    }


CASES = _cases()

# Computed with Evidently 0.7.23 on the cases above (see the module docstring); z_pvalue is
# Evidently's "z" test, run where the two samples hold two categories in all.
EVIDENTLY = {
    'sturges, disjoint ranges (empty bins)': {'psi': 18.41883867587797, 'js_distance': 0.8325546111576977, 'wasserstein_normed': 34.64274833209975},
    'sturges, one reference share below 0.0001': {'psi': 2.9263036668635145, 'js_distance': 0.2777515288704657, 'wasserstein_normed': 0.5765120258075627},
    'sturges, squares vs roots': {'psi': 1.8170784881409812, 'js_distance': 0.41366706267025466, 'wasserstein_normed': 1.1181570474667224},
    'per value, two values new in current': {'psi': 4.690282953346386, 'js_distance': 0.523792390695269, 'wasserstein_normed': 0.243708718337977},
    'categories': {'psi': 0.5392650408063836, 'js_distance': 0.2531377282997814},
    'adult age, men vs women': {'psi': 0.08291729806691776, 'js_distance': 0.10129265277101618, 'wasserstein_normed': 0.19081914954301604},
    'adult hours_per_week, men vs women': {'psi': 0.290268588681514, 'js_distance': 0.18771361041956935, 'wasserstein_normed': 0.4961580133444578},
    'adult education_num, first vs second half': {'psi': 0.0022578039818320628, 'js_distance': 0.016774885482816217, 'wasserstein_normed': 0.01585824872932957},
    'adult race, men vs women': {'psi': 0.047924666991173086, 'js_distance': 0.07687221791522136},
    'adult occupation, first vs second half': {'psi': 0.004407606066887531, 'js_distance': 0.023462105330407504},
    'adult income, men vs women': {'psi': 0.23958634525648884, 'js_distance': 0.1701463286808772, 'z_pvalue': 0.0},
    'adult sex, first vs second half': {'psi': 9.469799441213402e-05, 'js_distance': 0.0034405201822104237, 'z_pvalue': 0.5347061122466152},
    'adult income, first vs second half': {'psi': 0.0002417725103596486, 'js_distance': 0.005497343876076802, 'z_pvalue': 0.32120746819271995},
}  # fmt: skip


def _figures(reference, current, numeric) -> dict[str, float]:
    """Ours, under the names of the Evidently figures above."""
    found = {"psi": drift.psi(reference, current, numeric), "js_distance": drift.js_distance(reference, current, numeric)}
    if len(set(reference.tolist()) | set(current.tolist())) == 2:
        found["z_pvalue"] = drift.chi2_pvalue(reference, current)  # Pearson's chi-square on a 2 x 2 table is the z-test squared
    if numeric:
        found["wasserstein_normed"] = drift.wasserstein(reference, current) / max(float(np.std(reference)), 0.001)
    return found


# ---------------------------------------------------------------- against Evidently


@pytest.mark.parametrize("case", CASES)
def test_figures_equal_evidentlys(case):
    found = _figures(*CASES[case])
    assert set(found) == set(EVIDENTLY[case])
    for name, value in EVIDENTLY[case].items():
        assert found[name] == pytest.approx(value, **EXACT), name


def test_the_cases_reach_every_branch_of_the_binning():
    counted_per_value = {case for case, (reference, _, numeric) in CASES.items() if numeric and drift.counts_as_categories(reference, numeric)}
    assert counted_per_value == {"per value, two values new in current", "adult education_num, first vs second half"}
    assert any("z_pvalue" in figures for figures in EVIDENTLY.values())
    reference, current, _ = CASES["sturges, one reference share below 0.0001"]
    reference_shares, current_shares = drift.binned_shares(reference, current, True)
    assert 0 < reference_shares[reference_shares > 0].min() <= 0.0001 and (reference_shares == 0).any()
    assert current_shares[current_shares > 0].min() > 0.0001 and (current_shares == 0).any()


# ---------------------------------------------------------------- against a plain computation of the definitions


def _plain_shares(reference, current, numeric):
    """The documented bins, written out: Sturges over both samples, else one bin per value."""
    if numeric and len(set(reference.tolist())) > 20:
        both = np.concatenate([reference, current])
        n_bins = int(np.ceil(np.log2(len(both)))) + 1
        edges = np.linspace(both.min(), both.max(), n_bins + 1)

        def shares(sample):
            inside = [(sample >= low) & (sample < high) for low, high in pairwise(edges[:-1])]
            inside.append((sample >= edges[-2]) & (sample <= edges[-1]))  # the last bin is closed
            return np.array([mask.sum() for mask in inside]) / len(sample)

        return shares(reference), shares(current)
    keys = sorted(set(reference.tolist()) | set(current.tolist()))
    reference_counts, current_counts = Counter(reference.tolist()), Counter(current.tolist())
    return np.array([reference_counts[k] for k in keys]) / len(reference), np.array([current_counts[k] for k in keys]) / len(current)


def _plain_fill(shares):
    smallest = min(share for share in shares if share > 0)
    return np.array([share if share > 0 else (smallest / 1e6 if smallest <= 0.0001 else 0.0001) for share in shares])


@pytest.mark.parametrize("case", CASES)
def test_psi_and_js_follow_the_documented_binning(case):
    reference, current, numeric = CASES[case]
    reference_shares, current_shares = _plain_shares(reference, current, numeric)
    r, c = _plain_fill(reference_shares), _plain_fill(current_shares)
    assert drift.psi(reference, current, numeric) == pytest.approx(sum((r - c) * np.log(r / c)), **EXACT)
    assert drift.js_distance(reference, current, numeric) == pytest.approx(distance.jensenshannon(reference_shares, current_shares), **EXACT)


def test_sturges_bin_count():
    reference, current = np.arange(1000.0), np.arange(500.0)  # 1500 values together: ceil(log2 1500) + 1 = 12 bins
    reference_counts, current_counts = drift.binned_counts(reference, current, True)
    assert len(reference_counts) == len(current_counts) == 12
    assert reference_counts.sum() == 1000 and current_counts.sum() == 500


def test_js_distance_uses_the_natural_log():
    disjoint = drift.js_distance(np.array(["a"] * 10, dtype=object), np.array(["b"] * 10, dtype=object), False)
    assert disjoint == pytest.approx(np.sqrt(np.log(2)), **EXACT)


def test_identical_samples_do_not_drift():
    reference, _, _ = CASES["adult age, men vs women"]
    assert drift.psi(reference, reference.copy(), True) == 0.0
    assert drift.js_distance(reference, reference.copy(), True) == 0.0
    assert drift.ks_statistic(reference, reference.copy()) == 0.0
    assert drift.wasserstein(reference, reference.copy()) == 0.0


# ---------------------------------------------------------------- against SciPy


@pytest.mark.parametrize("case", [case for case, (_, _, numeric) in CASES.items() if numeric])
def test_ks_and_wasserstein_are_scipys(case):
    reference, current, _ = CASES[case]
    ks = stats.ks_2samp(reference, current)
    assert drift.ks_statistic(reference, current) == pytest.approx(ks.statistic, **EXACT)
    assert drift.ks_pvalue(reference, current) == pytest.approx(ks.pvalue, **EXACT)
    assert drift.wasserstein(reference, current) == pytest.approx(stats.wasserstein_distance(reference, current), **EXACT)


def test_ks_and_wasserstein_on_generated_samples():
    rng = np.random.default_rng(7)
    for size in (1, 50, 3000, 20000):  # exact p-values up to 10,000 a sample, asymptotic beyond
        reference, current = rng.normal(size=size), rng.normal(0.1, 1, size=size // 2 + 1)
        ks = stats.ks_2samp(reference, current)
        assert (drift.ks_statistic(reference, current), drift.ks_pvalue(reference, current)) == pytest.approx((ks.statistic, ks.pvalue), **EXACT)
        assert drift.wasserstein(reference, current) == pytest.approx(stats.wasserstein_distance(reference, current), **EXACT)
        rounded = np.round(reference, 1), np.round(current, 1)  # ties within and across the samples
        assert drift.wasserstein(*rounded) == pytest.approx(stats.wasserstein_distance(*rounded), **EXACT)


@pytest.mark.parametrize("case", [case for case, (reference, _, numeric) in CASES.items() if drift.counts_as_categories(reference, numeric)])
def test_chi2_is_scipys_test_of_homogeneity(case):
    reference, current, _ = CASES[case]
    reference_counts, current_counts = Counter(reference.tolist()), Counter(current.tolist())
    keys = sorted(set(reference_counts) | set(current_counts))
    table = [[reference_counts[k] for k in keys], [current_counts[k] for k in keys]]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert drift.chi2_pvalue(reference, current) == pytest.approx(expected, abs=1e-12, rel=1e-9)


def test_chi2_is_not_evidentlys_goodness_of_fit():
    """Evidently's "chisquare" takes the reference's shares as exact: on the two halves of the
    demo data it finds drift (p = 0.0008) where the test of homogeneity finds none (p = 0.21)."""
    reference, current, _ = CASES["adult occupation, first vs second half"]
    reference_counts, current_counts = drift.category_counts(reference, current)
    goodness_of_fit = stats.chisquare(current_counts, reference_counts * len(current) / len(reference)).pvalue
    assert goodness_of_fit == pytest.approx(0.000830319558819903, **EXACT)  # Evidently 0.7.23's chisquare on these samples
    assert drift.chi2_pvalue(reference, current) == pytest.approx(0.2064767915461548, **EXACT)


def test_chi2_with_one_category_has_nothing_to_test():
    same = np.array(["Male"] * 5, dtype=object)
    assert drift.chi2_pvalue(same, same.copy()) == 1.0


# ---------------------------------------------------------------- by name


@pytest.mark.parametrize("statistic", drift.DRIFT_STATISTICS)
def test_column_drift_dispatches_by_name(statistic):
    reference, current, _ = CASES["adult education_num, first vs second half"]  # numbers with 16 values: every statistic applies
    function = getattr(drift, statistic)
    direct = function(reference, current, True) if statistic in BINNED else function(reference, current)
    assert drift.column_drift(statistic, reference, current, True) == direct


def test_drift_statistics_table():
    assert {name: tuple(entry) for name, entry in drift.DRIFT_STATISTICS.items()} == {
        "psi": (True, True, "<="),
        "ks_statistic": (True, False, "<="),
        "ks_pvalue": (True, False, ">="),
        "chi2_pvalue": (False, True, ">="),
        "js_distance": (True, True, "<="),
        "wasserstein": (True, False, "<="),
    }


@pytest.mark.parametrize("statistic", ["ks_statistic", "ks_pvalue", "wasserstein"])
def test_number_statistics_refuse_text(statistic):
    reference, current, _ = CASES["adult race, men vs women"]
    with pytest.raises(ValueError, match=f"{statistic} applies to numbers, and this column holds text: use psi, js_distance or chi2_pvalue"):
        drift.column_drift(statistic, reference, current, False)


def test_chi2_refuses_a_continuous_column_and_takes_one_with_few_values():
    reference, current, _ = CASES["adult age, men vs women"]
    with pytest.raises(ValueError, match="chi2_pvalue applies to categories.*more than 20 distinct values.*use ks_pvalue"):
        drift.column_drift("chi2_pvalue", reference, current, True)
    few = np.array([1.0, 2.0, 2.0, 3.0] * 10)
    assert drift.column_drift("chi2_pvalue", few, few[::-1].copy(), True) == 1.0


def test_empty_samples_unknown_names_and_infinities_are_refused():
    values = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="no values in the reference sample"):
        drift.column_drift("psi", np.array([]), values, True)
    with pytest.raises(ValueError, match="no values in the current sample"):
        drift.column_drift("js_distance", np.array(["a"], dtype=object), np.array([], dtype=object), False)
    with pytest.raises(ValueError, match="unknown drift statistic `kl_div`: one of psi, ks_statistic"):
        drift.column_drift("kl_div", values, values, True)
    with pytest.raises(ValueError, match="the current sample holds an infinite or NaN number"):
        drift.column_drift("wasserstein", values, np.array([1.0, np.inf]), True)


def test_categories_are_counted_by_value_whatever_the_array():
    """Text as object arrays (what a Column holds) and as numpy str arrays count the same."""
    reference, current, _ = CASES["adult race, men vs women"]
    assert drift.psi(reference, current, False) == pytest.approx(drift.psi(reference.astype(str), current.astype(str), False), **EXACT)
