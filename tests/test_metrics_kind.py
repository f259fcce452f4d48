"""The `metrics` kind on a classifier, end to end, against scikit-learn.

- Every figure of a metrics test over the income test split (accuracy, balanced_accuracy,
  precision/recall/f1 of each label, macro_f1, roc_auc) equals scikit-learn's on the
  probabilities onnxruntime gives for the demo model, here and not through mlspec; the
  confusion matrix the result's details show equals sklearn's `confusion_matrix`.
- `where` slices (a text column, the expected label, a numeric comparison, `in [...]`,
  `!=`, several slices together) give the figures of sklearn on the pandas-filtered rows.
- `positive X` chooses the class roc_auc scores; thresholds decide PASS and FAIL; a figure
  that is undefined on the slice (no case predicted or expected `>50K`) fails its
  expectation and says "undefined".
- Bad metrics tests are located errors (exit 2 on `check`; ERROR, exit 3, on `run` where the
  data decides); never a traceback.
- `mlspec fmt` round-trips every construct of the new kinds (metrics, where, positive,
  regression outputs, table perturbations, data, drift).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn import metrics as skm
from spec_helpers import located

from mlspec.cli import main
from mlspec.language.formatter import format_spec
from mlspec.language.parser import parse

ROOT = Path(__file__).resolve().parents[1]
INCOME = ROOT / "specs" / "income"
INCOME_MODEL = INCOME / "model" / "adult.onnx"
ADULT = INCOME / "data" / "adult_test.csv"
DIABETES = ROOT / "specs" / "diabetes"
COLUMNS = [
    "age", "workclass", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
]  # fmt: skip
NUMERIC = {"age", "education_num", "capital_gain", "capital_loss", "hours_per_week"}
LABELS = ("<=50K", ">50K")
EXACT = {"abs": 1e-9, "rel": 0}

INCOME_MODEL_BLOCK = f"""model income {{
  onnx "{INCOME_MODEL}"
  input table columns [{", ".join(COLUMNS)}]
  output probabilities labels ["<=50K", ">50K"]
}}
"""
DIABETES_MODEL_BLOCK = f"""model progression {{
  onnx "{DIABETES / "model" / "diabetes.onnx"}"
  input table columns [age, sex, bmi, bp, s1, s2, s3, s4, s5, s6]
  output value
}}
"""


# ---------------------------------------------------------------- helpers


def spec_text(tests: str, model: str = INCOME_MODEL_BLOCK, datasets: str = f'dataset adult = csv "{ADULT}" {{ label: income, missing: "?" }}\n') -> str:
    return f'spec "m"\n{model}{datasets}\ncapability "C" {{\n{tests}}}\n'


def metrics_test(title: str, *lines: str) -> str:
    return f'  metrics "{title}" {{\n    from adult\n' + "".join(f"    {line}\n" for line in lines) + "  }\n"


def run_json(path: Path, out: Path) -> tuple[int, dict]:
    code = main(["run", str(path), "--json", str(out)])
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


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    """The income test split with the model's probabilities (onnxruntime, not mlspec):
    p_high = P(>50K), p_low = P(<=50K), pred the argmax label."""
    frame = pd.read_csv(ADULT, dtype=str, keep_default_na=False)
    options = ort.SessionOptions()  # one thread, as mlspec's runner: the same float32 outputs to the last bit
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(INCOME_MODEL), options, providers=["CPUExecutionProvider"])
    feeds = {c: frame[c].to_numpy(dtype=np.float32 if c in NUMERIC else object).reshape(-1, 1) for c in COLUMNS}
    probs = session.run(["probabilities"], feeds)[0]
    frame["p_low"], frame["p_high"] = probs[:, 0].astype(np.float64), probs[:, 1].astype(np.float64)
    frame["pred"] = np.asarray(LABELS, dtype=object)[probs.argmax(axis=1)]
    for column in NUMERIC:
        frame[column + "_n"] = frame[column].astype(float)
    return frame


# (title, spec lines, the rows it keeps as a function of the frame)
SLICES = [
    ("all rows", [], lambda f: np.ones(len(f), dtype=bool)),
    ("women", ['where sex == "Female"'], lambda f: f.sex == "Female"),
    ("high earners", ['where expected == ">50K"'], lambda f: f.income == ">50K"),
    ("sixty and over", ["where age >= 60"], lambda f: f.age_n >= 60),
    ("black or white", ['where race in ["Black", "White"]'], lambda f: f.race.isin(["Black", "White"])),
    ("not women", ['where sex != "Female"'], lambda f: f.sex != "Female"),
    ("bachelors, numeric ==", ["where education_num == 13"], lambda f: f.education_num_n == 13),
    ("young women, two slices", ['where sex == "Female"', "where age < 30"], lambda f: (f.sex == "Female") & (f.age_n < 30)),
    (
        "private, not in sales (a missing occupation kept by !=)",
        ['where workclass == "Private"', 'where occupation != "Sales"'],
        lambda f: (f.workclass == "Private") & (f.occupation != "Sales"),
    ),
]
EVERY_FIGURE = [
    "expect accuracy >= 0",
    "expect balanced_accuracy >= 0",
    'expect precision(">50K") >= 0',
    'expect recall(">50K") >= 0',
    'expect f1(">50K") >= 0',
    "expect macro_f1 >= 0",
    "expect roc_auc >= 0",
]


@pytest.fixture(scope="module")
def income_run(tmp_path_factory) -> tuple[int, dict]:
    """One run of a spec with every metrics test of this file over the income data."""
    folder = tmp_path_factory.mktemp("metrics")
    tests = "".join(metrics_test(title, *lines, *EVERY_FIGURE) for title, lines, _ in SLICES)
    tests += metrics_test("positive <=50K", 'positive "<=50K"', "expect roc_auc >= 0.9")
    tests += metrics_test("positive >50K", 'positive ">50K"', "expect roc_auc >= 0.9")
    tests += metrics_test("thresholds hold", "expect accuracy >= 0.852", 'expect recall(">50K") >= 0.595', "expect roc_auc >= 90%")
    tests += metrics_test("a threshold just out of reach", "expect accuracy >= 0.853", 'expect precision(">50K") >= 0.7')
    tests += metrics_test("undefined on minors", "where age < 18", 'expect precision(">50K") >= 0.1', "expect accuracy >= 0.5")
    tests += metrics_test("roc_auc undefined with one class", 'where expected == "<=50K"', "expect roc_auc >= 0.5", "expect accuracy >= 0.5")
    tests += metrics_test("sampled slice", "where age >= 40", "sample 500 seed 7", "expect accuracy >= 0")
    path = folder / "m.mlspec"
    path.write_text(spec_text(tests))
    return run_json(path, folder / "results.json")


def sk_figures(frame: pd.DataFrame) -> dict[str, float]:
    """sklearn's figures on `frame`; NaN where sklearn would warn and substitute a number.
    (Labels as 0/1 codes, `>50K` = 1: the same figures, in a tenth of the time strings take.)"""
    y, pred = (frame.income == ">50K").to_numpy(int), (frame.pred == ">50K").to_numpy(int)
    figures = {
        "accuracy": skm.accuracy_score(y, pred),
        "macro_f1": skm.f1_score(y, pred, average="macro", zero_division=np.nan),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
    }
    for code, label in enumerate(LABELS):
        figures[f"precision({label})"] = skm.precision_score(y, pred, pos_label=code, zero_division=np.nan)
        figures[f"recall({label})"] = skm.recall_score(y, pred, pos_label=code, zero_division=np.nan)
        figures[f"f1({label})"] = skm.f1_score(y, pred, pos_label=code, zero_division=np.nan)
    figures["roc_auc"] = skm.roc_auc_score(y, frame.p_high) if len(set(y)) == 2 else np.nan
    return figures


def assert_same_figures(metrics: dict, expected: dict) -> None:
    for name, value in expected.items():
        if np.isnan(value):
            assert metrics[name] is None, (name, metrics[name])
        else:
            assert metrics[name] == pytest.approx(value, **EXACT), name


def matrix_from_details(details: list[str]) -> np.ndarray:
    """The confusion matrix the result's details show (rows: true label; columns: predicted)."""
    assert details[0] == "confusion matrix:"
    assert details[1].split()[-2:] == list(LABELS)
    rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in details[2:4]}
    return np.array([rows[label] for label in LABELS])


