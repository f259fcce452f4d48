"""Text attacks (mlspec.library.text_attacks) against a plain per-text port of the greedy
search the module documents (step 1 to 4), on random texts, separators and budgets: every
result (texts, flags, counts, scores, changes) and every batch sent to `score` must be the
port's exactly. Then the pieces the port does not reach: each edit of `char_edits` under
scripted draws, deletions at each kind of separator, case, synonym tables and every refusal's
exact message (docs/mutation.md)."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from mlspec.library import text_attacks as ta
from mlspec.library.text_attacks import STOP_WORDS, char_edits, deepwordbug, synonym_groups, textfooler, word_diff

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


# ================================================================= the reference: one text at a time


def split(text: str) -> tuple[list[str], list[str]]:
    return WORD.findall(text), WORD.split(text)


def join(seps: list[str], words: list[str]) -> str:
    return seps[0] + "".join(w + s for w, s in zip(words, seps[1:]))


def ref_deleted(seps: list[str], words: list[str], i: int) -> str:
    """Word i out; where two spaces would meet one is kept, none before punctuation."""
    before, after = seps[i], seps[i + 1]
    space_before = before == "" or before[-1].isspace()
    if space_before and after != "" and after[0].isspace():
        merged = before + after.lstrip()
    elif before != "" and before[-1].isspace() and after != "":
        merged = before.rstrip() + after
    else:
        merged = before + after
    return join(seps[:i] + [merged] + seps[i + 2 :], words[:i] + words[i + 1 :])


def ref_like(new: str, word: str) -> str:
    if len(word) >= 2 and word.isupper():
        return new.upper()
    if word[0].isupper():
        return new[0].upper() + new[1:]
    return new


def ref_char_edits(word: str, rng) -> list[str]:
    n = len(word)
    pairs = [j for j in range(n - 1) if word[j] != word[j + 1]]
    swap = int(rng.integers(len(pairs) or 1))
    at = int(rng.integers(n))
    letters = ALPHABET.replace(word[at].lower(), "") if word[at].lower() in ALPHABET else ALPHABET
    sub = letters[int(rng.integers(len(letters)))]
    sub = sub.upper() if word[at].isupper() else sub
    gone = int(rng.integers(n))
    ins_at = int(rng.integers(n + 1))
    ins = ALPHABET[int(rng.integers(26))]
    ins = ins.upper() if (word[ins_at - 1] if ins_at > 0 else word[0]).isupper() else ins
    out = []
    if pairs:
        j = pairs[swap]
        out.append(word[:j] + word[j + 1] + word[j] + word[j + 2 :])
    out.append(word[:at] + sub + word[at + 1 :])
    if n > 1:
        out.append(word[:gone] + word[gone + 1 :])
    out.append(word[:ins_at] + ins + word[ins_at:])
    return [e for e in dict.fromkeys(out) if e != word]


def ref_table(groups) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for group in groups:
        for word in group:
            if not WORD.fullmatch(word):
                continue
            others = table.setdefault(word.lower(), [])
            for w in group:
                if w.lower() != word.lower() and w not in others:
                    others.append(w)
    return {w: o for w, o in table.items() if o}


def ref_attack(score, text, label, *, max_words, queries, rankable, candidates, rise):
    """One case: (adversarial, success, changes, queries used, probs, the batches it scored)."""
    words, seps = split(text)
    batches = []

    def scored(step, texts):
        batches.append((step, list(texts)))
        return np.asarray(score(texts))

    p = scored("first", [text])[0]
    if int(p.argmax()) != label:
        return text, True, (), 1, p, batches
    rank = rankable(words)
    paid = rank[: queries - 1]
    order = list(rank)
    if paid:
        rows = scored("deleted", [ref_deleted(seps, words, i) for i in paid])
        importance = []
        for row in rows:
            value = p[label] - row[label]
            z = int(row.argmax())
            if rise and z != label:
                value = value + (row[z] - p[z])
            importance.append(value)
        ranked = sorted(range(len(paid)), key=lambda j: -importance[j])  # stable: ties by position
        order = [paid[j] for j in ranked] + rank[len(paid) :]
    current, probs, success = list(words), p, False
    for index in order:
        used = sum(len(b) for _, b in batches)
        if sum(a != b for a, b in zip(words, current)) >= max_words or used >= queries:
            break
        found = [c for c in dict.fromkeys(candidates(index, words[index])) if c != current[index]][: queries - used]
        if not found:
            continue
        rows = scored("tried", [join(seps, current[:index] + [c] + current[index + 1 :]) for c in found])
        flipping = [k for k in range(len(found)) if int(rows[k].argmax()) != label]
        if flipping:
            best = min(flipping, key=lambda k: rows[k][label])  # first of the lowest
            current[index], probs, success = found[best], rows[best], True
            break
        best = min(range(len(found)), key=lambda k: rows[k][label])
        if rows[best][label] < probs[label]:
            current[index], probs = found[best], rows[best]
    changes = tuple((i, a, b) for i, (a, b) in enumerate(zip(words, current)) if a != b)
    return join(seps, current), success, changes, sum(len(b) for _, b in batches), probs, batches


def ref_deepwordbug(score, texts, labels, seed, max_words, queries):
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=len(texts), dtype=np.int64)
    out = []
    for k, (text, label) in enumerate(zip(texts, labels)):
        rng = np.random.default_rng(int(seeds[k]))
        out.append(
            ref_attack(
                score, text, label, max_words=max_words, queries=queries, rise=False,
                rankable=lambda words: list(range(len(words))), candidates=lambda i, word, rng=rng: ref_char_edits(word, rng),
            )
        )
    return out


def ref_textfooler(score, texts, labels, groups, max_words, queries):
    table = ref_table(groups)

    def rankable(words):
        return [i for i, w in enumerate(words) if w.lower().replace("’", "'") not in STOP_WORDS and w.lower() in table]

    return [
        ref_attack(
            score, text, label, max_words=max_words, queries=queries, rise=True,
            rankable=rankable, candidates=lambda i, word: [ref_like(w, word) for w in table[word.lower()]],
        )
        for text, label in zip(texts, labels)
    ]


def expected_calls(cases) -> list[list[str]]:
    """The batched calls of the module: every case's first text, then every case's
    deletions, then round by round each running case's next batch of candidates."""
    steps = [[(step, batch) for step, batch in c[5]] for c in cases]
    calls = [[t for s in steps for step, batch in s if step == "first" for t in batch]]
    calls.append([t for s in steps for step, batch in s if step == "deleted" for t in batch])
    tried = [[batch for step, batch in s if step == "tried"] for s in steps]
    calls += [[t for batches in tried if len(batches) > r for t in batches[r]] for r in range(max(map(len, tried), default=0))]
    return [call for call in calls if call]


