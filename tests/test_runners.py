"""The model back ends (`runners/`): conformance of the ONNX Runtime, PyTorch and Python
runners on the committed demo models, the word tokenizer, the errors a broken or
mis-declared model gives, Python callables as models, and `--baseline`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

import junitparser
import numpy as np
import pytest

from mlspec.cli import main
from mlspec.errors import ModelError, render
from mlspec.language.models import replace_model_file
from mlspec.model import ImageInfo, TokenizerInfo
from mlspec.run.pipeline import plan_file
from runners import ModelRunner, load_runner
from runners.tokenizer import Encoder, tokenize

ROOT = Path(__file__).resolve().parent.parent
DIGITS = "specs/digits/digits.mlspec"
SENTIMENT = "specs/sentiment/sentiment.mlspec"
LSTM_CARD = "specs/sentiment/model/lstm.mlspec"


@pytest.fixture(autouse=True)
def in_repository(monkeypatch):
    monkeypatch.chdir(ROOT)


def in_root(function):
    """Run `function` with the repository as working directory (for module-scoped fixtures)."""
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        return function()
    finally:
        os.chdir(previous)


# ================================================================= the digit CNN: three back ends

BACKENDS = {"digits": "torchscript", "digits_exported": "torch.export", "digits_onnx": "onnx"}


@pytest.fixture(scope="module")
def digits():
    """The digits spec's three declarations of the same network, their runners and their
    probabilities on all 1,000 test images, in one batch."""

    def load():
        _, plan = plan_file(DIGITS)
        data = np.load("specs/digits/data/digits_test.npz")
        images, labels = data["x"].astype(np.float32), data["y"].astype(np.int64)
        runners = {name: load_runner(plan.models[name], "cpu") for name in BACKENDS}
        probs = {name: runner.predict(images) for name, runner in runners.items()}
        return plan.models, images, labels, runners, probs

    return in_root(load)


def test_digits_spec_declares_the_three_formats(digits):
    models = digits[0]
    assert {name: (m.format, m.path.name) for name, m in models.items()} == {
        "digits": ("torch", "digits.pt"),
        "digits_exported": ("torch", "digits.pt2"),
        "digits_onnx": ("onnx", "digits.onnx"),
    }


@pytest.mark.parametrize("name", ["digits_exported", "digits_onnx"], ids=["pt2", "onnx"])
def test_exports_agree_with_torchscript_on_all_test_images(digits, name):
    _, images, _, _, probs = digits
    assert images.shape == (1000, 1, 28, 28)
    np.testing.assert_allclose(probs[name], probs["digits"], rtol=0, atol=1e-4)
    assert (probs[name].argmax(axis=1) == probs["digits"].argmax(axis=1)).all()


@pytest.mark.parametrize("name", list(BACKENDS), ids=list(BACKENDS.values()))
def test_outputs_are_probabilities(digits, name):
    probs = digits[4][name]
    assert probs.shape == (1000, 10)
    assert np.isfinite(probs).all()
    assert (probs >= 0).all() and (probs <= 1).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", list(BACKENDS), ids=list(BACKENDS.values()))
def test_accuracy_is_the_documented_one(digits, name):
    _, _, labels, _, probs = digits
    # specs/digits/model/metrics.json: 0.971 for the TorchScript, torch.export and ONNX models
    assert (probs[name].argmax(axis=1) == labels).mean() == pytest.approx(0.971)


@pytest.mark.parametrize("name", list(BACKENDS), ids=list(BACKENDS.values()))
def test_batch_size_does_not_change_predictions(digits, name):
    _, images, _, runners, probs = digits
    runner, full = runners[name], probs[name]
    one_by_one = np.concatenate([runner.predict(images[i : i + 1]) for i in range(100)])
    np.testing.assert_allclose(one_by_one, full[:100], rtol=0, atol=1e-5)
    assert (one_by_one.argmax(axis=1) == full[:100].argmax(axis=1)).all()
    by_257 = [runner.predict(images[s : s + 257]) for s in range(0, 1000, 257)]
    assert [len(b) for b in by_257] == [257, 257, 257, 229]
    by_257 = np.concatenate(by_257)
    np.testing.assert_allclose(by_257, full, rtol=0, atol=1e-5)
    assert (by_257.argmax(axis=1) == full.argmax(axis=1)).all()


@pytest.mark.parametrize("name, gradients", [("digits", True), ("digits_exported", True), ("digits_onnx", False)])
def test_gradients_only_from_torch(digits, name, gradients):
    models, _, _, runners, _ = digits
    assert runners[name].gradients is gradients
    assert models[name].gradients is gradients
    assert runners[name].device == "cpu"


@pytest.mark.parametrize("name", list(BACKENDS), ids=list(BACKENDS.values()))
def test_every_runner_implements_the_whole_protocol(digits, name):
    _, images, _, runners, probs = digits
    runner = runners[name]
    assert isinstance(runner, ModelRunner)
    assert runner.concurrency >= 1 and runner.split_failed_batches is True and runner.labels == tuple(map(str, range(10)))
    assert np.array_equal(runner.predict(images[:100], split=False), runner.predict(images[:100]))  # parts or not, the same scores
    if not runner.gradients:
        with pytest.raises(ModelError, match=f"model `{name}` \\(onnx\\) gives no gradients"):
            runner.tensor(images[:1])


def test_a_python_model_implements_the_whole_protocol(python_models):
    write_python_spec(python_models, "kw_protocol", KEYWORD_MODEL)
    model = plan_file(python_models / "kw.mlspec")[1].models["m"]
    runner = load_runner(model, allow_python=True)
    assert isinstance(runner, ModelRunner)
    assert (runner.device, runner.gradients, runner.concurrency, runner.split_failed_batches) == ("cpu", False, 1, True)
    assert (model.gradients, model.local, model.batch_tuned) == (False, False, False)
    np.testing.assert_array_equal(runner.predict(["good", "bad"], split=False), runner.predict(["good", "bad"]))
    with pytest.raises(ModelError, match="gives no gradients"):
        runner.forward(None)


@pytest.mark.parametrize("name", ["digits", "digits_exported"], ids=["torchscript", "torch.export"])
def test_torch_forward_gives_input_gradients(digits, name):
    import torch

    _, images, labels, runners, probs = digits
    runner = runners[name]
    x = runner.tensor(images[:8]).requires_grad_(True)
    logits = runner.forward(x)
    np.testing.assert_allclose(torch.softmax(logits, dim=1).detach().numpy(), probs[name][:8], atol=1e-6)
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels[:8]))
    (grad,) = torch.autograd.grad(loss, x)
    assert grad.shape == x.shape and grad.abs().sum() > 0
    assert all(p.grad is None for p in runner.module.parameters())


# ================================================================= the LSTM: TorchScript vs ONNX via its model card


@pytest.fixture(scope="module")
def lstm():
    def load():
        _, plan = plan_file(SENTIMENT, model_paths={"sentiment": LSTM_CARD})
        with open("specs/sentiment/data/reviews_test.csv", encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return plan.models["sentiment"], [r["text"] for r in rows], [r["label"] for r in rows]

    return in_root(load)


def test_model_card_replaces_the_declaration(lstm):
    model, _, _ = lstm
    assert model.name == "sentiment"  # the spec's name, the card's declaration
    assert (model.format, model.path, model.input_kind, model.output_kind) == ("torch", ROOT / "specs/sentiment/model/lstm.pt", "tokens", "logits")
    assert model.labels == ("negative", "positive")
    tokenizer = model.tokenizer
    assert (len(tokenizer.vocabulary), tokenizer.lowercase, tokenizer.unknown_id, tokenizer.padding_id, tokenizer.max_length) == (1000, True, 1, 0, 60)
    assert model.gradients


def test_lstm_torchscript_and_onnx_agree_on_all_test_sentences(lstm):
    model, texts, labels = lstm
    assert len(texts) == 2551
    onnx_model = replace_model_file(model, "specs/sentiment/model/lstm.onnx")
    assert (onnx_model.format, onnx_model.path.name, onnx_model.tokenizer) == ("onnx", "lstm.onnx", model.tokenizer)
    torch_runner, onnx_runner = load_runner(model, "cpu"), load_runner(onnx_model, "cpu")
    assert (torch_runner.gradients, onnx_runner.gradients) == (True, False)
    from_torch, from_onnx = torch_runner.predict(texts), onnx_runner.predict(texts)
    assert from_torch.shape == (2551, 2)
    np.testing.assert_allclose(from_onnx, from_torch, rtol=0, atol=1e-4)
    np.testing.assert_allclose(from_torch.sum(axis=1), 1.0, atol=1e-6)
    # the documented accuracy (specs/sentiment/model/lstm_metrics.json)
    truth = np.array([model.labels.index(label) for label in labels])
    assert (from_torch.argmax(axis=1) == truth).mean() == pytest.approx(0.7165817326538613)
    assert (from_onnx.argmax(axis=1) == truth).mean() == pytest.approx(0.7165817326538613)


def test_lstm_probabilities_of_documented_examples(lstm):
    # specs/sentiment/model/lstm_metrics.json lists the LSTM's P(positive) for a few sentences
    model, _, _ = lstm
    documented = json.loads(Path("specs/sentiment/model/lstm_metrics.json").read_text(encoding="utf-8"))["examples"]
    probs = load_runner(model, "cpu").predict([e["text"] for e in documented])
    np.testing.assert_allclose(probs[:, 1], [e["lstm_p_positive"] for e in documented], atol=6e-5)  # given to 4 decimals
    encoded = Encoder(model.tokenizer)([e["text"] for e in documented])
    for row, example in zip(encoded, documented):
        ids = example["ids"]
        assert row[: len(ids)].tolist() == ids
        assert (row[len(ids) :] == 0).all()


# ================================================================= the tokenizer

VOCABULARY = ("<pad>", "<unk>", "the", "movie", "was", "good", ".", ",", "!", "not", "don", "'", "t", "café")


def tokenizer(lowercase: bool = True, max_length: int | None = 6) -> TokenizerInfo:
    return TokenizerInfo(VOCABULARY, lowercase, unknown_id=1, padding_id=0, max_length=max_length)


@pytest.mark.parametrize(
    "text, lowercase, tokens",
    [
        ("The movie, was GOOD!", True, ["the", "movie", ",", "was", "good", "!"]),
        ("The movie, was GOOD!", False, ["The", "movie", ",", "was", "GOOD", "!"]),
        ("don't", True, ["don", "'", "t"]),
        ("  spaced\tout\n", True, ["spaced", "out"]),
        ("Café NAÏVE...", True, ["café", "naïve", ".", ".", "."]),
        ("a_b 42x", True, ["a_b", "42x"]),
        ("", True, []),
    ],
)
def test_tokenize(text, lowercase, tokens):
    assert tokenize(text, lowercase) == tokens


def test_encoder_ids_padding_truncation_and_unknown_words():
    encode = Encoder(tokenizer())
    ids = encode(["The movie was good.", "The film was not good!", "The movie was good, the movie was good.", ""])
    assert ids.dtype == np.int64
    assert ids.tolist() == [
        [2, 3, 4, 5, 6, 0],  # right-padded with the padding id
        [2, 1, 4, 9, 5, 8],  # `film` is unknown
        [2, 3, 4, 5, 7, 2],  # cut at max_length 6
        [0, 0, 0, 0, 0, 0],  # empty text: padding only
    ]


def test_encoder_without_lowercase_treats_capitals_as_unknown():
    assert Encoder(tokenizer(lowercase=False))(["The Movie was good"]).tolist() == [[1, 1, 4, 5, 0, 0]]
    assert Encoder(tokenizer(lowercase=True))(["The Movie was good"]).tolist() == [[2, 3, 4, 5, 0, 0]]


def test_encoder_without_max_length_pads_to_the_longest_text():
    encode = Encoder(tokenizer(max_length=None))
    assert encode(["good", "the movie was good", ""]).tolist() == [[5, 0, 0, 0], [2, 3, 4, 5], [0, 0, 0, 0]]
    assert encode([""]).tolist() == [[0]]  # at least one column
    assert encode([]).shape == (0, 1)


def test_encoder_length_given_by_the_model_wins():
    # an ONNX model with a fixed input length passes it as `length`
    assert Encoder(tokenizer(max_length=None), length=3)(["the movie was good"]).tolist() == [[2, 3, 4]]


def test_encoder_other_special_ids():
    info = TokenizerInfo(("[UNK]", "good", "[PAD]"), True, unknown_id=0, padding_id=2, max_length=4)
    assert Encoder(info)(["Good grief"]).tolist() == [[1, 0, 2, 2]]


# ================================================================= model errors


def digits_model(name: str = "digits"):
    return plan_file(DIGITS)[1].models[name]


DIGITS_LINE = (ROOT / DIGITS).read_text(encoding="utf-8").splitlines().index("model digits {") + 1


def at(name: str) -> str:
    """`file:line:col` of a model's declaration in the digits spec."""
    line = (ROOT / DIGITS).read_text(encoding="utf-8").splitlines().index(f"model {name} {{") + 1
    return f"{DIGITS}:{line}:1"


