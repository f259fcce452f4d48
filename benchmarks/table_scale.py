"""Benchmark: the `metrics` and `drift` kinds on a 1,000,000-row table, mlspec against pandas + SciPy.

The table comes from the income demo (specs/income/data/adult_test.csv, 16,281 rows, and its
logistic-regression model specs/income/model/adult.onnx), resampled with a seeded generator:

- reference: --rows rows drawn uniformly;
- current: --rows rows drawn so that women are CURRENT_FEMALE_SHARE of them (about a third in the
  data), then age + 2 and hours_per_week x 1.1 (rounded).

Both are written as CSV into a temporary folder (not timed). Then, each in a fresh subprocess,
--repeat times:

- baseline: pandas.read_csv both files, score both with onnxruntime (CPUExecutionProvider) in
  batches of --batch rows, then the figures a metrics test and a drift test ask for: accuracy,
  balanced accuracy, precision / recall / F1 of ">50K", macro F1, ROC AUC and the confusion
  matrix (scikit-learn) on current; per column reference -> current PSI (`psi_baseline`,
  Evidently's binning), KS statistic and p-value and Wasserstein distance (numeric columns),
  chi-squared p-value (no Yates correction) and Jensen-Shannon distance (natural log;
  categorical columns); PSI of the predicted label. Its figures and the time of each stage
  go to a JSON file.
- mlspec: `mlspec run SPEC --json OUT --no-cache --device cpu` on a generated spec with one
  `metrics` and one `drift` test over the same files (syntax of the issue-13 design). If it
  fails (the syntax is not implemented yet, say), its error is printed and the baseline's
  figures still are.

Prints the median wall time and peak resident memory of each side (each subprocess's own
ru_maxrss, from os.wait4), the ratios mlspec / baseline, the baseline's figures, mlspec's
report, and every figure both compute whose values differ by more than 1e-6 (relative).

Run: .venv/bin/python benchmarks/table_scale.py [--rows 1000000] [--repeat 3] [--batch 4096] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn import metrics

REPO = Path(__file__).resolve().parent.parent
INCOME_CSV = REPO / "specs" / "income" / "data" / "adult_test.csv"
INCOME_MODEL = REPO / "specs" / "income" / "model" / "adult.onnx"

NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"]
FEATURES = ["age", "workclass", "education", "education_num", "marital_status", "occupation", "relationship",
            "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country"]
LABEL = "income"
CLASSES = ["<=50K", ">50K"]
POSITIVE = ">50K"

SEED = 13
CURRENT_FEMALE_SHARE = 0.5
AGE_SHIFT = 2
HOURS_SCALE = 1.1
PSI_MIN_DISTINCT = 20  # Evidently bins a numeric column only above this many distinct reference values


# ---------------------------------------------------------------------------
# the table


def resample(source: pd.DataFrame, rows: int, rng: np.random.Generator, female_share: float | None) -> pd.DataFrame:
    """`rows` rows drawn with replacement; with `female_share`, women drawn at that share."""
    if female_share is None:
        return source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    female = np.flatnonzero(source["sex"].to_numpy() == "Female")
    other = np.flatnonzero(source["sex"].to_numpy() != "Female")
    n_female = round(rows * female_share)
    picks = np.concatenate([rng.choice(female, n_female), rng.choice(other, rows - n_female)])
    return source.iloc[rng.permutation(picks)].reset_index(drop=True)


def write_tables(folder: Path, rows: int) -> tuple[Path, Path]:
    """reference.csv and current.csv in `folder` (deterministic for a given `rows`)."""
    source = pd.read_csv(INCOME_CSV)
    rng = np.random.default_rng(SEED)
    reference = resample(source, rows, rng, None)
    current = resample(source, rows, rng, CURRENT_FEMALE_SHARE)
    current["age"] = current["age"] + AGE_SHIFT
    current["hours_per_week"] = (current["hours_per_week"] * HOURS_SCALE).round().astype(int)
    paths = folder / "reference.csv", folder / "current.csv"
    for frame, path in zip((reference, current), paths):
        frame.to_csv(path, index=False, lineterminator="\n")
    return paths


# ---------------------------------------------------------------------------
# the baseline: pandas + onnxruntime + scikit-learn + SciPy


def psi_baseline(reference, current, numeric: bool) -> float:
    """Population stability index as Evidently computes it.

    A numeric column with more than 20 distinct reference values is cut into the bins of
    np.histogram_bin_edges(reference + current, bins="sturges"); any other column is
    compared by the share of each value (the union of both sides' values). Empty cells are
    filled: with min(non-zero share) / 1e6 if that minimum is <= 0.0001, else with 0.0001.
    PSI = sum((ref - cur) * ln(ref / cur)).
    """
    if numeric and len(np.unique(reference)) > PSI_MIN_DISTINCT:
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        ref = np.histogram(reference, edges)[0] / len(reference)
        cur = np.histogram(current, edges)[0] / len(current)
    else:
        counts = category_counts(pd.Series(reference), pd.Series(current))
        ref, cur = counts[0] / len(reference), counts[1] / len(current)
    return psi_of_shares(ref, cur)


def psi_of_shares(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two vectors of shares over the same cells, empty cells filled as Evidently does."""
    ref, cur = fill_empty(reference), fill_empty(current)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def fill_empty(shares: np.ndarray) -> np.ndarray:
    """Evidently's zero filling of a vector of shares (see psi_baseline)."""
    smallest = shares[shares > 0].min()
    return np.where(shares == 0, smallest / 1e6 if smallest <= 0.0001 else 0.0001, shares)


def category_counts(reference: pd.Series, current: pd.Series) -> np.ndarray:
    """[2, K] counts of each value of the union of both sides, reference first."""
    ref, cur = reference.value_counts(), current.value_counts()
    values = ref.index.union(cur.index)
    return np.vstack([ref.reindex(values, fill_value=0).to_numpy(), cur.reindex(values, fill_value=0).to_numpy()])


def score(frame: pd.DataFrame, model: Path, batch: int) -> np.ndarray:
    """P(">50K") of every row, with onnxruntime on the CPU, `batch` rows a call."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    columns = {c: frame[c].to_numpy(np.float32 if c in NUMERIC else object).reshape(-1, 1) for c in FEATURES}
    positive = np.empty(len(frame), dtype=np.float32)
    for start in range(0, len(frame), batch):
        feed = {c: values[start:start + batch] for c, values in columns.items()}
        (probabilities,) = session.run(["probabilities"], feed)
        positive[start:start + batch] = probabilities[:, CLASSES.index(POSITIVE)]
    return positive


def metric_figures(truth: np.ndarray, probability: np.ndarray) -> dict:
    """The metrics test's figures on current, from scikit-learn (label 1: ">50K")."""
    predicted = (probability >= 0.5).astype(np.int8)
    precision, recall, f1, _ = metrics.precision_recall_fscore_support(truth, predicted, pos_label=1, average="binary")
    return {
        "accuracy": metrics.accuracy_score(truth, predicted),
        "balanced_accuracy": metrics.balanced_accuracy_score(truth, predicted),
        f"precision({POSITIVE})": precision,
        f"recall({POSITIVE})": recall,
        f"f1({POSITIVE})": f1,
        "macro_f1": metrics.f1_score(truth, predicted, average="macro"),
        "roc_auc": metrics.roc_auc_score(truth, probability),
        "confusion_matrix": metrics.confusion_matrix(truth, predicted, labels=[0, 1]).tolist(),
    }


def numeric_drift(reference: np.ndarray, current: np.ndarray) -> dict:
    ks = stats.ks_2samp(reference, current)
    return {
        "psi": psi_baseline(reference, current, numeric=True),
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "wasserstein": float(stats.wasserstein_distance(reference, current)),
    }


def categorical_drift(reference: pd.Series, current: pd.Series) -> dict:
    counts = category_counts(reference, current)
    ref, cur = counts[0] / len(reference), counts[1] / len(current)
    return {
        "psi": psi_of_shares(ref, cur),  # = psi_baseline(reference, current, numeric=False)
        "chi2_pvalue": float(stats.chi2_contingency(counts, correction=False).pvalue),  # no Yates, as mlspec
        "js_distance": float(jensenshannon(ref, cur)),  # natural log, as Evidently and mlspec
    }


def drift_figures(reference: pd.DataFrame, current: pd.DataFrame, predicted: tuple[pd.Series, pd.Series]) -> dict:
    """Per column reference -> current, and the PSI of the predicted label."""
    out = {}
    for column in NUMERIC:
        out[column] = numeric_drift(reference[column].to_numpy(np.float64), current[column].to_numpy(np.float64))
    for column in CATEGORICAL:
        out[column] = categorical_drift(reference[column], current[column])
    out["prediction"] = {"psi": psi_baseline(*predicted, numeric=False)}
    return out


def run_baseline(reference_csv: Path, current_csv: Path, model: Path, batch: int, out: Path) -> None:
    """The whole baseline, timed stage by stage; figures and timings written to `out` (JSON)."""
    clock, started = {}, time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal started
        now = time.perf_counter()
        clock[stage] = now - started
        started = now

    reference, current = pd.read_csv(reference_csv), pd.read_csv(current_csv)
    lap("read_csv")
    reference_p, current_p = score(reference, model, batch), score(current, model, batch)
    lap("score")
    truth = (current[LABEL].to_numpy(object) == POSITIVE).astype(np.int8)
    figures = metric_figures(truth, current_p)
    lap("metrics")
    labels = tuple(pd.Series(np.where(p >= 0.5, POSITIVE, CLASSES[0])) for p in (reference_p, current_p))
    drift = drift_figures(reference, current, labels)
    lap("drift")
    out.write_text(json.dumps({"seconds": clock, "metrics": figures, "drift": drift}, default=float), encoding="utf-8")


# ---------------------------------------------------------------------------
# the mlspec side


def quoted(values: list[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def spec_text() -> str:
    """A spec with one metrics test on current and one drift test reference -> current."""
    drift_lines = []
    for c in NUMERIC:
        drift_lines += [f"expect psi({c}) <= 0.1", f"expect ks_statistic({c}) <= 0.1",
                        f"expect ks_pvalue({c}) >= 0.01", f"expect wasserstein({c}) <= 1"]
    for c in CATEGORICAL:
        drift_lines += [f"expect psi({c}) <= 0.1", f"expect chi2_pvalue({c}) >= 0.01", f"expect js_distance({c}) <= 0.1"]
    drift_lines.append("expect psi(prediction) <= 0.1")
    drift_body = "\n".join(f"    {line}" for line in drift_lines)
    return f"""spec "table scale"

model income {{
  onnx "adult.onnx"
  input table columns [{", ".join(FEATURES)}]
  output probabilities labels [{quoted(CLASSES)}]
}}

dataset reference = csv "reference.csv" {{ label: {LABEL} }}
dataset current = csv "current.csv" {{ label: {LABEL} }}

capability "Scale" {{
  metrics "income classifier on current" {{
    from current
    positive "{POSITIVE}"
    expect accuracy >= 0.8
    expect balanced_accuracy >= 0.7
    expect precision("{POSITIVE}") >= 0.6
    expect recall("{POSITIVE}") >= 0.5
    expect f1("{POSITIVE}") >= 0.55
    expect macro_f1 >= 0.7
    expect roc_auc >= 0.85
  }}

  drift "reference to current" {{
    from reference
    against current
{drift_body}
  }}
}}
"""


def write_spec(folder: Path) -> Path:
    shutil.copyfile(INCOME_MODEL, folder / "adult.onnx")
    path = folder / "table_scale.mlspec"
    path.write_text(spec_text(), encoding="utf-8")
    return path


def mlspec_command(spec: Path, out: Path) -> list[str]:
    executable = REPO / ".venv" / "bin" / "mlspec"
    prefix = [str(executable)] if executable.exists() else [sys.executable, "-m", "mlspec"]
    return [*prefix, "run", str(spec), "--json", str(out), "--no-cache", "--device", "cpu"]


# ---------------------------------------------------------------------------
# measuring


@dataclass
class Run:
    seconds: float
    peak_kib: int
    exit_code: int
    output: str


def measured(command: list[str], log: Path) -> Run:
    """Run `command` (output to `log`); its wall time and its own peak RSS, from os.wait4."""
    with log.open("w", encoding="utf-8") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(seconds, usage.ru_maxrss, process.returncode, log.read_text(encoding="utf-8", errors="replace"))


def tail(text: str, lines: int = 15) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def summarise(name: str, runs: list[Run]) -> tuple[float, float]:
    """Print a side's median seconds and peak MiB (and each run); return both medians."""
    seconds = statistics.median(r.seconds for r in runs)
    peak = statistics.median(r.peak_kib for r in runs) / 1024
    each = ", ".join(f"{r.seconds:.2f}" for r in runs)
    print(f"  {name:8s} {seconds:8.2f} s  peak RSS {peak:7.0f} MiB  (runs: {each} s)")
    return seconds, peak


def baseline_side(paths: tuple[Path, Path], folder: Path, args) -> tuple[list[Run], dict]:
    out = folder / "baseline.json"
    command = [sys.executable, __file__, "--baseline-worker", str(paths[0]), str(paths[1]),
               str(INCOME_MODEL), str(args.batch), str(out)]
    runs = [measured(command, folder / "baseline.log") for _ in range(args.repeat)]
    bad = next((r for r in runs if r.exit_code != 0), None)
    if bad:
        raise SystemExit(f"the baseline failed (exit {bad.exit_code}):\n{tail(bad.output)}")
    return runs, json.loads(out.read_text(encoding="utf-8"))


def mlspec_side(folder: Path, args) -> tuple[list[Run], dict | None]:
    """mlspec runs (exit 0: all passed, 1: some test failed); stops at the first that breaks."""
    spec, out = write_spec(folder), folder / "mlspec.json"
    runs = []
    for _ in range(args.repeat):
        out.unlink(missing_ok=True)
        run = measured(mlspec_command(spec, out), folder / "mlspec.log")
        if run.exit_code not in (0, 1) or not out.exists():
            print(f"\nmlspec side failed (exit {run.exit_code}); spec {spec}:\n{tail(run.output)}")
            return [], None
        runs.append(run)
    return runs, json.loads(out.read_text(encoding="utf-8"))


def print_baseline_figures(report: dict, wall: float) -> None:
    stages = ", ".join(f"{k} {v:.2f}" for k, v in report["seconds"].items())
    rest = wall - sum(report["seconds"].values())
    print(f"\nbaseline stages (last run, s): {stages}; interpreter start and imports {rest:.2f}")
    print("baseline metrics on current:")
    for key, value in report["metrics"].items():
        print(f"  {key:24s} {value if isinstance(value, list) else f'{value:.6f}'}")
    print("baseline drift, reference -> current:")
    for column, figures in report["drift"].items():
        print(f"  {column:16s} " + "  ".join(f"{k} {v:.6g}" for k, v in figures.items()))


def print_mlspec_figures(report: dict) -> None:
    print("mlspec tests (last run):")
    for test in (t for spec in report["specs"] for t in spec["tests"]):
        print(f"  {test['title']}: {test['status']} ({test['seconds']:.2f} s) {test['message'][:200]}")
        for key, value in test["metrics"].items():
            print(f"    {key:32s} {value}")


def compare_figures(baseline: dict, report: dict, tolerance: float = 1e-6) -> None:
    """Each figure both sides compute, mlspec's against the baseline's (relative difference)."""
    ours = {key: value for spec in report["specs"] for test in spec["tests"] for key, value in test["metrics"].items()}
    theirs = {key: value for key, value in baseline["metrics"].items() if not isinstance(value, list)}
    for column, figures in baseline["drift"].items():
        theirs.update({f"{statistic}({column})": value for statistic, value in figures.items()})
    shared = sorted(set(ours) & set(theirs))
    differ = [key for key in shared if ours[key] is None or abs(ours[key] - theirs[key]) > tolerance * max(abs(theirs[key]), 1e-300)]
    print(f"\nfigures in both: {len(shared)}; differing by more than {tolerance:g} (relative): {len(differ)}")
    for key in differ:
        print(f"  {key}: mlspec {ours[key]}, baseline {theirs[key]}")
    missing = sorted(set(theirs) - set(ours))
    if missing:
        print(f"  baseline figures mlspec does not report: {', '.join(missing)}")


def benchmark(folder: Path, args) -> None:
    started = time.perf_counter()
    paths = write_tables(folder, args.rows)
    size = sum(p.stat().st_size for p in paths) / 2**20
    print(f"tables: 2 x {args.rows:,} rows, {size:.0f} MiB of CSV in {folder} (written in {time.perf_counter() - started:.1f} s, not timed)")
    baseline_runs, baseline_report = baseline_side(paths, folder, args)
    mlspec_runs, mlspec_report = mlspec_side(folder, args)
    print(f"\nend to end, fresh subprocess each, median of {args.repeat}:")
    base_s, base_mib = summarise("baseline", baseline_runs)
    if mlspec_runs:
        ours_s, ours_mib = summarise("mlspec", mlspec_runs)
        print(f"  ratio mlspec / baseline: time {ours_s / base_s:.2f}x, peak memory {ours_mib / base_mib:.2f}x")
    print_baseline_figures(baseline_report, baseline_runs[-1].seconds)
    if mlspec_report:
        print_mlspec_figures(mlspec_report)
        compare_figures(baseline_report, mlspec_report)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--baseline-worker":
        reference, current, model, batch, out = sys.argv[2:7]
        run_baseline(Path(reference), Path(current), Path(model), int(batch), Path(out))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each table (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4096, help="rows per onnxruntime call in the baseline")
    parser.add_argument("--keep", metavar="DIR", help="write the tables, spec and reports here and keep them")
    args = parser.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        benchmark(Path(args.keep), args)
        return
    with tempfile.TemporaryDirectory(prefix="mlspec-table-scale-") as tmp:
        benchmark(Path(tmp), args)


if __name__ == "__main__":
    main()
