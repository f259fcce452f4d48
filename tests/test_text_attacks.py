"""Black-box attacks on text models (DeepWordBug, TextFooler): the library on tiny
deterministic score functions, then `attack` tests through specs on the demo TF-IDF
model, their figures and adversarial texts checked against ONNX Runtime directly."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from mlspec.cli import main
from mlspec.library import text_attacks
from mlspec.library.text_attacks import STOP_WORDS, char_edits, deepwordbug, synonym_groups, textfooler, word_diff
from mlspec.run.pipeline import plan_file

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT / "specs" / "sentiment"
ONNX_MODEL = SENTIMENT / "model" / "sentiment.onnx"
REVIEWS = SENTIMENT / "data" / "reviews_test.csv"
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


# ================================================================= a tiny model: weighted words


WEIGHTS = {"good": 2.0, "great": 2.5, "fine": 0.5, "okay": 0.1, "bad": -2.0, "awful": -3.0, "dull": -1.0, "not": -0.2}


class BagOfWords:
    """p(positive) = sigmoid(bias + sum of the weights of the text's words, lower-cased);
    a word it does not know weighs nothing. Counts the texts it scores."""

    def __init__(self, bias: float = -1.0):
        self.bias = bias
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        z = np.array([self.bias + sum(WEIGHTS.get(w.lower(), 0.0) for w in WORD.findall(t)) for t in texts])
        p = 1 / (1 + np.exp(-z))
        return np.stack([1 - p, p], axis=1)

    @property
    def scored(self) -> int:
        return sum(len(c) for c in self.calls)


NEG, POS = 0, 1
GROUPS = [["good", "fine", "okay", "bad"], ["great", "good"], ["film", "movie"], ["not", "never"]]


def test_textfooler_takes_a_synonym_that_flips_the_label_and_counts_its_queries():
    model = BagOfWords()
    found = textfooler(model, ["A good film."], [POS], synonyms=GROUPS)
    # good -> bad flips; among the flipping candidates the one with the lowest p(positive)
    assert found.adversarial == ("A bad film.",)
    assert found.success.tolist() == [True]
    assert found.words_changed.tolist() == [1]
    assert found.changes == (((1, "good", "bad"),),)
    # 1 (the text) + 2 (deleting `good`, `film`: `A` is a stop word) + 4 (fine, okay, bad; great)
    assert found.queries.tolist() == [7] and model.scored == 7
    assert model.calls[2] == ["A fine film.", "A okay film.", "A bad film.", "A great film."]  # one batched call a step
    assert found.probs[0].argmax() == NEG


def test_textfooler_keeps_a_candidate_only_when_it_lowers_the_score():
    model = BagOfWords(bias=0.0)
    # `great` (2.5): good (2.0) lowers p(positive) without flipping; then no other word has synonyms
    found = textfooler(model, ["great"], [POS], synonyms=[["great", "good"]], max_words=3)
    assert found.adversarial == ("good",) and not found.success[0] and found.words_changed[0] == 1
    # a candidate that would raise it is not taken
    found = textfooler(BagOfWords(bias=0.0), ["good"], [POS], synonyms=[["good", "great"]])
    assert found.adversarial == ("good",) and found.words_changed[0] == 0 and not found.success[0]


def test_the_most_important_word_is_tried_first_and_ties_go_to_the_earlier_word():
    model = BagOfWords()
    found = textfooler(model, ["fine and good"], [POS], synonyms=[["fine", "okay"], ["good", "bad"]])
    assert found.changes == (((2, "good", "bad"),),)  # `good` weighs more: tried (and flips) first
    assert model.calls[2] == ["fine and bad"]
    model = BagOfWords(bias=-1.0)
    # both weigh 2: the earlier one is tried first; neither flips alone, both are kept
    found = textfooler(model, ["good good good"], [POS], synonyms=[["good", "okay"]], max_words=2)
    assert found.changes == (((0, "good", "okay"), (1, "good", "okay")),)
    assert not found.success[0] and found.words_changed[0] == 2  # the word budget ends it


def test_case_is_kept_and_stop_words_are_never_replaced():
    found = textfooler(BagOfWords(), ["Good film", "GOOD film"], [POS, POS], synonyms=[["good", "bad"]])
    assert found.adversarial == ("Bad film", "BAD film")
    model = BagOfWords(bias=0.5)
    found = textfooler(model, ["not bad"], [NEG], synonyms=[["not", "never"], ["bad", "okay"]])
    assert {old for _, old, _ in found.changes[0]} == {"bad"}
    assert "not" in STOP_WORDS and all("not" not in t.split() or t.startswith("not") for c in model.calls for t in c)


def test_a_flipping_candidate_wins_over_a_lower_score_that_does_not_flip():
    table = {
        "x y": [0.6, 0.3, 0.1],
        "y": [0.5, 0.3, 0.2],  # deleting x
        "x": [0.9, 0.05, 0.05],  # deleting y
        "a y": [0.35, 0.33, 0.32],  # lower p_0, still 0
        "b y": [0.4, 0.45, 0.15],  # flips to 1
    }

    def score(texts):
        return np.array([table[t] for t in texts])

    found = textfooler(score, ["x y"], [0], synonyms=[["x", "a", "b"]])
    assert found.adversarial == ("b y",) and found.success[0]
    assert found.probs[0].tolist() == [0.4, 0.45, 0.15]


def test_a_text_already_misclassified_is_a_success_with_no_change():
    model = BagOfWords()
    for attack in (lambda: deepwordbug(model, ["bad film"], [POS], np.random.default_rng(0)), lambda: textfooler(model, ["bad film"], [POS], synonyms=GROUPS)):
        found = attack()
        assert found.success.tolist() == [True] and found.queries.tolist() == [1] and found.words_changed.tolist() == [0]
        assert found.adversarial == ("bad film",)


def test_deepwordbug_edits_the_most_important_word_and_counts_its_queries():
    model = BagOfWords()
    found = deepwordbug(model, ["a good film"], [POS], np.random.default_rng(0), max_words=3)
    assert found.success[0] and found.changes[0][0][:2] == (1, "good")
    edited = found.changes[0][0][2]
    assert edited in char_edits("good", np.random.default_rng(0)) or edited.lower() not in WEIGHTS
    ranking, edits = len(model.calls[1]), len(model.calls[2])
    assert ranking == 3 and 1 <= edits <= 4  # every word, then one candidate of each edit kind
    assert found.queries[0] == model.scored == 1 + ranking + edits


def test_char_edits_are_one_edit_of_each_kind():
    rng = np.random.default_rng(3)
    for word in ["movie", "Good", "ab", "a", "zz", "I'm", "2002"]:
        for _ in range(20):
            edits = char_edits(word, rng)
            assert edits and word not in edits and len(set(edits)) == len(edits)
            for edit in edits:
                assert abs(len(edit) - len(word)) <= 1
                if len(edit) == len(word):  # a swap or a substitution
                    differ = [i for i in range(len(word)) if edit[i] != word[i]]
                    assert len(differ) == 1 or (len(differ) == 2 and differ[1] == differ[0] + 1 and sorted(edit) == sorted(word))
                else:  # a deletion or an insertion: the shorter is the longer less one character
                    short, long = sorted((edit, word), key=len)
                    assert any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def test_budgets_hold_and_queries_are_counted_exactly():
    rng = np.random.default_rng(0)
    vocabulary = ["good", "great", "fine", "okay", "bad", "awful", "dull", "film", "plot", "the", "not"]
    texts = [" ".join(rng.choice(vocabulary, size=int(rng.integers(1, 12)))) for _ in range(60)]
    labels = BagOfWords()(texts).argmax(axis=1)
    for queries in (1, 2, 3, 5, 8, 13, 40):
        for words in (1, 2, 4):
            for attack in ("deepwordbug", "textfooler"):
                model = BagOfWords()
                if attack == "deepwordbug":
                    found = deepwordbug(model, texts, labels, np.random.default_rng(1), max_words=words, queries=queries)
                else:
                    found = textfooler(model, texts, labels, synonyms=GROUPS, max_words=words, queries=queries)
                assert (found.queries <= queries).all() and (found.queries >= 1).all()
                assert found.queries.sum() == model.scored
                assert (found.words_changed <= words).all()
                assert found.words_changed.tolist() == [len(c) for c in found.changes]
                rescored = BagOfWords()(list(found.adversarial))
                assert (rescored.argmax(axis=1) != labels)[found.success].all()
                np.testing.assert_allclose(rescored, found.probs)
                for text, adversarial, changes in zip(texts, found.adversarial, found.changes):
                    words_before, words_after = WORD.findall(text), WORD.findall(adversarial)
                    assert len(words_before) == len(words_after)
                    assert [i for i, (a, b) in enumerate(zip(words_before, words_after)) if a != b] == [i for i, _, _ in changes]


def test_attacks_are_deterministic_and_a_case_does_not_depend_on_the_others():
    texts = ["a good film", "great but dull", "fine, okay and good", "the plot was good"]
    labels = [POS] * 4
    first = deepwordbug(BagOfWords(bias=-2.5), texts, labels, np.random.default_rng(7), max_words=2)
    again = deepwordbug(BagOfWords(bias=-2.5), texts, labels, np.random.default_rng(7), max_words=2)
    assert first.adversarial == again.adversarial and (first.queries == again.queries).all()
    other = deepwordbug(BagOfWords(bias=-2.5), texts[:1] + ["awful"] * 3, labels, np.random.default_rng(7), max_words=2)
    assert other.adversarial[0] == first.adversarial[0] and other.queries[0] == first.queries[0]


def test_synonym_groups_from_a_lexicon():
    assert synonym_groups(["good, great ,fine", "bad,awful", "x,", "dull, dull"]) == (("good", "great", "fine"), ("bad", "awful"))
    assert synonym_groups(["good", "great", "fine"]) == (("good", "great", "fine"),)  # no comma: one group
    assert synonym_groups(["good"]) == ()
    found = textfooler(BagOfWords(), ["good"], [POS], synonyms=["good, bad"])  # a lexicon's values as they are
    assert found.adversarial == ("bad",)


def test_word_diff_and_deletions():
    assert word_diff("A good film.", ((1, "good", "bad"),)) == "A [-good-]{+bad+} film."
    model = BagOfWords()
    textfooler(model, ["Good film, really."], [POS], synonyms=[["good", "bad"], ["film", "movie"], ["really", "truly"]])
    assert sorted(model.calls[1]) == sorted(["film, really.", "Good, really.", "Good film,."])


def test_parameters_are_validated():
    score = BagOfWords()
    with pytest.raises(ValueError, match="queries"):
        deepwordbug(score, ["a"], [0], np.random.default_rng(0), queries=0)
    with pytest.raises(ValueError, match="max_words"):
        textfooler(score, ["a"], [0], synonyms=GROUPS, max_words=0)
    with pytest.raises(ValueError, match="labels"):
        textfooler(score, ["a", "b"], [0], synonyms=GROUPS)
    with pytest.raises(TypeError, match="rng"):
        deepwordbug(score, ["a"], [0], None)
    with pytest.raises(ValueError, match="shape"):
        textfooler(lambda t: np.zeros((len(t) + 1, 2)), ["a"], [0], synonyms=GROUPS)
    with pytest.raises(ValueError, match="NaN"):
        textfooler(lambda t: np.full((len(t), 2), np.nan), ["a"], [0], synonyms=GROUPS)
    with pytest.raises(ValueError, match="label 2"):
        textfooler(score, ["a"], [2], synonyms=GROUPS)
    empty = deepwordbug(score, [], [], np.random.default_rng(0))
    assert empty.adversarial == () and empty.queries.shape == (0,)


# ================================================================= through specs, on the demo model


def session():
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(ONNX_MODEL), options, providers=["CPUExecutionProvider"])


def rescore(texts: list[str]) -> np.ndarray:
    return session().run(["probabilities"], {"text": np.array(texts, dtype=object).reshape(-1, 1)})[0]


SYNONYMS = """# synonym groups: one a line, words separated by commas
good, great, fine, nice, decent
bad, awful, poor, terrible, lousy
film, movie, picture
funny, amusing, humorous, hilarious
boring, dull, tedious, tiresome
best, finest, greatest
worst, poorest
story, plot, tale, narrative
"""

HEADER = f"""spec "t" seed 1
model sentiment {{
  onnx "{ONNX_MODEL.as_posix()}"
  input text
  output probabilities labels [negative, positive]
  batch 128
}}
dataset reviews = csv "{REVIEWS.as_posix()}" {{ text: text, label: label }}
lexicon syn = file "syn.txt"
lexicon pos_adj = ["good", "great", "excellent", "wonderful"]
lexicon thing = ["film", "movie", "plot"]
"""

ATTACKS = """capability "Adversarial" {
  attack "character edits" {
    from reviews sample 80 seed 0
    method deepwordbug(words: 2, queries: 40)
    expect robust_accuracy >= 0.5
    expect attack_success_rate <= 0.3
  }
  attack "synonyms" {
    from reviews sample 80 seed 0
    method textfooler(words: 3, queries: 60, synonyms: syn)
    expect robust_accuracy >= 0.5
  }
  attack "synonyms of a plain lexicon, on templates" {
    template "The {thing} was {pos_adj}." -> positive
    method textfooler(synonyms: pos_adj)
    expect attack_success_rate <= 1
  }
}
"""
BUDGETS = {"character edits": (2, 40), "synonyms": (3, 60), "synonyms of a plain lexicon, on templates": (5, 1000)}


def run_spec(folder: Path, text: str, *extra: str) -> tuple[int, dict, str]:
    (folder / "syn.txt").write_text(SYNONYMS, encoding="utf-8")
    spec = folder / "t.mlspec"
    spec.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(spec), "--json", str(folder / "r.json"), *extra])
    assert "Traceback" not in out.getvalue() + err.getvalue()
    results = json.loads((folder / "r.json").read_text())
    return code, {t["title"]: t for t in results["specs"][0]["tests"]}, out.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text-attacks")
    code, tests, console = run_spec(folder, HEADER + ATTACKS)
    _, plan = plan_file(str(folder / "t.mlspec"))
    return folder, code, tests, console, plan


def without_times(value):
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in ("seconds", "file")}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def test_demo_attacks_run_and_their_figures_are_consistent(demo):
    _, code, tests, _, _ = demo
    assert code in (0, 1)
    for title, (words, queries) in BUDGETS.items():
        metrics = tests[title]["metrics"]
        assert tests[title]["status"] in ("PASS", "FAIL"), tests[title]["message"]
        clean, robust, rate = metrics["clean_accuracy"], metrics["robust_accuracy"], metrics["attack_success_rate"]
        assert 0 <= robust <= clean <= 1 and 0 <= rate <= 1
        assert robust == pytest.approx(clean * (1 - rate), abs=1e-12)
        assert 1 <= metrics["mean_queries"] <= queries
        assert metrics["mean_words_changed"] is None or 1 <= metrics["mean_words_changed"] <= words
    edits = tests["character edits"]
    assert edits["metrics"]["attack_success_rate"] > 0.3 and edits["status"] == "FAIL"  # the TF-IDF model falls to typos
    assert "attack_success_rate=" in edits["message"] and "> 0.3" in edits["message"]


def test_demo_clean_accuracy_equals_onnx_runtime(demo):
    _, _, tests, _, plan = demo
    for test in plan.tests:
        texts = [plan.inputs[i] for i in test.inputs]
        truth = [["negative", "positive"].index(test.expected_labels[e]) for e in test.expected]
        clean = float(np.mean(rescore(texts).argmax(axis=1) == truth))
        assert tests[test.title]["metrics"]["clean_accuracy"] == pytest.approx(clean), test.title
        assert tests[test.title]["metrics"]["cases"] == len(texts)


def test_demo_adversarial_texts_really_flip_the_model(demo):
    _, _, tests, _, _ = demo
    shown = 0
    for title, (words, queries) in BUDGETS.items():
        test = tests[title]
        examples, details = test["examples"], test["details"]
        assert len(details) == len(examples)
        if test["metrics"]["attack_success_rate"]:
            assert examples
        for example, detail in zip(examples, details):
            original, adversarial = example["original"]["text"], example["prediction"]["text"]
            probs = rescore([original, adversarial])
            labels = ["negative", "positive"]
            assert labels[probs[0].argmax()] == example["expected"] == example["original"]["label"]
            assert labels[probs[1].argmax()] != example["expected"] and example["prediction"]["label"] == labels[probs[1].argmax()]
            assert example["prediction"]["probs"]["positive"] == pytest.approx(float(probs[1][1]), abs=1e-6)
            before, after = WORD.findall(original), WORD.findall(adversarial)
            changed = sum(a != b for a, b in zip(before, after))
            assert len(before) == len(after) and 1 <= changed <= words
            found = re.match(r"\d+\. (\w+), (\d+) words?, (\d+) quer(?:y|ies): (.*)$", detail)
            assert found and found[1] in ("deepwordbug", "textfooler")
            assert int(found[2]) == changed and int(found[3]) <= queries
            assert found[4].count("[-") == changed and re.sub(r"\[-(.*?)-\]\{\+(.*?)\+\}", r"\2", found[4]) == adversarial
            shown += 1
    assert shown >= 5


def test_demo_console_shows_figures_and_word_diffs(demo):
    console = demo[3]
    line = next(line for line in console.splitlines() if "character edits" in line)
    assert re.search(r"clean 0\.\d{3}, robust 0\.\d{3} \(\d\.\d words a success, \d+ queries a case\)", line), line
    assert "[-" in console and "+}" in console


def test_demo_attacks_are_deterministic(demo, tmp_path):
    tests = demo[2]
    _, again, _ = run_spec(tmp_path, HEADER + ATTACKS)
    assert without_times(again) == without_times(tests)


def test_demo_plan_shows_the_method(demo):
    _, _, _, _, plan = demo
    summary = plan.summary()
    assert "deepwordbug(words: 2, queries: 40)" in summary
    assert "textfooler(words: 3, queries: 60, synonyms: syn)" in summary
    payload = next(t for t in plan.tests if t.title == "synonyms").payload
    assert ("film", "movie", "picture") in payload.synonyms and len(payload.synonyms) == 8


def test_library_budgets_on_the_demo_model():
    """Straight on ONNX Runtime: every case within its budget, every success a real flip."""
    import csv

    with REVIEWS.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:60]
    texts = [r["text"] for r in rows]
    scored: list[int] = []

    def score(batch):
        scored.append(len(batch))
        return rescore(batch)

    labels = rescore(texts).argmax(axis=1)
    found = deepwordbug(score, texts, labels, np.random.default_rng(0), max_words=2, queries=25)
    assert (found.queries <= 25).all() and (found.words_changed <= 2).all() and found.queries.sum() == sum(scored)
    assert (rescore(list(found.adversarial)).argmax(axis=1) != labels)[found.success].all()
    assert found.success.any() and not found.success.all()


# ================================================================= errors


def check_errors(folder: Path, text: str) -> str:
    (folder / "syn.txt").write_text(SYNONYMS, encoding="utf-8")
    (folder / "t.mlspec").write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", "t.mlspec"])
    finally:
        os.chdir(previous)
    assert code == 2, out.getvalue() + err.getvalue()
    return err.getvalue()


def test(body: str, title: str = "a") -> str:
    return f'  attack "{title}" {{\n' + "".join(f"    {line}\n" for line in body.strip().splitlines()) + "  }\n"


test.__test__ = False  # a helper, not a pytest test


def located(err: str, source: str, message: str, needle: str, hint: str | None = None, after: str = "") -> None:
    """The error `message`, its caret under exactly `needle` (the first after `after`)."""
    start = source.index(needle, source.index(after) if after else 0)
    line = source.count("\n", 0, start) + 1
    col = start - (source.rfind("\n", 0, start) + 1) + 1
    head = f"t.mlspec:{line}:{col}: error: {message}"
    lines = err.splitlines()
    assert head in lines, f"{head}\nnot in\n{err}"
    at = lines.index(head)
    assert lines[at + 2].endswith(" " * (col - 1) + "^" * len(needle)), lines[at + 2]
    if hint is not None:
        assert lines[at + 3] == f"hint: {hint}"


@pytest.mark.parametrize(
    "body, message, needle, hint",
    [
        ("from reviews\nmethod square(eps: 0.1)\nexpect robust_accuracy >= 0.5", "`square` attacks images; this test's models take text", "square", "text methods are deepwordbug, textfooler"),
        ("from reviews\nmethod deepwordbg(words: 3)\nexpect robust_accuracy >= 0.5", "unknown attack method `deepwordbg`", "deepwordbg", "did you mean `deepwordbug`?"),
        ("from reviews\nmethod textfooler(words: 3)\nexpect robust_accuracy >= 0.5", "`textfooler` needs `synonyms`", "textfooler(words: 3)", "usage: textfooler(synonyms: lexicon of synonym groups, words: int = 5, queries: int = 1000)"),
        ("from reviews\nmethod textfooler(synonyms: \"syn\")\nexpect robust_accuracy >= 0.5", "`textfooler` parameter `synonyms` takes a lexicon name", '"syn"', "names are written without quotes"),
        ("from reviews\nmethod textfooler(synonyms: sin)\nexpect robust_accuracy >= 0.5", "unknown lexicon `sin`", "sin", None),
        ("from reviews\nmethod textfooler(synonyms: syn, words: 0)\nexpect robust_accuracy >= 0.5", "`textfooler` parameter `words` must be a whole number >= 1, not 0", "0", None),
        ("from reviews\nmethod deepwordbug(queries: 2.5)\nexpect robust_accuracy >= 0.5", "`deepwordbug` parameter `queries` must be a whole number >= 1, not 2.5", "2.5", None),
        ("from reviews\nmethod deepwordbug\nexpect robust_accuracy >= 0.5 at eps 0.1", "`at` names a point of an eps sweep; a text attack has none", "eps", "drop the `at ...`"),
        ("from reviews\nmethod deepwordbug\nexpect accuracy >= 0.5", "an attack test expects `robust_accuracy`, `attack_success_rate`, `clean_accuracy`", "accuracy >= 0.5", None),
        ("template \"The {thing} was {pos_adj}.\"\nmethod deepwordbug\nexpect robust_accuracy >= 0.5", "an attack moves each text away from its true label; this template gives none", 'template "The {thing} was {pos_adj}."', None),
        ("method deepwordbug\nexpect robust_accuracy >= 0.5", 'attack test "a" needs labelled texts', '"a"', "take them `from` a dataset with labels, or from templates with `-> LABEL`"),
        ("from reviews\nexpect robust_accuracy >= 0.5", 'attack test "a" needs a `method`', '"a"', "deepwordbug(words: 3, queries: 300) or textfooler(synonyms: LEXICON, words: 3, queries: 300)"),
    ],
)
def test_checker_errors_are_located(tmp_path, body, message, needle, hint):
    source = HEADER.replace(ONNX_MODEL.as_posix(), "m.onnx").replace(REVIEWS.as_posix(), "d.csv") + 'capability "c" {\n' + test(body) + "}\n"
    (tmp_path / "d.csv").write_text("text,label\ngood film,positive\n", encoding="utf-8")
    err = check_errors(tmp_path, source)
    located(err, source, message, needle, hint, after='attack "a"')


def test_synonym_lexicons_must_hold_groups(tmp_path):
    source = (
        HEADER.replace(ONNX_MODEL.as_posix(), "m.onnx").replace(REVIEWS.as_posix(), "d.csv")
        + 'lexicon mixed = ["good, great", "film"]\nlexicon lone = ["good"]\ncapability "c" {\n'
        + test("from reviews\nmethod textfooler(synonyms: mixed)\nexpect robust_accuracy >= 0.5", "a")
        + test("from reviews\nmethod textfooler(lone)\nexpect robust_accuracy >= 0.5", "b")
        + "}\n"
    )
    (tmp_path / "d.csv").write_text("text,label\ngood film,positive\n", encoding="utf-8")
    err = check_errors(tmp_path, source)
    message = "lexicon `mixed` is a lexicon of synonym groups, but its value 'film' is a group of fewer than two words"
    located(err, source, message, "mixed", "write each group on one line, its words separated by commas: `good, great, fine`", after="synonyms: ")
    located(err, source, "lexicon `lone` gives no group of two or more synonyms", "lone", after="textfooler(")


def test_text_methods_on_an_image_model_and_attacks_on_a_table_model(tmp_path):
    digits = ROOT / "specs" / "digits"
    income = ROOT / "specs" / "income"
    source = (
        f'model digits {{\n  onnx "{(digits / "model" / "digits.onnx").as_posix()}"\n  input image shape [1, 28, 28] range [0, 1]\n'
        f'  output logits labels ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]\n}}\n'
        f'model income {{\n  onnx "{(income / "model" / "adult.onnx").as_posix()}"\n'
        "  input table columns [age, workclass, education, education_num, marital_status, occupation,\n"
        "      relationship, race, sex, capital_gain, capital_loss, hours_per_week, native_country]\n"
        '  output probabilities labels ["<=50K", ">50K"]\n}\n'
        f'dataset test = npz "{(digits / "data" / "digits_test.npz").as_posix()}" {{ input: x, label: y }}\n'
        f'dataset adult = csv "{(income / "data" / "adult_test.csv").as_posix()}" {{ label: income, missing: "?" }}\n'
        'capability "c" {\n'
        + test("from test\nmethod deepwordbug(words: 3)\nexpect robust_accuracy >= 0.5").replace('"a" {', '"a" on digits {')
        + test("from adult\nmethod deepwordbug(words: 3)\nexpect robust_accuracy >= 0.5", "b").replace('"b" {', '"b" on income {')
        + "}\n"
    )
    err = check_errors(tmp_path, source)
    located(err, source, "`deepwordbug` attacks text; this test's models take images", "deepwordbug", "image methods are fgsm, pgd, square")
    located(err, source, "attacks perturb images or texts; this test's models take table rows", '"b"')


def test_a_dataset_without_labels_is_the_test_s_error(tmp_path):
    (tmp_path / "plain.csv").write_text("text\ngood film\nbad film\n", encoding="utf-8")
    spec = HEADER + 'dataset plain = csv "plain.csv" { text: text }\ncapability "c" {\n' + test("from plain\nmethod deepwordbug\nexpect robust_accuracy >= 0.5") + "}\n"
    code, tests, _ = run_spec(tmp_path, spec)
    assert code == 3 and tests["a"]["status"] == "ERROR"
    assert "dataset `plain` has no labels; an attack needs the true label of each text" in tests["a"]["message"]


def test_a_model_failing_during_the_attack_errors_only_that_test(tmp_path, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("the scores went away")

    monkeypatch.setattr(text_attacks, "deepwordbug", broken)
    _, tests, _ = run_spec(tmp_path, HEADER + ATTACKS.replace("sample 80", "sample 10"))
    assert calls and tests["character edits"]["status"] == "ERROR"
    assert tests["character edits"]["message"] == "attack deepwordbug failed on model `sentiment`: the scores went away"
    assert tests["synonyms"]["status"] in ("PASS", "FAIL")
    assert math.isfinite(tests["synonyms"]["metrics"]["clean_accuracy"])