def model_error(model, device: str = "cpu") -> ModelError:
    with pytest.raises(ModelError) as info:
        load_runner(model, device)
    return info.value


@pytest.mark.parametrize("suffix", [".pt", ".pt2"])
def test_random_bytes_are_not_a_torch_model(tmp_path, suffix):
    broken = tmp_path / f"broken{suffix}"
    broken.write_bytes(np.random.default_rng(0).bytes(2048))
    error = model_error(replace_model_file(digits_model(), str(broken)))
    text = render(error.diagnostic)
    lines = text.splitlines()
    assert lines[0].startswith(f"{at('digits')}: error: model `digits`: broken{suffix} could not be loaded as a TorchScript or torch.export program: ")
    assert lines[1:3] == [f"{DIGITS_LINE:>5} | model digits {{", "      | ^^^^^^^^^^^^^^"]
    assert lines[3] == "hint: save models with torch.jit.save (.pt) or torch.export.save (.pt2)"


@pytest.mark.parametrize("shape", [(1, 14, 14), (3, 28, 28), (28, 28)])
def test_torch_model_given_the_wrong_image_shape(shape):
    model = dataclasses.replace(digits_model(), image=ImageInfo(shape, 0.0, 1.0))
    text = render(model_error(model).diagnostic)
    declared = ", ".join(map(str, shape))
    assert text.startswith(f"{at('digits')}: error: model `digits` does not take its declared input (float32 images of shape [batch, {declared}]): ")


