"""Tests for mlspec.library.perturbations."""

import inspect

import numpy as np
import pytest

from mlspec.library.perturbations import (
    PERTURBATIONS,
    Param,
    append,
    change_numbers,
    contractions,
    indefinite_article,
    prepend,
    punctuation,
    swap,
    typos,
)

LONG_TEXT = "The acting was wonderful but the plot dragged on for far too long."
RELIGIONS = ["Christian", "Muslim", "Jewish", "atheist"]


def rng(seed=0):
    return np.random.default_rng(seed)


def changed_positions(a, b):
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


# --- typos -----------------------------------------------------------------


def test_typos_swaps_one_adjacent_pair():
    [out] = typos(LONG_TEXT, rng())
    i, j = changed_positions(LONG_TEXT, out)
    assert j == i + 1
    assert (out[i], out[j]) == (LONG_TEXT[j], LONG_TEXT[i])


def test_typos_count_two_swaps_two_separate_pairs():
    for seed in range(20):
        [out] = typos(LONG_TEXT, rng(seed), count=2)
        diff = changed_positions(LONG_TEXT, out)
        assert len(diff) == 4
        pairs = [diff[:2], diff[2:]]
        for i, j in pairs:
            assert j == i + 1
            assert (out[i], out[j]) == (LONG_TEXT[j], LONG_TEXT[i])


def test_typos_two_chars_has_one_possible_result():
    assert typos("ab", rng()) == ["ba"]


@pytest.mark.parametrize("text", ["", "a", "aa", "!!!!"])
def test_typos_does_not_apply_without_a_visible_swap(text):
    assert typos(text, rng()) == []


def test_typos_needs_enough_separate_pairs():
    assert typos("abc", rng(), count=2) == []
    assert typos("abcd", rng(), count=2) == ["badc"]


def test_typos_rejects_count_below_one():
    with pytest.raises(ValueError):
        typos(LONG_TEXT, rng(), count=0)


def test_typos_same_seed_same_output_different_seeds_differ():
    assert typos(LONG_TEXT, rng(7), count=2) == typos(LONG_TEXT, rng(7), count=2)
    outputs = {typos(LONG_TEXT, rng(seed))[0] for seed in range(10)}
    assert len(outputs) > 5


def test_typos_uses_only_the_given_generator():
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    generator = rng(3)
    first = typos(LONG_TEXT, generator)
    second = typos(LONG_TEXT, generator)
    assert first != second  # the generator advanced
    assert (np.random.get_state()[1] == state).all()


# --- contractions ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("This isn't a good movie, it's bad.",
         ["This is not a good movie, it is bad."]),
        ("It is not what I am looking for.", ["It's not what I'm looking for."]),
        ("It's fine but I didn't like it.",
         ["It is fine but I did not like it."]),
        ("We cannot go, they won't come.",
         ["We cannot go, they will not come.", "We can't go, they won't come."]),
        ("Let us go, we're late.", ["Let us go, we are late.", "Let's go, we're late."]),
        ("You Are Here", []),
        ("Nothing to change here.", []),
    ],
)
def test_contractions(text, expected):
    assert contractions(text, rng()) == expected


def test_contractions_handle_typographic_apostrophe():
    assert contractions("I don’t like it. It’s dull.", rng()) == [
        "I do not like it. It is dull."
    ]
    assert contractions("I do not like it. Don’t go.", rng()) == [
        "I do not like it. Do not go.",
        "I don’t like it. Don’t go.",
    ]


def test_contractions_match_whole_words_only():
    assert contractions("Thisis notable, Idon't care.", rng()) == []
    assert contractions("Madison is nothing special.", rng()) == []


# --- punctuation -----------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Great movie!", ["Great movie"]),
        ("Really?!  ", ["Really"]),
        ("Is it good ?", ["Is it good"]),
        ('He said "hi."', ['He said "hi"']),
        ("Great movie", ["Great movie."]),
        ("Great movie  ", ["Great movie."]),
        ("3.5", ["3.5."]),
        ("?!", []),
        ("   ", []),
        ("", []),
    ],
)
def test_punctuation(text, expected):
    assert punctuation(text, rng()) == expected


# --- swap ------------------------------------------------------------------


def test_swap_replaces_with_every_other_value():
    assert swap("A Christian critic.", rng(), RELIGIONS[:3]) == [
        "A Muslim critic.",
        "A Jewish critic.",
    ]


