"""Regression models and table perturbations, end to end, against direct computations.

Every reference here comes from onnxruntime, pandas and scikit-learn called directly (not
through mlspec), on the same float32 model outputs, so figures agree to 1e-9.

- A regression model (the diabetes demo, `output value`): `metrics` mae, rmse, r2,
  max_error and mape equal scikit-learn's; an mft's `value within t[%] of expected` and
  `value > x` fail exactly the cases numpy finds; dir `shift(...)` with `value not
  decreasing tolerance t` (absolute and percent) and inv `flip(sex)` / `set(...)` /
  `scale(...)` with `value unchanged tolerance t` fail exactly the cases a prediction on
  the changed rows finds; fairness `metric mae` and `metric mean value` give the per-group
  figures pandas finds. Examples show values, and variants the cells they changed.
- Table perturbations on the income classifier: `flip(sex)` changes 1,482 of 16,281
  decisions (specs/income/DATA.md), `set`, `shift`, `scale`, `missing` (with and without
  a `missing` marker) and chains equal direct computations; `set` leaves out cases that
  already hold the value; `noise ... variants 3` makes 3 variants a case, the same in two
  runs, with the documented spread.
- Bad tests on table and regression models are located errors (exit 2), never tracebacks.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn import metrics as skm
from spec_helpers import block, located

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[1]
DIABETES = ROOT / "specs" / "diabetes"
DIABETES_MODEL = DIABETES / "model" / "diabetes.onnx"
DIABETES_TEST = DIABETES / "data" / "test.csv"
DIABETES_CURRENT = DIABETES / "data" / "current.csv"
DIABETES_COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
INCOME = ROOT / "specs" / "income"
INCOME_MODEL = INCOME / "model" / "adult.onnx"
ADULT = INCOME / "data" / "adult_test.csv"
INCOME_COLUMNS = [
    "age", "workclass", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
]  # fmt: skip
INCOME_NUMERIC = {"age", "education_num", "capital_gain", "capital_loss", "hours_per_week"}
EXACT = {"abs": 1e-9, "rel": 0}

DIABETES_BLOCK = f"""model progression {{
  onnx "{DIABETES_MODEL}"
  input table columns [{", ".join(DIABETES_COLUMNS)}]
  output value
}}
dataset test = csv "{DIABETES_TEST}" {{ label: progression }}
dataset current = csv "{DIABETES_CURRENT}" {{ label: progression }}
"""
INCOME_BLOCK = f"""model income {{
  onnx "{INCOME_MODEL}"
  input table columns [{", ".join(INCOME_COLUMNS)}]
  output probabilities labels ["<=50K", ">50K"]
}}
dataset adult = csv "{ADULT}" {{ label: income, missing: "?" }}
dataset raw = csv "{ADULT}" {{ label: income }}
"""


# ---------------------------------------------------------------- helpers


def spec_text(header: str, tests: str) -> str:
    return f'spec "t"\n{header}\ncapability "C" {{\n{tests}}}\n'


def run_json(path: Path, out: Path, *extra: str) -> tuple[int, dict]:
    code = main(["run", str(path), "--json", str(out), *extra])
    tests = {t["title"]: t for spec in json.loads(out.read_text())["specs"] for t in spec["tests"]}
    return code, tests


def check_errors(tmp_path: Path, monkeypatch, capsys, source: str) -> str:
    """`mlspec check` of `source`: exit 2, the diagnostics on stderr."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "case.mlspec").write_text(source)
    code = main(["check", "case.mlspec"])
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    return captured.err


def session(path: Path) -> ort.InferenceSession:
    """An onnxruntime session on one thread, as mlspec's runner makes them. (With several
    intra-op threads onnxruntime takes other kernels, and the regressor's values differ in
    the last bit of the float32: 3e-5 on values near 150.)"""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def diabetes_predict(frame: pd.DataFrame) -> np.ndarray:
    """The regression model's value for each row (float32 outputs, as float64)."""
    session_ = session(DIABETES_MODEL)
    feeds = {c: frame[c].to_numpy(dtype=np.float32).reshape(-1, 1) for c in DIABETES_COLUMNS}
    return session_.run(None, feeds)[0][:, 0].astype(np.float64)


def income_probs(frame: pd.DataFrame) -> np.ndarray:
    """P(>50K) for each row (float32 outputs, as float64); cells fed as the CSV writes them."""
    feeds = {c: frame[c].to_numpy(dtype=np.float32 if c in INCOME_NUMERIC else object).reshape(-1, 1) for c in INCOME_COLUMNS}
    return session(INCOME_MODEL).run(["probabilities"], feeds)[0][:, 1].astype(np.float64)


def high(p: np.ndarray) -> np.ndarray:
    """The predicted label is `>50K` (argmax of [1 - p, p] as the model computes it)."""
    return p > 0.5