def test_onnx_model_given_the_wrong_image_shape():
    model = dataclasses.replace(digits_model("digits_onnx"), image=ImageInfo((1, 14, 14), 0.0, 1.0))
    lines = render(model_error(model).diagnostic).splitlines()
    assert lines[0] == (
        f"{at('digits_onnx')}: error: model `digits_onnx` is declared `input image`, "
        "but digits.onnx takes image: tensor(float) ['batch', 1, 28, 28]"
    )


def test_onnx_wrong_image_shape_hint_reads_well():
    model = dataclasses.replace(digits_model("digits_onnx"), image=ImageInfo((1, 14, 14), 0.0, 1.0))
    assert render(model_error(model).diagnostic).splitlines()[-1] == "hint: an image model takes one float input [N, *shape]"


def test_torch_model_with_more_labels_than_outputs():
    model = dataclasses.replace(digits_model(), labels=("a", "b", "c"))
    head = render(model_error(model).diagnostic).splitlines()[0]
    assert head.endswith("model `digits` returns 10 scores per input, but the spec declares 3 labels (a, b, c)")


def test_torch_model_declared_input_text():
    model = dataclasses.replace(digits_model(), input_kind="text", image=None)
    assert render(model_error(model).diagnostic).splitlines() == [
        f"{at('digits')}: error: model `digits` is a PyTorch model declared `input text`; PyTorch models take tensors",
        f"{DIGITS_LINE:>5} | model digits {{",
        "      | ^^^^^^^^^^^^^^",
        'hint: declare `input tokens vocabulary "..."` for a model over token ids, or `input image ...`',
    ]


