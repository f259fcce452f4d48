"""The `data` and `drift` kinds, end to end, against pandas, SciPy and the drift library.

- data: each check on a CSV with problems put in on purpose (missing cells, empty and `?`,
  out-of-range ages, text in a numeric column, categories outside the list, repeated rows,
  a number written two ways, repeated ids, label balance, rows shared with another
  dataset); every figure equals a pandas computation, and a failing check's details name
  its column and the offending lines. `duplicates <= 1%` compares the share. A spec
  without a model runs: exit 1 when a check fails, 0 when all hold.
- drift: psi, ks_statistic, ks_pvalue, chi2_pvalue, js_distance and wasserstein between
  the diabetes training data and the patients of 60 and over equal
  `mlspec.library.drift.column_drift` on the pandas columns, and ks/wasserstein equal
  scipy.stats; `psi(prediction)` and the like equal the library on predictions made here
  with onnxruntime (the regressor's values; the income classifier's labels, the whole
  split against the rows of 50 and over); `where` slices apply to both datasets.
- Bad data and drift tests are located errors, never tracebacks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from scipy import stats
from spec_helpers import block, located

from mlspec.cli import main
from mlspec.library.drift import column_drift

ROOT = Path(__file__).resolve().parents[1]
DIABETES = ROOT / "specs" / "diabetes"
DIABETES_MODEL = DIABETES / "model" / "diabetes.onnx"
TRAIN = DIABETES / "data" / "train.csv"
CURRENT = DIABETES / "data" / "current.csv"
TEST = DIABETES / "data" / "test.csv"
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
dataset train = csv "{TRAIN}" {{ label: progression }}
dataset current = csv "{CURRENT}" {{ label: progression }}
dataset test = csv "{TEST}" {{ label: progression }}
"""
INCOME_MODEL_BLOCK = f"""model income {{
  onnx "{INCOME_MODEL}"
  input table columns [{", ".join(INCOME_COLUMNS)}]
  output probabilities labels ["<=50K", ">50K"]
}}
"""


# ---------------------------------------------------------------- helpers


def spec_text(header: str, tests: str) -> str:
    return f'spec "t"\n{header}\ncapability "C" {{\n{tests}}}\n'


def run_json(path: Path, out: Path) -> tuple[int, dict]:
    code = main(["run", str(path), "--json", str(out)])
    tests = {t["title"]: t for spec in json.loads(out.read_text())["specs"] for t in spec["tests"]}
    return code, tests


def check_errors(tmp_path: Path, monkeypatch, capsys, source: str) -> str:
    """`mlspec check` of `source` (in tmp_path, as case.mlspec): exit 2, the diagnostics."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "case.mlspec").write_text(source)
    code = main(["check", "case.mlspec"])
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    return captured.err


def session(path: Path) -> ort.InferenceSession:
    """One thread, as mlspec's runner: the same float32 outputs to the last bit."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------- 1. data


@pytest.fixture(scope="module")
def crafted() -> pd.DataFrame:
    """60 rows of the income data with problems put in (as text, as the file writes them)."""
    frame = pd.read_csv(ADULT, dtype=str, keep_default_na=False).head(60).reset_index(drop=True)
    frame.insert(0, "id", [str(i) for i in range(len(frame))])
    frame.loc[3, "age"] = ""  # missing: empty
    frame.loc[5, "age"] = "?"  # missing: the marker
    frame.loc[7, "age"] = "130"  # out of range
    frame.loc[9, "age"] = "-1"
    frame.loc[11, "hours_per_week"] = "forty"  # text in a numeric column
    frame.loc[13, "hours_per_week"] = "37.5"  # a number, not whole
    frame.loc[15, "sex"] = "male"  # outside the categories
    frame.loc[16, "sex"] = "?"  # missing, so not outside them
    frame.loc[20, "id"] = "4"  # a repeated id
    frame.loc[21, "income"] = ""  # no label
    copies = frame.loc[[2, 4, 2]].copy()  # row 2 twice more, row 4 once more
    renumbered = frame.loc[[6]].copy()
    renumbered["capital_gain"] = renumbered["capital_gain"] + ".0"  # the same number, written otherwise
    return pd.concat([frame, copies, renumbered], ignore_index=True)


