"""Black-box adversarial attacks on text classifiers: DeepWordBug and TextFooler.

Job
---
Given a classifier's scores and labelled texts, search, for each text independently, for
a copy with a few words changed that the classifier no longer gives the label
("untargeted" attacks). Both attacks only call ``score(texts) -> [m, labels]``
(probabilities, or any scores whose argmax is the prediction) on lists of strings; they
never see the model's insides. An attack's failure proves nothing about robustness: a
larger budget or another attack may still succeed.

Both follow the same greedy search, the one both papers use:

1. Query 1: score the text. A text the model already does not give ``label`` is a
   success with no change (as the image ``square`` attack does); the caller, which knows
   which cases the model gets right, usually attacks only those.
2. Rank words by importance. For every word ``w_i`` (a run of letters or digits, with
   inner apostrophes: ``don't``), the text without it is scored, all of a text's
   deletions in one batch and one query each: the "replace-1" score of DeepWordBug
   (Gao et al., 2018, with deletion for the unknown token) and the deletion score of
   TextFooler (Jin et al., 2020, eq. 2):
   ``I_i = p_y(x) - p_y(x without w_i)``, plus, for TextFooler, when the deletion changes
   the prediction to ``z``, ``p_z(x without w_i) - p_z(x)``. Words are tried most
   important first; ties go to the earlier word.
3. For each word in that order, score every candidate replacement of it (one query
   each, in one batch), the other words as they are now. A candidate that changes the
   prediction ends the search (among several, the one with the lowest ``p_y``); else the
   candidate with the lowest ``p_y`` is kept when it lowers ``p_y`` below the current
   text's, and the word is left alone otherwise. Ties go to the earlier candidate.
4. Stop when the prediction changes (success), when ``max_words`` words are changed,
   when the words run out, or when the query budget is spent (failure).

Queries are counted per text as the number of texts scored for it, the first query
included, and never exceed ``queries``: when the budget cannot pay for every deletion of
step 2, the first words (by position) that it pays for are ranked and the others follow
them in position order; a word's candidates are cut to what is left (first candidates
first). Every step batches the texts of all the cases still running into one ``score``
call (the caller may split it into model batches).

DeepWordBug (``deepwordbug``)
-----------------------------
Candidates for a word: one random edit of each of the paper's four kinds, drawn from the
case's own generator: swap two adjacent (different) characters, substitute one character
by a random letter a-z, delete one character (words of two or more characters), insert
a random letter a-z. The edit kept is the one that lowers ``p_y`` most (or changes the
prediction): the four edits compete for each word, as in TextAttack's
``DeepWordBugGao2018`` recipe (a composite of its four one-edit transformations, searched
greedily by word importance). A new letter takes the case of the letter it replaces or
follows. Stop words are attacked like other words, as in the paper (TextAttack's recipe
skips them). Departures from the paper: it also scores words by temporal head and tail
scores (its "combined" score) and edits with one transformer chosen for the whole run;
here the ranking is deletion ("replace-1") only and the four edits compete. No
Levenshtein bound (TextAttack's 30): the word budget bounds the change, one edit a word.

TextFooler (``textfooler``)
---------------------------
Candidates for a word: the other words of the synonym groups holding it
(case-insensitive match; a replacement takes the word's case: ``Good`` -> ``Great``,
``GOOD`` -> ``GREAT``). Stop words (``STOP_WORDS``, a small fixed list of English
function words, negations included, as the paper's list has) are never replaced. Only
words that have a candidate and are not stop words are ranked: the ranking only orders
the words that may be replaced, so this spares queries without changing the search.
Departures from the paper: candidates come from the caller's synonym groups, not from
the 50 nearest counter-fitted word embeddings with cosine similarity >= 0.5; there is no
part-of-speech check and no Universal Sentence Encoder similarity filter; among several
candidates that change the prediction, the one with the lowest ``p_y`` is taken (the
paper takes the most similar sentence). The paper bounds neither words nor queries.

Synonym groups (``synonym_groups``)
-----------------------------------
A spec's lexicon, inline or from a file (``lexicon syn = file "synonyms.txt"``, one
value a line, ``#`` comments and blank lines skipped), gives the groups: each value is one
group of interchangeable words separated by commas (``good, great, fine``). A lexicon
whose values hold no comma at all is one group (``lexicon pos_adj = ["good", "great"]``,
a built-in lexicon of first names). A word may stand in several groups: its candidates
are the other words of all of them, in order, each once. A multi-word entry may replace a
word but is never matched in a text (texts are matched word by word).

Determinism: the result depends only on the texts, labels, the scores and ``rng``: each
case draws from a generator seeded from ``rng`` by its position, so a case's edits do not
depend on which other cases are attacked with it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["STOP_WORDS", "TextAttackResult", "deepwordbug", "synonym_groups", "textfooler", "word_diff"]

Score = Callable[[list[str]], np.ndarray]

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_LETTERS = string.ascii_lowercase

# Function words TextFooler never replaces: a short list in the manner of the paper's
# (articles, pronouns, prepositions, conjunctions, auxiliaries, negations).
_STOP_WORDS = """
    a an the this that these those
    i me my mine we us our ours you your yours he him his she her hers it its they them their theirs
    myself yourself himself herself itself ourselves themselves
    who whom whose which what where when why how
    am is are was were be been being have has had having do does did doing
    will would shall should can could may might must
    and or but nor so yet if then than because as while until although though
    of at by for with about against between into through during before after above below
    to from up down in out on off over under again further once here there
    all any both each few more most other some such only own same too very
    not no never none nothing neither don't doesn't didn't isn't aren't wasn't weren't
    won't wouldn't can't cannot couldn't shouldn't hasn't haven't hadn't
    just also s t
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True)
class TextAttackResult:
    """Per case: the text the attack ends with, whether it changes the prediction, the
    words it changed and the queries it used.

    ``adversarial``: the changed text on success; on failure, the text with the changes
    that lowered ``p_y`` (the original when none did). ``success``: bool ``[n]``,
    ``argmax(score(adversarial)) != label`` as the attack saw it. ``words_changed``:
    int64 ``[n]``, words of ``adversarial`` that differ from the original.
    ``queries``: int64 ``[n]``, texts scored for the case. ``probs``: ``[n, labels]``, the
    scores of ``adversarial`` as the attack saw them. ``changes``: per case, one
    ``(word number, original word, new word)`` per changed word, in word order.
    """

    adversarial: tuple[str, ...]
    success: np.ndarray
    words_changed: np.ndarray
    queries: np.ndarray
    probs: np.ndarray
    changes: tuple[tuple[tuple[int, str, str], ...], ...]