def test_torch_model_declared_input_text_in_a_spec(tmp_path, capsys):
    shutil.copy(ROOT / "specs/sentiment/model/lstm.pt", tmp_path / "lstm.pt")  # a spec reads files of its own project
    spec = tmp_path / "t.mlspec"
    spec.write_text(
        'model m {\n  torch "lstm.pt"\n  input text\n'
        '  output logits labels [negative, positive]\n}\n'
        'capability "c" {\n  mft "a" {\n    template "good" -> positive\n  }\n}\n',
        encoding="utf-8",
    )
    code = main(["run", str(spec), "--json", str(tmp_path / "r.json")])
    assert code == 3
    (test,) = json.loads((tmp_path / "r.json").read_text())["specs"][0]["tests"]
    assert test["status"] == "ERROR"
    assert "is a PyTorch model declared `input text`" in test["message"]
    assert "`input tokens vocabulary" in test["message"]
    assert "Traceback" not in capsys.readouterr().err


cuda_absent = pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="checks the message on a machine without CUDA"
)


@cuda_absent
def test_device_cuda_without_cuda_is_a_model_error_for_torch():
    error = model_error(digits_model(), device="cuda")
    assert render(error.diagnostic) == "error: --device cuda was asked for, but PyTorch sees no CUDA device"