@pytest.fixture(scope="module")
def other() -> pd.DataFrame:
    """Rows of another dataset: three of the crafted rows (one with another label), and new ones."""
    frame = pd.read_csv(ADULT, dtype=str, keep_default_na=False)
    picked = frame.iloc[[8, 30, 31, 200, 201, 202]].copy()
    picked.insert(0, "id", ["8", "30", "31", "200", "201", "202"])
    picked.loc[picked.index[0], "income"] = ">50K" if picked.iloc[0]["income"] == "<=50K" else "<=50K"  # the label aside
    return picked


def missing_mask(frame: pd.DataFrame) -> pd.DataFrame:
    return (frame == "") | (frame == "?")


def numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series.where(~series.isin(["", "?"])), errors="coerce")


DATA_TESTS = [
    ("integer column", "expect column hours_per_week: integer"),
    ("number column", "expect column hours_per_week: number"),
    ("text column", "expect column hours_per_week: text", "expect column sex", "expect column age: integer"),
    ("absent column", "expect column gender"),
    ("rows", "expect rows >= 100"),
    ("rows exactly", "expect rows == 64"),
    ("missing age", "expect missing(age) <= 1%"),
    ("missing worst", "expect missing <= 5%"),
    ("missing label", "expect missing(income) <= 0%"),
    ("age range", "expect age between 17 and 90"),
    ("sex categories", 'expect sex in ["Male", "Female"]'),
    ("label categories", 'expect label in ["<=50K", ">50K"]'),
    ("duplicates count", "expect duplicates == 0"),
    ("duplicates share", "expect duplicates <= 5%"),
    ("duplicates share fails", "expect duplicates <= 1%"),
    ("duplicate ids", "expect duplicates(id) == 0"),
    ("label share", 'expect label_share(">50K") >= 0.5'),
    ("min label share", "expect min_label_share >= 0.3"),
    ("overlap", "expect overlap(other) == 0"),
    ("sliced", 'where sex == "Female"', "expect rows >= 0", "expect missing(age) <= 100%", "expect duplicates >= 0"),
]


@pytest.fixture(scope="module")
def data_run(tmp_path_factory, crafted, other) -> tuple[int, dict]:
    folder = tmp_path_factory.mktemp("data")
    crafted.to_csv(folder / "crafted.csv", index=False)
    other.to_csv(folder / "other.csv", index=False)
    header = 'dataset d = csv "crafted.csv" { label: income, missing: "?" }\ndataset other = csv "other.csv" { label: income, missing: "?" }\n'
    tests = "".join(block("data", title, "d", *lines) for title, *lines in DATA_TESTS)
    path = folder / "data.mlspec"
    path.write_text(spec_text(header, tests))
    return run_json(path, folder / "results.json")


def status(data_run, title: str) -> str:
    return data_run[1][title]["status"]


def test_a_spec_without_a_model_runs_its_data_tests(data_run):
    code, tests = data_run
    assert code == 1
    assert all(t["model"] == "" for t in tests.values())
    assert {t["status"] for t in tests.values()} == {"PASS", "FAIL"}


def test_column_types(data_run, crafted):
    tests = data_run[1]
    hours = crafted.hours_per_week
    not_number = pd.to_numeric(hours, errors="coerce").isna() & ~hours.isin(["", "?"])
    not_whole = not_number | (pd.to_numeric(hours, errors="coerce") % 1 != 0)
    assert (not_number.sum(), not_whole.sum()) == (1, 2)
    integer = tests["integer column"]
    assert integer["status"] == "FAIL"
    assert integer["metrics"]["column hours_per_week: integer"] == int(not_whole.sum())
    lines = [i + 2 for i in np.flatnonzero(not_whole)]  # rows 11 and 13: lines 13 and 15, in row order
    assert integer["details"] == [f'column `hours_per_week`: 2 of {len(crafted)} cells are not whole numbers: line {lines[0]} "forty", line {lines[1]} "37.5"']
    number = tests["number column"]
    assert number["status"] == "FAIL"
    assert number["details"] == [f'column `hours_per_week`: 1 of {len(crafted)} cells are not numbers: line {np.flatnonzero(not_number)[0] + 2} "forty"']
    assert status(data_run, "text column") == "PASS"  # text holds anything; age's missing cells are not counted
    absent = tests["absent column"]
    assert absent["status"] == "FAIL" and "no column `gender`" in absent["details"][0]


def test_rows(data_run, crafted):
    assert len(crafted) == 64
    assert data_run[1]["rows"]["message"] == "1 of 1 checks fail: rows=64 < 100"
    assert status(data_run, "rows exactly") == "PASS"


