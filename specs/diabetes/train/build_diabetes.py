"""Build the diabetes demo regressor and its data (reference, test, drifted current), reproducibly.

Run from the repository root:

    .venv/bin/python specs/diabetes/train/build_diabetes.py

Steps:
  1. Read scikit-learn's bundled, unscaled diabetes data straight from the
     installed package: ``sklearn/datasets/data/diabetes_data_raw.csv.gz``
     (442 rows, 10 space-separated columns: age, sex, bmi, bp, s1..s6) and
     ``diabetes_target.csv.gz`` (disease progression one year after baseline).
     Nothing is downloaded.
  2. Split by age, a sub-population shift: patients younger than 60 are the
     population the model is built for; a seeded random 75/25 split of them
     gives ``data/train.csv`` (the reference) and ``data/test.csv`` (held out,
     same population).  Patients aged 60 and over are ``data/current.csv``: the
     same model later applied to an older clinic population.  Values are
     written exactly as in the source text; ``sex`` keeps its raw codes 1 and 2
     (scikit-learn does not document which is which).
  3. Train a Pipeline (ColumnTransformer passthrough -> GradientBoostingRegressor)
     on the train split.  Boosted trees are not monotonic in any feature, so a
     directional test on ``bmi`` can find real violations.
  4. Convert it with skl2onnx to ``model/diabetes.onnx`` (one float input
     ``[None, 1]`` per column; output ``variable`` ``[None, 1]``), check
     onnxruntime against scikit-learn on every row, and write
     ``model/metrics.json``: regression metrics, per-sex figures, perturbation
     figures and drift statistics (PSI, SciPy's KS and Wasserstein) between train and current.

Needs numpy, scipy, scikit-learn, skl2onnx, onnx and onnxruntime (no pandas).
Deterministic: two runs give byte-identical CSV, ONNX and metrics files (with
the same package versions).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import scipy
import skl2onnx
import sklearn
from scipy import stats
from scipy.spatial.distance import jensenshannon
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn import metrics as skm
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.pipeline import Pipeline

HERE = Path(__file__).resolve().parent
SPEC_DIR = HERE.parent
DATA_DIR = SPEC_DIR / "data"
MODEL_DIR = SPEC_DIR / "model"
SOURCE_DIR = Path(sklearn.__file__).resolve().parent / "datasets" / "data"
DATA_FILE = "diabetes_data_raw.csv.gz"
TARGET_FILE = "diabetes_target.csv.gz"
SOURCE_ROWS = 442

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
LABEL = "progression"
CSV_COLUMNS = FEATURES + [LABEL]
SEX_CODES = [1.0, 2.0]

AGE_CUTOFF = 60          # current = patients aged AGE_CUTOFF and over
TEST_SHARE = 0.25        # of the younger patients, held out
SEED = 0
GBR_PARAMS = {"n_estimators": 100, "learning_rate": 0.05, "max_depth": 3, "min_samples_leaf": 20, "subsample": 0.8, "random_state": SEED}
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
MAX_ONNX_DIFF = 1e-3
ROUND = 6

# Perturbations whose effect a spec can test (column, kind, amount); see perturbation_figures.
SHIFTS = [("bmi", 1.0), ("bmi", 2.0), ("bp", 5.0)]
DECREASE_TOLERANCES = [0.0, 1.0]
SETS = [("s3", 40.0)]
RELATIVE_TOLERANCE = 0.10
# Residual thresholds, as in `expect value within 60 of expected` / `within 40% of expected`.
ABS_WITHIN = [50.0, 60.0]
REL_WITHIN = [0.40, 0.50]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def r(value: float) -> float:
    return round(float(value), ROUND)


# ---------------------------------------------------------------------------
# data


def read_source() -> tuple[list[list[str]], list[str]]:
    """Feature tokens (as written in the source) and integer target strings, row by row."""
    data_lines = gzip.decompress((SOURCE_DIR / DATA_FILE).read_bytes()).decode("ascii").splitlines()
    target_lines = gzip.decompress((SOURCE_DIR / TARGET_FILE).read_bytes()).decode("ascii").splitlines()
    tokens = [line.split() for line in data_lines if line.strip()]
    targets = [float(line) for line in target_lines if line.strip()]
    if len(tokens) != SOURCE_ROWS or len(targets) != SOURCE_ROWS:
        sys.exit(f"{len(tokens)} feature rows and {len(targets)} targets, want {SOURCE_ROWS}")
    if any(len(t) != len(FEATURES) for t in tokens):
        sys.exit(f"a feature row does not have {len(FEATURES)} fields")
    if any(t != round(t) for t in targets):
        sys.exit("a target is not an integer")
    sexes = {float(t[FEATURES.index("sex")]) for t in tokens}
    if sexes != set(SEX_CODES):
        sys.exit(f"sex codes {sorted(sexes)}, want {SEX_CODES}")
    return tokens, [str(int(t)) for t in targets]


def split_indices(ages: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of train / test (younger, seeded random split) and current (older), each sorted."""
    young = np.flatnonzero(ages < AGE_CUTOFF)
    old = np.flatnonzero(ages >= AGE_CUTOFF)
    shuffled = np.random.default_rng(SEED).permutation(young)
    n_test = round(len(young) * TEST_SHARE)
    return {"train": np.sort(shuffled[n_test:]), "test": np.sort(shuffled[:n_test]), "current": old}


