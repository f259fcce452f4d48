"""Text perturbations (mlspec.library.perturbations) on the inputs the mutation run found
untested: the output limit at its exact boundary, lexicons whose trie has one or two
branches at the root, repeated lexicon values, mixed apostrophes, and the regex helpers
that only run at import (docs/mutation.md)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mlspec.library import perturbations as pt

RNG = np.random.default_rng(0)
LIMIT_MESSAGE = "more than 100 characters of variants of one text of 4 characters"


@pytest.fixture
def limit_100(monkeypatch):
    monkeypatch.setattr(pt, "MAX_OUTPUT", 100)


def test_hold_to_limit_allows_exactly_the_limit(limit_100):
    pt._hold_to_limit(20, "abcd")  # 20 * (4 + 1) == 100
    with pytest.raises(pt.TooManyVariants, match=f"^{LIMIT_MESSAGE}$"):
        pt._hold_to_limit(21, "abcd")


def test_append_allows_exactly_the_limit(monkeypatch):
    """10 phrases of 2 characters after a text of 4: 10 * (4 + 1) + 20 = 70 characters."""
    monkeypatch.setattr(pt, "MAX_OUTPUT", 70)
    assert pt.append("abcd", RNG, ["xy"] * 10) == ["abcd xy"]
    monkeypatch.setattr(pt, "MAX_OUTPUT", 69)
    with pytest.raises(pt.TooManyVariants, match="^more than 69 characters of variants of one text of 4 characters$"):
        pt.append("abcd", RNG, ["xy"] * 10)


def test_swap_counts_the_variants_of_every_match_so_far(monkeypatch):
    """Two matches of 2 replacements in a text of 7: 4 * 8 = 32 characters."""
    monkeypatch.setattr(pt, "MAX_OUTPUT", 32)
    assert len(pt.swap("cat cat", RNG, ["cat", "dog", "emu"])) == 4
    monkeypatch.setattr(pt, "MAX_OUTPUT", 31)
    with pytest.raises(pt.TooManyVariants):
        pt.swap("cat cat", RNG, ["cat", "dog", "emu"])


def test_swap_with_one_branch_at_the_root():
    assert pt.swap("1a x", RNG, ["1a", "1b"]) == ["1b x"]


def test_swap_with_two_branches_at_the_root():
    assert pt.swap("2 cats", RNG, ["1", "2"]) == ["1 cats"]


def test_swap_skips_every_copy_of_a_repeated_value():
    assert pt.swap("an a1", RNG, ["b2", "a1", "c3", "a1", "d4"]) == ["a b2", "a c3", "a d4"]


def test_swap_never_offers_the_value_found():
    """Only the article would change: "a apple" is not swapped for "an apple"."""
    assert pt.swap("I ate a apple", RNG, ["apple", "pear"]) == ["I ate a pear"]


def test_contracting_keeps_straight_apostrophes_when_both_kinds_occur():
    assert pt.contractions("It is Bob’s 'car'", RNG) == ["It's Bob’s 'car'"]


def test_prepend_strips_leading_space_only():
    assert pt.prepend("  hi ", RNG, ["oh"]) == ["oh hi "]


@pytest.mark.parametrize("seed", range(6))
def test_typos_leave_the_pair_after_next_free(seed):
    """In "abbc", swapping a-b or b-c leaves the other pair; both swaps give "bacb"."""
    assert pt.typos("abbc", np.random.default_rng(seed), count=2) == ["bacb"]


def test_change_numbers_defaults_to_three():
    assert len(pt.change_numbers("I have 50 cats", RNG)) == 3


def test_change_numbers_with_one_number_per_number():
    assert len(pt.change_numbers("I have 50 cats", RNG, n=1)) == 1


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: pt.change_numbers("5", RNG, n=0), "^change_numbers: n must be >= 1, got 0$"),
        (lambda: pt.typos("ab", RNG, count=0), "^typos: count must be >= 1, got 0$"),
    ],
)
def test_bad_counts_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- helpers the module-level regexes are built with (at import, before any mutant runs)


@pytest.mark.parametrize(
    "phrase, matches, refuses",
    [
        ("isn't", ["isn't", "Isn't"], ["iSn't", "ISN'T"]),
        ("I'm", ["I'm", "i'm"], ["I'M"]),
        ("3.5x", ["3.5x"], ["3x5x"]),
    ],
)
def test_either_case_first(phrase, matches, refuses):
    pattern = re.compile(pt._either_case_first(phrase))
    assert all(pattern.fullmatch(text) for text in matches)
    assert not any(pattern.fullmatch(text) for text in refuses)


def test_by_length_puts_the_longest_first():
    assert pt._by_length(["b", "aa", "ccc"]) == ["ccc", "aa", "b"]


def test_whole_words_is_any_alternative_between_non_word_characters():
    pattern = pt._whole_words(["cat", "dog"])
    assert [m.group() for m in pattern.finditer("dog, cat; dogs")] == ["dog", "cat"]


def test_match_first_letter_case_of_empty_strings():
    assert pt._match_first_letter_case("", "A") == ""
    assert pt._match_first_letter_case("word", "") == "word"
