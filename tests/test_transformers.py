"""Transformer models: `input tokenizer "tokenizer.json"` (ONNX, PyTorch) and `huggingface "folder"`.

A tiny BERT with a WordPiece tokenizer is made here (random weights, seeded), saved as a
`save_pretrained` folder, exported to ONNX and to TorchScript (input_ids + attention_mask).
mlspec's scores must equal `transformers` called directly on the tokenizer's output (1e-5;
the ONNX and TorchScript exports within 1e-4), must not depend on how texts are batched
(bit for bit), and a model that does not fit gets a located error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from mlspec.cli import main  # noqa: E402
from mlspec.language.checker import check  # noqa: E402
from mlspec.language.parser import parse  # noqa: E402
from runners import load_runner  # noqa: E402

SENTENCES = ["the film was great", "a terrible movie", "i loved the acting", "boring and too long", "what a wonderful story", "not good at all"]
TEXTS = [
    "the film was great",
    "a terrible , terrible movie",
    "i loved it",
    "boring and too long , and the acting was not good at all",
    "what a wonderful story",
    "",
    "great",
    "zzz unknown words qqq",
    "the film was great",
    "not good",
]
LABELS = "output logits labels [negative, positive]"


def build_tiny_bert(folder: Path) -> None:
    """A 2-layer BERT (random weights, seed 0) with a WordPiece tokenizer, saved with
    save_pretrained, plus its ONNX (`bert.onnx`) and TorchScript (`bert.pt`) exports beside the folder."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=120, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator(SENTENCES * 5, trainer)
    special = [("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))]
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=special)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
    )  # fmt: skip
    network = BertForSequenceClassification(config).eval()
    folder.mkdir(parents=True)
    network.save_pretrained(folder, safe_serialization=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    ids = torch.tensor([tokenizer.encode("the film was great").ids])
    tokens = {0: "batch", 1: "length"}
    torch.onnx.export(
        network, (ids, torch.ones_like(ids)), str(folder.parent / "bert.onnx"), input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": tokens, "attention_mask": tokens, "logits": {0: "batch"}}, opset_version=17, dynamo=False,
    )  # fmt: skip
    torch.jit.save(torch.jit.trace(Logits(network), (ids, torch.ones_like(ids))), str(folder.parent / "bert.pt"))


class Logits(torch.nn.Module):
    """A transformer's logits from input_ids and attention_mask: what a TorchScript trace keeps."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, input_ids, attention_mask):
        return self.network(input_ids=input_ids, attention_mask=attention_mask).logits


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bert")
    build_tiny_bert(root / "hf")
    return root


def model_info(root: Path, block: str, name: str = "m"):
    path = root / f"{name}.mlspec"
    path.write_text(f"model {name} {{\n{block}\n}}\n", encoding="utf-8")
    return check(parse(path.read_text(), str(path))).models[name]


def reference_probs(root: Path, texts: list[str]) -> np.ndarray:
    """transformers itself: each text tokenized alone (no padding), the logits soft-maxed."""
    from tokenizers import Tokenizer
    from transformers import AutoModelForSequenceClassification

    tokenizer = Tokenizer.from_file(str(root / "hf" / "tokenizer.json"))
    network = AutoModelForSequenceClassification.from_pretrained(root / "hf", local_files_only=True).eval()
    rows = []
    with torch.inference_mode():
        for text in texts:
            ids = torch.tensor([tokenizer.encode(text).ids])
            rows.append(torch.softmax(network(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, dim=-1)[0].numpy())
    return np.array(rows)


@pytest.fixture(scope="module")
def expected(bert) -> np.ndarray:
    return reference_probs(bert, TEXTS)


@pytest.mark.parametrize(
    "block, tolerance",
    [
        ('huggingface "hf"', 1e-5),
        ('huggingface "hf"\ninput tokenizer "hf/tokenizer.json" max_length 64', 1e-5),
        ('onnx "bert.onnx"\ninput tokenizer "hf/tokenizer.json"', 1e-4),
        ('torch "bert.pt"\ninput tokenizer "hf/tokenizer.json"', 1e-4),
    ],
    ids=["huggingface", "huggingface with its tokenizer named", "onnx", "torchscript"],
)
def test_scores_equal_transformers_itself(bert, expected, block, tolerance):
    runner = load_runner(model_info(bert, f"{block}\n{LABELS}"), "cpu")
    probs = runner.predict(TEXTS)
    assert probs.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(probs, expected, atol=tolerance, rtol=0)


@pytest.mark.parametrize(
    "block",
    ['huggingface "hf"', 'onnx "bert.onnx"\ninput tokenizer "hf/tokenizer.json"', 'torch "bert.pt"\ninput tokenizer "hf/tokenizer.json"'],
    ids=["huggingface", "onnx", "torchscript"],
)
def test_scores_do_not_depend_on_batching(bert, block):
    runner = load_runner(model_info(bert, f"{block}\n{LABELS}"), "cpu")
    together = runner.predict(TEXTS)
    alone = np.concatenate([runner.predict([text]) for text in TEXTS])
    order = np.random.default_rng(0).permutation(len(TEXTS))
    shuffled = np.empty_like(together)
    shuffled[order] = runner.predict([TEXTS[i] for i in order])
    assert np.array_equal(together, alone)  # bit for bit
    assert np.array_equal(together, shuffled)
    assert np.array_equal(together[0], together[8])  # the same text twice in one batch


def test_the_executor_orders_texts_by_token_length(bert):
    runner = load_runner(model_info(bert, f'onnx "bert.onnx"\ninput tokenizer "hf/tokenizer.json"\n{LABELS}'), "cpu")
    lengths = [len(runner.hf_encoder.tokenizer.encode(TEXTS[i]).ids) for i in runner.order(TEXTS)]
    assert lengths == sorted(lengths)


def test_a_spec_runs_both_models_alike(bert, expected, monkeypatch, capsys):
    texts = [t for t in dict.fromkeys(TEXTS) if t]
    lexicon = ", ".join(json.dumps(t) for t in texts)
    spec = bert / "run.mlspec"
    spec.write_text(
        f'model hf {{\n huggingface "hf"\n {LABELS}\n}}\nmodel ox {{\n onnx "bert.onnx"\n input tokenizer "hf/tokenizer.json"\n {LABELS}\n}}\n'
        f"lexicon sentence = [{lexicon}]\n"
        'capability "c" {\n  mft "every prediction shown" on hf, ox {\n    template "{sentence}"\n    expect prob(positive) > 1\n  }\n}\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(bert)
    assert main(["run", str(spec), "--json", "out.json", "--no-cache", "--examples", "0"]) == 1
    tests = json.loads((bert / "out.json").read_text())["specs"][0]["tests"]
    index = {t: i for i, t in enumerate(TEXTS)}
    for test in tests:
        shown = {e["prediction"]["text"]: e["prediction"]["probs"]["positive"] for e in test["examples"]}
        assert shown and all(abs(p - expected[index[text], 1]) <= 1e-4 for text, p in shown.items())


def check_error(root: Path, block: str, monkeypatch, capsys) -> str:
    spec = root / "broken.mlspec"
    spec.write_text(f'model m {{\n{block}\n}}\ncapability "c" {{\n  mft "t" {{\n    template "great"\n    expect confidence >= 0\n  }}\n}}\n', encoding="utf-8")
    monkeypatch.chdir(root)
    code = main(["check", "broken.mlspec"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


def test_a_model_whose_inputs_do_not_fit_names_what_it_takes(bert, monkeypatch, capsys):
    income = Path(__file__).resolve().parents[1] / "specs" / "income" / "model" / "adult.onnx"
    (bert / "adult.onnx").write_bytes(income.read_bytes())
    err = check_error(bert, f'onnx "adult.onnx"\ninput tokenizer "hf/tokenizer.json"\n{LABELS}', monkeypatch, capsys)
    assert "model `m` is declared `input tokenizer`, but adult.onnx takes age: tensor(float)" in err
    assert "hint: a tokenizer's model takes input_ids and any of attention_mask, token_type_ids" in err


def test_labels_must_be_the_folders(bert, monkeypatch, capsys):
    err = check_error(bert, 'huggingface "hf"\noutput logits labels [bad, good]', monkeypatch, capsys)
    assert "model `m` declares labels [bad, good], but its config.json says [negative, positive]" in err


def test_a_hub_id_is_not_downloaded(bert, monkeypatch, capsys):
    err = check_error(bert, f'huggingface "bert-base-uncased"\n{LABELS}', monkeypatch, capsys)
    assert "broken.mlspec:2:13: error: tokenizer file bert-base-uncased/tokenizer.json not found" in err


def test_pickled_weights_are_refused(bert, monkeypatch, capsys):
    folder = bert / "pickled"
    folder.mkdir(exist_ok=True)
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_bytes((bert / "hf" / name).read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    err = check_error(bert, f'huggingface "pickled"\n{LABELS}', monkeypatch, capsys)
    assert "has no model.safetensors" in err and "pytorch_model.bin is pickled: mlspec does not load it" in err


def test_a_tokenizer_file_that_is_not_one_is_located(bert, monkeypatch, capsys):
    (bert / "not_a_tokenizer.json").write_text('{"vocab": []}', encoding="utf-8")
    err = check_error(bert, f'onnx "bert.onnx"\ninput tokenizer "not_a_tokenizer.json"\n{LABELS}', monkeypatch, capsys)
    assert 'broken.mlspec:3:17: error: tokenizer file not_a_tokenizer.json is not a `tokenizers` file (no "model" object)' in err


DEMO = Path(__file__).resolve().parents[1] / "specs" / "sentiment"


@pytest.fixture(scope="module")
def demo_reviews() -> list[str]:
    import csv

    with (DEMO / "data" / "reviews_test.csv").open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)][:300]


@pytest.mark.parametrize("card, tolerance", [("transformer_hf.mlspec", 1e-5), ("transformer.mlspec", 1e-4)], ids=["huggingface", "onnx"])
def test_the_demo_transformer_scores_as_transformers_does(demo_reviews, card, tolerance):
    """The committed demo model: mlspec's scores against transformers called directly."""
    from transformers import AutoModelForSequenceClassification

    path = DEMO / "model" / card
    model = check(parse(path.read_text(encoding="utf-8"), str(path))).models["transformer"]
    probs = load_runner(model, "cpu").predict(demo_reviews)
    tokenizer = tokenizers.Tokenizer.from_file(str(DEMO / "model" / "transformer" / "tokenizer.json"))
    network = AutoModelForSequenceClassification.from_pretrained(DEMO / "model" / "transformer", local_files_only=True).eval()
    expected = []
    with torch.inference_mode():
        for text in demo_reviews:
            ids = torch.tensor([tokenizer.encode(text).ids])
            expected.append(torch.softmax(network(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, dim=-1)[0].numpy())
    np.testing.assert_allclose(probs, np.array(expected), atol=tolerance, rtol=0)
