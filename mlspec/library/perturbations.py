"""Deterministic text perturbations for INV/DIR test variants.

Each perturbation is a pure function ``fn(text, rng, **params) -> list[str]``
returning candidate perturbed texts: distinct, never equal to ``text``, in a
deterministic order, and empty when the perturbation does not apply.  Every
random choice goes through the ``numpy.random.Generator`` passed in, so the
same text and the same generator state always give the same output.

``PERTURBATIONS`` describes each one (parameters, whether it is randomized, a
one-line summary) for the compiler.

Limits: these are surface-level string edits with no tokenizer or parser.
Contractions use a fixed table of common English forms (ambiguous ones such
as "it's" expand to the "is" form); only the first letter's case is
preserved.  Articles are chosen by a first-letter rule ("an hour" and
"a university" come out wrong).  Numbers are plain integers of at most 18
digits; decimals, thousands-separated numbers and digits inside words are
left alone.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from mlspec.library.articles import indefinite_article

Perturbation = Callable[..., list[str]]

# The most a `count` or `n` parameter may ask for: typos a text, new numbers per number.
MAX_COUNT = 1_000
# The most text a perturbation makes from one text (its variants together, in characters):
# a swap of a long lexicon into a long text with many matches stops here.
MAX_OUTPUT = 100_000_000


@dataclass(frozen=True)
class Param:
    """One parameter of a perturbation, as the spec language sees it."""

    name: str
    kind: str  # "int" | "float" | "strings" | "lexicon"
    default: object = None  # None = required
    minimum: float | None = None
    # The most a spec may ask for (None: any number a float or an int64 holds); a limit, not
    # part of what the parameter is, so it is left out of comparisons.
    maximum: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PerturbationInfo:
    """A registered perturbation: its function, parameters and behaviour."""

    name: str
    fn: Perturbation
    params: tuple[Param, ...]
    randomized: bool
    summary: str


class TooManyVariants(ValueError):
    """A perturbation would make more text from one text than mlspec makes (MAX_OUTPUT)."""


def _hold_to_limit(count: int, text: str) -> None:
    """Raise TooManyVariants once ``count`` variants of ``text`` pass MAX_OUTPUT characters."""
    if count * (len(text) + 1) > MAX_OUTPUT:
        raise TooManyVariants(f"more than {MAX_OUTPUT:,} characters of variants of one text of {len(text):,} characters")


def _distinct(candidates: list[str], text: str) -> list[str]:
    """Drop duplicates and copies of ``text``, keeping first-seen order."""
    return [c for c in dict.fromkeys(candidates) if c != text]


def _match_first_letter_case(word: str, model: str) -> str:
    """Give ``word`` the case of ``model``'s first letter."""
    if not word or not model:
        return word
    first = word[0].upper() if model[0].isupper() else word[0].lower()
    return first + word[1:]


def _either_case_first(phrase: str) -> str:
    """Regex for ``phrase`` whose first letter may be upper or lower case."""
    head, tail = phrase[0], re.escape(phrase[1:])
    if head.lower() == head.upper():
        return re.escape(head) + tail
    return f"[{head.upper()}{head.lower()}]" + tail


def _whole_words(alternatives: list[str]) -> re.Pattern[str]:
    """Compile regex alternatives that must not touch word characters."""
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


# --- typos -----------------------------------------------------------------


def typos(text: str, rng: np.random.Generator, count: int = 1) -> list[str]:
    """Swap ``count`` random pairs of adjacent characters (one candidate).

    Like CheckList's ``Perturb.add_typos``, but every swap is visible: only
    pairs of different characters are swapped, and pairs never overlap, so
    the result differs from ``text`` in exactly ``count`` adjacent pairs.
    Returns [] when the text has fewer than ``count`` such pairs.
    """
    if count < 1:
        raise ValueError(f"typos: count must be >= 1, got {count}")
    chars = list(text)
    # Pairs that may be swapped, in order. A swap at i rules out the pairs at i-1, i and i+1
    # (they would overlap it) and changes no other pair, so the list is made once, then
    # shrunk: count * len(text) list work in C, not count * len(text) Python steps.
    free = list(itertools.compress(range(len(text) - 1), map(operator.ne, text, text[1:])))
    for _ in range(count):
        if not free:
            return []
        i = free[int(rng.integers(len(free)))]
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
        start = bisect.bisect_left(free, i - 1)
        del free[start : bisect.bisect_right(free, i + 1, start)]
    return _distinct(["".join(chars)], text)