# ================================================================= score functions


class Recorder:
    def __init__(self, fn):
        self.fn = fn
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return self.fn(texts)


def hashed(texts, labels=3, levels=0):
    """Scores from a checksum of each text: no ties (levels=0) or few distinct values."""
    out = []
    for text in texts:
        r = np.random.default_rng(zlib.crc32(text.encode("utf-8")))
        z = r.integers(0, levels, labels).astype(np.float64) if levels else r.random(labels)
        e = np.exp(z)
        out.append(e / e.sum())
    return np.array(out).reshape(len(texts), labels)


VOCAB = ["good", "great", "fine", "bad", "awful", "dull", "plot", "film", "movie", "story", "nice", "poor", "zz"]
LABEL_WEIGHTS = {
    "good": (0, 2, 0), "great": (0, 3, 0), "fine": (0, 1, 0), "nice": (0, 1, 0), "bad": (2, 0, 0), "awful": (3, 0, 0),
    "dull": (1, 0, 0), "poor": (1, 0, 1), "plot": (0, 0, 1), "story": (0, 0, 1), "film": (0, 0, 0), "movie": (0, 0, 0),
}


def bag(texts):
    """Softmax of integer word weights over three labels: many exact ties."""
    out = []
    for text in texts:
        z = np.array([0.5, 0.0, 0.0])
        for w in WORD.findall(text):
            z = z + np.array(LABEL_WEIGHTS.get(w.lower(), (0, 0, 0)), dtype=np.float64)
        e = np.exp(z)
        out.append(e / e.sum())
    return np.array(out).reshape(len(texts), 3)


SEPARATORS = [" ", " ", " ", "  ", ", ", " (", ") ", "\t", "-", ". ", " — ", "!"]
ENDS = ["", "", " ", "  ", ".", "\t", "(", "\" "]