# ---------------------------------------------------------------- 1. figures against sklearn


def test_the_run_fails_because_some_tests_fail(income_run):
    code, tests = income_run
    assert code == 1
    assert {t["status"] for t in tests.values()} == {"PASS", "FAIL"}


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("title, lines, keep", SLICES, ids=[s[0] for s in SLICES])
def test_figures_on_a_slice_equal_sklearn_on_the_filtered_rows(income_run, adult, title, lines, keep):
    _, tests = income_run
    result = tests[title]
    kept = adult[np.asarray(keep(adult), dtype=bool)]
    assert 0 < len(kept) <= len(adult)
    assert result["metrics"]["cases"] == len(kept)
    assert_same_figures(result["metrics"], sk_figures(kept))
    assert result["checks"][0] == "accuracy >= 0"


@pytest.mark.parametrize("title, lines, keep", SLICES, ids=[s[0] for s in SLICES])
def test_confusion_matrix_in_the_details_equals_sklearns(income_run, adult, title, lines, keep):
    _, tests = income_run
    kept = adult[np.asarray(keep(adult), dtype=bool)]
    expected = skm.confusion_matrix(kept.income, kept.pred, labels=list(LABELS))
    assert matrix_from_details(tests[title]["details"]).tolist() == expected.tolist()


