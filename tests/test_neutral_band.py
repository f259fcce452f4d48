"""CheckList's neutral band for binary models: `neutral between LOW and HIGH`.

- the mapping (`mlspec.library.neutral_band`) on hand-made probabilities, and equal to a straight
  re-implementation of CheckList's wrapper for binary models (in its README) for
  the band 1/3 .. 2/3 on 10,000 random probabilities;
- the statement through the parser, the checker (errors as a user sees them), `fmt` and
  `plan`, and the highlighters;
- end to end on the demo model: predictions equal the mapping of the probabilities
  onnxruntime gives directly, with and without the prediction cache (which keeps the
  model's own two scores); a model that outputs logits is soft-maxed first;
- a model card with a band standing in (`--model`) for a model with three labels.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from mlspec.cli import main
from mlspec.errors import MlspecError, render
from mlspec.language.checker import check
from mlspec.language.formatter import format_spec
from mlspec.language.parser import parse
from mlspec.library.neutral_band import band_probabilities, expose
from mlspec.model import NeutralBand
from mlspec.run.cache import PredictionCache
from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file, run_file

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "specs" / "sentiment" / "model" / "sentiment.onnx"
THIRDS = NeutralBand(1 / 3, 2 / 3, "1/3 and 2/3")


def checklist_wrapper(pr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rule of CheckList's wrapper for binary sentiment models (in its README), one
    probability at a time: P(positive) -> (negative, neutral, positive) and their argmax.
    The band is 1/3 wide around 0.5; at its exact ends the wrapper gives a row of zeros."""
    low, high = 0.5 - (1 / 3) / 2, 0.5 + (1 / 3) / 2  # as the wrapper computes them (not 1/3 and 2/3 to the bit)
    rows = []
    for p in pr:
        if p < low or p > high:
            rows.append((1 - p, 0.0, p))
        elif low < p < high:
            neutral = 1 - 3 * abs(p - 0.5)
            rows.append((0.0, neutral, 1 - neutral) if p >= 0.5 else (1 - neutral, neutral, 0.0))
        else:
            rows.append((0.0, 0.0, 0.0))
    probs = np.array(rows, dtype=np.float64).reshape(len(pr), 3)
    return np.argmax(probs, axis=1), probs


# ---------------------------------------------------------------- the mapping


def test_mapping_below_inside_and_above_the_band():
    p = np.array([0.1, 1 / 3, 0.35, 0.4, 0.5, 0.6, 2 / 3, 0.9])
    expected = np.array(
        [
            [0.9, 0.0, 0.1],  # below: [1 - p, 0, p]
            [2 / 3, 0.0, 1 / 3],  # the low end itself counts as outside
            [0.45, 0.55, 0.0],  # lower half: neutral = 1 - |p - 0.5| / (1/3), first = 1 - neutral
            [0.3, 0.7, 0.0],
            [0.0, 1.0, 0.0],  # the centre belongs to the upper half
            [0.0, 0.7, 0.3],  # upper half: second = 1 - neutral
            [1 / 3, 0.0, 2 / 3],  # the high end itself counts as outside
            [0.1, 0.0, 0.9],  # above
        ]
    )
    mapped = band_probabilities(p, 1 / 3, 2 / 3)
    assert mapped.dtype == np.float64 and mapped.shape == (8, 3)
    np.testing.assert_allclose(mapped, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mapped.sum(axis=1), 1, rtol=0, atol=1e-12)
    assert mapped.argmax(axis=1).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]


def test_mapping_of_an_asymmetric_band():
    # low 0.2, high 0.6: centre 0.4, width 0.4
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.59, 0.6, 0.7])
    expected = np.array(
        [
            [0.9, 0.0, 0.1],
            [0.8, 0.0, 0.2],
            [0.25, 0.75, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.75, 0.25],
            [0.0, 0.525, 0.475],
            [0.4, 0.0, 0.6],
            [0.3, 0.0, 0.7],
        ]
    )
    mapped = band_probabilities(p, 0.2, 0.6)
    np.testing.assert_allclose(mapped, expected, rtol=0, atol=1e-12)
    assert mapped.argmax(axis=1).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]