def random_texts(rng, count, vocab, longest=12):
    texts = []
    for _ in range(count):
        n = int(rng.integers(0, longest + 1))
        words = [str(w) for w in rng.choice(vocab, size=n)]
        words = [w.upper() if rng.random() < 0.1 else w.capitalize() if rng.random() < 0.15 else w for w in words]
        seps = [str(rng.choice(ENDS))] + [str(rng.choice(SEPARATORS)) for _ in range(max(n - 1, 0))] + [str(rng.choice(ENDS))]
        texts.append(join(seps, words) if n else seps[0])
    return texts


# ================================================================= the search against the reference


def run_both(attack, score_fn, texts, labels, **kwargs):
    model = Recorder(score_fn)
    if attack == "deepwordbug":
        seed = kwargs.pop("seed")
        found = deepwordbug(model, texts, labels, np.random.default_rng(seed), **kwargs)
        cases = ref_deepwordbug(score_fn, texts, labels, seed, kwargs.get("max_words", 5), kwargs.get("queries", 1000))
    else:
        groups = kwargs.pop("groups")
        found = textfooler(model, texts, labels, synonyms=groups, **kwargs)
        cases = ref_textfooler(score_fn, texts, labels, groups, kwargs.get("max_words", 5), kwargs.get("queries", 1000))
    return found, cases, model.calls


def assert_same(found, cases, calls):
    assert found.adversarial == tuple(c[0] for c in cases)
    assert found.success.dtype == bool and found.success.tolist() == [c[1] for c in cases]
    assert found.changes == tuple(c[2] for c in cases)
    assert found.words_changed.dtype == np.int64 and found.words_changed.tolist() == [len(c[2]) for c in cases]
    assert found.queries.dtype == np.int64 and found.queries.tolist() == [c[3] for c in cases]
    np.testing.assert_array_equal(found.probs, np.stack([c[4] for c in cases]))
    assert calls == expected_calls(cases)


@pytest.mark.parametrize("score_name", ["hashed", "few_levels", "bag"])
@pytest.mark.parametrize("budget", [(1, 1), (1, 3), (2, 6), (3, 15), (5, 1000)])
def test_deepwordbug_equals_the_reference(score_name, budget):
    score = {"hashed": hashed, "few_levels": lambda t: hashed(t, levels=3), "bag": bag}[score_name]
    rng = np.random.default_rng(zlib.crc32(f"{score_name}{budget}".encode()))
    texts = random_texts(rng, 14, VOCAB)
    labels = rng.integers(0, 3, len(texts))
    labels[::2] = score(texts).argmax(axis=1)[::2]  # half the cases start right
    max_words, queries = budget
    found, cases, calls = run_both("deepwordbug", score, texts, labels, seed=int(rng.integers(1000)), max_words=max_words, queries=queries)
    assert_same(found, cases, calls)


GROUP_SETS = [
    [["good", "great", "fine", "bad"], ["great", "good"], ["film", "movie", "picture"], ["plot", "story", "tale"], ["dull", "poor", "nice"]],
    [["awful", "bad", "Poor", "zz"], ["movie", "film"], ["nice", "fine", "a b"], ["story", "plot"], ["good", "nice"]],
]


@pytest.mark.parametrize("score_name", ["hashed", "few_levels", "bag"])
@pytest.mark.parametrize("budget", [(1, 1), (1, 3), (2, 5), (3, 15), (5, 1000)])
@pytest.mark.parametrize("groups", [0, 1])
def test_textfooler_equals_the_reference(score_name, budget, groups):
    score = {"hashed": hashed, "few_levels": lambda t: hashed(t, levels=3), "bag": bag}[score_name]
    rng = np.random.default_rng(zlib.crc32(f"{score_name}{budget}{groups}".encode()))
    texts = random_texts(rng, 14, VOCAB + ["the", "not"])
    labels = rng.integers(0, 3, len(texts))
    labels[::2] = score(texts).argmax(axis=1)[::2]
    max_words, queries = budget
    found, cases, calls = run_both("textfooler", score, texts, labels, groups=GROUP_SETS[groups], max_words=max_words, queries=queries)
    assert_same(found, cases, calls)