def test_the_whole_split_matches_the_documented_figures(income_run):
    """DATA.md: accuracy 0.8520; 11582/853/1556/2290 (as the income demo's report shows)."""
    _, tests = income_run
    metrics = tests["all rows"]["metrics"]
    assert metrics["cases"] == 16281
    assert round(metrics["accuracy"], 4) == 0.8520
    assert matrix_from_details(tests["all rows"]["details"]).tolist() == [[11582, 853], [1556, 2290]]


def test_a_sampled_slice_keeps_that_many_rows_of_the_slice(income_run, adult):
    _, tests = income_run
    metrics = tests["sampled slice"]["metrics"]
    assert metrics["cases"] == 500
    matrix = matrix_from_details(tests["sampled slice"]["details"])
    assert matrix.sum() == 500
    # the sampled rows come from the slice: its accuracy is that of some 500 of its rows
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / 500, **EXACT)


# ---------------------------------------------------------------- 2. positive, thresholds


def test_positive_chooses_the_class_roc_auc_scores(income_run, adult):
    _, tests = income_run
    low = tests["positive <=50K"]["metrics"]["roc_auc"]
    high = tests["positive >50K"]["metrics"]["roc_auc"]
    assert low == pytest.approx(skm.roc_auc_score(adult.income == "<=50K", adult.p_low), abs=1e-12, rel=0)
    assert high == pytest.approx(skm.roc_auc_score(adult.income == ">50K", adult.p_high), abs=1e-12, rel=0)
    # not the score of the other class (its AUC is 1 - that), nor the default's float32 rounding
    assert low != high
    assert abs(low - skm.roc_auc_score(adult.income == "<=50K", adult.p_high)) > 0.5
    # the default is the model's second label
    assert tests["all rows"]["metrics"]["roc_auc"] == high


def test_thresholds_decide_pass_and_fail(income_run):
    _, tests = income_run
    holding = tests["thresholds hold"]
    assert holding["status"] == "PASS"
    assert holding["message"] == "accuracy=0.852 >= 0.852 recall(>50K)=0.5954 >= 0.595 roc_auc=0.9052 >= 0.9"
    short = tests["a threshold just out of reach"]
    assert short["status"] == "FAIL"
    assert short["message"] == "accuracy=0.852 < 0.853 precision(>50K)=0.7286 >= 0.7"