# --- contractions ----------------------------------------------------------

# (contracted, expanded); ambiguous forms ("it's", "I'd") expand one way.
CONTRACTION_PAIRS: tuple[tuple[str, str], ...] = (
    ("I'm", "I am"), ("I've", "I have"), ("I'll", "I will"), ("I'd", "I would"),
    ("you're", "you are"), ("you've", "you have"), ("you'll", "you will"),
    ("you'd", "you would"), ("he's", "he is"), ("he'll", "he will"),
    ("he'd", "he would"), ("she's", "she is"), ("she'll", "she will"),
    ("she'd", "she would"), ("it's", "it is"), ("it'll", "it will"),
    ("we're", "we are"), ("we've", "we have"), ("we'll", "we will"),
    ("we'd", "we would"), ("they're", "they are"), ("they've", "they have"),
    ("they'll", "they will"), ("they'd", "they would"), ("that's", "that is"),
    ("that'll", "that will"), ("there's", "there is"), ("here's", "here is"),
    ("what's", "what is"), ("who's", "who is"), ("where's", "where is"),
    ("how's", "how is"), ("let's", "let us"), ("isn't", "is not"),
    ("aren't", "are not"), ("wasn't", "was not"), ("weren't", "were not"),
    ("don't", "do not"), ("doesn't", "does not"), ("didn't", "did not"),
    ("haven't", "have not"), ("hasn't", "has not"), ("hadn't", "had not"),
    ("can't", "cannot"), ("couldn't", "could not"), ("won't", "will not"),
    ("wouldn't", "would not"), ("shouldn't", "should not"),
    ("mustn't", "must not"), ("needn't", "need not"), ("shan't", "shall not"),
    ("could've", "could have"), ("would've", "would have"),
    ("should've", "should have"),
)

_EXPANSIONS = {short.lower(): long for short, long in CONTRACTION_PAIRS}
_CONTRACTIONS = {long.lower(): short for short, long in CONTRACTION_PAIRS}


def _by_length(phrases) -> list[str]:
    return sorted(phrases, key=len, reverse=True)


_CONTRACTED_RE = _whole_words(
    [
        _either_case_first(short).replace("'", "['’]")
        for short in _by_length(s for s, _ in CONTRACTION_PAIRS)
    ]
)
_EXPANDED_RE = _whole_words(
    [_either_case_first(long) for long in _by_length(l for _, l in CONTRACTION_PAIRS)]
)


def _expand_all(text: str) -> str:
    def expand(match: re.Match[str]) -> str:
        key = match.group().replace("’", "'").lower()
        return _match_first_letter_case(_EXPANSIONS[key], match.group())

    return _CONTRACTED_RE.sub(expand, text)


def _contract_all(text: str) -> str:
    apostrophe = "’" if "’" in text and "'" not in text else "'"

    def contract(match: re.Match[str]) -> str:
        short = _CONTRACTIONS[match.group().lower()].replace("'", apostrophe)
        return _match_first_letter_case(short, match.group())

    return _EXPANDED_RE.sub(contract, text)


def contractions(text: str, rng: np.random.Generator) -> list[str]:
    """Expand all contractions, and contract all contractible phrases.

    At most two candidates, like CheckList's ``Perturb.contractions``:
    the fully expanded text, then the fully contracted text.
    """
    return _distinct([_expand_all(text), _contract_all(text)], text)


# --- punctuation -----------------------------------------------------------

_TRAILING_PUNCTUATION_RE = re.compile(
    r"^(?P<body>.*?)[.!?;:,]+(?P<closing>[\"'”’»)\]]*)\s*$", re.DOTALL
)


def punctuation(text: str, rng: np.random.Generator) -> list[str]:
    """Strip trailing punctuation if there is any, else add a final period.

    Closing quotes/brackets after the punctuation are kept.
    """
    if not text.strip():
        return []
    match = _TRAILING_PUNCTUATION_RE.match(text)
    if match is None:
        return _distinct([text.rstrip() + "."], text)
    stripped = match["body"].rstrip() + match["closing"]
    return _distinct([stripped], text) if stripped.strip() else []


# --- swap ------------------------------------------------------------------


_ARTICLE_BEFORE_RE = re.compile(r"(?<!\w)(?P<article>an|a)(?P<space>\s+)$", re.I)
_CASES = (("exact", None), ("upper", "A"), ("lower", "a"))  # how a match is spelled -> a model of its first letter's case