def test_a_long_text_ranks_tied_words_in_position_order():
    """More than 16 tied importances (numpy's default sort is not stable past 16)."""
    texts = [" ".join(["zz", "film", "good", "movie", "fine"] * 6), " ".join(["film"] * 25 + ["good"])]
    labels = bag(texts).argmax(axis=1)
    for seed in range(3):
        found, cases, calls = run_both("deepwordbug", bag, texts, labels, seed=seed, max_words=8, queries=200)
        assert_same(found, cases, calls)
    found, cases, calls = run_both("textfooler", bag, texts, labels, groups=[["film", "movie", "plot"], ["fine", "nice"]], max_words=8)
    assert_same(found, cases, calls)


def test_deepwordbug_draws_each_case_from_its_own_seed():
    texts = ["good film", "great plot", "fine"]
    seeds = np.random.default_rng(42).integers(0, 2**63 - 1, size=3, dtype=np.int64)
    model = Recorder(bag)
    deepwordbug(model, texts, [1, 1, 1], np.random.default_rng(42), max_words=1, queries=100)
    # after ranking, the first candidates of each case are the edits of its most important word
    firsts = {t: ref_char_edits(t.split()[0], np.random.default_rng(int(s))) for t, s in zip(texts, seeds)}
    flat = model.calls[2]
    start = 0
    for text in texts:
        edits = firsts[text]
        rest = text.split()[1:]
        assert flat[start : start + len(edits)] == [" ".join([e, *rest]) for e in edits]
        start += len(edits)


# ================================================================= importance, exactly


def test_textfooler_importance_adds_the_rise_of_the_new_label():
    case = ta._Case(0, "a b c", 0, 10)
    case.probs = np.array([0.5, 0.3, 0.2])
    rows = np.array([[0.4, 0.35, 0.25], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2]])
    got = ta._textfooler_importance(case, rows)
    np.testing.assert_array_equal(got, [0.5 - 0.4, (0.5 - 0.2) + (0.7 - 0.3), (0.5 - 0.1) + (0.8 - 0.2), 0.0])
    np.testing.assert_array_equal(ta._deletion_drop(case, rows), 0.5 - rows[:, 0])


def test_textfooler_prefers_a_deletion_that_raises_another_label():
    table = {
        "x y": [0.6, 0.4, 0.0],
        "y": [0.4, 0.3, 0.3],  # deleting x: drop 0.2, no flip: 0.2
        "x ": [0.45, 0.55, 0.0],  # deleting y: drop 0.15, flips to 1 (rise 0.15): 0.3
        "x b": [0.55, 0.45, 0.0],
        "a y": [0.58, 0.42, 0.0],
    }
    model = Recorder(lambda texts: np.array([table[t] for t in texts]))
    found = textfooler(model, ["x y"], [0], synonyms=[["x", "a"], ["y", "b"]], max_words=1)
    assert model.calls[2] == ["x b"] and found.adversarial == ("x b",) and found.queries.tolist() == [4]


# ================================================================= checks and refusals


def test_the_score_must_keep_its_shape_and_label_count():
    calls = []

    def shrinking(texts):
        calls.append(texts)
        return bag(texts)[:, :2] if len(calls) > 1 else bag(texts)

    with pytest.raises(ValueError, match=r"^score must return \[2, labels\], got shape \[2, 2\]$"):
        textfooler(shrinking, ["good film"], [1], synonyms=[["film", "movie"], ["good", "bad"]])
    with pytest.raises(ValueError, match=r"^score must return \[1, labels\], got shape \[2\]$"):
        textfooler(lambda t: np.zeros(2), ["good"], [0], synonyms=[["good", "bad"]])
    with pytest.raises(ValueError, match=r"^score must return \[1, labels\], got shape \[1, 2, 1\]$"):
        textfooler(lambda t: np.zeros((1, 2, 1)), ["good"], [0], synonyms=[["good", "bad"]])
    with pytest.raises(ValueError, match=r"^score returned NaN or infinite values$"):
        textfooler(lambda t: np.array([[np.inf, 0.0]] * len(t)), ["good"], [0], synonyms=[["good", "bad"]])
    found = textfooler(lambda t: np.ones((len(t), 2)), ["good"], [0], synonyms=[["good", "bad"]])  # finite: fine
    assert found.queries.tolist() == [3]