def test_an_undefined_precision_fails_and_says_undefined(income_run, adult):
    _, tests = income_run
    minors = adult[adult.age_n < 18]
    assert (minors.pred == ">50K").sum() == 0  # nothing predicted >50K: precision is 0/0
    result = tests["undefined on minors"]
    assert result["status"] == "FAIL"
    assert result["metrics"]["cases"] == len(minors) == 200
    assert result["metrics"]["precision(>50K)"] is None
    assert "precision(>50K)=undefined, expected >= 0.1" in result["message"]
    assert "accuracy=1 >= 0.5" in result["message"]  # the other figure holds; the test still fails


def test_roc_auc_with_one_class_is_undefined(income_run):
    result = income_run[1]["roc_auc undefined with one class"]
    assert result["status"] == "FAIL"
    assert result["metrics"]["roc_auc"] is None
    assert "roc_auc=undefined" in result["message"]


# ---------------------------------------------------------------- 3. located errors


METRICS_ERRORS = [
    (
        "precision without a label",
        metrics_test("t", "expect precision >= 0.5"),
        "`precision` is a figure of one label",
        "precision",
        "expect",
        "write `precision(LABEL)`",
    ),
    (
        "roc_auc with an argument",
        metrics_test("t", 'expect roc_auc(">50K") >= 0.5'),
        "`roc_auc` takes no argument",
        '">50K"',
        "roc_auc",
        None,
    ),
    (
        "a label the model lacks",
        metrics_test("t", 'expect recall(">50k") >= 0.5'),
        "unknown label `>50k`",
        '">50k"',
        "recall",
        "did you mean `>50K`?",
    ),
    (
        "a fraction above 1",
        metrics_test("t", "expect accuracy >= 1.5"),
        "`accuracy` must be between 0 and 1 (or 0% and 100%), not 1.5",
        "1.5",
        "",
        None,
    ),
    (
        "no expectation",
        metrics_test("t"),
        'metrics test "t" has no expectation',
        '"t"',
        "metrics",
        "for example `expect accuracy >= 0.8`",
    ),
    (
        "a probability in a metrics test",
        metrics_test("t", 'expect prob(">50K") > 0.5'),
        "a metrics test expects figures of the dataset, e.g. `accuracy >= 0.8` or `mae <= 50`",
        'prob(">50K") > 0.5',
        "",
        None,
    ),
    (
        "a numeric slice of a text column",
        metrics_test("t", "where sex >= 3", "expect accuracy >= 0.5"),
        "`>=` compares numbers; column `sex` holds text",
        "sex >= 3",
        "",
        None,
    ),
    (
        "a slice by a label the model lacks",
        metrics_test("t", 'where expected == "rich"', "expect accuracy >= 0.5"),
        "unknown label `rich`",
        '"rich"',
        "",
        "labels are <=50K, >50K",
    ),
]


@pytest.mark.parametrize("tests, message, needle, after, hint", [e[1:] for e in METRICS_ERRORS], ids=[e[0] for e in METRICS_ERRORS])
def test_bad_metrics_tests_are_located_errors(tmp_path, monkeypatch, capsys, tests, message, needle, after, hint):
    source = spec_text(tests)
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    located(err, "case.mlspec", source, message, needle, after, hint)


def test_a_regression_figure_on_a_classifier_is_located(tmp_path, monkeypatch, capsys):
    source = spec_text(metrics_test("t", "expect mae <= 50"))
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    head = "unknown classification figure `mae` (a regression figure: this model outputs labels)"
    located(err, "case.mlspec", source, head, "mae", "expect", hint=err.splitlines()[3].removeprefix("hint: "))


def test_a_regression_figure_on_a_classifier_gets_a_useful_hint(tmp_path, monkeypatch, capsys):
    source = spec_text(metrics_test("t", "expect mae <= 50"))
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    assert "did you mean `mae`?" not in err
    assert "accuracy" in err.splitlines()[3]  # what a classifier's figures are