# ---------------------------------------------------------------- 1. regression


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    """specs/diabetes/data/test.csv as numbers, with the model's value `pred`."""
    frame = pd.read_csv(DIABETES_TEST, dtype=float)
    frame["pred"] = diabetes_predict(frame)
    return frame


@pytest.fixture(scope="module")
def current_patients() -> pd.DataFrame:
    frame = pd.read_csv(DIABETES_CURRENT, dtype=float)
    frame["pred"] = diabetes_predict(frame)
    return frame


REGRESSION_FIGURES = ["expect mae <= 50", "expect rmse <= 60", "expect r2 >= 0.3", "expect max_error <= 200", "expect mape <= 50%"]


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory) -> tuple[int, dict]:
    folder = tmp_path_factory.mktemp("regression")
    tests = "".join(
        [
            block("metrics", "test figures", "test", *REGRESSION_FIGURES),
            block("metrics", "current figures", "current", *REGRESSION_FIGURES),
            block("metrics", "women over 100", "test", "where sex == 2", "where expected >= 100", *REGRESSION_FIGURES),
            block("metrics", "tight", "test", "expect mae <= 43", "expect r2 >= 0.3"),
            block("mft", "within 40%", "test", "expect value within 40% of expected", "max_fail_rate 30%"),
            block("mft", "within 60", "test", "expect value within 60 of expected", "max_fail_rate 30%"),
            block("mft", "positive", "current", "expect value > 0"),
            block("mft", "above 150", "test", "expect value > 150", "max_fail_rate 100%"),
            block("mft", "older patients", "test", "where age >= 50", "expect value within 30% of expected", "max_fail_rate 100%"),
            block("dir", "bmi", "test", "perturb shift(bmi: 1)", "expect value not decreasing tolerance 1"),
            block("dir", "bmi strict", "test", "perturb shift(bmi: 1)", "expect value increasing"),
            block("dir", "bp percent", "test", "perturb shift(bp: 5)", "expect value not decreasing tolerance 1%"),
            block("inv", "sex", "test", "perturb flip(sex)", "expect value unchanged tolerance 10%"),
            block("inv", "sex absolute", "test", "perturb flip(sex)", "expect value unchanged tolerance 20"),
            block("inv", "s3 set", "test", "perturb set(s3: 40)", "expect value unchanged tolerance 5%"),
            block("inv", "bp scaled", "test", "perturb scale(bp: 1.1)", "expect value unchanged tolerance 3"),
            block("fairness", "mae by sex", "test", "by sex", "metric mae", "expect max_gap <= 10", "expect min_ratio >= 0.8"),
            block("fairness", "mean by sex", "test", "by sex", "metric mean value", "expect max_gap <= 20"),
        ]
    )
    path = folder / "d.mlspec"
    path.write_text(spec_text(DIABETES_BLOCK, tests))
    return run_json(path, folder / "results.json", "--examples", "3")


def sk_regression(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "max_error": skm.max_error(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
    }


@pytest.mark.parametrize(
    "title, frame, keep",
    [
        ("test figures", "patients", lambda f: np.ones(len(f), dtype=bool)),
        ("current figures", "current_patients", lambda f: np.ones(len(f), dtype=bool)),
        ("women over 100", "patients", lambda f: (f.sex == 2) & (f.progression >= 100)),
    ],
)
def test_regression_metrics_equal_sklearn(diabetes_run, request, title, frame, keep):
    data = request.getfixturevalue(frame)
    kept = data[np.asarray(keep(data), dtype=bool)]
    metrics = diabetes_run[1][title]["metrics"]
    assert metrics["cases"] == len(kept) > 10
    expected = sk_regression(kept.progression.to_numpy(), kept.pred.to_numpy())
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, **EXACT), name
        assert metrics[f"{name}(value)"] == metrics[name]  # the first (only) output, by name


def test_regression_thresholds_decide_the_status(diabetes_run, patients):
    tests = diabetes_run[1]
    mae = skm.mean_absolute_error(patients.progression, patients.pred)
    assert 43 < mae < 50
    assert tests["test figures"]["status"] == "PASS"
    assert tests["tight"]["status"] == "FAIL"
    assert tests["tight"]["message"] == f"mae={mae:.4g} > 43 r2={skm.r2_score(patients.progression, patients.pred):.4g} >= 0.3"
    assert tests["test figures"]["message"].endswith(f"mape={skm.mean_absolute_percentage_error(patients.progression, patients.pred):.4g} <= 0.5")


def failing_cases(result: dict) -> int:
    return result["metrics"]["failures"]