def test_ties_go_to_the_first_label():
    # p = 0.5 outside a band 0.6 .. 0.8: [0.5, 0, 0.5], a tie that argmax gives to the first label
    mapped = band_probabilities(np.array([0.5]), 0.6, 0.8)
    np.testing.assert_array_equal(mapped, [[0.5, 0.0, 0.5]])
    assert int(mapped.argmax(axis=1)[0]) == 0


def test_mapping_equals_checklists_wrapper_on_random_probabilities():
    rng = np.random.default_rng(20200705)
    p = np.concatenate([rng.random(10_000), [0.0, 0.25, 0.5, 0.75, 1.0]])
    ours = band_probabilities(p, 1 / 3, 2 / 3)
    predicted, theirs = checklist_wrapper(p)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours.argmax(axis=1), predicted)
    # every class occurs, and the band takes about a third of uniform probabilities
    counts = np.bincount(predicted, minlength=3)
    assert counts.min() > 3000


def test_expose_keeps_the_dtype_and_nan_rows():
    scores = np.array([[0.9, 0.1], [0.55, 0.45], [np.nan, np.nan], [0.2, 0.8]], dtype=np.float32)
    mapped = expose(scores, THIRDS)
    assert mapped.dtype == np.float32 and mapped.shape == (4, 3)
    assert np.isnan(mapped[2]).all() and np.isfinite(mapped[[0, 1, 3]]).all()
    # computed in float64 from the float32 scores, then returned as float32
    expected = band_probabilities(scores[:, 1].astype(np.float64), 1 / 3, 2 / 3).astype(np.float32)
    np.testing.assert_array_equal(mapped[[0, 1, 3]], expected[[0, 1, 3]])
    assert expose(scores, None) is scores
    assert expose(scores.astype(np.float64), THIRDS).dtype == np.float64


# ---------------------------------------------------------------- the language

MODEL = """model m {{
  onnx "{model}"
  input text
  output probabilities labels [{labels}]
  {band}
}}
"""
PATH = "band.mlspec"


def model_source(band: str = "neutral between 1/3 and 2/3", labels: str = "negative, positive", tests: str = "") -> str:
    return MODEL.format(model=DEMO_MODEL.as_posix(), labels=labels, band=band) + tests


def check_errors(source: str) -> list[str]:
    with pytest.raises(MlspecError) as info:
        check(parse(source, PATH))
    return [render(d) for d in info.value.diagnostics]


def test_the_model_exposes_three_labels():
    source = model_source(tests='capability "c" {\n  mft "t" {\n    template "x" -> neutral\n    expect prob(neutral) > 0.5\n  }\n}\n')
    checked = check(parse(source, PATH))
    model = checked.models["m"]
    assert model.labels == ("negative", "positive")  # the model's own outputs
    assert model.exposed_labels == ("negative", "neutral", "positive")
    assert model.neutral_band == NeutralBand(1 / 3, 2 / 3, "1/3 and 2/3")
    decimal = check(parse(model_source("neutral between 0.3 and 0.725"), PATH)).models["m"]
    assert (decimal.neutral_band.low, decimal.neutral_band.high) == (0.3, 0.725)
    plain = check(parse(model_source(""), PATH)).models["m"]
    assert plain.neutral_band is None and plain.exposed_labels == plain.labels == ("negative", "positive")


def test_neutral_is_no_label_without_a_band():
    source = model_source("", tests='capability "c" {\n  mft "t" {\n    template "x"\n    expect label == neutral\n  }\n}\n')
    (error,) = check_errors(source)
    assert error.splitlines()[0] == "band.mlspec:10:21: error: unknown label `neutral`"


def test_error_a_band_on_three_labels():
    source = model_source(labels="negative, neutral, positive")
    assert check_errors(source) == [
        (
            "band.mlspec:5:3: error: model `m`: a neutral band splits a binary model's two labels, but it declares 3 ([negative, neutral, positive])\n"
            "    5 |   neutral between 1/3 and 2/3\n"
            "      |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            "hint: declare the two labels the model outputs, e.g. `labels [negative, positive]`, or drop `neutral between` from a model with a neutral class of its own"
        )
    ]


def test_error_a_label_already_called_neutral():
    source = model_source(labels="neutral, positive")
    assert check_errors(source) == [
        (
            "band.mlspec:5:3: error: model `m` already has a label `neutral` (line 4); the neutral band adds one\n"
            "    5 |   neutral between 1/3 and 2/3\n"
            "      |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            "hint: rename that label, or drop `neutral between`"
        )
    ]