def test_a_classification_figure_on_a_regressor_gets_a_useful_hint(tmp_path, monkeypatch, capsys):
    datasets = f'dataset test = csv "{DIABETES / "data" / "test.csv"}" {{ label: progression }}\n'
    source = spec_text('  metrics "t" {\n    from test\n    expect accuracy >= 0.5\n  }\n', DIABETES_MODEL_BLOCK, datasets)
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    located(
        err,
        "case.mlspec",
        source,
        "unknown regression figure `accuracy` (a classification figure: this model outputs values)",
        "accuracy",
        "expect",
        hint=err.splitlines()[3].removeprefix("hint: "),
    )
    assert "did you mean `accuracy`?" not in err


def test_a_slice_by_a_column_the_data_lacks(tmp_path, monkeypatch, capsys):
    """Found when the data is read: `check` says so (exit 2), `run` reports the test as ERROR
    with the same located message (exit 3) and runs the others."""
    tests = metrics_test("sliced", 'where gender == "Female"', "expect accuracy >= 0.5") + metrics_test("fine", "expect accuracy >= 0.5")
    source = spec_text(tests)
    err = check_errors(tmp_path, monkeypatch, capsys, source)
    message = "dataset `adult` has no column `gender`"
    hint = "columns are age, capital_gain, capital_loss, education, education_num, hours_per_week, income, marital_status, native_country, occupation, race, relationship, sex, workclass"
    located(err, "case.mlspec", source, message, "gender", "where", hint)
    code, results = run_json(tmp_path / "case.mlspec", tmp_path / "results.json")
    capsys.readouterr()
    assert code == 3
    assert results["sliced"]["status"] == "ERROR"
    located(results["sliced"]["message"], "case.mlspec", source, message, "gender", "where", hint)
    assert results["fine"]["status"] == "PASS"


# ---------------------------------------------------------------- 4. fmt