def test_value_within_a_percentage_of_expected(diabetes_run, patients):
    result = diabetes_run[1]["within 40%"]
    off = np.abs(patients.pred - patients.progression) > 0.4 * np.abs(patients.progression)
    assert result["metrics"]["cases"] == len(patients) == 85
    assert failing_cases(result) == int(off.sum()) == 28
    assert result["status"] == "FAIL"  # 28/85 > 30%
    # the examples: the first failing cases, each showing its value and its true value
    first = np.flatnonzero(off.to_numpy())[:3]
    assert len(result["examples"]) == 10  # all kept in JSON; the console shows --examples
    for example, row in zip(result["examples"], first):
        assert example["prediction"]["text"].startswith(f"test[{row}]: age=")
        assert example["prediction"]["label"] == f"{patients.pred[row]:.6g}"
        assert example["prediction"]["probs"]["value"] == pytest.approx(patients.pred[row], abs=1e-6)
        assert example["expected"] == f"{patients.progression[row]:.6g}"


def test_value_within_an_absolute_tolerance(diabetes_run, patients):
    result = diabetes_run[1]["within 60"]
    off = np.abs(patients.pred - patients.progression) > 60
    assert failing_cases(result) == int(off.sum())
    assert 0 < off.sum() < len(patients)
    assert result["status"] == ("PASS" if off.mean() <= 0.3 else "FAIL")


def test_value_compared_with_a_number(diabetes_run, patients, current_patients):
    tests = diabetes_run[1]
    assert failing_cases(tests["positive"]) == int((current_patients.pred <= 0).sum()) == 0
    assert tests["positive"]["metrics"]["cases"] == len(current_patients) == 103
    assert failing_cases(tests["above 150"]) == int((patients.pred <= 150).sum())
    assert 0 < failing_cases(tests["above 150"]) < len(patients)


def test_a_slice_of_an_mft(diabetes_run, patients):
    result = diabetes_run[1]["older patients"]
    old = patients[patients.age >= 50]
    assert result["metrics"]["cases"] == len(old)
    assert failing_cases(result) == int((np.abs(old.pred - old.progression) > 0.3 * np.abs(old.progression)).sum())


def shifted(frame: pd.DataFrame, column: str, amount: float) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column] + amount
    return out


def test_dir_shift_with_an_absolute_tolerance(diabetes_run, patients):
    result = diabetes_run[1]["bmi"]
    moved = diabetes_predict(shifted(patients, "bmi", 1)) - patients.pred
    assert result["metrics"]["cases"] == 85
    assert result["metrics"]["examples"] == 170  # each case and its one variant
    assert failing_cases(result) == int((moved < -1).sum()) == 10
    example = result["examples"][0]
    row = int(np.flatnonzero(moved < -1)[0])
    bmi = patients.bmi[row]
    assert example["prediction"]["text"] == f"test[{row}] ~ shift(bmi: 1): bmi={bmi + 1} (was {bmi})"
    assert example["original"]["label"] == f"{patients.pred[row]:.6g}"
    assert example["prediction"]["label"] == f"{patients.pred[row] + moved[row]:.6g}"


def test_dir_strictly_increasing(diabetes_run, patients):
    moved = diabetes_predict(shifted(patients, "bmi", 1)) - patients.pred
    assert failing_cases(diabetes_run[1]["bmi strict"]) == int((moved <= 0).sum())


def test_dir_with_a_percent_tolerance_is_of_the_original_value(diabetes_run, patients):
    moved = diabetes_predict(shifted(patients, "bp", 5)) - patients.pred
    expected = int((moved < -0.01 * np.abs(patients.pred)).sum())
    assert failing_cases(diabetes_run[1]["bp percent"]) == expected
    assert expected != int((moved < -0.01).sum())  # a percent, not the number 0.01


def test_inv_flip_with_a_percent_tolerance(diabetes_run, patients):
    flipped = patients.copy()
    flipped["sex"] = 3 - flipped["sex"]  # the values are 1 and 2
    moved = np.abs(diabetes_predict(flipped) - patients.pred)
    result = diabetes_run[1]["sex"]
    assert failing_cases(result) == int((moved > 0.1 * np.abs(patients.pred)).sum()) == 59
    assert failing_cases(diabetes_run[1]["sex absolute"]) == int((moved > 20).sum())
    row = result["examples"][0]["original"]["text"]
    index = int(re.match(r"test\[(\d+)\]", row)[1])
    sex = int(patients.sex[index])
    assert result["examples"][0]["prediction"]["text"] == f"test[{index}] ~ flip(sex): sex={3 - sex} (was {sex})"