@pytest.mark.parametrize(
    ("band", "message", "col", "width", "hint"),
    [
        (
            "neutral between 0 and 2/3",
            "the neutral band's low end must be between 0 and 1 (exclusive), not 0",
            19,
            1,
            "the bounds are probabilities of `positive`; for example `neutral between 1/3 and 2/3` (CheckList's band)",
        ),
        (
            "neutral between 0.2 and 1",
            "the neutral band's high end must be between 0 and 1 (exclusive), not 1",
            27,
            1,
            "the bounds are probabilities of `positive`; for example `neutral between 1/3 and 2/3` (CheckList's band)",
        ),
        (
            "neutral between -1/3 and 2/3",
            "the neutral band's low end must be between 0 and 1 (exclusive), not -1/3",
            19,
            4,
            "the bounds are probabilities of `positive`; for example `neutral between 1/3 and 2/3` (CheckList's band)",
        ),
        (
            "neutral between 2/3 and 1/3",
            "the neutral band's low end must be below its high end, not 2/3 and 1/3",
            3,
            27,
            "write the lower bound first; for example `neutral between 1/3 and 2/3` (CheckList's band)",
        ),
        (
            "neutral between 0.5 and 0.5",
            "the neutral band's low end must be below its high end, not 0.5 and 0.5",
            3,
            27,
            "write the lower bound first; for example `neutral between 1/3 and 2/3` (CheckList's band)",
        ),
        ("neutral between 1/0 and 2/3", "1/0 divides by zero", 21, 1, "write a decimal (0.35) or a fraction of whole numbers (1/3)"),
        (
            "neutral between 1.5/6 and 2/3",
            "a fraction is written with whole numbers (1/3), not 1.5/6",
            19,
            5,
            "write a decimal (0.35) or a fraction of whole numbers (1/3)",
        ),
    ],
)
def test_error_bad_bounds(band, message, col, width, hint):
    # One error, at the band: the tests that name `neutral` are not reported as well.
    errors = check_errors(model_source(band, tests='capability "c" {\n  mft "t" {\n    template "x" -> neutral\n    expect prob(neutral) > 0.5\n  }\n}\n'))
    assert len(errors) == 1, errors
    line = f"    5 |   {band}"
    caret = "      | " + " " * (col - 1) + "^" * width
    assert errors[0] == f"band.mlspec:5:{col}: error: {message}\n{line}\n{caret}\nhint: {hint}"


def test_error_a_band_given_twice():
    source = model_source("neutral between 1/3 and 2/3\n  neutral between 0.4 and 0.6")
    with pytest.raises(MlspecError) as info:
        parse(source, PATH)
    (error,) = [render(d) for d in info.value.diagnostics]
    assert error.splitlines()[0] == "band.mlspec:6:3: error: model `m` already has a `neutral between` (line 5)"
    assert error.splitlines()[-1] == "hint: keep only one"


def test_error_an_attack_on_a_model_with_a_band():
    source = (
        'model d {\n  torch "d.pt"\n  input image shape [1, 4, 4] range [0, 1]\n  output logits labels [a, b]\n'
        "  neutral between 0.4 and 0.6\n}\n"
        'dataset images = npz "images.npz"\n'
        'capability "c" {\n  attack "fgsm" {\n    from images\n    method fgsm(eps: 0.1)\n    expect robust_accuracy >= 0.5\n  }\n}\n'
    )
    (error,) = check_errors(source)
    assert error.splitlines()[0] == (
        "band.mlspec:9:10: error: model `d` has a neutral band (`neutral between 0.4 and 0.6`); attacks work on its own scores"
    )


def test_fmt_prints_the_band_back_and_is_idempotent():
    source = (
        "model m {\n  onnx \"m.onnx\"\n  input text\n  output probabilities labels [negative,positive]\n"
        "    neutral   between 1 / 3   and\n      0.70   # the band\n}\n"
    )
    formatted = format_spec(source, PATH)
    assert formatted == (
        'model m {\n  onnx "m.onnx"\n  input text\n  output probabilities labels [negative, positive]\n'
        "  neutral between 1/3 and 0.70  # the band\n}\n"
    )
    assert format_spec(formatted, PATH) == formatted
    before, after = (parse(text, PATH).models[0].neutral_band for text in (source, formatted))
    assert (before.low.text, before.high.text) == (after.low.text, after.high.text) == ("1/3", "0.70")