# --------------------------------------------------------------------------- texts as words


class _Words:
    """A text as separators and words: seps[0] w[0] seps[1] ... w[n-1] seps[n]."""

    __slots__ = ("seps", "words")

    def __init__(self, text: str):
        self.seps: list[str] = []
        self.words: list[str] = []
        end = 0
        for match in _WORD.finditer(text):
            self.seps.append(text[end : match.start()])
            self.words.append(match.group())
            end = match.end()
        self.seps.append(text[end:])

    def text(self, words: list[str]) -> str:
        parts = [self.seps[0]]
        for word, sep in zip(words, self.seps[1:]):
            parts += (word, sep)
        return "".join(parts)

    def replaced(self, words: list[str], index: int, new: str) -> str:
        return self.text(words[:index] + [new] + words[index + 1 :])

    def deleted(self, words: list[str], index: int) -> str:
        """The text without word `index`: one space kept where two would meet, none before
        punctuation."""
        before, after = self.seps[index], self.seps[index + 1]
        if (not before or before[-1].isspace()) and after[:1].isspace():
            after = after.lstrip()
        elif before[-1:].isspace() and after:
            before = before.rstrip()  # `film, really` without `film`: `, really`
        seps = self.seps[:index] + [before + after] + self.seps[index + 2 :]
        rest = words[:index] + words[index + 1 :]
        parts = [seps[0]]
        for word, sep in zip(rest, seps[1:]):
            parts += (word, sep)
        return "".join(parts)