def test_missing_shares_count_empty_cells_and_the_marker(data_run, crafted):
    missing = missing_mask(crafted)
    tests = data_run[1]
    assert tests["missing age"]["metrics"]["missing(age)"] == pytest.approx(missing.age.mean(), **EXACT)
    assert missing.age.sum() == 2
    assert tests["missing age"]["status"] == "FAIL"
    assert tests["missing age"]["details"] == ["column `age`: 2 of 64 cells missing (3.12%): lines 5, 7"]
    # `missing` alone: the worst column
    assert tests["missing worst"]["metrics"]["missing"] == pytest.approx(missing.mean().max(), **EXACT)
    assert tests["missing worst"]["status"] == ("PASS" if missing.mean().max() <= 0.05 else "FAIL")
    assert tests["missing label"]["metrics"]["missing(income)"] == pytest.approx(1 / 64, **EXACT)


def test_a_range_counts_present_values_outside_it(data_run, crafted):
    age = numbers(crafted.age)
    outside = (age < 17) | (age > 90)
    result = data_run[1]["age range"]
    assert result["status"] == "FAIL"
    assert result["metrics"]["age between 17 and 90"] == int(outside.sum()) == 2
    first, second = np.flatnonzero(outside.to_numpy()) + 2
    assert result["details"] == [f'column `age`: 2 of {int(age.notna().sum())} values outside [17, 90]: line {first} "130", line {second} "-1"']


def test_categories(data_run, crafted):
    result = data_run[1]["sex categories"]
    outside = ~crafted.sex.isin(["Male", "Female", "", "?"])
    assert result["metrics"]["sex in [Male, Female]"] == int(outside.sum()) == 1
    line = np.flatnonzero(outside.to_numpy())[0] + 2
    assert result["details"] == [f'column `sex`: 1 of 63 values not among ["Male", "Female"]: line {line} "male"']
    assert status(data_run, "label categories") == "PASS"  # the row without a label is not counted


def test_duplicate_rows_compare_numbers_as_numbers(data_run, crafted):
    as_compared = crafted.copy()
    for column in ["age", "capital_gain", "capital_loss", "education_num", "id"]:
        as_compared[column] = numbers(crafted[column])  # numeric columns compare by number ("0" == "0.0")
    as_compared = as_compared.where(~missing_mask(crafted), "")  # missing cells compare as equal
    repeated = as_compared.duplicated()
    assert repeated.sum() == 4
    assert crafted.duplicated().sum() == 3  # as text, the renumbered row is new
    tests = data_run[1]
    count = tests["duplicates count"]
    assert count["metrics"]["duplicates"] == 4
    assert count["message"] == "1 of 1 checks fail: duplicates=4 != 0"
    assert count["details"] == [
        "4 of 64 rows repeat an earlier row: line 62 repeats line 4, line 63 repeats line 6, line 64 repeats line 4, line 65 repeats line 8"
    ]
    # with a percentage, the share is compared
    assert tests["duplicates share"]["metrics"]["duplicates"] == 4  # the count, and beside it the share compared
    assert tests["duplicates share"]["metrics"]["duplicates_share"] == pytest.approx(4 / 64, **EXACT)
    assert tests["duplicates share"]["status"] == "FAIL"  # 6.25% > 5%
    assert tests["duplicates share fails"]["message"] == "1 of 1 checks fail: duplicates=0.0625 > 0.01"


def test_duplicate_values_of_a_column(data_run, crafted):
    result = data_run[1]["duplicate ids"]
    ids = numbers(crafted.id)
    assert result["metrics"]["duplicates(id)"] == int(ids.duplicated().sum()) == 5
    assert result["details"][0].startswith("5 of 64 values of column `id` repeat an earlier one: line 22 repeats line 6, ")


def test_label_balance(data_run, crafted):
    labelled = crafted.income[crafted.income != ""]
    tests = data_run[1]
    share = (labelled == ">50K").mean()
    assert tests["label share"]["metrics"]["label_share(>50K)"] == pytest.approx(share, **EXACT)
    assert tests["label share"]["status"] == "FAIL"
    assert tests["min label share"]["metrics"]["min_label_share"] == pytest.approx(labelled.value_counts(normalize=True).min(), **EXACT)
    assert tests["min label share"]["status"] == ("PASS" if labelled.value_counts(normalize=True).min() >= 0.3 else "FAIL")