def test_swap_fixes_the_article():
    assert swap("A Christian critic.", rng(), RELIGIONS) == [
        "A Muslim critic.",
        "A Jewish critic.",
        "An atheist critic.",
    ]
    assert swap("He is an atheist.", rng(), ["atheist", "Muslim"]) == [
        "He is a Muslim."
    ]


def test_swap_each_occurrence_separately_in_text_order():
    assert swap("a Jewish mother and a Muslim son", rng(), RELIGIONS[:3]) == [
        "a Christian mother and a Muslim son",
        "a Muslim mother and a Muslim son",
        "a Jewish mother and a Christian son",
        "a Jewish mother and a Jewish son",
    ]


def test_swap_adjusts_first_letter_case():
    assert swap("He met her.", rng(), ["he", "she"]) == ["She met her."]
    assert swap("christian values", rng(), ["Christian", "Muslim"]) == [
        "muslim values"
    ]


def test_swap_multi_word_values_longest_first():
    assert swap("From New York to York.", rng(), ["New York", "York", "Paris"]) == [
        "From York to York.",
        "From Paris to York.",
        "From New York to New York.",
        "From New York to Paris.",
    ]


def test_swap_values_with_punctuation():
    assert swap("I code in C++ daily.", rng(), ["C++", "C#"]) == ["I code in C# daily."]


def test_swap_whole_words_only():
    assert swap("Christianity and Muslims", rng(), RELIGIONS) == []


def test_swap_does_not_apply_without_a_value_or_alternative():
    assert swap("A fine critic.", rng(), RELIGIONS) == []
    assert swap("A Christian critic.", rng(), ["Christian"]) == []


def test_swap_values_sharing_a_start_match_longest_first():
    # The lexicon is matched through a trie: "an" must not win over "ant" or "antelope", and a
    # value followed by a word character ("ants") falls back to none of them.
    lexicon = ["an", "ant", "antelope", "ox"]
    assert swap("an antelope, ants and an ant", rng(), lexicon) == [
        "ant antelope, ants and an ant", "antelope antelope, ants and an ant", "ox antelope, ants and an ant",
        "an an, ants and an ant", "an ant, ants and an ant", "an ox, ants and an ant",
        "an antelope, ants and ant ant", "an antelope, ants and antelope ant", "an antelope, ants and ox ant",
        "an antelope, ants and an an", "an antelope, ants and an antelope", "an antelope, ants and an ox",
    ]


def test_swap_repeated_values_are_skipped_like_the_found_one():
    assert swap("A Muslim critic.", rng(), ["Muslim", "Jewish", "Muslim", "", "atheist"]) == [
        "A Jewish critic.",
        "An atheist critic.",
    ]


def test_swap_matches_as_a_plain_alternation_would(monkeypatch):
    from mlspec.library import perturbations

    text = "New York, new yorkers, NEW York and Newark in New Yorkshire; a york."
    lexicon = ["New York", "York", "Newark", "New", "york", "a", "Ne"]
    through_trie = swap(text, rng(), lexicon)
    perturbations._swap_lexicon.cache_clear()
    monkeypatch.setattr(perturbations, "_TRIE_MAX_LENGTH", 0)  # every lexicon too long for the trie
    assert swap(text, rng(), lexicon) == through_trie
    perturbations._swap_lexicon.cache_clear()


@pytest.mark.parametrize(
    "word, article",
    [("apple", "an"), ("Orange", "an"), ("umbrella", "an"), ("banana", "a"),
     ("Muslim", "a"), ("  egg", "an"), ("", "a")],
)
def test_indefinite_article(word, article):
    assert indefinite_article(word) == article


# --- change_numbers --------------------------------------------------------


def test_change_numbers_replaces_each_integer_separately():
    text = "I gave it 5 stars out of 10."
    out = change_numbers(text, rng(), n=3)
    fives = [c for c in out if c.endswith("out of 10.")]
    tens = [c for c in out if c.startswith("I gave it 5 ")]
    assert sorted(fives) == ["I gave it 4 stars out of 10.", "I gave it 6 stars out of 10."]
    assert len(tens) == 3 and len(out) == 5
    assert {c.split()[-1] for c in tens} <= {"8.", "9.", "11.", "12."}