def test_plan_shows_the_band(tmp_path):
    spec = tmp_path / "s.mlspec"
    spec.write_text(model_source(tests='capability "c" {\n  mft "t" {\n    template "x"\n    expect label == neutral\n  }\n}\n'), encoding="utf-8")
    _, plan = plan_file(spec)
    assert "labels [negative, neutral, positive] (neutral between 1/3 and 2/3), batch measured" in plan.summary()
    model = plan.to_json()["models"]["m"]
    assert model["labels"] == ["negative", "neutral", "positive"]
    assert model["neutral_band"] == [1 / 3, 2 / 3]


def test_highlighters_know_the_statement():
    pytest.importorskip("pygments")
    from pygments.token import Keyword, Number, Punctuation

    from mlspec.pygments_lexer import MlspecLexer

    line = "  neutral between 1/3 and 0.7"
    tokens = [(t, v) for t, v in MlspecLexer().get_tokens(line) if v.strip()]
    kinds = [(t in Keyword, t in Number, t in Punctuation) for t, _ in tokens]
    assert [v for _, v in tokens] == ["neutral", "between", "1", "/", "3", "and", "0.7"]
    assert kinds == [(True, False, False)] * 2 + [(False, True, False), (False, False, True), (False, True, False), (True, False, False), (False, True, False)]

    if str(Path(__file__).parent) not in sys.path:
        sys.path.insert(0, str(Path(__file__).parent))
    from test_editors import TextMateGrammar, tm_data

    scopes, stack = TextMateGrammar(tm_data()).tokenize_line(line, ())
    assert stack == ()
    assert all(any(s.startswith("keyword.other") for s in scopes[line.index(word)]) for word in ("neutral", "between", "and"))
    assert any(s.startswith("punctuation") for s in scopes[line.index("/")])
    assert any(s.startswith("constant.numeric") for s in scopes[line.index("0.7")])


# ---------------------------------------------------------------- end to end on the demo model

# P(positive) of the demo model: below, inside (both halves) and above the band 1/3 .. 2/3.
TEXTS = [
    "The movie was okay.",  # 0.20
    "Terrible, awful.",  # 0.07
    "It was a film.",  # 0.46
    "Not great, not terrible.",  # 0.35
    "The film had actors.",  # 0.47
    "The film was fine.",  # 0.63
    "A triumph.",  # 0.78
    "Nice.",  # 0.84
    "I saw a movie.",  # 0.30
]


