"""Template expansion (mlspec.compile.templates) on the inputs the mutation run found
untested: the whole-product shortcut, templates without placeholders, and sampling from
products of a million cases or more, where a seed must keep drawing the same cases
(docs/mutation.md)."""

from __future__ import annotations

import numpy as np
import pytest

from mlspec.compile.templates import _is_whole_product, expand, sample_indices
from mlspec.language.checker import Placeholder

LEXICONS = {"x": ("a", "b"), "y": ("1", "2")}
TEMPLATE = "{x}-{y}"
FOUND = (Placeholder("x", "x", None, 0, 3), Placeholder("y", "y", None, 4, 7))
ALL = ["a-1", "a-2", "b-1", "b-2"]  # the product, last placeholder fastest


@pytest.mark.parametrize(
    "indices, radices, whole",
    [
        ([0, 1, 2, 3, 4, 5], [2, 3], True),
        ([0], [1], True),
        ([], [0], True),
        ([0, 1], [2, 2], False),
        ([1, 0, 3, 2], [2, 2], False),
        ([0, 2, 1, 3], [2, 2], False),
    ],
)
def test_is_whole_product(indices, radices, whole):
    assert _is_whole_product(np.array(indices, dtype=np.int64), radices) is whole


@pytest.mark.parametrize("indices", [[0, 1], [1, 0, 3, 2], [0, 2, 1, 3], [0, 1, 2, 3]])
def test_expand_gives_the_texts_of_the_indices_in_their_order(indices):
    expansion = expand(TEMPLATE, FOUND, LEXICONS, np.array(indices))
    assert expansion.texts.tolist() == [ALL[i] for i in indices]


def test_expand_without_placeholders():
    expansion = expand("plain", (), LEXICONS, np.arange(3))
    assert expansion.texts.dtype == object and expansion.texts.tolist() == ["plain"] * 3
    assert expansion.choices == {}


def test_a_sample_of_the_whole_product_needs_no_generator():
    assert sample_indices(4, 4, None).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "total, size",
    [((1 << 20) - 1, 10), (1 << 22, 1 << 20)],
    ids=["under a million", "a quarter of the product"],
)
def test_small_or_dense_samples_are_numpys_choice(total, size):
    expected = np.sort(np.random.default_rng(5).choice(total, size=size, replace=False))
    assert sample_indices(total, size, np.random.default_rng(5)).tolist() == expected.tolist()


@pytest.mark.parametrize(
    "total, size, first, checksum",
    [(1 << 20, 10, [1064, 47474, 156043, 276024], 5242190), (5 << 18, 1 << 18, [0, 1, 2, 15], 171797250589)],
    ids=["a million", "a fifth of the product"],
)
def test_sparse_samples_of_a_large_product_stay_the_same_for_a_seed(total, size, first, checksum):
    """Pinned: a spec's seed must keep testing the same cases."""
    picked = sample_indices(total, size, np.random.default_rng(5))
    assert picked.dtype == np.int64 and len(np.unique(picked)) == size
    assert picked[:4].tolist() == first and int(picked.sum()) == checksum


class _Scripted:
    """A generator whose first `integers` draw is given; records every range drawn from."""

    def __init__(self, first):
        self.first, self.ranges, self.rng = first, [], np.random.default_rng(0)

    def integers(self, low, high=None, size=None):
        self.ranges.append((0, low) if high is None else (low, high))
        if len(self.ranges) == 1:
            return np.asarray(self.first, dtype=np.int64)
        return self.rng.integers(low, high, size=size)

    def permutation(self, values):
        return self.rng.permutation(values)


TOTAL, SIZE = 1 << 21, 1000


def test_a_first_draw_of_exactly_size_distinct_indices_is_kept():
    rng = _Scripted(np.arange(SIZE) * 7)
    assert sample_indices(TOTAL, SIZE, rng).tolist() == (np.arange(SIZE) * 7).tolist()
    assert rng.ranges == [(0, TOTAL)]


def test_too_few_distinct_indices_draw_again_from_the_whole_product():
    rng = _Scripted(np.zeros(SIZE, dtype=np.int64))
    picked = sample_indices(TOTAL, SIZE, rng)
    assert len(np.unique(picked)) == SIZE and picked.tolist() == sorted(picked.tolist())
    assert 0 <= picked.min() and picked.max() < TOTAL and picked.dtype == np.int64
    assert len(rng.ranges) >= 2 and set(rng.ranges) == {(0, TOTAL)}