def write_csv(path: Path, rows: list[list[str]]) -> None:
    """ASCII CSV with a header and \\n line ends; the tokens need no quoting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(CSV_COLUMNS)] + [",".join(row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("ascii"))


# ---------------------------------------------------------------------------
# model


def build_pipeline() -> Pipeline:
    """Passthrough of all columns (so skl2onnx takes one input per column), then boosted trees."""
    return Pipeline([
        ("columns", ColumnTransformer([("all", "passthrough", list(range(len(FEATURES))))])),
        ("gbr", GradientBoostingRegressor(**GBR_PARAMS)),
    ])


def convert(pipe: Pipeline) -> onnx.ModelProto:
    initial_types = [(c, FloatTensorType([None, 1])) for c in FEATURES]
    model = to_onnx(pipe, initial_types=initial_types, target_opset=TARGET_OPSET)
    # skl2onnx collects opset domains in a set (hash-seed order); sort them for stable bytes.
    opsets = sorted(model.opset_import, key=lambda o: o.domain)
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    return model


def onnx_predict(sess: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    """ONNX predictions [N] (float64) for a float matrix [N, len(FEATURES)]."""
    feed = {c: x[:, j:j + 1].astype(np.float32) for j, c in enumerate(FEATURES)}
    (out,) = sess.run(["variable"], feed)
    assert out.shape == (len(x), 1), out.shape
    return out[:, 0].astype(np.float64)


# ---------------------------------------------------------------------------
# figures


def regression_figures(y: np.ndarray, pred: np.ndarray) -> dict:
    """The metrics kind's regression figures, with scikit-learn (MAPE as a fraction)."""
    residual = np.abs(pred - y)
    return {
        "rows": len(y),
        "mae": r(skm.mean_absolute_error(y, pred)),
        "rmse": r(skm.root_mean_squared_error(y, pred)),
        "r2": r(skm.r2_score(y, pred)),
        "max_error": r(skm.max_error(y, pred)),
        "mape": r(skm.mean_absolute_percentage_error(y, pred)),
        "mean_true": r(y.mean()),
        "mean_prediction": r(pred.mean()),
        **{f"share_abs_error_over_{a:g}": r(np.mean(residual > a)) for a in ABS_WITHIN},
        **{f"share_rel_error_over_{q:.0%}": r(np.mean(residual > q * np.abs(y))) for q in REL_WITHIN},
        "min_prediction": r(pred.min()),
    }


def sex_figures(y: np.ndarray, pred: np.ndarray, sex: np.ndarray) -> dict:
    """Per sex code: count, MAE, mean prediction, mean truth; and the gaps a fairness test reads."""
    groups = {}
    for code in SEX_CODES:
        m = sex == code
        groups[f"{code:g}"] = {
            "count": int(m.sum()),
            "mae": r(skm.mean_absolute_error(y[m], pred[m])),
            "mean_prediction": r(pred[m].mean()),
            "mean_true": r(y[m].mean()),
        }
    gaps = {}
    for key in ("mae", "mean_prediction"):
        values = [g[key] for g in groups.values()]
        gaps[key] = {"max_gap": r(max(values) - min(values)), "min_ratio": r(min(values) / max(values))}
    return {"groups": groups, "gaps": gaps}


def change_figures(before: np.ndarray, after: np.ndarray) -> dict:
    """How predictions move under a perturbation: decreases (for DIR) and relative changes (for INV)."""
    delta = after - before
    relative = np.abs(delta) / np.abs(before)
    out = {"rows": len(before)}
    for tol in DECREASE_TOLERANCES:
        out[f"share_decreased_by_more_than_{tol:g}"] = r(np.mean(delta < -tol))
    out["max_decrease"] = r(max(0.0, -delta.min()))
    out["max_increase"] = r(max(0.0, delta.max()))
    out["mean_change"] = r(delta.mean())
    out["mean_abs_change"] = r(np.abs(delta).mean())
    out[f"share_relative_change_over_{RELATIVE_TOLERANCE:.0%}"] = r(np.mean(relative > RELATIVE_TOLERANCE))
    out["max_relative_change"] = r(relative.max())
    return out