def test_change_numbers_stays_within_twenty_percent():
    out = change_numbers("Costs 100 dollars", rng(), n=5)
    values = [int(c.split()[1]) for c in out]
    assert len(set(values)) == 5
    assert all(80 <= v <= 120 and v != 100 for v in values)


def test_change_numbers_small_numbers_still_change():
    assert change_numbers("0 issues", rng()) == ["1 issues"]
    assert sorted(change_numbers("1 issue", rng())) == ["0 issue", "2 issue"]


def test_change_numbers_skips_decimals_separators_and_words():
    assert change_numbers("Rated 3.5, by 1,000 users, 2nd time, mp3", rng()) == []
    assert change_numbers("No numbers here.", rng()) == []


def test_change_numbers_keeps_zero_padding():
    out = change_numbers("Agent 007", rng())
    assert sorted(out) == ["Agent 006", "Agent 008"]


def test_change_numbers_is_deterministic():
    text = "Between 150 and 300 people came."
    assert change_numbers(text, rng(4)) == change_numbers(text, rng(4))
    assert change_numbers(text, rng(4)) != change_numbers(text, rng(5))


# --- append / prepend ------------------------------------------------------


def test_append_and_prepend():
    phrases = ["I liked it.", "Whatever."]
    assert append("Nice film.  ", rng(), phrases) == [
        "Nice film. I liked it.",
        "Nice film. Whatever.",
    ]
    assert prepend("nice film", rng(), ["Honestly,", "Honestly,"]) == [
        "Honestly, nice film"
    ]


def test_append_and_prepend_do_not_apply_to_blank_text():
    assert append("  ", rng(), ["x"]) == []
    assert prepend("", rng(), ["x"]) == []


# --- all perturbations -----------------------------------------------------

SAMPLE_TEXTS = [
    LONG_TEXT,
    "It isn't a Christian film, it is 90 minutes long!",
    "I'm an atheist and I have 2 cats",
    "",
]
SAMPLE_ARGS = {
    "swap": {"lexicon": RELIGIONS},
    "append": {"phrases": ["Really.", "Really."]},
    "prepend": {"phrases": ["Well,", "So"]},
    "typos": {"count": 2},
}


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
@pytest.mark.parametrize("text", SAMPLE_TEXTS)
def test_candidates_are_distinct_changed_and_deterministic(name, text):
    fn = PERTURBATIONS[name].fn
    out = fn(text, rng(1), **SAMPLE_ARGS.get(name, {}))
    assert isinstance(out, list)
    assert text not in out
    assert len(out) == len(set(out))
    assert out == fn(text, rng(1), **SAMPLE_ARGS.get(name, {}))


def test_every_perturbation_applies_to_some_sample():
    for name, info in PERTURBATIONS.items():
        args = SAMPLE_ARGS.get(name, {})
        assert any(info.fn(t, rng(), **args) for t in SAMPLE_TEXTS), name


def test_randomized_returns_one_candidate():
    for name, info in PERTURBATIONS.items():
        if info.randomized:
            assert len(info.fn(LONG_TEXT, rng(), **SAMPLE_ARGS.get(name, {}))) == 1


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_registry_matches_function_signatures(name):
    info = PERTURBATIONS[name]
    assert info.name == name
    assert info.summary and "\n" not in info.summary
    signature = list(inspect.signature(info.fn).parameters.values())
    assert [p.name for p in signature[:2]] == ["text", "rng"]
    assert [p.name for p in signature[2:]] == [p.name for p in info.params]
    for param, declared in zip(signature[2:], info.params):
        assert isinstance(declared, Param)
        assert declared.kind in {"int", "float", "strings", "lexicon"}
        expected_default = inspect.Parameter.empty if declared.default is None else declared.default
        assert param.default == expected_default
        if declared.minimum is not None and declared.default is not None:
            assert declared.default >= declared.minimum


def test_registry_contents():
    assert list(PERTURBATIONS) == [
        "typos", "contractions", "punctuation", "swap", "change_numbers", "append", "prepend"
    ]
    assert [n for n, i in PERTURBATIONS.items() if i.randomized] == ["typos"]
    assert PERTURBATIONS["swap"].params == (Param("lexicon", "lexicon"),)
    assert PERTURBATIONS["change_numbers"].params == (Param("n", "int", 3, 1),)