def test_inv_set_leaves_out_cases_already_holding_the_value(diabetes_run, patients):
    result = diabetes_run[1]["s3 set"]
    holding = patients.s3 == 40
    assert holding.sum() > 0
    changed = patients.copy()
    changed["s3"] = 40.0
    moved = np.abs(diabetes_predict(changed) - patients.pred)[~holding]
    assert result["metrics"]["cases"] == int((~holding).sum())
    assert result["metrics"]["not_perturbed"] == int(holding.sum())
    assert failing_cases(result) == int((moved > 0.05 * np.abs(patients.pred[~holding])).sum())


def test_inv_scale(diabetes_run, patients):
    scaled = patients.copy()
    scaled["bp"] = scaled["bp"] * 1.1
    moved = np.abs(diabetes_predict(scaled) - patients.pred)
    assert failing_cases(diabetes_run[1]["bp scaled"]) == int((moved > 3).sum())
    assert 0 < (moved > 3).sum() < len(patients)


def test_fairness_mae_by_sex_equals_pandas(diabetes_run, patients):
    result = diabetes_run[1]["mae by sex"]
    per_group = (patients.pred - patients.progression).abs().groupby(patients.sex).mean()
    assert result["metrics"]["max_gap"] == pytest.approx(per_group.max() - per_group.min(), **EXACT)
    assert result["metrics"]["min_ratio"] == pytest.approx(per_group.min() / per_group.max(), **EXACT)
    groups = {g["group"]: g for g in result["groups"]}
    assert set(groups) == {"1", "2"}
    for sex, value in per_group.items():
        assert groups[str(int(sex))]["value"] == pytest.approx(round(value, 6), **EXACT)
        assert groups[str(int(sex))]["count"] == int((patients.sex == sex).sum())


def test_fairness_mean_value_by_sex_equals_pandas(diabetes_run, patients):
    result = diabetes_run[1]["mean by sex"]
    per_group = patients.pred.groupby(patients.sex).mean()
    assert result["metrics"]["max_gap"] == pytest.approx(per_group.max() - per_group.min(), **EXACT)
    assert result["status"] == ("PASS" if per_group.max() - per_group.min() <= 20 else "FAIL")