def onnxruntime_probabilities(texts: list[str]) -> np.ndarray:
    """The demo model's probabilities, straight from onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(DEMO_MODEL), providers=["CPUExecutionProvider"])
    (probs,) = session.run(["probabilities"], {"text": np.array(texts, dtype=object).reshape(-1, 1)})
    return probs


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def end_to_end_spec(tmp_path: Path, labels: list[str]) -> Path:
    templates = "\n".join(f"    template {_quoted(t)} -> {label}" for t, label in zip(TEXTS, labels))
    neutral = [t for t, label in zip(TEXTS, labels) if label == "neutral"]
    spec = tmp_path / "band.mlspec"
    spec.write_text(
        f'spec "band"\n\n{model_source()}\n'
        'capability "Neutral band" {\n'
        '  mft "every prediction is the mapped one" {\n'
        f"{templates}\n"
        "  }\n\n"
        '  mft "neutral inputs are neutral" {\n'
        + "".join(f"    template {_quoted(t)}\n" for t in neutral)
        + "    expect label == neutral\n"
        "  }\n\n"
        '  mft "nothing is neutral" {\n'
        + "".join(f"    template {_quoted(t)}\n" for t in TEXTS)
        + "    expect label == neutral\n"
        "    max_fail_rate 100%\n"
        "  }\n"
        "}\n",
        encoding="utf-8",
    )
    return spec


def mapped_predictions() -> tuple[np.ndarray, list[str]]:
    raw = onnxruntime_probabilities(TEXTS)
    mapped = band_probabilities(raw[:, 1].astype(np.float64), 1 / 3, 2 / 3).astype(np.float32)
    labels = [("negative", "neutral", "positive")[i] for i in mapped.argmax(axis=1)]
    return mapped, labels


def _check_results(result, mapped: np.ndarray, labels: list[str]) -> None:
    by_title = {t.title: t for t in result.tests}
    assert {t: r.status for t, r in by_title.items()} == {
        "every prediction is the mapped one": "PASS",
        "neutral inputs are neutral": "PASS",
        "nothing is neutral": "PASS",
    }, [(t.title, t.message) for t in result.tests]
    failing = by_title["nothing is neutral"]
    assert failing.metrics["failures"] == sum(label != "neutral" for label in labels)
    shown = {e.prediction.text: e.prediction for e in failing.examples}
    assert set(shown) == {t for t, label in zip(TEXTS, labels) if label != "neutral"}
    for text, row, label in zip(TEXTS, mapped, labels):
        if text in shown:
            assert shown[text].label == label
            assert list(shown[text].probs) == ["negative", "neutral", "positive"]
            np.testing.assert_allclose(list(shown[text].probs.values()), row, rtol=0, atol=1e-6)


def test_end_to_end_predictions_are_the_mapping_of_onnxruntimes_probabilities(tmp_path):
    mapped, labels = mapped_predictions()
    assert labels == ["negative", "negative", "neutral", "neutral", "neutral", "neutral", "positive", "positive", "negative"]
    spec = end_to_end_spec(tmp_path, labels)
    _check_results(run_file(spec), mapped, labels)


def test_the_cache_keeps_the_models_own_scores_and_the_band_maps_them_after_it(tmp_path):
    mapped, labels = mapped_predictions()
    spec = end_to_end_spec(tmp_path, labels)
    cache_dir = tmp_path / "cache"
    _, plan = plan_file(spec)
    first_cache = PredictionCache(cache_dir, device="cpu")
    first = run_plan(plan, cache=first_cache)
    assert (first_cache.inputs, first_cache.hits) == (len(TEXTS), 0)
    second_cache = PredictionCache(cache_dir, device="cpu")
    second = run_plan(plan, cache=second_cache)
    assert (second_cache.inputs, second_cache.hits) == (len(TEXTS), len(TEXTS))
    for result in (first, second):
        _check_results(result, mapped, labels)
    def timeless(result):
        return [t.model_copy(update={"seconds": 0.0}) for t in result.tests]

    assert timeless(first) == timeless(second)
    # The cache holds the model's two float32 probabilities per input, as onnxruntime gives them.
    (database,) = cache_dir.glob("*.sqlite")
    with sqlite3.connect(database) as connection:
        blobs = [blob for (blob,) in connection.execute("SELECT probs FROM probs")]
    assert {len(blob) for blob in blobs} == {8}
    stored = sorted(tuple(np.frombuffer(blob, dtype="<f4")) for blob in blobs)
    raw = onnxruntime_probabilities(TEXTS)
    assert stored == sorted(tuple(row) for row in raw.astype("<f4"))
    # The band does not change the model's key: with or without it, the same scores are cached.
    model = plan.models["m"]
    assert first_cache.model_key(model) == first_cache.model_key(dataclasses.replace(model, neutral_band=None))


LOGITS_MODULE = '''
import numpy as np

P = {P}


def predict(texts):
    """Logits [0, log-odds]: soft-maxed, P(second) is the number each text stands for."""
    p = np.array([P[t] for t in texts], dtype=np.float64)
    return np.stack([np.zeros_like(p), np.log(p / (1 - p))], axis=1)
'''


def test_logits_are_soft_maxed_before_the_band(tmp_path):
    from mlspec.run.pipeline import plan_file as compile_file
    from runners import load_runner, softmax

    probabilities = {"low": 0.2, "lower half": 0.4, "centre": 0.5, "upper half": 0.62, "high": 0.9}
    module = f"band_logits_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(LOGITS_MODULE.format(P=repr(probabilities)), encoding="utf-8")
    texts = list(probabilities)
    spec = tmp_path / "logits.mlspec"
    spec.write_text(
        f'model m {{\n  python "{module}:predict"\n  input text\n  output logits labels [bad, good]\n  neutral between 1/3 and 2/3\n}}\n'
        'capability "c" {\n  mft "all" {\n'
        + "".join(f"    template {_quoted(t)}\n" for t in texts)
        + "    expect label == neutral\n    max_fail_rate 100%\n  }\n}\n",
        encoding="utf-8",
    )
    try:
        _, plan = compile_file(spec)
        (result,) = run_plan(plan, load=lambda model: load_runner(model, "cpu", allow_python=True)).tests
        logits = sys.modules[module].predict(texts)
    finally:
        sys.modules.pop(module, None)
    scores = softmax(logits).astype(np.float32)
    expected = band_probabilities(scores[:, 1].astype(np.float64), 1 / 3, 2 / 3)
    assert [("bad", "neutral", "good")[i] for i in expected.argmax(axis=1)] == ["bad", "neutral", "neutral", "neutral", "good"]
    shown = {e.prediction.text: e.prediction for e in result.examples}
    assert set(shown) == {"low", "high"} and result.metrics["failures"] == 2
    for text, row in zip(texts, expected):
        if text in shown:
            assert shown[text].label == ("bad", "neutral", "good")[int(row.argmax())]
            np.testing.assert_allclose(list(shown[text].probs.values()), row, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- a model card standing in for three labels

THREE_LABELS = """spec "three"