@dataclass(frozen=True)
class _SwapLexicon:
    """A lexicon prepared for swaps: one regex for all its spellings, and each replacement ready-made."""

    forms: dict[str, str]  # each matchable spelling (as is, or first letter re-cased) -> its value
    pattern: re.Pattern[str] | None
    positions: dict[str, tuple[int, ...]]  # each value -> where it stands among the non-empty values
    # For each way a match is spelled (as in the lexicon, first letter upper, lower): each non-empty
    # value cased to replace it, and the article it takes.
    replacements: dict[str, tuple[tuple[str, str], ...]]


def _lexicon_forms(lexicon: list[str]) -> dict[str, str]:
    """Map each matchable spelling (as is, or first letter re-cased) to its value."""
    forms = {value: value for value in lexicon if value}
    for value in lexicon:
        if value:
            for first in (value[0].lower(), value[0].upper()):
                forms.setdefault(first + value[1:], value)
    return forms


def _replacements(values: list[str], model: str | None) -> tuple[tuple[str, str], ...]:
    """Each value as put in place of a match cased like ``model`` (None: as is), with its article."""
    cased = values if model is None else [_match_first_letter_case(value, model) for value in values]
    return tuple((new, indefinite_article(new)) for new in cased)


@lru_cache(maxsize=64)
def _swap_lexicon(lexicon: tuple[str, ...]) -> _SwapLexicon:
    """The spellings of a lexicon's values, one regex finding any of them, and its replacements (built once)."""
    forms = _lexicon_forms(list(lexicon))
    pattern = _whole_words([_alternatives(forms)]) if forms else None
    values = [value for value in lexicon if value]
    positions: dict[str, list[int]] = {}
    for index, value in enumerate(values):
        positions.setdefault(value, []).append(index)
    replacements = {case: _replacements(values, model) for case, model in _CASES}
    return _SwapLexicon(forms, pattern, {value: tuple(indexes) for value, indexes in positions.items()}, replacements)


# Lexicons whose values are at most this long are matched through a trie (see `_alternatives`).
_TRIE_MAX_LENGTH = 100
_END = ""  # a trie key no character takes: a form ends at this node


def _alternatives(forms: dict[str, str]) -> str:
    """A regex for any of ``forms``, the longest first where several match at one place.

    A trie (common prefixes shared) tried deepest first finds the same match as a plain
    alternation sorted by length, many times faster on a large lexicon; a lexicon with very
    long values takes the plain alternation, which nests no groups.
    """
    if max(map(len, forms)) > _TRIE_MAX_LENGTH:
        return "|".join(re.escape(form) for form in _by_length(forms))
    trie: dict = {}
    for form in forms:
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[_END] = {}
    return _trie_regex(trie)


def _trie_regex(node: dict) -> str:
    """The regex of a trie node: each branch going deeper, then (if a form ends here) nothing more."""
    branches = []
    for char, child in node.items():
        if char != _END:
            chain = [char]
            while len(child) == 1 and _END not in child:  # a chain of single children: no group needed
                (char, child), = child.items()
                chain.append(char)
            branches.append(re.escape("".join(chain)) + _trie_regex(child))
    if _END in node:
        return "(?:" + "|".join(branches) + "|)" if branches else ""
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _without(items: tuple, skip: tuple[int, ...]) -> list:
    """``items`` less those at the indexes ``skip`` (ascending)."""
    kept, start = [], 0
    for index in skip:
        kept += items[start:index]
        start = index + 1
    kept += items[start:]
    return kept


def _prefixes(before: str) -> dict[str, str]:
    """The text before a replacement, for each article the replacement takes ("a"/"an" right before it fixed)."""
    article = _ARTICLE_BEFORE_RE.search(before)
    if not article:
        return {"a": before, "an": before}
    head = before[: article.start()]
    return {new: head + _match_first_letter_case(new, article["article"]) + article["space"] for new in ("a", "an")}


def _match_case(found: str, value: str) -> str:
    """Which replacements a match takes: "exact" when spelled as in the lexicon, else its first letter's case."""
    if value == found:
        return "exact"
    return "upper" if found[0].isupper() else "lower"