def test_the_score_must_keep_its_label_count_while_trying_candidates():
    calls = []

    def shrinking(texts):
        calls.append(texts)
        return bag(texts)[:, :2] if len(calls) > 2 else bag(texts)

    with pytest.raises(ValueError, match=r"^score must return \[1, labels\], got shape \[1, 2\]$"):
        textfooler(shrinking, ["good"], [1], synonyms=[["good", "bad"]])


def test_labels_past_int64_are_refused():
    """They used to wrap to negative numbers: an attack "succeeded" on a label no score has."""
    labels = np.array([1, 2**64 - 1], dtype=np.uint64)
    message = "labels must be 2 label indices, got " + repr(labels)
    for attack in (lambda: textfooler(bag, ["good", "good"], labels, synonyms=[["good", "bad"]]), lambda: deepwordbug(bag, ["good", "good"], labels, np.random.default_rng(0))):
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            attack()
    found = textfooler(bag, ["good", "bad"], np.array([1, 2], dtype=np.uint64), synonyms=[["good", "bad"]])
    assert found.adversarial == ("bad", "bad") and found.success.tolist() == [True, True]


def test_textfooler_checks_its_rng_too():
    with pytest.raises(TypeError, match=r"^rng must be a numpy.random.Generator$"):
        textfooler(bag, ["good"], [1], np.random.RandomState(0), synonyms=[["good", "bad"]])


def test_default_budgets():
    """Five words and 1,000 queries a case."""

    def softer(texts):  # each word that is not `good` lowers p(0) a little; nothing ever flips
        lower = np.array([sum(w != "good" for w in WORD.findall(t)) for t in texts]) * 0.01
        return np.stack([0.9 - lower, 0.1 + lower], axis=1)

    text = " ".join(["good"] * 7)
    assert textfooler(softer, [text], [0], synonyms=[["good", "fine"]]).words_changed.tolist() == [5]
    assert deepwordbug(softer, [text], [0], np.random.default_rng(0)).words_changed.tolist() == [5]

    def flat(texts):
        return np.tile([0.6, 0.4], (len(texts), 1))

    many = [f"w{i}" for i in range(60)]
    text = " ".join(many[:20])
    assert textfooler(flat, [text], [0], synonyms=[many]).queries.tolist() == [1000]
    assert deepwordbug(flat, [" ".join(["word"] * 400)], [0], np.random.default_rng(0)).queries.tolist() == [1000]


def test_labels_must_be_columns_of_the_scores():
    with pytest.raises(ValueError, match=r"^label 3 is not a column of the scores \(3 labels\)$"):
        textfooler(bag, ["good", "bad"], [0, 3], synonyms=[["good", "bad"]])
    found = textfooler(bag, ["good"], [2], synonyms=[["good", "bad"]])  # the last column is one
    assert found.success.tolist() == [True]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(texts=["a", 1]), TypeError, "texts must be strings"),
        (dict(labels=[0.0]), ValueError, "labels must be 1 label indices, got array([0.])"),
        (dict(labels=[[0]]), ValueError, "labels must be 1 label indices, got array([[0]])"),
        (dict(labels=[-1]), ValueError, "labels must be >= 0"),
        (dict(max_words=True), ValueError, "max_words must be an integer >= 1, got True"),
        (dict(max_words=0), ValueError, "max_words must be an integer >= 1, got 0"),
        (dict(max_words=2.0), ValueError, "max_words must be an integer >= 1, got 2.0"),
        (dict(queries=False), ValueError, "queries must be an integer >= 1, got False"),
        (dict(queries=0), ValueError, "queries must be an integer >= 1, got 0"),
        (dict(queries="3"), ValueError, "queries must be an integer >= 1, got '3'"),
        (dict(rng=np.random.RandomState(0)), TypeError, "rng must be a numpy.random.Generator"),
        (dict(rng=None), TypeError, "deepwordbug draws its edits from rng: pass a numpy.random.Generator"),
    ],
)
def test_refusals_and_their_messages(kwargs, error, message):
    arguments = dict(texts=["good"], labels=[1], rng=np.random.default_rng(0), max_words=1, queries=5) | kwargs
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        deepwordbug(bag, arguments.pop("texts"), arguments.pop("labels"), arguments.pop("rng"), **arguments)