model sentiment {
  onnx "three_class.onnx"   # a three-class model; the runs below swap in a binary one
  input text
  output probabilities labels [negative, neutral, positive]
}

capability "Sentiment" {
  mft "plain statements are neutral" {
    template "It was a film."
    template "The film had actors."
    template "The film was fine."
    expect label == neutral
    expect prob(neutral) > 0.5
  }

  mft "praise is positive, complaints negative" {
    template "A triumph." -> positive
    template "Nice." -> positive
    template "Terrible, awful." -> negative
  }

  dir "praise raises positivity" {
    template "It was a film."
    perturb append(["A triumph."])
    where original.label == neutral
    expect margin(positive, negative) not decreasing tolerance 0.05
  }
}
"""

CARD = """# The demo model with CheckList's neutral band: a stand-in for a three-class model.
model binary {{
  onnx "{model}"
  input text
  output probabilities labels [negative, positive]
  {band}
}}
"""


def test_a_model_card_with_a_band_stands_in_for_a_three_label_model(tmp_path, capsys):
    spec = tmp_path / "three.mlspec"
    spec.write_text(THREE_LABELS, encoding="utf-8")
    card = tmp_path / "card.mlspec"
    card.write_text(CARD.format(model=DEMO_MODEL.as_posix(), band="neutral between 1/3 and 2/3"), encoding="utf-8")

    result = run_file(spec, {"sentiment": str(card)})
    assert {t.title: t.status for t in result.tests} == {
        "plain statements are neutral": "PASS",
        "praise is positive, complaints negative": "PASS",
        "praise raises positivity": "PASS",
    }, [(t.title, t.message) for t in result.tests]

    out = tmp_path / "results.json"
    assert main(["run", str(spec), "--model", f"sentiment={card}", "--json", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["summary"] == {"tests": 3, "passed": 3, "failed": 0, "errors": 0, "skipped": 0, "regressed": 0}
    capsys.readouterr()
    assert main(["plan", str(spec), "--model", f"sentiment={card}"]) == 0
    assert "labels [negative, neutral, positive] (neutral between 1/3 and 2/3)" in capsys.readouterr().out

    # Without the band the card has no `neutral` label for the spec's tests.
    card.write_text(CARD.format(model=DEMO_MODEL.as_posix(), band=""), encoding="utf-8")
    assert main(["run", str(spec), "--model", f"sentiment={card}"]) == 2
    assert "unknown label `neutral`" in capsys.readouterr().err


def test_dataset_labels_may_name_the_neutral_label(tmp_path):
    data = tmp_path / "cases.jsonl"
    rows = [("It was a film.", "neutral"), ("A triumph.", "positive"), ("Terrible, awful.", "negative")]
    data.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows), encoding="utf-8")
    spec = tmp_path / "s.mlspec"
    spec.write_text(
        model_source(tests='dataset cases = jsonl "cases.jsonl"\ncapability "c" {\n  mft "labelled" {\n    from cases\n  }\n}\n'),
        encoding="utf-8",
    )
    _, plan = plan_file(spec)
    assert plan.tests[0].error is None