def word_diff(original: str, changes: Sequence[tuple[int, str, str]]) -> str:
    """The text with an attack's `changes` (word number, old, new) marked as a word diff
    marks them: ``a [-terrible-]{+terible+} film``."""
    split = _Words(original)
    words = list(split.words)
    for index, old, new in changes:
        words[index] = f"[-{old}-]{{+{new}+}}"
    return split.text(words)


def _like(new: str, word: str) -> str:
    """`new` in the case of `word`: GOOD -> GREAT, Good -> Great, good -> great."""
    if len(word) > 1 and word.isupper():
        return new.upper()
    if word[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


# --------------------------------------------------------------------------- the search


class _Case:
    """One text under attack."""

    __slots__ = ("done", "label", "left", "next", "number", "order", "pending", "probs", "rng", "split", "success", "words")

    def __init__(self, number: int, text: str, label: int, budget: int):
        self.number = number
        self.label = label
        self.split = _Words(text)
        self.words = list(self.split.words)
        self.left = budget  # queries left
        self.probs: np.ndarray | None = None
        self.order: list[int] = []
        self.next = 0
        self.done = False
        self.success = False
        self.rng: np.random.Generator | None = None
        self.pending: tuple[int, list[str]] | None = None

    def text(self) -> str:
        return self.split.text(self.words)

    @property
    def changed(self) -> int:
        return sum(a != b for a, b in zip(self.words, self.split.words))


def _score_all(score: Score, groups: list[tuple[_Case, list[str]]], n_labels: int | None) -> list[np.ndarray]:
    """Score the texts of every case in one call; each case's rows, its queries counted."""
    texts = [text for _, texts in groups for text in texts]
    if not texts:
        return []
    out = np.asarray(score(texts))
    if out.ndim != 2 or out.shape[0] != len(texts) or (n_labels is not None and out.shape[1] != n_labels):
        raise ValueError(f"score must return [{len(texts)}, labels], got shape {list(out.shape)}")
    if not np.isfinite(out).all():
        raise ValueError("score returned NaN or infinite values")
    rows, start = [], 0
    for case, texts in groups:
        case.left -= len(texts)
        rows.append(out[start : start + len(texts)])
        start += len(texts)
    return rows


def _check(texts, labels, max_words, queries, rng) -> tuple[list[str], np.ndarray]:
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be strings")
    labels = np.asarray(labels)
    if labels.shape != (len(texts),) or (len(texts) and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"labels must be {len(texts)} label indices, got {labels!r}")
    if (labels < 0).any():
        raise ValueError("labels must be >= 0")
    converted = labels.astype(np.int64)
    if (converted != labels).any():  # uint64 labels past int64 would wrap to negative numbers
        raise ValueError(f"labels must be {len(texts)} label indices, got {labels!r}")
    for name, value in (("max_words", max_words), ("queries", queries)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator")
    return texts, converted


def _greedy(
    score: Score,
    texts: Sequence[str],
    labels: np.ndarray,
    *,
    max_words: int,
    queries: int,
    rankable: Callable[[_Case], list[int]],
    candidates: Callable[[_Case, int], list[str]],
    importance: Callable[[_Case, np.ndarray], np.ndarray],
) -> TextAttackResult:
    cases = [_Case(i, text, int(label), queries) for i, (text, label) in enumerate(zip(texts, labels))]
    n_labels: int | None = None

    # 1. the texts as they are
    rows = _score_all(score, [(c, [c.text()]) for c in cases], None)
    for case, row in zip(cases, rows):
        n_labels = row.shape[1]
        if case.label >= n_labels:
            raise ValueError(f"label {case.label} is not a column of the scores ({n_labels} labels)")
        case.probs = row[0]
        case.success = case.done = int(row[0].argmax()) != case.label
    running = [c for c in cases if not c.done]

    # 2. importance of each word, by deletion
    groups = []
    for case in running:
        words = rankable(case)
        paid = words[: case.left]
        groups.append((case, [case.split.deleted(case.words, i) for i in paid]))
        case.order = words  # reordered below; words beyond the budget stay in position order
    for (case, deletions), row in zip(groups, _score_all(score, groups, n_labels)):
        paid = case.order[: len(deletions)]
        ranked = np.argsort(-importance(case, row), kind="stable")
        case.order = [paid[j] for j in ranked] + case.order[len(deletions) :]

    # 3. the words, most important first
    while running:
        groups = []
        for case in running:
            while not case.done and case.pending is None:
                if case.changed >= max_words or case.left < 1 or case.next >= len(case.order):
                    case.done = True
                    break
                index = case.order[case.next]
                case.next += 1
                found = [c for c in dict.fromkeys(candidates(case, index)) if c != case.words[index]][: case.left]
                if found:
                    case.pending = (index, found)
                    groups.append((case, [case.split.replaced(case.words, index, c) for c in found]))
        for (case, _), row in zip(groups, _score_all(score, groups, n_labels)):
            index, found = case.pending
            case.pending = None
            p_y = row[:, case.label]
            flips = row.argmax(axis=1) != case.label
            if flips.any():
                best = int(np.flatnonzero(flips)[np.argmin(p_y[flips])])
                case.success = case.done = True
            else:
                best = int(np.argmin(p_y))
                if not p_y[best] < case.probs[case.label]:
                    continue
            case.words[index] = found[best]
            case.probs = row[best]
        running = [c for c in running if not c.done]

    changes = tuple(
        tuple((i, old, new) for i, (old, new) in enumerate(zip(c.split.words, c.words)) if old != new) for c in cases
    )
    probs = np.stack([c.probs for c in cases]) if cases else np.zeros((0, 0))
    return TextAttackResult(
        adversarial=tuple(c.text() for c in cases),
        success=np.array([c.success for c in cases], dtype=bool),
        words_changed=np.array([len(ch) for ch in changes], dtype=np.int64),
        queries=np.array([queries - c.left for c in cases], dtype=np.int64),
        probs=probs,
        changes=changes,
    )


def _deletion_drop(case: _Case, rows: np.ndarray) -> np.ndarray:
    """DeepWordBug's replace-1 score, by deletion: how much deleting each word lowers p_y."""
    return case.probs[case.label] - rows[:, case.label]


def _textfooler_importance(case: _Case, rows: np.ndarray) -> np.ndarray:
    """TextFooler's eq. 2: the drop of p_y, plus the rise of the new label's score where
    the deletion changes the prediction."""
    drop = case.probs[case.label] - rows[:, case.label]
    predicted = rows.argmax(axis=1)
    changed = predicted != case.label
    rise = rows[np.arange(len(rows)), predicted] - case.probs[predicted]
    return drop + np.where(changed, rise, 0.0)


# --------------------------------------------------------------------------- DeepWordBug


def _letter(rng: np.random.Generator, like: str, avoid: str = "") -> str:
    letters = _LETTERS.replace(avoid.lower(), "") if avoid.lower() in _LETTERS else _LETTERS
    letter = letters[int(rng.integers(len(letters)))]
    return letter.upper() if like.isupper() else letter


def char_edits(word: str, rng: np.random.Generator) -> list[str]:
    """One random edit of each kind, in this order: swap two adjacent different
    characters, substitute a character by a letter, delete a character (words of two or
    more), insert a letter. The same number of draws whatever the word."""
    n = len(word)
    pairs = [j for j in range(n - 1) if word[j] != word[j + 1]]
    swap_at = int(rng.integers(max(len(pairs), 1)))
    sub_at = int(rng.integers(n))
    sub = _letter(rng, word[sub_at], word[sub_at])
    del_at = int(rng.integers(n))
    ins_at = int(rng.integers(n + 1))
    ins = _letter(rng, word[ins_at - 1] if ins_at else word[0])
    edits = []
    if pairs:
        j = pairs[swap_at]
        edits.append(word[:j] + word[j + 1] + word[j] + word[j + 2 :])
    edits.append(word[:sub_at] + sub + word[sub_at + 1 :])
    if n >= 2:
        edits.append(word[:del_at] + word[del_at + 1 :])
    edits.append(word[:ins_at] + ins + word[ins_at:])
    return [e for e in dict.fromkeys(edits) if e != word]


def deepwordbug(
    score: Score,
    texts: Sequence[str],
    labels,
    rng: np.random.Generator,
    *,
    max_words: int = 5,
    queries: int = 1000,
) -> TextAttackResult:
    """DeepWordBug (Gao et al., 2018): character edits of the most important words.

    ``score(texts)`` returns ``[len(texts), labels]``; ``labels[k]`` is the label to move
    text ``k`` away from (its true label, or its prediction). At most ``max_words`` words
    are edited, one edit each, and at most ``queries`` texts scored per case.
    """
    texts, labels = _check(texts, labels, max_words, queries, rng)
    if rng is None:
        raise TypeError("deepwordbug draws its edits from rng: pass a numpy.random.Generator")
    seeds = rng.integers(0, 2**63 - 1, size=len(texts), dtype=np.int64)

    def edits(case: _Case, index: int) -> list[str]:
        if case.rng is None:
            case.rng = np.random.default_rng(int(seeds[case.number]))
        return char_edits(case.split.words[index], case.rng)

    return _greedy(
        score, texts, labels, max_words=max_words, queries=queries,
        rankable=lambda case: list(range(len(case.words))), candidates=edits, importance=_deletion_drop,
    )


# --------------------------------------------------------------------------- TextFooler


def synonym_groups(values: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """A lexicon's values as groups of interchangeable words: each value a group of words
    separated by commas, or, when no value holds a comma, all values one group. Words are
    stripped; empty ones and repeats within a group are dropped; groups of fewer than two
    words are dropped (they give no candidate)."""
    values = [values] if isinstance(values, str) else list(values)
    if not all(isinstance(v, str) for v in values):
        raise TypeError("synonym groups are strings of comma-separated words")
    raw = [v.split(",") for v in values] if any("," in v for v in values) else [values]
    groups = []
    for group in raw:
        words = tuple(dict.fromkeys(w.strip() for w in group if w.strip()))
        if len(words) >= 2:
            groups.append(words)
    return tuple(groups)


def _synonym_table(groups) -> dict[str, list[str]]:
    """Each single word (lower case) -> the other words of its groups, in order, each once."""
    table: dict[str, dict[str, None]] = {}
    for group in groups:
        if isinstance(group, str):
            raise TypeError("synonyms must be groups of words, e.g. [['good', 'great'], ['bad', 'awful']]")
        for word in group:
            if _WORD.fullmatch(word):
                others = table.setdefault(word.lower(), {})
                others.update((w, None) for w in group if w.lower() != word.lower())
    return {word: list(others) for word, others in table.items() if others}


def textfooler(
    score: Score,
    texts: Sequence[str],
    labels,
    rng: np.random.Generator | None = None,
    *,
    synonyms,
    max_words: int = 5,
    queries: int = 1000,
) -> TextAttackResult:
    """TextFooler (Jin et al., 2020): replace the most important words by synonyms.

    ``synonyms``: groups of interchangeable words (lists of words, or a lexicon's values
    as ``synonym_groups`` reads them). The search draws nothing at random; ``rng`` is
    taken for a signature like ``deepwordbug``'s and not used.
    """
    texts, labels = _check(texts, labels, max_words, queries, rng)
    if isinstance(synonyms, str) or (len(synonyms) and all(isinstance(v, str) for v in synonyms)):
        synonyms = synonym_groups(synonyms)
    table = _synonym_table(synonyms)

    def rankable(case: _Case) -> list[int]:
        return [i for i, w in enumerate(case.words) if w.lower().replace("’", "'") not in STOP_WORDS and w.lower() in table]

    def replacements(case: _Case, index: int) -> list[str]:
        word = case.split.words[index]
        return [_like(w, word) for w in table[word.lower()]]

    return _greedy(
        score, texts, labels, max_words=max_words, queries=queries,
        rankable=rankable, candidates=replacements, importance=_textfooler_importance,
    )