FMT_INCOME = f"""spec "fmt"
model income {{
  onnx "{INCOME_MODEL}"
  input table columns [{", ".join(COLUMNS)}]
  output probabilities labels ["<=50K",">50K"]
}}
dataset adult = csv "{ADULT}" {{ label: income,missing: "?" }}
capability "classifier" {{
  metrics "m" {{ from adult
      where sex=="Female"
    where race in ["Black","White"]
    where age>=40
    where expected != ">50K"
    positive "<=50K"
    expect accuracy>=0.8
    expect precision(">50K") >= 60%
    expect roc_auc >= 0.85 }}
  inv "n" {{
    from adult
    perturb noise(age, std: 0.1) variants 5
    expect unchanged
  }}
  inv "missing" {{ from adult
    perturb missing(occupation) then set(sex: "Female")
    expect unchanged }}
  dir "f" {{ from adult
    perturb shift(age: 5) then flip(sex)
    expect prob(">50K") not decreasing }}
  data "clean" {{
    from adult
    where age >= 17
    expect column age: integer
    expect column sex
    expect rows >= 10000
    expect missing(occupation) <= 10%
    expect missing <= 10%
    expect age between 17 and 90
    expect sex in ["Male","Female"]
    expect label in ["<=50K", ">50K"]
    expect duplicates <= 1%
    expect duplicates(age) >= 0
    expect label_share(">50K") >= 0.2
    expect min_label_share >= 0.2
    expect overlap(adult) >= 0
  }}
}}
"""
FMT_DIABETES = f"""spec "fmt"
model progression {{ onnx "{DIABETES / "model" / "diabetes.onnx"}"
  input table columns [age,sex,bmi,bp,s1,s2,s3,s4,s5,s6]
  output value }}
dataset test = csv "{DIABETES / "data" / "test.csv"}" {{label: progression}}
dataset train = csv "{DIABETES / "data" / "train.csv"}" {{ label: progression }}
capability "regression" {{
  metrics "r" {{
    from test
    where expected >= 100
    expect mae<=50
    expect mape <= 50%
    expect r2 >= 0.3
  }}
  mft "v" {{ from test
    expect value within 40% of expected
    expect value within 60 of expected
    expect value > 0
    max_fail_rate 30% }}
  inv "i" {{
    from test
    perturb set(s3: 40)
    expect value unchanged tolerance 10%
  }}
  dir "d" {{
    from test
    perturb shift(bmi: 2) then scale(bp: 1.1) then flip(sex)
    expect value not decreasing tolerance 1
  }}
  fairness "f" {{
    from test
    by sex
    metric mean value
    expect max_gap <= 20
  }}
  fairness "g" {{ from test
    by sex
    metric mae
    expect max_gap <= 10
    expect min_ratio >= 0.8 }}
  drift "since" {{ from train
    against test
    where sex == 1
    expect psi(age) <= 0.1
    expect ks_statistic(bmi) <= 0.1
    expect ks_pvalue(bmi) >= 0.01
    expect chi2_pvalue(sex) >= 0.01
    expect js_distance(bp) <= 0.1
    expect wasserstein(s5) <= 2
    expect psi(prediction) <= 0.1 }}
}}
"""
FMT_LINES = {
    "income": [
        '    where sex == "Female"',
        '    where race in ["Black", "White"]',
        "    where age >= 40",
        '    where expected != ">50K"',
        '    positive "<=50K"',
        '    expect precision(">50K") >= 60%',
        "    perturb noise(age, std: 0.1) variants 5",
        '    perturb missing(occupation) then set(sex: "Female")',
        "    perturb shift(age: 5) then flip(sex)",
        "    expect column age: integer",
        "    expect column sex",
        "    expect missing(occupation) <= 10%",
        "    expect missing <= 10%",
        "    expect age between 17 and 90",
        '    expect sex in ["Male", "Female"]',
        '    expect label in ["<=50K", ">50K"]',
        "    expect duplicates <= 1%",
        "    expect duplicates(age) >= 0",
        '    expect label_share(">50K") >= 0.2',
        "    expect min_label_share >= 0.2",
        "    expect overlap(adult) >= 0",
    ],
    "diabetes": [
        "  output value",
        "    where expected >= 100",
        "    expect mae <= 50",
        "    expect mape <= 50%",
        "    expect value within 40% of expected",
        "    expect value within 60 of expected",
        "    perturb set(s3: 40)",
        "    expect value unchanged tolerance 10%",
        "    perturb shift(bmi: 2) then scale(bp: 1.1) then flip(sex)",
        "    expect value not decreasing tolerance 1",
        "    metric mean value",
        "    metric mae",
        "    against test",
        "    where sex == 1",
        "    expect chi2_pvalue(sex) >= 0.01",
        "    expect js_distance(bp) <= 0.1",
        "    expect psi(prediction) <= 0.1",
    ],
}


def without_spans(data):
    if isinstance(data, dict):
        return {k: without_spans(v) for k, v in data.items() if not (k == "span" or k.endswith(("_span", "_spans")))}
    if isinstance(data, list):
        return [without_spans(v) for v in data]
    return data


@pytest.mark.parametrize("name, source", [("income", FMT_INCOME), ("diabetes", FMT_DIABETES)])
def test_fmt_round_trips_every_new_construct(tmp_path, monkeypatch, capsys, name, source):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "fmt.mlspec"
    path.write_text(source)
    assert main(["check", str(path)]) == 0, capsys.readouterr().err  # a valid spec, data and model included
    assert main(["fmt", str(path)]) == 0
    once = path.read_text()
    assert once != source
    assert main(["fmt", "--check", str(path)]) == 0  # formatting again changes nothing
    assert format_spec(once, "fmt.mlspec") == once
    assert without_spans(parse(once, "fmt.mlspec").model_dump()) == without_spans(parse(source, "fmt.mlspec").model_dump())
    lines = once.split("\n")
    for line in FMT_LINES[name]:  # each construct printed in its canonical form
        assert line in lines, line