def test_budgets_of_one_and_numpy_integers_are_accepted():
    found = deepwordbug(bag, ["good"], [1], np.random.default_rng(0), max_words=np.int64(1), queries=np.int32(1))
    assert found.queries.tolist() == [1] and found.adversarial == ("good",)
    found = textfooler(bag, ["good"], np.array([1], dtype=np.uint8), np.random.default_rng(0), synonyms=[["good", "bad"]], max_words=1, queries=3)
    assert found.adversarial == ("bad",)


def test_no_cases():
    for found in (deepwordbug(bag, [], [], np.random.default_rng(0)), textfooler(bag, [], np.zeros(0), synonyms=[["a", "b"]])):
        assert found.adversarial == () and found.changes == () and found.probs.shape == (0, 0)
        assert found.success.dtype == bool and found.words_changed.dtype == np.int64 and found.queries.dtype == np.int64
        assert found.success.shape == found.words_changed.shape == found.queries.shape == (0,)


# ================================================================= char_edits, scripted


class Script:
    """A generator whose draws are given; records the bound asked each time."""

    def __init__(self, *values):
        self.values = list(values)
        self.asked = []

    def integers(self, high):
        self.asked.append(high)
        return self.values.pop(0)


def test_char_edits_each_kind_exactly():
    rng = Script(1, 2, 0, 4, 5, 25)  # swap pair 1 (v-i), sub at 2 by the 1st letter but 'v', delete 4, insert z at the end
    assert char_edits("movie", rng) == ["mvoie", "moaie", "movi", "moviez"]
    assert rng.asked == [4, 5, 25, 5, 6, 26]
    rng = Script(0, 0, 0, 0, 0, 0)
    assert char_edits("Ab", rng) == ["bA", "Bb", "b", "AAb"]  # a capital stays one; insertion at 0 takes the first letter's case
    assert rng.asked == [1, 2, 25, 2, 3, 26]
    rng = Script(0, 1, 24, 1, 1, 2)
    assert char_edits("aB", rng) == ["Ba", "aZ", "a", "acB"]  # after `a`: lower case; substituting B skips b
    rng = Script(0, 0, 0, 0, 2, 3)
    assert char_edits("aB", rng) == ["Ba", "bB", "B", "aBD"]  # the first letter without a is b; insertion after B: upper


def test_char_edits_of_words_without_a_swap_or_a_deletion():
    rng = Script(0, 0, 0, 0, 1, 1)
    assert char_edits("a", rng) == ["b", "ab"]  # no pair to swap, nothing to delete from one letter
    assert rng.asked == [1, 1, 25, 1, 2, 26]
    rng = Script(0, 1, 3, 0, 2, 0)
    assert char_edits("zz", rng) == ["zd", "z", "zza"]  # no two different adjacent letters
    assert rng.asked == [1, 2, 25, 2, 3, 26]
    rng = Script(0, 0, 3, 2, 0, 0)
    assert char_edits("7'x", rng) == ["'7x", "d'x", "7'", "a7'x"]  # not a letter: any of the 26 replaces it
    assert rng.asked == [2, 3, 26, 3, 4, 26]


def test_char_edits_equal_the_reference_on_random_words():
    words = ["movie", "Good", "GOOD", "ab", "a", "zz", "I'm", "2002", "aaab", "Straße", "naïve", "X"]
    for seed in range(30):
        for word in words:
            assert char_edits(word, np.random.default_rng(seed)) == ref_char_edits(word, np.random.default_rng(seed)), word


def test_letters_skip_the_one_replaced():
    assert ta._letter(Script(0), "b", "A") == "b" and ta._letter(Script(0), "B", "a") == "B"
    assert ta._letter(Script(25), "x", "") == "z" and ta._letter(Script(25), "X", "5") == "Z"
    rng = Script(24)
    assert ta._letter(rng, "q", "z") == "y" and rng.asked == [25]
    rng = Script(3)
    assert ta._letter(rng, "'", "'") == "d" and rng.asked == [26]


# ================================================================= texts as words