def test_overlap_with_another_dataset_ignores_the_label(data_run, crafted, other):
    result = data_run[1]["overlap"]
    shared = [c for c in crafted.columns if c != "income"]
    inside = crafted[shared].apply(tuple, axis=1).isin(set(other[shared].apply(tuple, axis=1)))
    assert result["metrics"]["overlap(other)"] == int(inside.sum()) == 3
    assert result["status"] == "FAIL"
    lines = np.flatnonzero(inside.to_numpy()) + 2
    assert result["details"] == [
        f"3 of 64 rows also in the other dataset (compared on 14 columns, the label `income` aside): line {lines[0]} = line 2, line {lines[1]} = line 3, line {lines[2]} = line 4"
    ]


def test_a_slice_of_a_data_test(data_run, crafted):
    result = data_run[1]["sliced"]
    women = crafted[crafted.sex == "Female"]
    assert result["metrics"]["rows"] == len(women) > 0
    assert result["metrics"]["missing(age)"] == pytest.approx(missing_mask(women).age.mean(), **EXACT)
    assert result["status"] == "PASS"


def test_data_tests_that_hold_exit_0(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    header = f'dataset train = csv "{TRAIN}" {{ label: progression }}\ndataset test = csv "{TEST}" {{ label: progression }}\n'
    tests = block(
        "data",
        "sound",
        "train",
        "expect rows >= 200",
        "expect missing <= 0%",
        "expect duplicates == 0",
        "expect sex in [1, 2]",
        "expect bmi between 15 and 50",
        "expect overlap(test) == 0",
        "expect column age: integer",
    )
    path = tmp_path / "ok.mlspec"
    path.write_text(spec_text(header, tests))
    code, results = run_json(path, tmp_path / "ok.json")
    assert code == 0
    assert results["sound"]["status"] == "PASS"
    assert results["sound"]["metrics"]["rows"] == len(pd.read_csv(TRAIN)) == 254


# ---------------------------------------------------------------- 2. drift


@pytest.fixture(scope="module")
def diabetes_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = []
    for path in (TRAIN, CURRENT):
        frame = pd.read_csv(path, dtype=float)
        feeds = {c: frame[c].to_numpy(np.float32).reshape(-1, 1) for c in DIABETES_COLUMNS}
        frame["prediction"] = session(DIABETES_MODEL).run(None, feeds)[0][:, 0].astype(np.float64)
        frames.append(frame)
    return frames[0], frames[1]


# (statistic, column): every statistic on the columns it applies to
DIABETES_DRIFT = [
    ("psi", "age"), ("psi", "bp"), ("psi", "sex"), ("psi", "s4"),
    ("ks_statistic", "bmi"), ("ks_pvalue", "bmi"), ("ks_pvalue", "s5"), ("ks_statistic", "sex"),
    ("chi2_pvalue", "sex"),
    ("js_distance", "bp"), ("js_distance", "sex"),
    ("wasserstein", "s5"), ("wasserstein", "age"),
    ("psi", "prediction"), ("ks_pvalue", "prediction"), ("wasserstein", "prediction"), ("js_distance", "prediction"),
]  # fmt: skip


@pytest.fixture(scope="module")
def drift_run(tmp_path_factory) -> tuple[int, dict]:
    folder = tmp_path_factory.mktemp("drift")
    expects = [
        f"expect {name}({column}) {'>=' if name.endswith('pvalue') else '<='} {'0' if name.endswith('pvalue') else '1000'}" for name, column in DIABETES_DRIFT
    ]
    tests = block("drift", "all", "train", "against current", *expects)
    tests += block("drift", "women", "train", "against current", "where sex == 2", *expects)
    tests += block(
        "drift", "high progression", "train", "against current", "where expected >= 150", "expect psi(bmi) <= 1000", "expect ks_pvalue(prediction) >= 0"
    )
    tests += block("drift", "thresholds", "train", "against current", "expect ks_pvalue(bmi) >= 0.01", "expect psi(bp) <= 0.25")
    tests += block("drift", "columns only", "train", "against current", "expect ks_statistic(bmi) <= 1")
    path = folder / "drift.mlspec"
    path.write_text(spec_text(DIABETES_BLOCK, tests))
    return run_json(path, folder / "results.json")


def library_figure(name: str, reference: pd.Series, current: pd.Series) -> float:
    return column_drift(name, reference.to_numpy(np.float64), current.to_numpy(np.float64), True)


@pytest.mark.parametrize("name, column", DIABETES_DRIFT, ids=[f"{n}({c})" for n, c in DIABETES_DRIFT])
def test_drift_equals_the_library_on_the_pandas_columns(drift_run, diabetes_frames, name, column):
    train, current = diabetes_frames
    metrics = drift_run[1]["all"]["metrics"]
    assert metrics[f"{name}({column})"] == pytest.approx(library_figure(name, train[column], current[column]), **EXACT)


@pytest.mark.parametrize("column", ["bmi", "s5", "age", "prediction"])
def test_ks_and_wasserstein_equal_scipy(drift_run, diabetes_frames, column):
    train, current = diabetes_frames
    metrics = drift_run[1]["all"]["metrics"]
    ks = stats.ks_2samp(train[column], current[column])
    if f"ks_pvalue({column})" in metrics:
        assert metrics[f"ks_pvalue({column})"] == pytest.approx(ks.pvalue, **EXACT)
    if f"ks_statistic({column})" in metrics:
        assert metrics[f"ks_statistic({column})"] == pytest.approx(ks.statistic, **EXACT)
    if f"wasserstein({column})" in metrics:
        assert metrics[f"wasserstein({column})"] == pytest.approx(stats.wasserstein_distance(train[column], current[column]), **EXACT)


def test_chi2_of_a_category_column_equals_scipy(drift_run, diabetes_frames):
    train, current = diabetes_frames
    table = pd.concat([train.sex.value_counts(), current.sex.value_counts()], axis=1).fillna(0).to_numpy().T
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert drift_run[1]["all"]["metrics"]["chi2_pvalue(sex)"] == pytest.approx(expected, **EXACT)


def test_the_drift_result_counts_both_datasets(drift_run, diabetes_frames):
    train, current = diabetes_frames
    metrics = drift_run[1]["all"]["metrics"]
    assert (metrics["reference_rows"], metrics["current_rows"]) == (len(train), len(current)) == (254, 103)
    only_columns = drift_run[1]["columns only"]
    assert only_columns["model"] == ""  # no prediction compared: the model is not run
    assert (only_columns["metrics"]["reference_rows"], only_columns["metrics"]["current_rows"]) == (254, 103)


def test_thresholds_of_drift(drift_run, diabetes_frames):
    train, current = diabetes_frames
    result = drift_run[1]["thresholds"]
    p = stats.ks_2samp(train.bmi, current.bmi).pvalue
    psi = library_figure("psi", train.bp, current.bp)
    assert p >= 0.01 and psi > 0.25
    assert result["status"] == "FAIL"
    assert result["message"] == f"ks_pvalue(bmi)={p:.4g} >= 0.01 psi(bp)={psi:.4g} > 0.25"


@pytest.mark.parametrize("name, column", DIABETES_DRIFT, ids=[f"{n}({c})" for n, c in DIABETES_DRIFT])
def test_where_slices_both_datasets(drift_run, diabetes_frames, name, column):
    train, current = diabetes_frames
    result = drift_run[1]["women"]
    train, current = train[train.sex == 2], current[current.sex == 2]
    assert (result["metrics"]["reference_rows"], result["metrics"]["current_rows"]) == (len(train), len(current)) == (106, 60)
    figure = result["metrics"][f"{name}({column})"]
    if column == "sex":  # one value left in both: no drift in it (chi2 of one category: p = 1)
        assert figure == {"psi": 0.0, "ks_statistic": 0.0, "js_distance": 0.0, "chi2_pvalue": 1.0}[name]
    assert figure == pytest.approx(library_figure(name, train[column], current[column]), **EXACT)


def test_a_slice_by_the_expected_value_slices_both(drift_run, diabetes_frames):
    train, current = diabetes_frames
    result = drift_run[1]["high progression"]
    train, current = train[train.progression >= 150], current[current.progression >= 150]
    assert (result["metrics"]["reference_rows"], result["metrics"]["current_rows"]) == (len(train), len(current))
    assert result["metrics"]["psi(bmi)"] == pytest.approx(library_figure("psi", train.bmi, current.bmi), **EXACT)
    assert result["metrics"]["ks_pvalue(prediction)"] == pytest.approx(stats.ks_2samp(train.prediction, current.prediction).pvalue, **EXACT)


@pytest.fixture(scope="module")
def income_drift(tmp_path_factory) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The income split (reference) against its rows of 50 and over (current, another file)."""
    folder = tmp_path_factory.mktemp("income_drift")
    adult = pd.read_csv(ADULT, dtype=str, keep_default_na=False)
    older = adult[adult.age.astype(int) >= 50]
    older.to_csv(folder / "older.csv", index=False)
    header = (
        INCOME_MODEL_BLOCK
        + f'dataset adult = csv "{ADULT}" {{ label: income, missing: "?" }}\ndataset older = csv "older.csv" {{ label: income, missing: "?" }}\n'
    )
    expects = [
        "expect psi(prediction) <= 0.1",
        "expect chi2_pvalue(prediction) >= 0.01",
        "expect js_distance(prediction) <= 0.1",
        "expect psi(race) <= 0.1",
        "expect chi2_pvalue(sex) >= 0.01",
        "expect js_distance(occupation) <= 0.1",
        "expect psi(age) <= 0.1",
    ]
    tests = block("drift", "older", "adult", "against older", *expects) + block(
        "drift", "older women", "adult", "against older", 'where sex == "Female"', *expects
    )
    path = folder / "income.mlspec"
    path.write_text(spec_text(header, tests))
    code, results = run_json(path, folder / "results.json")
    assert code == 1
    feeds = {c: adult[c].to_numpy(dtype=np.float32 if c in INCOME_NUMERIC else object).reshape(-1, 1) for c in INCOME_COLUMNS}
    probs = session(INCOME_MODEL).run(["probabilities"], feeds)[0]
    adult["prediction"] = np.where(probs.argmax(axis=1) == 1, ">50K", "<=50K")
    return results, adult, adult.loc[older.index]


def text_figure(name: str, reference: pd.Series, current: pd.Series) -> float:
    keep_r, keep_c = ~reference.isin(["", "?"]), ~current.isin(["", "?"])
    return column_drift(name, reference[keep_r].to_numpy(object), current[keep_c].to_numpy(object), False)


@pytest.mark.parametrize("title", ["older", "older women"])
def test_prediction_and_category_drift_of_a_classifier(income_drift, title):
    results, adult, older = income_drift
    if title == "older women":
        adult, older = adult[adult.sex == "Female"], older[older.sex == "Female"]
    metrics = results[title]["metrics"]
    assert (metrics["reference_rows"], metrics["current_rows"]) == (len(adult), len(older))
    for name, column in [
        ("psi", "prediction"),
        ("chi2_pvalue", "prediction"),
        ("js_distance", "prediction"),
        ("psi", "race"),
        ("chi2_pvalue", "sex"),
        ("js_distance", "occupation"),
    ]:
        assert metrics[f"{name}({column})"] == pytest.approx(text_figure(name, adult[column], older[column]), **EXACT), (name, column)
    assert metrics["psi(age)"] == pytest.approx(column_drift("psi", adult.age.to_numpy(np.float64), older.age.to_numpy(np.float64), True), **EXACT)
    assert results[title]["status"] == "FAIL"  # psi(age) at least


def test_missing_cells_are_left_out_of_category_drift(income_drift):
    """`?` is the dataset's marker: occupation's `?` cells are not a category of its own."""
    results, adult, older = income_drift
    with_marker = column_drift("js_distance", adult.occupation.to_numpy(object), older.occupation.to_numpy(object), False)
    figure = results["older"]["metrics"]["js_distance(occupation)"]
    assert figure != pytest.approx(with_marker, **EXACT)


# ---------------------------------------------------------------- 3. located errors


DATA_HEADER = f'dataset train = csv "{TRAIN}" {{ label: progression }}\n'
INCOME_HEADER = (
    INCOME_MODEL_BLOCK + f'dataset adult = csv "{ADULT}" {{ label: income, missing: "?" }}\ndataset older = csv "{ADULT}" {{ label: income, missing: "?" }}\n'
)

ERRORS = [
    (
        "unknown data figure",
        spec_text(DATA_HEADER, block("data", "t", "train", "expect frobs <= 1")),
        "unknown data figure `frobs`",
        "frobs",
        "",
        "did you mean `rows`?",
    ),
    (
        "overlap with an unknown dataset",
        spec_text(DATA_HEADER, block("data", "t", "train", "expect overlap(nosuch) == 0")),
        "unknown dataset `nosuch`",
        "nosuch",
        "",
        None,
    ),
    (
        "label_share without a label",
        spec_text(DATA_HEADER, block("data", "t", "train", "expect label_share >= 0.1")),
        "`label_share` needs a label",
        "label_share",
        "",
        "write `label_share(LABEL)`",
    ),
    (
        "rows with an argument",
        spec_text(DATA_HEADER, block("data", "t", "train", "expect rows(age) >= 1")),
        "`rows` takes no argument",
        "age",
        "rows",
        None,
    ),
    (
        "a range the wrong way round",
        spec_text(DATA_HEADER, block("data", "t", "train", "expect age between 90 and 17")),
        "the range is empty: 90 > 17",
        "age between 90 and 17",
        "",
        "write the lower bound first",
    ),
    (
        "an unknown column type",
        spec_text(DATA_HEADER, block("data", "t", "train", "expect column age: float")),
        "unknown column type `float`",
        "float",
        "",
        "types are number, integer, text",
    ),
    (
        "a range of a text column",
        spec_text(INCOME_HEADER, block("data", "t", "adult", "expect sex between 0 and 1")),
        "column `sex` holds text; a range compares numbers",
        "sex",
        "expect",
        "check its values with `sex in [...]`",
    ),
    (
        "a data test naming a column the data lacks",
        spec_text(DATA_HEADER, block("data", "t", "train", "expect missing(gender) <= 1%")),
        "dataset `train` has no column `gender`",
        "gender",
        "",
        "columns are age, bmi, bp, progression, s1, s2, s3, s4, s5, s6, sex",
    ),
    (
        "a data share above 100%",
        spec_text(DATA_HEADER, block("data", "t", "train", "expect missing(age) <= 120%")),
        "`missing` must be between 0 and 1 (or 0% and 100%), not 120%",
        "120%",
        "",
        None,
    ),
    (
        "psi of a column with no value",
        spec_text(DIABETES_BLOCK + 'dataset empty = csv "empty.csv"\n', block("drift", "t", "train", "against empty", "expect psi(bmi) <= 0.1")),
        "column `bmi` has no values in dataset `empty`",
        "bmi",
        "psi(",
        "every cell is missing, or the slices keep no row",
    ),
    (
        "ks_pvalue of a text column",
        spec_text(INCOME_HEADER, block("drift", "t", "adult", "against older", "expect ks_pvalue(sex) >= 0.01")),
        "`ks_pvalue(sex)`: ks_pvalue compares numbers, and this column holds text: use psi, js_distance or chi2_pvalue",
        "ks_pvalue(sex) >= 0.01",
        "",
        None,
    ),
    (
        "chi2 of a column of many numbers",
        spec_text(DIABETES_BLOCK, block("drift", "t", "train", "against current", "expect chi2_pvalue(bmi) >= 0.01")),
        "`chi2_pvalue(bmi)`: chi2_pvalue compares categories; this column holds numbers (more than 20 distinct values): use ks_pvalue",
        "chi2_pvalue(bmi) >= 0.01",
        "",
        None,
    ),
    (
        "chi2 of a regressor's predictions",
        spec_text(DIABETES_BLOCK, block("drift", "t", "train", "against current", "expect chi2_pvalue(prediction) >= 0.01")),
        "`chi2_pvalue(prediction)`: chi2_pvalue compares categories; this column holds numbers (more than 20 distinct values): use ks_pvalue",
        "chi2_pvalue(prediction) >= 0.01",
        "",
        None,
    ),
    (
        "wasserstein of a classifier's predictions",
        spec_text(INCOME_HEADER, block("drift", "t", "adult", "against older", "expect wasserstein(prediction) <= 1")),
        "`wasserstein(prediction)`: wasserstein compares numbers, and this column holds text: use psi, js_distance or chi2_pvalue",
        "wasserstein(prediction) <= 1",
        "",
        None,
    ),
    (
        "an unknown drift statistic",
        spec_text(DIABETES_BLOCK, block("drift", "t", "train", "against current", "expect kl(bmi) <= 0.1")),
        "unknown drift statistic `kl`",
        "kl",
        "",
        "statistics are psi, ks_statistic, ks_pvalue, chi2_pvalue, js_distance, wasserstein",
    ),
    (
        "a statistic without a column",
        spec_text(DIABETES_BLOCK, block("drift", "t", "train", "against current", "expect psi <= 0.1")),
        "`psi` compares one column",
        "psi",
        "expect",
        "write `psi(COLUMN)` or `psi(prediction)`",
    ),
    (
        "drift without against",
        spec_text(DIABETES_BLOCK, block("drift", "t", "train", "expect psi(bmi) <= 0.1")),
        'drift test "t" compares two datasets',
        '"t"',
        "drift",
        "write `from REFERENCE` and `against CURRENT`",
    ),
    (
        "a p-value above 1",
        spec_text(DIABETES_BLOCK, block("drift", "t", "train", "against current", "expect ks_pvalue(bmi) >= 5")),
        "`ks_pvalue` must be between 0 and 1 (or 0% and 100%), not 5",
        "5",
        "ks_pvalue(bmi) >= ",
        "write 0.05 or 5%",
    ),
    (
        "a drift column the reference lacks",
        spec_text(DIABETES_BLOCK, block("drift", "t", "train", "against current", "expect psi(weight) <= 0.1")),
        "dataset `train` has no column `weight`",
        "weight",
        "",
        "columns are age, bmi, bp, progression, s1, s2, s3, s4, s5, s6, sex",
    ),
]


@pytest.mark.parametrize("source, message, needle, after, hint", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_data_and_drift_tests_are_located_errors(tmp_path, monkeypatch, capsys, source, message, needle, after, hint):
    (tmp_path / "empty.csv").write_text("age,bmi\n1,\n2,\n")
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    located(err, "case.mlspec", source, message, needle, after, hint)


def test_a_data_error_at_run_is_an_error_result(tmp_path, monkeypatch, capsys):
    """Found when the data is read: on `run` the test is an ERROR with the located message, exit 3."""
    monkeypatch.chdir(tmp_path)
    source = spec_text(DATA_HEADER, block("data", "bad", "train", "expect missing(gender) <= 1%") + block("data", "good", "train", "expect rows >= 1"))
    (tmp_path / "case.mlspec").write_text(source)
    code, results = run_json(tmp_path / "case.mlspec", tmp_path / "r.json")
    capsys.readouterr()
    assert code == 3
    assert results["bad"]["status"] == "ERROR"
    located(
        results["bad"]["message"],
        "case.mlspec",
        source,
        "dataset `train` has no column `gender`",
        "gender",
        "",
        "columns are age, bmi, bp, progression, s1, s2, s3, s4, s5, s6, sex",
    )
    assert results["good"]["status"] == "PASS"


def test_a_drift_slice_by_a_column_the_current_data_lacks(tmp_path, monkeypatch, capsys):
    current = pd.read_csv(CURRENT, dtype=str)[["age", "bmi", "bp"]]
    current.to_csv(tmp_path / "no_sex.csv", index=False)
    source = spec_text(
        DIABETES_BLOCK + 'dataset nosex = csv "no_sex.csv"\n', block("drift", "t", "train", "against nosex", "where sex == 2", "expect psi(bmi) <= 10")
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "case.mlspec").write_text(source)
    try:
        code = main(["check", "case.mlspec"])
    except Exception as error:  # noqa: BLE001 -- any exception escaping is the bug (a traceback)
        raise AssertionError(f"traceback: {error!r}") from None
    err = capsys.readouterr().err
    assert code == 2
    located(err, "case.mlspec", source, "dataset `nosex` has no column `sex`", "sex", "where", err.splitlines()[3].removeprefix("hint: "))


def test_a_drift_slice_never_takes_another_datasets_mask(tmp_path, monkeypatch, capsys):
    train = pd.read_csv(TRAIN, dtype=str)
    unsexed = train.drop(columns=["sex"])  # as many rows as the reference, no `sex`
    unsexed.to_csv(tmp_path / "unsexed.csv", index=False)
    source = spec_text(
        DIABETES_BLOCK + 'dataset unsexed = csv "unsexed.csv" { label: progression }\n',
        block("drift", "t", "train", "against unsexed", "where sex == 2", "expect psi(bmi) <= 10"),
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "case.mlspec").write_text(source)
    code = main(["check", "case.mlspec"])
    err = capsys.readouterr().err
    assert code == 2, "the slice was applied to `unsexed` with the rows of `train` that have sex == 2"
    assert "dataset `unsexed` has no column `sex`" in err


def test_a_drift_slice_by_expected_names_the_dataset_without_labels(tmp_path, monkeypatch, capsys):
    current = pd.read_csv(CURRENT, dtype=str)[["age", "bmi", "bp"]]
    current.to_csv(tmp_path / "unlabelled.csv", index=False)
    source = spec_text(
        DIABETES_BLOCK + 'dataset unlabelled = csv "unlabelled.csv"\n',
        block("drift", "t", "train", "against unlabelled", "where expected >= 100", "expect psi(bmi) <= 10"),
    )
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    assert "dataset `unlabelled` has no label column" in err, err