def digits_project(folder: Path) -> str:
    """The digits spec's models and data, copied into `folder` (a spec reads files of its
    own project), and the spec's text up to its tests."""
    for part in ("model", "data"):
        shutil.copytree(ROOT / "specs/digits" / part, folder / part)
    return (ROOT / DIGITS).read_text(encoding="utf-8").split('capability "Accuracy"')[0]


@cuda_absent
def test_device_cuda_without_cuda_from_the_command_line(tmp_path, capsys):
    spec = tmp_path / "d.mlspec"
    spec.write_text(
        digits_project(tmp_path)
        + 'capability "c" {\n  mft "clean" on digits {\n    from test sample 20\n    max_fail_rate 50%\n  }\n}\n',
        encoding="utf-8",
    )
    code = main(["run", str(spec), "--device", "cuda", "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert code == 3
    (test,) = json.loads((tmp_path / "r.json").read_text())["specs"][0]["tests"]
    assert test["status"] == "ERROR"
    assert test["message"] == "error: --device cuda was asked for, but PyTorch sees no CUDA device"


onnx_cuda_absent = pytest.mark.skipif(
    __import__("runners.onnx_runner", fromlist=["cuda_available"]).cuda_available(),
    reason="checks the message on a machine where ONNX Runtime has no CUDA",
)


ONNX_NO_CUDA = "--device cuda was asked for, but ONNX Runtime finds no CUDA device"


@onnx_cuda_absent
def test_device_cuda_without_cuda_is_a_model_error_for_onnx():
    error = model_error(digits_model("digits_onnx"), device="cuda")
    assert render(error.diagnostic).splitlines()[0].endswith(ONNX_NO_CUDA)


@onnx_cuda_absent
def test_device_cuda_without_cuda_for_onnx_says_only_what_is_missing():
    error = model_error(digits_model("digits_onnx"), device="cuda")
    assert render(error.diagnostic) == f"error: {ONNX_NO_CUDA}"


def onnx_digits_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "d.mlspec"
    spec.write_text(
        digits_project(tmp_path)
        + 'capability "c" {\n  mft "clean" on digits_onnx {\n    from test sample 20\n    max_fail_rate 50%\n  }\n}\n',
        encoding="utf-8",
    )
    return spec


@onnx_cuda_absent
def test_device_cuda_without_cuda_from_the_command_line_for_onnx(tmp_path, capsys):
    code = main(["run", str(onnx_digits_spec(tmp_path)), "--device", "cuda", "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert code == 3
    (test,) = json.loads((tmp_path / "r.json").read_text())["specs"][0]["tests"]
    assert test["status"] == "ERROR"
    assert test["message"].splitlines()[0] == f"error: {ONNX_NO_CUDA}"


@onnx_cuda_absent
def test_device_cuda_without_cuda_from_the_command_line_for_onnx_says_only_what_is_missing(tmp_path, capsys):
    code = main(["run", str(onnx_digits_spec(tmp_path)), "--device", "cuda", "--json", str(tmp_path / "r.json")])
    capsys.readouterr()
    assert code == 3
    (test,) = json.loads((tmp_path / "r.json").read_text())["specs"][0]["tests"]
    assert test["message"] == f"error: {ONNX_NO_CUDA}"


# ================================================================= Python callables as models

KEYWORD_MODEL = '''
"""A keyword-counting sentiment model: P(positive) = sigmoid(2 * (#positive - #negative words))."""
import math

POSITIVE = {"good", "great", "excellent", "loved"}
NEGATIVE = {"bad", "awful", "terrible", "hated"}
CALLS = []


def predict(texts):
    CALLS.append(list(texts))
    rows = []
    for text in texts:
        words = text.lower().replace(".", " ").replace("!", " ").split()
        score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
        p = 1 / (1 + math.exp(-2 * score))
        rows.append([1 - p, p])
    return rows
'''

PYTHON_SPEC = """spec "kw"
model m {{
  python "{target}"
  input text
  output probabilities labels [negative, positive]
  batch 2
}}
lexicon pos = ["good", "great", "excellent"]
lexicon neg = ["bad", "awful", "terrible"]
capability "Vocabulary" {{
  mft "positive words" {{
    template "The movie was {{pos}}." -> positive
  }}
  mft "negative words" {{
    template "The movie was {{neg}}." -> negative
  }}
}}
capability "Negation" {{
  mft "negated positive" {{
    template "The movie was not {{pos}}." -> negative
  }}
}}
capability "Robustness" {{
  dir "praise helps" {{
    template "The movie was {{neg}}."
    perturb append(["It was great."])
    expect prob(positive) increasing
  }}
}}
"""


@pytest.fixture
def python_models(tmp_path, monkeypatch):
    """A folder for a spec and its Python modules; sys.path and sys.modules are restored afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write_python_spec(folder: Path, module: str, code: str, function: str = "predict") -> Path:
    (folder / f"{module}.py").write_text(code, encoding="utf-8")
    spec = folder / "kw.mlspec"
    spec.write_text(PYTHON_SPEC.format(target=f"{module}:{function}"), encoding="utf-8")
    return spec


def run_json(capsys, *argv) -> tuple[int, dict, str]:
    out = Path(argv[argv.index("--json") + 1])
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, {t["title"]: t for t in json.loads(out.read_text())["specs"][0]["tests"]}, captured.out


def test_python_model_runs_end_to_end(python_models, capsys):
    spec = write_python_spec(python_models, "kw_sentiment_ok", KEYWORD_MODEL)
    code, tests, out = run_json(capsys, "run", str(spec), "--allow-python", "--json", str(python_models / "r.json"))
    assert code == 1  # the keyword model cannot read negation
    assert {t: r["status"] for t, r in tests.items()} == {
        "positive words": "PASS",
        "negative words": "PASS",
        "negated positive": "FAIL",
        "praise helps": "PASS",
    }
    negation = tests["negated positive"]
    assert (negation["metrics"]["failures"], negation["metrics"]["fail_rate"]) == (3, 1.0)
    example = negation["examples"][0]["prediction"]
    assert example["text"] == "The movie was not good."
    assert example["label"] == "positive"
    assert example["probs"] == pytest.approx({"negative": 0.119203, "positive": 0.880797}, abs=1e-6)
    assert tests["praise helps"]["metrics"]["applicable"] == 3
    # the function is called with lists of strings, at most `batch` at a time, each input once
    calls = sys.modules["kw_sentiment_ok"].CALLS
    assert all(isinstance(c, list) and 1 <= len(c) <= 2 and all(isinstance(t, str) for t in c) for c in calls)
    seen = [t for c in calls for t in c]
    assert len(seen) == len(set(seen)) == 3 + 3 + 3 + 3  # 9 templates and 3 appended variants
    assert "The movie was bad. It was great." in seen


def test_python_model_refused_without_allow_python(python_models, capsys):
    spec = write_python_spec(python_models, "kw_sentiment_refused", KEYWORD_MODEL)
    code, tests, out = run_json(capsys, "run", str(spec), "--json", str(python_models / "r.json"))
    assert code == 3
    assert {r["status"] for r in tests.values()} == {"ERROR"}
    for result in tests.values():
        assert "model `m` is Python code (kw_sentiment_refused:predict); running it imports and runs that code" in result["message"]
        assert result["message"].endswith("hint: pass --allow-python to allow it")
    assert "kw_sentiment_refused" not in sys.modules  # never imported


@pytest.mark.parametrize(
    "module, code, function, message",
    [
        ("kw_raises", "raise RuntimeError('no model weights here')\n", "predict", "model `m`: cannot import kw_raises: no model weights here"),
        ("kw_syntax", "def predict(:\n", "predict", "model `m`: cannot import kw_syntax: "),
        ("kw_missing", "def other(texts):\n    return [[0.5, 0.5]] * len(texts)\n", "predict", "model `m`: kw_missing has no function `predict`"),
        ("kw_not_callable", "predict = 3\n", "predict", "model `m`: kw_not_callable has no function `predict`"),
    ],
)
def test_python_model_that_cannot_be_loaded(python_models, capsys, module, code, function, message):
    spec = write_python_spec(python_models, module, code, function)
    exit_code, tests, out = run_json(capsys, "run", str(spec), "--allow-python", "--json", str(python_models / "r.json"))
    assert exit_code == 3
    for result in tests.values():
        assert result["status"] == "ERROR"
        assert message in result["message"].splitlines()[0]


def test_python_module_not_found(python_models, capsys):
    spec = python_models / "kw.mlspec"
    spec.write_text(PYTHON_SPEC.format(target="kw_nowhere_to_be_found:predict"), encoding="utf-8")
    exit_code, tests, out = run_json(capsys, "run", str(spec), "--allow-python", "--json", str(python_models / "r.json"))
    assert exit_code == 3
    assert all("cannot import kw_nowhere_to_be_found: No module named 'kw_nowhere_to_be_found'" in r["message"] for r in tests.values())


@pytest.mark.parametrize(
    "module, body, message",
    [
        ("kw_three", "return [[0.2, 0.3, 0.5]] * len(texts)", "model `m` returns 3 scores per input, but the spec declares 2 labels (negative, positive)"),
        ("kw_extra_row", "return [[0.5, 0.5]] * (len(texts) + 1)", "model `m` returned scores of shape ["),
        ("kw_one_row", "return [[0.5, 0.5]]", "model `m` returned scores of shape [1, 2] for 2 inputs"),
        ("kw_raises_on_call", "raise ValueError('cannot score ' + texts[0])", "cannot score The movie was"),
        ("kw_nan", "return [[float('nan'), 1.0]] * len(texts)", "model `m` returned NaN or infinite scores for"),
        ("kw_strings", "return [['a', 'b']] * len(texts)", "could not convert string to float: 'a'"),
    ],
)
def test_python_model_returning_wrong_scores(python_models, capsys, module, body, message):
    spec = write_python_spec(python_models, module, f"def predict(texts):\n    {body}\n")
    exit_code, tests, out = run_json(capsys, "run", str(spec), "--allow-python", "--json", str(python_models / "r.json"))
    assert exit_code == 3
    for result in tests.values():
        assert result["status"] == "ERROR"
        assert message in result["message"], result["message"]


def test_python_model_in_a_model_card(python_models, capsys):
    # a card beside its module: the card's folder is put on the import path
    cards = python_models / "cards"
    cards.mkdir()
    (cards / "kw_card_model.py").write_text(KEYWORD_MODEL, encoding="utf-8")
    (cards / "kw.mlspec").write_text(
        'model keywords {\n  python "kw_card_model:predict"\n  input text\n  output probabilities labels [negative, positive]\n}\n',
        encoding="utf-8",
    )
    spec = python_models / "spec.mlspec"
    spec.write_text(PYTHON_SPEC.format(target="absent_module:predict").replace('spec "kw"', 'spec "card"'), encoding="utf-8")
    code, tests, out = run_json(
        capsys, "run", str(spec), "--model", f"m={cards / 'kw.mlspec'}", "--allow-python", "--json", str(python_models / "r.json")
    )
    assert code == 1
    assert tests["negated positive"]["status"] == "FAIL"
    assert tests["positive words"]["status"] == "PASS"


# ================================================================= --baseline


def case_properties(case) -> dict[str, str]:
    """A JUnit test case's <properties>, read with junitparser."""
    properties = case.child(junitparser.Properties)
    return {} if properties is None else {p.name: p.value for p in properties}


@pytest.fixture(scope="module")
def baseline_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline")

    def run():
        first = main(["run", SENTIMENT, "--json", str(out / "a.json")])
        return first

    first = in_root(run)
    return first, out


def test_baseline_beside_each_test(baseline_runs, capsys):
    first, out = baseline_runs
    assert first == 1
    capsys.readouterr()
    second = main(["run", SENTIMENT, "--baseline", str(out / "a.json"), "--junit", str(out / "j.xml"), "--json", str(out / "b.json")])
    console = capsys.readouterr().out
    assert second == 1
    before = {t["id"]: t for s in json.loads((out / "a.json").read_text())["specs"] for t in s["tests"]}
    after = {t["id"]: t for s in json.loads((out / "b.json").read_text())["specs"] for t in s["tests"]}
    assert before.keys() == after.keys() and len(after) >= 20
    for test_id, test in after.items():
        baseline = test["baseline"]
        assert baseline["status"] == before[test_id]["status"]
        assert baseline.get("fail_rate") == before[test_id]["metrics"].get("fail_rate")
        assert {k: v for k, v in baseline.items() if k != "status"} == before[test_id]["metrics"]
    assert "baseline" not in before[next(iter(before))] or before[next(iter(before))]["baseline"] is None

    # JUnit: each figure of the baseline as a `baseline_...` property
    cases = {(case.classname, case.name): case for suite in junitparser.JUnitXml.fromfile(str(out / "j.xml")) for case in suite}
    assert len(cases) == len(after)
    with_rates = 0
    for test in after.values():
        case = cases[(f"sentiment.{test['capability']}", test["title"])]
        properties = case_properties(case)
        assert properties["baseline_status"] == before[test["id"]]["status"]
        rate = before[test["id"]]["metrics"].get("fail_rate")
        if rate is not None:
            with_rates += 1
            assert float(properties["baseline_fail_rate"]) == pytest.approx(rate)
    assert with_rates == sum(t["metrics"].get("fail_rate") is not None for t in before.values()) >= 15

    # console: the baseline beside the new figures
    lines = [line for line in console.splitlines() if line.lstrip().startswith(("PASS", "FAIL"))]
    assert len(lines) == len(after)
    assert all("| baseline" in line for line in lines)
    assert any(line.rstrip().endswith("| baseline 31.4% FAIL") and "positive adjectives" in line for line in lines)


def test_baseline_tests_new_since_have_none(baseline_runs, tmp_path):
    # a test missing from the saved run (new since) gets no baseline; the others keep theirs
    from mlspec.results import RunResult
    from mlspec.run.baseline import load_baseline, with_baseline

    _, out = baseline_runs
    data = json.loads((out / "a.json").read_text())
    removed = data["specs"][0]["tests"].pop(0)
    (tmp_path / "partial.json").write_text(json.dumps(data), encoding="utf-8")
    result = with_baseline(RunResult.model_validate_json((out / "a.json").read_text()), load_baseline(tmp_path / "partial.json"))
    tests = {t.id: t for spec in result.specs for t in spec.tests}
    assert tests[removed["id"]].baseline is None
    assert sum(t.baseline is not None for t in tests.values()) == len(tests) - 1


@pytest.mark.parametrize(
    "content",
    [b"not json at all", b'{"specs": [{"no tests": 1}]}', b"[1, 2]", b"\xff\xfe\x00"],
    ids=["text", "no-tests", "list", "binary"],
)
def test_baseline_that_is_not_a_results_file(tmp_path, capsys, content):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    code = main(["run", SENTIMENT, "--baseline", str(bad), "--json", str(tmp_path / "never.json")])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    assert captured.err.startswith(f"error: --baseline: {bad} is not a results file written by `mlspec run --json`")
    assert captured.out == ""
    assert not (tmp_path / "never.json").exists()  # refused before running


def test_baseline_file_missing(tmp_path, capsys):
    code = main(["run", SENTIMENT, "--baseline", str(tmp_path / "nope.json")])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: --baseline: no such results file: {tmp_path / 'nope.json'}"
