"""Distribution drift of one column between a reference and a current sample: what the
drift kind checks.

Each statistic takes the present values of the column in both samples (missing cells
removed): float64 numbers, or categories as an object array of str. The definitions are
Evidently's (evidently 0.7.23, `evidently/legacy/calculations/stattests/`: `utils.py`
`get_binned_data`, `psi.py`, `jensenshannon.py`, `z_stattest.py`; the same as in
`src/evidently/calculations/stattests/` of earlier releases), so a figure here equals the one
Evidently reports, except where said (chi2_pvalue, wasserstein).

Bins (psi, js_distance):
- A numeric column with more than 20 distinct values in the reference: equal-width bins
  over the range of both samples together, as many as Sturges' rule gives for their
  combined size n: edges = np.histogram_bin_edges(reference + current, bins="sturges"),
  ceil(log2 n) + 1 bins. Each bin holds [low, high) except the last, [low, high].
- Any other column (categories, or numbers with at most 20 distinct reference values): one
  bin per value found in either sample.
- A sample's share of a bin is its count there over the sample's size.

- psi = sum over bins (r - c) * ln(r / c), r and c the reference's and current's shares,
  where an empty bin's share is replaced, in each sample on its own, by 0.0001, or by a
  millionth of that sample's smallest non-zero share when that is itself 0.0001 or less.
- js_distance = scipy.spatial.distance.jensenshannon(r, c), natural log (so at most
  sqrt(ln 2) = 0.8326), empty bins left as they are.
- chi2_pvalue: the p-value of Pearson's chi-square test of homogeneity of the 2 x k table
  of counts per category (reference, current), k - 1 degrees of freedom, no continuity
  correction: `scipy.stats.chi2_contingency(table, correction=False)`. For two categories
  it equals Evidently's default test for them, "z" (the pooled two-proportion z-test).
  It is NOT Evidently's "chisquare", which tests the current counts against the reference's
  shares as if those were exact (`scipy.stats.chisquare(current, reference * n_cur / n_ref)`):
  that ignores the reference's own sampling noise, so on two samples of one distribution it
  signals drift far too often (simulated, 8 categories, p < 0.01: 24% of the time with equal
  sizes, 97% with a current sample 10 times the reference; this test: 1%). One category in
  both samples leaves nothing to test: p = 1. Categories, or numbers with at most 20
  distinct reference values.
- ks_statistic, ks_pvalue: the two-sample Kolmogorov-Smirnov test, `scipy.stats.ks_2samp`
  with its defaults (two-sided; method "auto": the exact distribution up to 10,000 values a
  sample, the asymptotic one beyond). Numbers, however few distinct values they take.
- wasserstein: the earth mover's distance in the column's own units, the area between the
  two empirical CDFs: `scipy.stats.wasserstein_distance`, computed here in half the time.
  Evidently's "wasserstein" divides it by the reference's standard deviation (at least 0.001); this one does not. Numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# SciPy is imported by the statistics that use it, not with this module: the kinds import
# it, and `mlspec check` should not wait a second for scipy.stats.

MAX_VALUES_AS_CATEGORIES = 20  # a numeric column with at most this many distinct reference values is counted per value
EMPTY_BIN_SHARE = 0.0001


class DriftStatistic(NamedTuple):
    numbers: bool  # applies to any numeric column (chi2_pvalue does not, yet takes one with few distinct values)
    categories: bool  # applies to a column of text
    direction: str  # how a sane expectation bounds it: "<=" a distance, ">=" a p-value


DRIFT_STATISTICS = {
    "psi": DriftStatistic(True, True, "<="),
    "ks_statistic": DriftStatistic(True, False, "<="),
    "ks_pvalue": DriftStatistic(True, False, ">="),
    "chi2_pvalue": DriftStatistic(False, True, ">="),
    "js_distance": DriftStatistic(True, True, "<="),
    "wasserstein": DriftStatistic(True, False, "<="),
}


# --- bins -------------------------------------------------------------------------------


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's index among the distinct values, and how many there are."""
    if values.dtype != object:
        distinct, codes = np.unique(values, return_inverse=True)
        return codes.ravel(), len(distinct)
    index = {value: i for i, value in enumerate(dict.fromkeys(values))}  # hashing in C: far faster than sorting text
    return np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values)), len(index)