def swap(text: str, rng: np.random.Generator, lexicon: list[str]) -> list[str]:
    """Replace each lexicon value found with every other value, one at a time.

    Matches whole words (multi-word values too), longest value first; a
    match whose first letter's case differs from the value passes that case
    on to the replacement.  A preceding "a"/"an" is adjusted.
    """
    prepared = _swap_lexicon(tuple(lexicon))
    if prepared.pattern is None:
        return []
    candidates: list[str] = []
    for match in prepared.pattern.finditer(text):
        value = prepared.forms[match.group()]
        replacements = _without(prepared.replacements[_match_case(match.group(), value)], prepared.positions[value])
        _hold_to_limit(len(candidates) + len(replacements), text)
        prefixes, after = _prefixes(text[: match.start()]), text[match.end() :]
        candidates += [prefixes[article] + new + after for new, article in replacements]
    return _distinct(candidates, text)


# --- change_numbers --------------------------------------------------------

# Whole integers only: not inside words, decimals or "1,000"-style numbers.
_INTEGER_RE = re.compile(r"(?<!\w)(?<!\d[.,])\d{1,18}(?!\w)(?![.,]\d)")


def _nearby_integers(num: int, n: int, rng: np.random.Generator) -> list[int]:
    """Draw up to ``n`` distinct integers within about 20% of ``num``, not ``num``."""
    delta = max(1, num // 5)
    low, high = max(0, num - delta), num + delta
    pool = high - low  # values in [low, high] other than num
    offsets = rng.choice(pool, size=min(n, pool), replace=False)
    return [low + int(o) + (low + int(o) >= num) for o in offsets]


def _format_like(value: int, original: str) -> str:
    """Keep zero padding such as "007"."""
    return str(value).zfill(len(original)) if original.startswith("0") else str(value)


def change_numbers(text: str, rng: np.random.Generator, n: int = 3) -> list[str]:
    """Replace each integer, one at a time, with ``n`` nearby random integers.

    Like CheckList's ``Perturb.change_number``: new values are drawn without
    replacement from roughly [0.8 * num, 1.2 * num] (at least num +/- 1,
    never below 0), excluding num itself.
    """
    if n < 1:
        raise ValueError(f"change_numbers: n must be >= 1, got {n}")
    candidates = []
    for match in _INTEGER_RE.finditer(text):
        for value in _nearby_integers(int(match.group()), n, rng):
            new = _format_like(value, match.group())
            candidates.append(text[: match.start()] + new + text[match.end() :])
            _hold_to_limit(len(candidates), text)
    return _distinct(candidates, text)


# --- append / prepend ------------------------------------------------------


def append(text: str, rng: np.random.Generator, phrases: list[str]) -> list[str]:
    """Add each phrase after the text, separated by a space."""
    if not text.strip():
        return []
    _hold_phrases_to_limit(phrases, text)
    return _distinct([f"{text.rstrip()} {p}" for p in phrases if p.strip()], text)


def prepend(text: str, rng: np.random.Generator, phrases: list[str]) -> list[str]:
    """Add each phrase before the text, separated by a space."""
    if not text.strip():
        return []
    _hold_phrases_to_limit(phrases, text)
    return _distinct([f"{p} {text.lstrip()}" for p in phrases if p.strip()], text)


def _hold_phrases_to_limit(phrases: list[str], text: str) -> None:
    if len(phrases) * (len(text) + 1) + sum(map(len, phrases)) > MAX_OUTPUT:
        raise TooManyVariants(f"more than {MAX_OUTPUT:,} characters of variants of one text of {len(text):,} characters")


# --- registry --------------------------------------------------------------

PERTURBATIONS: dict[str, PerturbationInfo] = {
    info.name: info
    for info in (
        PerturbationInfo(
            "typos", typos, (Param("count", "int", 1, 1, MAX_COUNT),), True,
            "swap `count` random pairs of adjacent characters",
        ),
        PerturbationInfo(
            "contractions", contractions, (), False,
            "expand contractions (isn't -> is not) or contract phrases (is not -> isn't)",
        ),
        PerturbationInfo(
            "punctuation", punctuation, (), False,
            "strip trailing punctuation, or add a final period if there is none",
        ),
        PerturbationInfo(
            "swap", swap, (Param("lexicon", "lexicon"),), False,
            "replace each occurrence of a lexicon value with each other value",
        ),
        PerturbationInfo(
            "change_numbers", change_numbers, (Param("n", "int", 3, 1, MAX_COUNT),), False,
            "replace each integer with `n` random integers within about 20%",
        ),
        PerturbationInfo(
            "append", append, (Param("phrases", "strings"),), False,
            "add each of `phrases` at the end of the text",
        ),
        PerturbationInfo(
            "prepend", prepend, (Param("phrases", "strings"),), False,
            "add each of `phrases` at the start of the text",
        ),
    )
}