def test_the_diabetes_demo_spec_runs_as_documented(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, tests = run_json(Path("specs/diabetes/diabetes.mlspec"), tmp_path / "d.json")
    assert code == 1
    statuses = {title: t["status"] for title, t in tests.items()}
    assert statuses == {
        "held-out patients under 60": "PASS",
        "patients of 60 and over": "PASS",
        "most predictions within 40% of the outcome": "FAIL",
        "predictions are positive": "PASS",
        "a higher BMI never lowers the prediction": "FAIL",
        "higher blood pressure never lowers the prediction": "FAIL",
        "sex barely moves the prediction": "FAIL",
        "error by sex": "PASS",
        "training data is sound": "PASS",
        "patients of 60 and over against the training data": "FAIL",
    }


# ---------------------------------------------------------------- 2. table perturbations (income)


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    """The income test split as the CSV writes it (`?` a value), with P(>50K) as `p`."""
    frame = pd.read_csv(ADULT, dtype=str, keep_default_na=False)
    frame["p"] = income_probs(frame)
    return frame


def with_cells(frame: pd.DataFrame, **columns) -> pd.DataFrame:
    out = frame.copy()
    for name, value in columns.items():
        out[name] = value
    return out


def flipped_sex(frame: pd.DataFrame) -> pd.Series:
    return frame.sex.map({"Male": "Female", "Female": "Male"})


TABLE_TESTS = [
    block("inv", "flip sex", "adult", "perturb flip(sex)", "expect unchanged"),
    block("dir", "more education", "adult", "perturb shift(education_num: 1)", 'expect prob(">50K") not decreasing'),
    block("dir", "less education", "adult", "perturb shift(education_num: -1)", 'expect prob(">50K") not decreasing'),
    block("dir", "longer hours", "adult", "perturb scale(hours_per_week: 1.5)", 'expect prob(">50K") increasing'),
    block("dir", "shorter hours", "adult", "perturb scale(hours_per_week: 0.5)", 'expect prob(">50K") not decreasing tolerance 0.01'),
    block("inv", "set female", "adult", 'perturb set(sex: "Female")', "expect unchanged"),
    block("inv", "missing occupation", "adult", "perturb missing(occupation)", "expect unchanged"),
    block("inv", "missing occupation, no marker", "raw", "perturb missing(occupation)", "expect unchanged"),
    block("inv", "chain", "adult", "perturb shift(age: 5) then flip(sex)", "expect unchanged"),
    block("inv", "flip men", "adult", 'where sex == "Male"', "perturb flip(sex)", "expect unchanged tolerance 0.205"),
]
NOISE_TEST = block("inv", "noise", "adult", "sample 2000 seed 5", "perturb noise(age, std: 0.1) variants 3", "expect unchanged tolerance 0.02")


@pytest.fixture(scope="module")
def income_tables(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("tables")
    path = folder / "t.mlspec"
    path.write_text(spec_text(INCOME_BLOCK, "".join(TABLE_TESTS)))
    code, tests = run_json(path, folder / "results.json")
    assert code == 1
    return tests


def test_flip_sex_changes_the_documented_decisions(income_tables, adult):
    result = income_tables["flip sex"]
    changed = high(income_probs(with_cells(adult, sex=flipped_sex(adult)))) != high(adult.p)
    assert result["metrics"]["cases"] == len(adult) == 16281
    assert result["metrics"]["examples"] == 2 * 16281  # one other value of sex a case
    assert failing_cases(result) == int(changed.sum()) == 1482  # DATA.md
    first = int(np.flatnonzero(changed)[0])
    example = result["examples"][0]
    assert example["original"]["text"].startswith(f"adult[{first}]: age={adult.age[first]}, workclass=")
    was = adult.sex[first]
    assert example["prediction"]["text"] == f"adult[{first}] ~ flip(sex): sex={'Female' if was == 'Male' else 'Male'} (was {was})"
    assert example["expected"] == adult.income[first]


def test_dir_shift_education(income_tables, adult):
    up = income_probs(with_cells(adult, education_num=(adult.education_num.astype(float) + 1).astype(str)))
    down = income_probs(with_cells(adult, education_num=(adult.education_num.astype(float) - 1).astype(str)))
    assert failing_cases(income_tables["more education"]) == int((up < adult.p).sum()) == 0
    assert failing_cases(income_tables["less education"]) == int((down < adult.p).sum())
    assert failing_cases(income_tables["less education"]) > 16000
    example = income_tables["less education"]["examples"][0]["prediction"]["text"]
    assert example == f"adult[0] ~ shift(education_num: -1): education_num={int(adult.education_num[0]) - 1} (was {adult.education_num[0]})"


def test_dir_scale_strictly_and_with_a_tolerance(income_tables, adult):
    hours = adult.hours_per_week.astype(float)
    longer = income_probs(with_cells(adult, hours_per_week=(hours * 1.5).astype(str))) - adult.p
    shorter = income_probs(with_cells(adult, hours_per_week=(hours * 0.5).astype(str))) - adult.p
    assert failing_cases(income_tables["longer hours"]) == int((longer <= 0).sum())  # `increasing`: it must move
    assert 0 < failing_cases(income_tables["longer hours"]) < len(adult)
    assert failing_cases(income_tables["shorter hours"]) == int((shorter < -0.01).sum())
    assert 0 < failing_cases(income_tables["shorter hours"]) < len(adult)
    example = income_tables["shorter hours"]["examples"][0]["prediction"]["text"]
    row = int(np.flatnonzero(shorter < -0.01)[0])
    assert example == f"adult[{row}] ~ scale(hours_per_week: 0.5): hours_per_week={hours[row] * 0.5} (was {adult.hours_per_week[row]})"


def test_set_drops_cases_already_holding_the_value(income_tables, adult):
    result = income_tables["set female"]
    men = adult.sex == "Male"
    changed = high(income_probs(with_cells(adult, sex="Female"))) != high(adult.p)
    assert result["metrics"]["cases"] == int(men.sum()) == 10860
    assert result["metrics"]["not_perturbed"] == int((~men).sum()) == 5421
    assert failing_cases(result) == int((changed & men).sum()) == 1245  # DATA.md: men relabelled female


def test_missing_writes_the_datasets_marker(income_tables, adult):
    result = income_tables["missing occupation"]
    present = adult.occupation != "?"
    changed = high(income_probs(with_cells(adult, occupation="?"))) != high(adult.p)
    assert result["metrics"]["cases"] == int(present.sum())
    assert result["metrics"]["not_perturbed"] == int((~present).sum()) == 966  # DATA.md
    assert failing_cases(result) == int((changed & present).sum())
    assert "~ missing(occupation): occupation=? (was " in result["examples"][0]["prediction"]["text"]


def test_missing_without_a_marker_empties_the_cell(income_tables, adult):
    result = income_tables["missing occupation, no marker"]
    changed = high(income_probs(with_cells(adult, occupation=""))) != high(adult.p)
    assert result["metrics"]["cases"] == len(adult)  # `?` is a value here
    assert "not_perturbed" not in result["metrics"]
    assert failing_cases(result) == int(changed.sum())
    assert failing_cases(result) != failing_cases(income_tables["missing occupation"])


def test_chained_perturbations(income_tables, adult):
    result = income_tables["chain"]
    age = (adult.age.astype(int) + 5).astype(str)
    changed = high(income_probs(with_cells(adult, age=age, sex=flipped_sex(adult)))) != high(adult.p)
    assert result["metrics"]["examples"] == 2 * len(adult)
    assert failing_cases(result) == int(changed.sum())
    row = int(np.flatnonzero(changed)[0])
    was = adult.sex[row]
    now = "Female" if was == "Male" else "Male"
    assert result["examples"][0]["prediction"]["text"] == (
        f"adult[{row}] ~ shift(age: 5) then flip(sex): age={int(adult.age[row]) + 5} (was {adult.age[row]}), sex={now} (was {was})"
    )


def test_a_slice_before_a_perturbation_with_a_tolerance(income_tables, adult):
    result = income_tables["flip men"]
    men = adult[adult.sex == "Male"]
    variant = income_probs(with_cells(men, sex="Female"))
    original_class_high = high(men.p.to_numpy())
    # unchanged tolerance t: same label, or P(original's label) moved by at most t
    p_orig = np.where(original_class_high, men.p, 1 - men.p)
    p_var = np.where(original_class_high, variant, 1 - variant)
    fails = (high(variant) != original_class_high) & (np.abs(p_var - p_orig) > 0.205)
    assert result["metrics"]["cases"] == len(men)
    assert failing_cases(result) == int(fails.sum())
    assert 0 < fails.sum() < 1245  # fewer than the men whose decision flips


@pytest.fixture(scope="module")
def noise_runs(tmp_path_factory) -> tuple[list[dict], list[dict]]:
    """A spec with one noise test: `mlspec plan --json` twice and `mlspec run` twice."""
    folder = tmp_path_factory.mktemp("noise")
    path = folder / "n.mlspec"
    path.write_text(spec_text(INCOME_BLOCK, NOISE_TEST))
    plans, runs = [], []
    for attempt in range(2):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["plan", "--json", str(path)]) == 0
        plans.append(json.loads(out.getvalue()))
        code, tests = run_json(path, folder / f"run{attempt}.json")
        assert code == 1
        runs.append({k: v for k, v in tests["noise"].items() if k != "seconds"})
    return plans, runs


def test_noise_makes_variants_the_same_in_two_runs(noise_runs):
    plans, runs = noise_runs
    assert plans[0] == plans[1]
    assert runs[0] == runs[1]
    result = runs[0]
    assert result["metrics"]["cases"] == 2000
    assert result["metrics"]["examples"] == 2000 * 4  # each case and its 3 variants
    assert result["status"] == "FAIL" and 0 < result["metrics"]["failures"] < 20


def test_noise_has_the_documented_spread(noise_runs, adult):
    cases = noise_runs[0][0]["tests"][0]["case_list"]
    assert len(cases) == 2000
    drawn, original = [], []
    for case in cases:
        assert len(case["variants"]) == 3
        was = re.search(r"\bage=(\d+)", case["input"])[1]
        for variant in case["variants"]:
            match = re.fullmatch(r"adult\[\d+\] ~ noise\(age, std: 0.1\): age=([-\d.e]+) \(was (\d+)\)", variant)
            assert match and match[2] == was, variant
            drawn.append(float(match[1]))
            original.append(float(was))
    offsets = np.array(drawn) - np.array(original)
    spread = 0.1 * adult.age.astype(float).std(ddof=0)  # a tenth of the column's std in the dataset
    assert offsets.std() == pytest.approx(spread, rel=0.05)
    assert abs(offsets.mean()) < 4 * spread / np.sqrt(len(offsets))
    assert len(set(drawn)) == len(drawn)  # never whole: noise is not rounded


def test_noise_scores_the_variants_it_shows(noise_runs, adult):
    """The failing variant's probabilities are the model's on the row with that age."""
    example = noise_runs[1][0]["examples"][0]
    match = re.fullmatch(r"adult\[(\d+)\] ~ noise\(age, std: 0.1\): age=([-\d.e]+) \(was \d+\)", example["prediction"]["text"])
    row = adult.iloc[[int(match[1])]]
    p = income_probs(with_cells(row, age=match[2]))[0]
    assert example["prediction"]["probs"][">50K"] == pytest.approx(round(p, 6), **EXACT)


# ---------------------------------------------------------------- 3. located errors


def diabetes_source(tests: str) -> str:
    return spec_text(DIABETES_BLOCK, tests)


def income_source(tests: str) -> str:
    return spec_text(INCOME_BLOCK, tests)


ERRORS = [
    (
        "value on a classifier",
        income_source(block("mft", "t", "adult", "expect value > 0")),
        "`value` is the output of a regression model (`output value`); model `income` outputs probabilities",
        "value",
        "expect",
        "for a classifier, expect `label ...` or `prob(LABEL) ...`",
    ),
    (
        "label == expected on a regressor",
        diabetes_source(block("mft", "t", "test", "expect label == expected")),
        "model `progression` outputs values, not labels",
        "label == expected",
        "",
        "expect `value within 5 of expected`, `value > 0`, ...",
    ),
    (
        "prob on a regressor",
        diabetes_source(block("dir", "t", "test", "perturb shift(bmi: 1)", "expect prob(x) not decreasing")),
        "model `progression` outputs values, not probabilities",
        "prob(x)",
        "",
        "expect `value ...` of a regression model",
    ),
    (
        "an mft of a regressor without an expectation",
        diabetes_source(block("mft", "t", "test")),
        'mft test "t" of a regression model has no expectation',
        '"t"',
        "mft",
        "for example `expect value within 10% of expected`",
    ),
    (
        "plain unchanged on a regressor",
        diabetes_source(block("inv", "t", "test", "perturb flip(sex)", "expect unchanged")),
        "a regression model's inv test expects `value unchanged`",
        "unchanged",
        "expect",
        "for example `expect value unchanged tolerance 5%`",
    ),
    (
        "a text perturbation on a table model",
        income_source(block("inv", "t", "adult", "perturb typos", "expect unchanged")),
        "unknown table perturbation `typos` (a text perturbation: this test's models take table rows)",
        "typos",
        "",
        "table perturbations are set, flip, shift, scale, noise, missing",
    ),
    (
        "shift of a text column",
        income_source(block("inv", "t", "adult", "perturb shift(sex: 1)", "expect unchanged")),
        "`shift(sex: 1)`: column `sex` holds text, not numbers",
        "shift(sex: 1)",
        "",
        None,
    ),
    (
        "noise of a text column",
        income_source(block("inv", "t", "adult", "perturb noise(race, std: 0.1)", "expect unchanged")),
        "`noise(race, std: 0.1)`: column `race` holds text, not numbers",
        "noise(race, std: 0.1)",
        "",
        None,
    ),
    (
        "set of a numeric column to text",
        income_source(block("inv", "t", "adult", 'perturb set(age: "old")', "expect unchanged")),
        '`set(age: "old")`: column `age` holds numbers, and "old" is not one',
        'set(age: "old")',
        "",
        None,
    ),
    (
        "flip of a column the model lacks",
        income_source(block("inv", "t", "adult", "perturb flip(nonexistent)", "expect unchanged")),
        "`flip` changes column `nonexistent`, which the model does not take",
        "nonexistent",
        "flip",
        "the model's columns are age, capital_gain, capital_loss, education, education_num, hours_per_week, marital_status, native_country, occupation, race, relationship, sex and 1 more",
    ),
    (
        "a dataset figure in an mft",
        diabetes_source(block("mft", "t", "test", "expect mae <= 50")),
        "`mae` is a figure of a whole dataset: it belongs in a metrics test",
        "mae <= 50",
        "",
        'write `metrics "..." { from DATASET; expect mae ... }`',
    ),
    (
        "a classifier's dataset figure in an mft",
        income_source(block("mft", "t", "adult", "expect accuracy >= 0.8")),
        "`accuracy` is a figure of a whole dataset: it belongs in a metrics test",
        "accuracy >= 0.8",
        "",
        'write `metrics "..." { from DATASET; expect accuracy ... }`',
    ),
    (
        "a within in a dir test",
        diabetes_source(block("dir", "t", "test", "perturb shift(bmi: 1)", "expect value within 10 of expected")),
        "a dir test expects a direction, a label or a probability of the variants",
        "value within 10 of expected",
        "",
        None,
    ),
    (
        "a regressor's fairness test without a metric",
        diabetes_source(block("fairness", "t", "test", "by sex", "expect max_gap <= 10")),
        'fairness test "t" of a regression model needs a `metric`',
        '"t"',
        "fairness",
        "`metric mean value` or `metric mae`",
    ),
    (
        "metric mae on a classifier",
        income_source(block("fairness", "t", "adult", "by sex", "metric mae", "expect max_gap <= 0.1")),
        "`metric mae` is a regression model's error; this model outputs labels",
        "metric mae",
        "",
        "`metric mean prob(LABEL)` or `metric positive_rate`",
    ),
]


@pytest.mark.parametrize("source, message, needle, after, hint", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_tests_are_located_errors(tmp_path, monkeypatch, capsys, source, message, needle, after, hint):
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    located(err, "case.mlspec", source, message, needle, after, hint)


def test_prob_on_a_regressor_is_one_error(tmp_path, monkeypatch, capsys):
    source = diabetes_source(block("mft", "t", "test", "expect prob(x) > 0.5"))
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    located(err, "case.mlspec", source, "model `progression` outputs values, not probabilities", "prob(x)", "", "expect `value ...` of a regression model")
    assert "labels are value" not in err
    assert "2 errors" not in err


def test_a_jsonl_dataset_with_variants_on_a_table_model(tmp_path, monkeypatch, capsys):
    """A dataset's `variants` lists texts: on a table model a check error, not an assertion."""
    rows = pd.read_csv(DIABETES_TEST, dtype=float).head(5).to_dict("records")
    with (tmp_path / "rows.jsonl").open("w") as handle:
        for row in rows:
            handle.write(json.dumps({**row, "variants": []}) + "\n")
    header = DIABETES_BLOCK + 'dataset j = jsonl "rows.jsonl" { label: progression, variants: variants }\n'
    source = spec_text(header, block("inv", "t", "j", "expect value unchanged tolerance 1"))
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    located(
        err,
        "case.mlspec",
        source,
        "dataset `j` maps a `variants` column, which lists texts; table rows are changed with `perturb`",
        "j",
        "from ",
        "for example `perturb flip(sex)` or `perturb shift(age: 1)`",
    )


def test_a_jsonl_dataset_gives_the_figures_of_the_csv(tmp_path, monkeypatch, patients):
    """JSON numbers are table cells too: the same figures as from the CSV."""
    monkeypatch.chdir(tmp_path)
    with (tmp_path / "rows.jsonl").open("w") as handle:
        for row in pd.read_csv(DIABETES_TEST, dtype=float).to_dict("records"):
            handle.write(json.dumps(row) + "\n")
    header = DIABETES_BLOCK + 'dataset j = jsonl "rows.jsonl" { label: progression }\n'
    (tmp_path / "j.mlspec").write_text(spec_text(header, block("metrics", "t", "j", "expect mae <= 50")))
    code, tests = run_json(tmp_path / "j.mlspec", tmp_path / "r.json")
    assert code == 0
    assert tests["t"]["metrics"]["mae"] == pytest.approx(skm.mean_absolute_error(patients.progression, patients.pred), **EXACT)


def test_a_spec_with_a_classifier_and_a_regressor_runs_or_says_why(tmp_path, monkeypatch, capsys):
    """Either both tests run, or a located error says they cannot share a spec: never a traceback."""
    monkeypatch.chdir(tmp_path)
    tests = (
        '  metrics "income" on income {\n    from adult\n    expect accuracy >= 0.8\n  }\n'
        '  metrics "progression" on progression {\n    from test\n    expect mae <= 50\n  }\n'
    )
    path = tmp_path / "both.mlspec"
    path.write_text(spec_text(INCOME_BLOCK + DIABETES_BLOCK, tests))
    try:
        code = main(["run", str(path), "--json", str(tmp_path / "both.json")])
    except Exception as error:  # noqa: BLE001 -- any exception escaping is the bug (a traceback)
        raise AssertionError(f"traceback: {error!r}") from None
    err = capsys.readouterr().err
    if code == 2:
        assert re.search(r"both\.mlspec:\d+:\d+: error: ", err), err
    else:
        results = {t["title"]: t for spec in json.loads((tmp_path / "both.json").read_text())["specs"] for t in spec["tests"]}
        assert code == 0
        assert results["income"]["status"] == results["progression"]["status"] == "PASS"


def patients_with(tmp_path: Path, row: int, progression: str) -> str:
    """A spec header with dataset `h`: the diabetes test rows, row `row`'s true value replaced."""
    frame = pd.read_csv(DIABETES_TEST, dtype=str)
    frame.loc[row, "progression"] = progression
    frame.to_csv(tmp_path / "h.csv", index=False)
    return DIABETES_BLOCK + 'dataset h = csv "h.csv" { label: progression }\n'


def test_a_missing_true_value_in_a_metrics_test_is_located(tmp_path, monkeypatch, capsys):
    header = patients_with(tmp_path, 2, "")
    source = spec_text(header, block("metrics", "t", "h", "expect mae <= 100"))
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    located(
        err,
        "case.mlspec",
        source,
        "a metrics test compares every case with its true value; some cases have none",
        'dataset h = csv "h.csv" { label: progression }',
        "",
        "map the label column: `{ label: COLUMN }`",
    )


def test_a_missing_true_value_in_an_mft_says_what_is_missing(tmp_path, monkeypatch, capsys):
    header = patients_with(tmp_path, 2, "")
    source = spec_text(header, block("mft", "t", "h", "expect value within 10% of expected"))
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    assert "has no label column" not in err, err  # it has one; line 4 of h.csv leaves it empty
    assert "label ==" not in err  # a classifier's advice


def test_a_text_true_value_is_quoted(tmp_path, monkeypatch, capsys):
    header = patients_with(tmp_path, 2, "high")
    source = spec_text(header, block("metrics", "t", "h", "expect mae <= 100"))
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    assert "a regression model's expected values are numbers" in err
    assert "'high'" in err, err