def perturbation_figures(predict, x: np.ndarray) -> dict:
    """Figures for shift(col: d), set(col: v) and flip(sex) (1 <-> 2) on the rows of x."""
    base = predict(x)
    out = {}
    for column, amount in SHIFTS:
        x2 = x.copy()
        x2[:, FEATURES.index(column)] += amount
        out[f"shift({column}: {amount:g})"] = change_figures(base, predict(x2))
    for column, value in SETS:
        x2 = x.copy()
        x2[:, FEATURES.index(column)] = value
        out[f"set({column}: {value:g})"] = change_figures(base, predict(x2))
    x2 = x.copy()
    j = FEATURES.index("sex")
    x2[:, j] = np.where(x[:, j] == SEX_CODES[0], SEX_CODES[1], SEX_CODES[0])
    out["flip(sex)"] = change_figures(base, predict(x2))
    return out


def data_figures(x_all: np.ndarray, y_all: np.ndarray, splits: dict[str, np.ndarray]) -> dict:
    """Per split: rows, duplicate rows and value ranges; and the rows two splits share."""
    rows = {name: [tuple(x_all[i]) + (y_all[i],) for i in idx] for name, idx in splits.items()}
    out = {}
    for name, idx in splits.items():
        ranges = {f"{c}_range": [r(x_all[idx, j].min()), r(x_all[idx, j].max())] for j, c in enumerate(FEATURES)}
        out[name] = {"rows": len(idx), "duplicate_rows": len(idx) - len(set(rows[name])), **ranges}
    names = list(splits)
    out["shared_rows"] = {f"{a}&{b}": len(set(rows[a]) & set(rows[b])) for i, a in enumerate(names) for b in names[i + 1:]}
    return out


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index with Evidently's binning.

    More than 20 distinct reference values: the bins of np.histogram_bin_edges(reference +
    current, bins="sturges"); otherwise the share of each value. Empty cells get
    min(non-zero share) / 1e6 if that is <= 0.0001, else 0.0001. PSI = sum((r - c) ln(r / c)).
    """
    if len(np.unique(reference)) > 20:
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        ref = np.histogram(reference, edges)[0] / len(reference)
        cur = np.histogram(current, edges)[0] / len(current)
    else:
        values = np.union1d(reference, current)
        ref = np.array([np.sum(reference == v) for v in values]) / len(reference)
        cur = np.array([np.sum(current == v) for v in values]) / len(current)
    ref, cur = (np.where(s == 0, s[s > 0].min() / 1e6 if s[s > 0].min() <= 1e-4 else 1e-4, s) for s in (ref, cur))
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def drift_figures(reference: np.ndarray, current: np.ndarray) -> dict:
    """Per column, reference -> current: PSI, two-sample KS and Wasserstein (SciPy); chi2 and JS for sex."""
    out = {}
    for j, column in enumerate(FEATURES):
        a, b = reference[:, j], current[:, j]
        ks = stats.ks_2samp(a, b)
        out[column] = {
            "psi": r(psi(a, b)),
            "ks_statistic": r(ks.statistic),
            "ks_pvalue": float(f"{ks.pvalue:.6g}"),
            "wasserstein": r(stats.wasserstein_distance(a, b)),
            "mean_reference": r(a.mean()),
            "mean_current": r(b.mean()),
        }
    sex = FEATURES.index("sex")
    counts = np.array([[np.sum(d[:, sex] == code) for code in SEX_CODES] for d in (reference, current)])
    chi2 = stats.chi2_contingency(counts, correction=False)  # Pearson, no Yates correction, as mlspec
    out["sex"].update({
        "counts_reference_current": counts.tolist(),
        "chi2_statistic": r(chi2.statistic),
        "chi2_pvalue": float(f"{chi2.pvalue:.6g}"),
        "js_distance": r(jensenshannon(counts[0] / counts[0].sum(), counts[1] / counts[1].sum())),  # natural log
    })
    return out


def prediction_drift(reference: np.ndarray, current: np.ndarray) -> dict:
    ks = stats.ks_2samp(reference, current)
    return {
        "psi": r(psi(reference, current)),
        "ks_statistic": r(ks.statistic),
        "ks_pvalue": float(f"{ks.pvalue:.6g}"),
        "wasserstein": r(stats.wasserstein_distance(reference, current)),
        "mean_reference": r(reference.mean()),
        "mean_current": r(current.mean()),
    }


# ---------------------------------------------------------------------------


def main() -> None:
    # Pin the string hash seed so any set-ordered output of skl2onnx is stable.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.argv])

    tokens, targets = read_source()
    x_all = np.array(tokens, dtype=np.float64)
    y_all = np.array(targets, dtype=np.float64)
    splits = split_indices(x_all[:, FEATURES.index("age")])
    csv_paths = {}
    for name, idx in splits.items():
        csv_paths[name] = DATA_DIR / f"{name}.csv"
        write_csv(csv_paths[name], [tokens[i] + [targets[i]] for i in idx])
    x = {name: x_all[idx] for name, idx in splits.items()}
    y = {name: y_all[idx] for name, idx in splits.items()}
    print("rows: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))

    pipe = build_pipeline().fit(x["train"], y["train"])
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    onnx_path = MODEL_DIR / "diabetes.onnx"
    model = convert(pipe)
    onnx.checker.check_model(model, full_check=True)
    onnx_path.write_bytes(model.SerializeToString())

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == FEATURES
    assert [o.name for o in sess.get_outputs()] == ["variable"]
    predict_onnx = lambda m: onnx_predict(sess, m)

    pred = {name: predict_onnx(m) for name, m in x.items()}
    diffs = {name: float(np.max(np.abs(pred[name] - pipe.predict(m)))) for name, m in x.items()}
    print("onnx vs sklearn, max |diff|: " + ", ".join(f"{k} {v:.3g}" for k, v in diffs.items()))

    regression = {name: regression_figures(y[name], pred[name]) for name in x}
    for name, fig in regression.items():
        print(f"{name:8s} MAE {fig['mae']:.2f} RMSE {fig['rmse']:.2f} R2 {fig['r2']:.3f} "
              f"max {fig['max_error']:.1f} MAPE {fig['mape']:.3f}")
    sex = FEATURES.index("sex")
    by_sex = {name: sex_figures(y[name], pred[name], x[name][:, sex]) for name in ("test", "current")}
    perturbations = {
        "test_onnx": perturbation_figures(predict_onnx, x["test"]),
        "test_sklearn": perturbation_figures(pipe.predict, x["test"]),
        "current_onnx": perturbation_figures(predict_onnx, x["current"]),
    }
    drift = drift_figures(x["train"], x["current"])
    drift_prediction = prediction_drift(pred["train"], pred["current"])

    io_spec = {
        "inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in sess.get_inputs()],
        "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in sess.get_outputs()],
    }
    files = {str(p.relative_to(SPEC_DIR)): {"size_bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in [*csv_paths.values(), onnx_path]}
    metrics = {
        "data": {
            "source": f"scikit-learn {sklearn.__version__}, sklearn/datasets/data/{DATA_FILE} and {TARGET_FILE}",
            "source_sha256": {f: sha256_file(SOURCE_DIR / f) for f in (DATA_FILE, TARGET_FILE)},
            "source_rows": SOURCE_ROWS,
            "columns": CSV_COLUMNS,
            "label": LABEL,
            "sex_codes": "raw codes 1 and 2, kept as numbers (which is which is not documented)",
            "split": f"age < {AGE_CUTOFF}: seeded (numpy default_rng({SEED})) random split, "
                     f"{TEST_SHARE:.0%} test; age >= {AGE_CUTOFF}: current",
            "rows": {name: len(idx) for name, idx in splits.items()},
        },
        "model": {
            "pipeline": "ColumnTransformer(passthrough of all 10 columns) -> GradientBoostingRegressor("
                        + ", ".join(f"{k}={v}" for k, v in GBR_PARAMS.items()) + ")",
            "trained_on": "train",
            **io_spec,
            "onnx_opset": {d.domain or "ai.onnx": d.version for d in model.opset_import},
            "feature_importances": {c: r(v) for c, v in zip(FEATURES, pipe.named_steps["gbr"].feature_importances_)},
        },
        "data_checks": data_figures(x_all, y_all, splits),
        "onnx_vs_sklearn_max_abs_diff": diffs,
        "regression_onnx": regression,
        "by_sex_onnx": by_sex,
        "perturbations": perturbations,
        "drift_train_to_current": {"columns": drift, "prediction_onnx": drift_prediction},
        "files": files,
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
        },
    }
    (MODEL_DIR / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"by_sex": by_sex, "perturbations_test_onnx": perturbations["test_onnx"]}, indent=2))
    print(json.dumps(files, indent=2))

    worst = max(diffs.values())
    assert worst < MAX_ONNX_DIFF, f"ONNX and sklearn disagree: max |diff| {worst}"


if __name__ == "__main__":
    main()