@pytest.mark.parametrize(
    "text, index, expected",
    [
        ("a b c", 1, "a c"),
        ("a b", 0, "b"),
        ("a b", 1, "a "),
        ("a, b", 1, "a, "),
        ("film, really", 0, ", really"),
        ("Good film, really.", 1, "Good, really."),
        ("Good film, really.", 2, "Good film,."),
        (" a  b", 0, " b"),
        ("a\tb", 1, "a\t"),
        ("(a) b", 0, "() b"),
        ("x (a) b", 1, "x () b"),
        ("x a (b", 1, "x (b"),
        ("x  a  y", 1, "x  y"),
        ("x \t a \n y", 1, "x \t y"),
        ("well-made film", 1, "well- film"),
        ("well-made film", 0, "-made film"),
        ("a", 0, ""),
        ("  a  ", 0, "  "),
        ("a b.", 1, "a."),
        ("a (b", 0, "(b"),
        ("x  a (b", 1, "x  (b"),
    ],
)
def test_deletions(text, index, expected):
    words = ta._Words(text)
    assert words.deleted(list(words.words), index) == expected
    got, seps = split(text)
    assert ref_deleted(seps, got, index) == expected


def test_words_and_separators():
    words = ta._Words(" Don’t stop, it's_fine!")
    assert words.words == ["Don’t", "stop", "it's", "fine"] and words.seps == [" ", " ", ", ", "_", "!"]
    assert words.text(["a", "b", "c", "d"]) == " a b, c_d!"
    assert words.replaced(words.words, 2, "X") == " Don’t stop, X_fine!"
    empty = ta._Words("...")
    assert empty.words == [] and empty.seps == ["..."] and empty.text([]) == "..."


def test_word_diff_marks_each_change():
    assert word_diff("a b, c.", [(0, "a", "x"), (2, "c", "")]) == "[-a-]{+x+} b, [-c-]{++}."
    assert word_diff("a b", []) == "a b"


def test_like_takes_the_case_of_the_word():
    assert ta._like("great", "OK") == "GREAT"
    assert ta._like("great", "I") == "Great"
    assert ta._like("great", "Good") == "Great"
    assert ta._like("great", "gOOD") == "great"
    assert ta._like("great", "2nd") == "great"
    assert ta._like("", "A") == ""


def test_case_counts_changed_words():
    case = ta._Case(3, "a b, c", 1, 7)
    case.words[1] = "x"
    assert case.changed == 1 and case.text() == "a x, c"


# ================================================================= synonyms


def test_synonym_groups_exactly():
    assert synonym_groups("good, great") == (("good", "great"),)
    assert synonym_groups("good") == ()
    assert synonym_groups(["a", " b ", "", "a"]) == (("a", "b"),)
    assert synonym_groups(["a, b", "c"]) == (("a", "b"),)
    assert synonym_groups(["a,,b, ,a", "x, y, z"]) == (("a", "b"), ("x", "y", "z"))
    assert synonym_groups(("p", "q")) == (("p", "q"),)
    with pytest.raises(TypeError, match="^synonym groups are strings of comma-separated words$"):
        synonym_groups(["a", 1])


def test_synonym_table_exactly():
    table = ta._synonym_table([["Good", "great", "a b"], ["good", "fine", "GOOD"], ["x"], ["y", "Y"], ["film's", "movie"]])
    assert table == {"good": ["great", "a b", "fine"], "great": ["Good", "a b"], "fine": ["good", "GOOD"], "film's": ["movie"], "movie": ["film's"]}
    assert ta._synonym_table([]) == {}
    with pytest.raises(TypeError, match=re.escape("synonyms must be groups of words, e.g. [['good', 'great'], ['bad', 'awful']]") + "$"):
        ta._synonym_table(["good"])


def test_textfooler_reads_synonyms_in_each_form():
    for synonyms in ("good, bad", ["good, bad"], ["good", "bad"], [["good", "bad"]], (("good", "bad"),)):
        assert textfooler(bag, ["good"], [1], synonyms=synonyms).adversarial == ("bad",), synonyms
    assert textfooler(bag, ["good"], [1], synonyms=[]).queries.tolist() == [1]


def test_stop_words_with_a_curly_apostrophe_are_not_replaced():
    found = textfooler(bag, ["don’t good", "dont good"], [1, 1], synonyms=[["don’t", "bad"], ["dont", "bad"]], max_words=1)
    assert found.changes[0] == () and found.changes[1] == ((0, "dont", "bad"),)
    assert "don't" in STOP_WORDS


def test_textfooler_takes_the_case_of_each_word():
    found = textfooler(bag, ["GOOD Good good"], [1], synonyms=[["good", "bad"]], max_words=3)
    assert found.adversarial == ("BAD Bad good",) and found.success.tolist() == [True]