def category_counts(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts per value found in either sample (in the same order for both). Categories given
    as codes (non-negative integers: indices into categories both samples share) are counted
    by code, in code order."""
    if reference.dtype.kind in "iu" and current.dtype.kind in "iu" and min(reference.min(initial=0), current.min(initial=0)) >= 0:
        size = max(reference.max(initial=0), current.max(initial=0)) + 1
        reference_counts, current_counts = np.bincount(reference, minlength=size), np.bincount(current, minlength=size)
        seen = (reference_counts + current_counts) > 0
        return reference_counts[seen], current_counts[seen]
    codes, n_values = _codes(np.concatenate([reference, current]))
    split = len(reference)
    return np.bincount(codes[:split], minlength=n_values), np.bincount(codes[split:], minlength=n_values)


def counts_as_categories(reference: np.ndarray, numeric: bool) -> bool:
    """Text, or numbers with few distinct values in the reference: counted per value."""
    if not numeric:
        return True
    limit = MAX_VALUES_AS_CATEGORIES
    return len(np.unique(reference[:1000])) <= limit and len(np.unique(reference)) <= limit  # the first rows mostly settle it


def binned_counts(reference: np.ndarray, current: np.ndarray, numeric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Counts per bin of both samples: Sturges bins over both, or one bin per value."""
    if counts_as_categories(reference, numeric):
        return category_counts(reference, current)
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    return np.histogram(reference, edges)[0], np.histogram(current, edges)[0]


def binned_shares(reference: np.ndarray, current: np.ndarray, numeric: bool) -> tuple[np.ndarray, np.ndarray]:
    reference_counts, current_counts = binned_counts(reference, current, numeric)
    return reference_counts / len(reference), current_counts / len(current)


def fill_empty_bins(shares: np.ndarray) -> np.ndarray:
    """Empty bins given 0.0001, or a millionth of the smallest share when that is 0.0001 or less."""
    smallest = shares[shares > 0].min()
    return np.where(shares > 0, shares, smallest / 10**6 if smallest <= EMPTY_BIN_SHARE else EMPTY_BIN_SHARE)


# --- statistics -------------------------------------------------------------------------


def psi(reference: np.ndarray, current: np.ndarray, numeric: bool) -> float:
    """Population stability index."""
    reference_shares, current_shares = (fill_empty_bins(shares) for shares in binned_shares(reference, current, numeric))
    return float(np.sum((reference_shares - current_shares) * np.log(reference_shares / current_shares)))


def js_distance(reference: np.ndarray, current: np.ndarray, numeric: bool) -> float:
    """Jensen-Shannon distance (natural log) of the binned distributions."""
    with np.errstate(invalid="ignore"):
        from scipy.spatial import distance

        value = float(distance.jensenshannon(*binned_shares(reference, current, numeric)))
    return 0.0 if np.isnan(value) else value  # scipy's square root of a sum rounded below 0: (all but) equal shares


def chi2_pvalue(reference: np.ndarray, current: np.ndarray) -> float:
    """p-value of the chi-square test that both samples share one distribution of categories."""
    table = np.array(category_counts(reference, current))
    from scipy import stats

    return float(stats.chi2_contingency(table, correction=False).pvalue)


def ks_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    return _ks_test(reference, current)[0]


def ks_pvalue(reference: np.ndarray, current: np.ndarray) -> float:
    return _ks_test(reference, current)[1]


_last_ks: list = []  # (reference, current, result) of the last test: a column's statistic and p-value cost one test


def _ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """`ks_2samp`'s statistic and p-value; the same two arrays again reuse the last result
    (they are held, so their identity cannot pass to other arrays meanwhile)."""
    if _last_ks and _last_ks[0] is reference and _last_ks[1] is current:
        return _last_ks[2]
    from scipy import stats

    found = stats.ks_2samp(reference, current)
    _last_ks[:] = [reference, current, (float(found.statistic), float(found.pvalue))]
    return _last_ks[2]


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """The area between the two empirical CDFs: scipy's wasserstein_distance, in half its time
    (sorts where it sorts indices; the sorted samples merged, not sorted again)."""
    reference, current = np.sort(reference), np.sort(current)
    both = np.sort(np.concatenate([reference, current]), kind="stable")  # timsort merges the two sorted runs
    reference_cdf = np.searchsorted(reference, both[:-1], side="right") / len(reference)
    current_cdf = np.searchsorted(current, both[:-1], side="right") / len(current)
    return float(np.sum(np.abs(reference_cdf - current_cdf) * np.diff(both)))


# --- by name ----------------------------------------------------------------------------

_FUNCTIONS = {
    "psi": psi,
    "ks_statistic": ks_statistic,
    "ks_pvalue": ks_pvalue,
    "chi2_pvalue": chi2_pvalue,
    "js_distance": js_distance,
    "wasserstein": wasserstein,
}


def column_drift(statistic: str, reference: np.ndarray, current: np.ndarray, numeric: bool) -> float:
    """The named statistic; ValueError when it does not apply to the column or a sample is empty."""
    if statistic not in DRIFT_STATISTICS:
        raise ValueError(f"unknown drift statistic `{statistic}`: one of {', '.join(DRIFT_STATISTICS)}")
    _check_samples(reference, current, numeric)
    _check_applies(statistic, reference, numeric)
    function = _FUNCTIONS[statistic]
    return function(reference, current, numeric) if statistic in ("psi", "js_distance") else function(reference, current)


def _check_samples(reference: np.ndarray, current: np.ndarray, numeric: bool) -> None:
    for name, sample in (("reference", reference), ("current", current)):
        if len(sample) == 0:
            raise ValueError(f"no values in the {name} sample")
        if numeric and not np.isfinite(sample).all():
            raise ValueError(f"the {name} sample holds an infinite or NaN number")


def _check_applies(statistic: str, reference: np.ndarray, numeric: bool) -> None:
    applies = DRIFT_STATISTICS[statistic]
    if not numeric and not applies.categories:
        raise ValueError(f"{statistic} applies to numbers, and this column holds text: use psi, js_distance or chi2_pvalue")
    if numeric and statistic == "chi2_pvalue" and not counts_as_categories(reference, numeric):
        raise ValueError(
            f"chi2_pvalue applies to categories, and this column holds numbers with more than {MAX_VALUES_AS_CATEGORIES} "
            "distinct values in the reference: use ks_pvalue"
        )
