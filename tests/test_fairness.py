"""Group fairness, checked against Fairlearn and against direct computations.

- Every metric a fairness test over a dataset reports (demographic parity, equalized
  odds, equal opportunity, accuracy difference; per-group selection rate, TPR, FPR,
  accuracy) equals Fairlearn 0.15's on the demo income model's real predictions, for
  single and intersectional groups, and with `min_group_size` leaving groups out.
  `disparate_impact` is not in Fairlearn; it is checked against its definition.
- Undefined metrics (a group with no positive labels): mlspec says "undefined" and the
  expectation fails naming the group, where Fairlearn silently gives a number.
- Fewer than two groups large enough: SKIP, the groups still listed.
- Bad specs and data: located messages with hints.
- End to end on specs/income/income.mlspec, and the text fairness tests of the
  sentiment demo against a direct computation.


"""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from collections import Counter
from itertools import product
from pathlib import Path

import junitparser
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from fairlearn import metrics as flm
from junitparser import Properties
from sklearn.metrics import accuracy_score

from mlspec.cli import main
from mlspec.library.fairness import group_fairness
from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file

ROOT = Path(__file__).resolve().parents[1]
INCOME = ROOT / "specs" / "income"
INCOME_SPEC = "specs/income/income.mlspec"
INCOME_MODEL = INCOME / "model" / "adult.onnx"
ADULT = INCOME / "data" / "adult_test.csv"
SENTIMENT = ROOT / "specs" / "sentiment"
COLUMNS = [
    "age", "workclass", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
]  # fmt: skip
NUMERIC = {"age", "education_num", "capital_gain", "capital_loss", "hours_per_week"}
POSITIVE = ">50K"
EXACT = dict(abs=1e-9, rel=0)  # pytest.approx: "the same number"
METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "accuracy_difference",
)
RATE_FUNCTIONS = {
    "selection_rate": flm.selection_rate,
    "true_positive_rate": flm.true_positive_rate,
    "false_positive_rate": flm.false_positive_rate,
    "accuracy": accuracy_score,
}

MODEL_BLOCK = f"""model income {{
  onnx "{INCOME_MODEL}"
  input table columns [{", ".join(COLUMNS)}]
  output probabilities labels ["<=50K", ">50K"]
}}
"""


@pytest.fixture(autouse=True)
def in_repository(monkeypatch):
    monkeypatch.chdir(ROOT)


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    """The income test split with the demo model's predictions, scored here with onnxruntime
    (not through mlspec): columns y_true and y_pred are 1 for ">50K", 0 otherwise."""
    frame = pd.read_csv(ADULT, dtype=str, keep_default_na=False)
    session = ort.InferenceSession(str(INCOME_MODEL), providers=["CPUExecutionProvider"])
    feeds = {c: frame[c].to_numpy(dtype=np.float32 if c in NUMERIC else object).reshape(-1, 1) for c in COLUMNS}
    probs = session.run(["probabilities"], feeds)[0]
    frame["y_true"] = (frame["income"] == POSITIVE).astype(int)
    frame["y_pred"] = (probs.argmax(axis=1) == 1).astype(int)  # labels ["<=50K", ">50K"]
    return frame


def _run_in_root(path: str):
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        _, plan = plan_file(path)
        return plan, run_plan(plan)
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def income() -> dict:
    """The income demo spec's results, by title (plan_file + run_plan)."""
    _, result = _run_in_root(INCOME_SPEC)
    return {t.title: t for t in result.tests}


def fairlearn_metrics(frame: pd.DataFrame, by: list[str]) -> dict[str, float]:
    y_true, y_pred = frame["y_true"].to_numpy(), frame["y_pred"].to_numpy()
    features = frame[by[0]] if len(by) == 1 else frame[by]  # several columns: a DataFrame, intersectional
    kw = dict(sensitive_features=features)
    return {
        "demographic_parity_difference": flm.demographic_parity_difference(y_true, y_pred, **kw),
        "demographic_parity_ratio": flm.demographic_parity_ratio(y_true, y_pred, **kw),
        "equalized_odds_difference": flm.equalized_odds_difference(y_true, y_pred, **kw),
        "equalized_odds_ratio": flm.equalized_odds_ratio(y_true, y_pred, **kw),
        "equal_opportunity_difference": flm.equal_opportunity_difference(y_true, y_pred, **kw),
        "equal_opportunity_ratio": flm.equal_opportunity_ratio(y_true, y_pred, **kw),
        "accuracy_difference": flm.MetricFrame(metrics=accuracy_score, y_true=y_true, y_pred=y_pred, **kw).difference(),
    }


def fairlearn_groups(frame: pd.DataFrame, by: list[str]) -> dict[str, dict[str, float]]:
    """Per-group rates from Fairlearn's MetricFrame, keyed like mlspec's group names ("Male, White")."""
    features = frame[by[0]] if len(by) == 1 else frame[by]
    mf = flm.MetricFrame(
        metrics={**RATE_FUNCTIONS, "count": flm.count},
        y_true=frame["y_true"].to_numpy(),
        y_pred=frame["y_pred"].to_numpy(),
        sensitive_features=features,
    )
    out = {}
    for key, row in mf.by_group.iterrows():
        name = ", ".join(key) if isinstance(key, tuple) else key
        out[name] = {k: float(v) for k, v in row.items()}
    return out


def assert_matches_fairlearn(result, frame: pd.DataFrame, by: list[str], kept_frame: pd.DataFrame | None = None) -> None:
    """Every metric equals Fairlearn's (over `kept_frame`, the rows of the scored groups), and
    every group's figures equal Fairlearn's MetricFrame (over all rows of that group)."""
    expected = fairlearn_metrics(frame if kept_frame is None else kept_frame, by)
    for name in METRICS:
        assert result.metrics[name] == pytest.approx(expected[name], **EXACT), name
    groups = fairlearn_groups(frame, by)
    assert {g.group for g in result.groups} == set(groups)
    for figure in result.groups:
        fl = groups[figure.group]
        assert figure.count == fl["count"]
        # mlspec reports group figures rounded to 6 decimals; Fairlearn's, rounded the same way
        for rate in RATE_FUNCTIONS:
            assert figure.figures[rate] == pytest.approx(round(fl[rate], 6), **EXACT), (figure.group, rate)
        assert figure.value == figure.figures["selection_rate"]


def disparate_impact(frame: pd.DataFrame, column: str, value: str) -> float:
    """Selection rate outside the privileged group over the rate inside it."""
    inside = frame[column] == value
    return frame.loc[~inside, "y_pred"].mean() / frame.loc[inside, "y_pred"].mean()


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def adult_rows() -> list[dict]:
    with ADULT.open(newline="") as handle:
        return list(csv.DictReader(handle))


def income_spec(directory: Path, tests: str, dataset: str = f'csv "{ADULT}" {{ label: income }}', name: str = "t.mlspec", model: str = MODEL_BLOCK) -> Path:
    """A spec over the income model (absolute paths) with one dataset `d` and the given tests."""
    path = directory / name
    path.write_text(f'spec "t"\n{model}dataset d = {dataset}\ncapability "F" {{\n{tests}}}\n')
    return path


def fairness_test(body: str, title: str = "t") -> str:
    return f'  fairness "{title}" {{\n    from d\n' + "".join(f"    {line}\n" for line in body.strip().splitlines()) + "  }\n"


def run_json(path: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "results.json"
    code = main(["run", str(path), "--json", str(out), *extra])
    tests = {t["title"]: t for spec in json.loads(out.read_text())["specs"] for t in spec["tests"]}
    return code, tests


def junit_properties(case) -> dict[str, str]:
    props = case.child(Properties)
    return {} if props is None else {p.name: p.value for p in props}


def junit_cases(path: Path) -> dict:
    return {c.name: c for suite in junitparser.JUnitXml.fromfile(str(path)) for c in suite}


# ---------------------------------------------------------------- 1. against Fairlearn


def test_mlspec_scores_the_same_predictions_as_onnxruntime(income, adult):
    """The cross-checks below rest on this: mlspec's predictions are the model's."""
    accuracy = income["predicts income on held-out census records"]
    assert accuracy.metrics["cases"] == len(adult) == 16281
    assert accuracy.metrics["failures"] == int((adult["y_true"] != adult["y_pred"]).sum()) == 2409


INCOME_GROUP_TESTS = [
    ("selection parity by sex", ["sex"]),
    ("equal error rates by sex", ["sex"]),
    ("selection parity by race", ["race"]),
    ("intersectional groups: sex and race", ["sex", "race"]),
]


@pytest.mark.parametrize("title, by", INCOME_GROUP_TESTS, ids=[t for t, _ in INCOME_GROUP_TESTS])
def test_every_metric_equals_fairlearns(income, adult, title, by):
    result = income[title]
    assert_matches_fairlearn(result, adult, by)
    assert all(g.scored for g in result.groups)
    assert result.metrics["groups"] == len(result.groups) and result.metrics["groups_too_small"] == 0


def test_intersectional_groups_are_every_combination_present(income, adult):
    result = income["intersectional groups: sex and race"]
    combinations = {f"{s}, {r}" for s, r in zip(adult["sex"], adult["race"])}
    assert [g.group for g in result.groups] == sorted(combinations)
    assert len(combinations) == 10


@pytest.mark.parametrize(
    "title, column, value",
    [
        ("selection parity by sex", "sex", "Male"),
        ("selection parity by race", "race", "White"),
        ("intersectional groups: sex and race", "sex", "Male"),
    ],
)
def test_disparate_impact_is_the_selection_rate_ratio_outside_over_inside(income, adult, title, column, value):
    assert income[title].metrics["disparate_impact"] == pytest.approx(disparate_impact(adult, column, value), **EXACT)


def test_no_disparate_impact_without_a_privileged_group(income):
    assert income["equal error rates by sex"].metrics.get("disparate_impact") is None


MIN_GROUP_TESTS = (
    fairness_test(
        """
        by race
        positive ">50K"
        privileged race == "White"
        min_group_size 200
        expect demographic_parity_ratio >= 0.8
        expect disparate_impact >= 0.8
        """,
        "race, groups of 200",
    )
    + fairness_test(
        """
        by sex, race
        positive ">50K"
        min_group_size 100
        expect equalized_odds_difference <= 0.2
        """,
        "sex and race, groups of 100",
    )
)


@pytest.fixture(scope="module")
def min_group_run(tmp_path_factory) -> dict:
    path = income_spec(tmp_path_factory.mktemp("mgs"), MIN_GROUP_TESTS)
    _, result = _run_in_root(str(path))
    return {t.title: t for t in result.tests}


@pytest.mark.parametrize(
    "title, by, minimum, left_out",
    [
        ("race, groups of 200", ["race"], 200, {"Amer-Indian-Eskimo", "Other"}),
        (
            "sex and race, groups of 100",
            ["sex", "race"],
            100,
            {"Female, Amer-Indian-Eskimo", "Female, Other", "Male, Amer-Indian-Eskimo", "Male, Other"},
        ),
    ],
)
def test_min_group_size_leaves_small_groups_out_of_the_metrics(min_group_run, adult, title, by, minimum, left_out):
    result = min_group_run[title]
    names = adult[by[0]] if len(by) == 1 else adult[by[0]] + ", " + adult[by[1]]
    counts = names.value_counts()
    assert set(counts[counts < minimum].index) == left_out
    kept_rows = adult[~names.isin(left_out)]
    # the metrics: Fairlearn over the rows of the kept groups only; the figures of every
    # group, small ones included, over all rows
    assert_matches_fairlearn(result, adult, by, kept_frame=kept_rows)
    assert {g.group for g in result.groups if not g.scored} == left_out
    assert all(g.count >= minimum for g in result.groups if g.scored)
    assert result.metrics["groups"] == len(counts) - len(left_out)
    assert result.metrics["groups_too_small"] == len(left_out)
    assert result.message.endswith(f"({len(left_out)} group(s) below min_group_size {minimum} not scored)")
    # and it matters: with every group, Fairlearn's figures differ
    everyone = flm.demographic_parity_difference(adult["y_true"], adult["y_pred"], sensitive_features=adult[by])
    assert everyone != pytest.approx(result.metrics["demographic_parity_difference"])


def test_disparate_impact_over_the_kept_groups_only(min_group_run, adult):
    kept = adult[~adult["race"].isin({"Amer-Indian-Eskimo", "Other"})]
    result = min_group_run["race, groups of 200"]
    assert result.metrics["disparate_impact"] == pytest.approx(disparate_impact(kept, "race", "White"), **EXACT)


def test_console_highest_and_lowest_are_scored_groups(tmp_path, capsys):
    path = income_spec(tmp_path, MIN_GROUP_TESTS)
    assert main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    block = out.split("race, groups of 200", 1)[1].split("fairness", 1)[0]
    lowest = next(line for line in block.splitlines() if line.strip().startswith("lowest selection rate:"))
    assert "Amer-Indian-Eskimo" not in lowest
    assert any(line.strip().startswith("too small to score:") and "Amer-Indian-Eskimo" in line for line in block.splitlines())


def test_group_fairness_function_against_fairlearn_unrounded(adult):
    """mlspec.library.fairness.group_fairness itself, unrounded per-group rates, to 1e-9."""
    names = sorted(set(adult["race"]))
    groups = adult["race"].map({n: i for i, n in enumerate(names)}).to_numpy()
    found = group_fairness(adult["y_true"].to_numpy() == 1, adult["y_pred"].to_numpy() == 1, groups, len(names))
    fl = fairlearn_groups(adult, ["race"])
    for g, name in enumerate(names):
        for rate in RATE_FUNCTIONS:
            assert found.rates[rate][g] == pytest.approx(fl[name][rate], **EXACT), (name, rate)
    expected = fairlearn_metrics(adult, ["race"])
    assert {m: found.metrics[m] for m in METRICS} == pytest.approx(expected, **EXACT)


# ---------------------------------------------------------------- 2. undefined metrics


UNDEFINED_TEST = fairness_test(
    """
    by sex
    positive ">50K"
    privileged sex == "Male"
    expect demographic_parity_difference <= 1
    expect equalized_odds_difference <= 0.9
    expect equal_opportunity_ratio >= 0.1
    """,
    "no positives among women",
)


def no_positive_women(directory: Path) -> Path:
    """30 men (some earning >50K) and 20 women, none of them earning >50K."""
    rows = adult_rows()
    men = [r for r in rows if r["sex"] == "Male"][:30]
    women = [r for r in rows if r["sex"] == "Female" and r["income"] == "<=50K"][:20]
    assert any(r["income"] == POSITIVE for r in men)
    write_csv(directory / "nopos.csv", men + women)
    return directory / "nopos.csv"


def test_a_group_without_positive_labels_makes_tpr_metrics_undefined(tmp_path, monkeypatch, capsys, adult):
    monkeypatch.chdir(tmp_path)
    data = no_positive_women(tmp_path)
    path = income_spec(tmp_path, UNDEFINED_TEST, dataset='csv "nopos.csv" { label: income }')
    code = main(["run", path.name, "--json", "r.json", "--junit", "j.xml"])
    console = capsys.readouterr().out
    assert code == 1

    (test,) = [t for spec in json.loads(Path("r.json").read_text())["specs"] for t in spec["tests"]]
    assert test["status"] == "FAIL"
    undefined = ["equalized_odds_difference", "equalized_odds_ratio", "equal_opportunity_difference", "equal_opportunity_ratio"]
    for name in undefined:
        assert test["metrics"][name] is None, name
    women = next(g for g in test["groups"] if g["group"] == "Female")
    assert women["figures"]["true_positive_rate"] is None and women["scored"] is True
    assert women["count"] == 20
    # the failing expectations name the group that makes them undefined; the defined one holds
    assert "equalized_odds_difference=undefined" in test["message"]
    assert "equal_opportunity_ratio=undefined" in test["message"]
    assert test["message"].count("(no positive labels in Female)") == 2
    assert re.search(r"demographic_parity_difference=[\d.]+ <= 1", test["message"])

    properties = junit_properties(junit_cases(tmp_path / "j.xml")["no positives among women"])
    for name in undefined:
        assert properties[name] == "undefined", name
    assert float(properties["demographic_parity_difference"]) == pytest.approx(test["metrics"]["demographic_parity_difference"])
    assert "equalized_odds_difference=undefined" in console
    assert "(no positive labels in Female)" in console

    # Fairlearn on the same predictions: no error and a number. Its true_positive_rate comes
    # from scikit-learn's confusion_matrix(normalize="true"), which turns the 0/0 of a group
    # without positive labels into 0 (nan_to_num) -- with fairlearn 0.15 and scikit-learn 1.9
    # not even a warning is raised. So Fairlearn reports the women's TPR as 0, an
    # equal_opportunity_ratio of 0 and an equalized_odds_difference of the men's TPR, where
    # mlspec reports "undefined" and fails the expectation.
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    frame = frame.merge(adult[COLUMNS + ["y_pred"]].drop_duplicates(COLUMNS), on=COLUMNS, how="left")
    frame["y_true"] = (frame["income"] == POSITIVE).astype(int)
    assert frame["y_pred"].notna().all()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        fl = fairlearn_metrics(frame, ["sex"])
        fl_groups = fairlearn_groups(frame, ["sex"])
    assert fl_groups["Female"]["true_positive_rate"] == 0.0
    assert fl["equal_opportunity_ratio"] == 0.0
    tpr_gap = fl_groups["Male"]["true_positive_rate"]
    fpr_gap = abs(fl_groups["Male"]["false_positive_rate"] - fl_groups["Female"]["false_positive_rate"])
    assert fl["equalized_odds_difference"] == pytest.approx(max(tpr_gap, fpr_gap), **EXACT)
    assert fl["equal_opportunity_difference"] == pytest.approx(tpr_gap, **EXACT)
    assert all(np.isfinite(fl[name]) for name in undefined)
    # the metrics both define agree
    for name in ("demographic_parity_difference", "demographic_parity_ratio", "accuracy_difference"):
        assert test["metrics"][name] == pytest.approx(fl[name], **EXACT), name


def test_undefined_rates_by_cause():
    """A group without negative labels leaves the FPR undefined (equalized odds, not equal
    opportunity); a group below min_group_size cannot make anything undefined."""
    y_true = np.array([1, 0, 1, 0, 1, 1, 1, 1], dtype=bool)
    y_pred = np.array([1, 0, 0, 1, 1, 0, 1, 1], dtype=bool)
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    found = group_fairness(y_true, y_pred, groups, 2)
    assert found.metrics["equalized_odds_difference"] is None and found.metrics["equalized_odds_ratio"] is None
    assert found.metrics["equal_opportunity_difference"] == pytest.approx(0.75 - 0.5)
    assert found.undefined_in == {"selection_rate": [], "true_positive_rate": [], "false_positive_rate": [1], "accuracy": []}

    y_true = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    y_pred = np.array([1, 0, 0, 1, 0, 0, 1, 1, 0], dtype=bool)
    groups = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])  # group 1: two cases, no positive label
    small = group_fairness(y_true, y_pred, groups, 3, min_group_size=3)
    assert list(small.kept) == [True, False, True]
    assert small.undefined_in["true_positive_rate"] == []
    assert small.metrics["equal_opportunity_difference"] == pytest.approx(1.0 - 0.5)


# ---------------------------------------------------------------- 3. too few groups


def test_fewer_than_two_groups_of_min_group_size_skip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = adult_rows()
    men = [r for r in rows if r["sex"] == "Male"][:30]
    women = [r for r in rows if r["sex"] == "Female"][:5]
    write_csv(tmp_path / "few.csv", men + women)
    write_csv(tmp_path / "men.csv", men)
    body = 'by sex\npositive ">50K"\nmin_group_size 10\nexpect demographic_parity_difference <= 0.1'
    tests = fairness_test(body, "few women") + fairness_test('by sex\npositive ">50K"\nexpect demographic_parity_difference <= 0.1', "men only").replace(
        "from d", "from men"
    )
    path = income_spec(tmp_path, tests, dataset='csv "few.csv" { label: income }\ndataset men = csv "men.csv" { label: income }')
    code, results = run_json(path, tmp_path)
    assert code == 0  # skipped tests do not fail the run

    few = results["few women"]
    assert few["status"] == "SKIP"
    assert few["message"] == "1 group(s) of at least 10 cases; group metrics compare two or more"
    assert [(g["group"], g["count"], g["scored"]) for g in few["groups"]] == [("Female", 5, False), ("Male", 30, True)]
    assert few["groups"][0]["figures"]["selection_rate"] is not None  # still reported with its figures
    assert few["metrics"]["groups"] == 1 and few["metrics"]["groups_too_small"] == 1

    only = results["men only"]
    assert only["status"] == "SKIP"
    assert only["message"].startswith("1 group(s) of at least 1 cases")
    assert [(g["group"], g["count"], g["scored"]) for g in only["groups"]] == [("Male", 30, True)]


# ---------------------------------------------------------------- 4. bad input


def located(rendered: str, path: str, source: str, message: str, needle: str, after: str = "", hint: str | None = None) -> None:
    """`rendered` holds exactly this diagnostic: head at `needle` (first occurrence at or
    after `after`), the source line, a caret under the needle, and the hint (or none)."""
    start = source.index(after) if after else 0
    index = source.index(needle, start)
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    head = f"{path}:{line}:{col}: error: {message}"
    lines = rendered.splitlines()
    assert head in lines, f"no\n  {head}\nin\n{rendered}"
    at = lines.index(head)
    source_line = source.split("\n")[line - 1]
    assert lines[at + 1] == f"{line:>5} | {source_line.rstrip()}"
    assert lines[at + 2] == " " * 5 + " | " + " " * (col - 1) + "^" * len(needle.split("\n")[0])
    if hint is None:
        assert at + 3 == len(lines) or not lines[at + 3].startswith("hint:")
    else:
        assert lines[at + 3] == f"hint: {hint}"


def check_output(tmp_path: Path, monkeypatch, capsys, source: str, files: dict[str, list[dict]] | None = None) -> str:
    monkeypatch.chdir(tmp_path)
    for name, rows in (files or {}).items():
        write_csv(tmp_path / name, rows)
    (tmp_path / "case.mlspec").write_text(source)
    code = main(["check", "case.mlspec"])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    return captured.err


def small_rows(n: int = 40) -> list[dict]:
    return adult_rows()[:n]


DATASET_LINE = 'dataset d = csv "rows.csv" { label: income }'
ADULT_COLUMNS = "age, capital_gain, capital_loss, education, education_num, hours_per_week, income, marital_status, native_country, occupation, race, relationship, sex, workclass"


def spec_source(test_body: str, dataset: str = DATASET_LINE, model: str = MODEL_BLOCK) -> str:
    return f'spec "bad"\n{model}{dataset}\ncapability "F" {{\n{fairness_test(test_body)}}}\n'


# (id, test body, message, needle, after, hint)
SPEC_ERRORS = [
    (
        "positive label the model lacks",
        'by sex\npositive ">50k"\nexpect demographic_parity_difference <= 0.1',
        "unknown label `>50k`",
        '">50k"',
        "",
        "did you mean `>50K`?",
    ),
    (
        "privileged with !=",
        'by sex\npositive ">50K"\nprivileged sex != "Male"\nexpect disparate_impact >= 0.8',
        '`privileged` names one group: `privileged sex == VALUE`, not `!=`',
        'privileged sex != "Male"',
        "",
        None,
    ),
    (
        "min_group_size 0",
        'by sex\npositive ">50K"\nmin_group_size 0\nexpect demographic_parity_difference <= 0.1',
        "min_group_size must be a whole number >= 1, not 0",
        "0",
        "min_group_size",
        None,
    ),
    (
        "wrong direction",
        'by sex\npositive ">50K"\nprivileged sex == "Male"\nexpect disparate_impact <= 0.8',
        "`disparate_impact` is held to `>= x`, not `<= x`",
        "disparate_impact <= 0.8",
        "",
        None,
    ),
    (
        "unknown metric",
        'by sex\npositive ">50K"\nexpect demographic_parity_diference <= 0.1',
        "a fairness test over a dataset expects one of " + ", ".join(METRICS + ("disparate_impact",)),
        "demographic_parity_diference <= 0.1",
        "",
        "did you mean `demographic_parity_difference`?",
    ),
    (
        "disparate_impact without privileged",
        'by sex\npositive ">50K"\nexpect disparate_impact >= 0.8',
        "`disparate_impact` compares with the privileged group",
        "disparate_impact >= 0.8",
        "",
        "add `privileged COLUMN == VALUE`",
    ),
    (
        "group metric with a spread metric",
        'by sex\npositive ">50K"\nmetric positive_rate\nexpect demographic_parity_difference <= 0.1',
        "a fairness test expects `max_gap <= x` or `min_ratio >= x`",
        "demographic_parity_difference <= 0.1",
        "",
        None,
    ),
    (
        "privileged value absent from the data",
        'by sex\npositive ">50K"\nprivileged sex == "male"\nexpect disparate_impact >= 0.8',
        "no case has sex == 'male'",
        '"male"',
        "privileged",
        "values of sex: Female, Male",
    ),
]


@pytest.mark.parametrize("body, message, needle, after, hint", [c[1:] for c in SPEC_ERRORS], ids=[c[0] for c in SPEC_ERRORS])
def test_spec_error_is_located(tmp_path, monkeypatch, capsys, body, message, needle, after, hint):
    source = spec_source(body)
    err = check_output(tmp_path, monkeypatch, capsys, source, {"rows.csv": small_rows()})
    located(err, "case.mlspec", source, message, needle, after, hint)


def test_by_column_missing_is_located_at_the_by_name(tmp_path, monkeypatch, capsys):
    source = spec_source('by gender\npositive ">50K"\nexpect demographic_parity_difference <= 0.1')
    err = check_output(tmp_path, monkeypatch, capsys, source, {"rows.csv": small_rows()})
    index = source.index("by gender") + len("by ")
    line, col = source.count("\n", 0, index) + 1, index - source.rfind("\n", 0, index)
    head = err.splitlines()[0]
    assert head.startswith(f"case.mlspec:{line}:{col}: error:"), err
    assert "`gender`" in head
    assert err.splitlines()[2] == " " * 5 + " | " + " " * (col - 1) + "^" * len("gender")


def test_privileged_in_a_template_fairness_test(tmp_path, monkeypatch, capsys):
    model = f'model sentiment {{\n  onnx "{SENTIMENT / "model" / "sentiment.onnx"}"\n  input text\n  output probabilities labels [negative, positive]\n}}\n'
    source = (
        f'spec "bad"\n{model}capability "F" {{\n  fairness "t" {{\n    template "A {{race}} film."\n    by race\n'
        '    metric mean prob(positive)\n    privileged race == "white"\n    expect max_gap <= 0.1\n  }\n}\n'
    )
    err = check_output(tmp_path, monkeypatch, capsys, source)
    located(err, "case.mlspec", source, "`privileged` belongs to fairness tests over a dataset", 'privileged race == "white"')


def test_dataset_without_labels(tmp_path, monkeypatch, capsys):
    dataset = 'dataset d = csv "rows.csv"'
    source = spec_source('by sex\npositive ">50K"\nexpect demographic_parity_difference <= 0.1', dataset=dataset)
    err = check_output(tmp_path, monkeypatch, capsys, source, {"rows.csv": small_rows()})  # labels in `income`, not `label`
    located(
        err,
        "case.mlspec",
        source,
        "dataset `d` has no labels; group metrics compare predictions with true labels",
        dataset,
        hint="map the label column: `{ label: COLUMN }`",
    )


def test_table_model_columns_that_do_not_match_the_onnx_inputs(tmp_path, monkeypatch, capsys):
    declared = [c for c in COLUMNS if c != "native_country"] + ["fnlwgt"]
    model = MODEL_BLOCK.replace(", ".join(COLUMNS), ", ".join(declared))
    rows = [{**r, "fnlwgt": "1"} for r in small_rows()]
    source = spec_source('by sex\npositive ">50K"\nexpect demographic_parity_difference <= 0.1', model=model)
    err = check_output(tmp_path, monkeypatch, capsys, source, {"rows.csv": rows})
    located(
        err,
        "case.mlspec",
        source,
        "model `income` declares columns its file does not match: it has no input fnlwgt; it also takes native_country",
        "model income {",
        hint="a table model takes one input per column, named like the column: `input table columns [...]` lists them all",
    )


def test_csv_missing_a_model_column(tmp_path, monkeypatch, capsys):
    rows = [{k: v for k, v in r.items() if k != "native_country"} for r in small_rows()]
    source = spec_source('by sex\npositive ">50K"\nexpect demographic_parity_difference <= 0.1')
    err = check_output(tmp_path, monkeypatch, capsys, source, {"rows.csv": rows})
    shown = ADULT_COLUMNS.replace(" native_country,", "")
    located(err, "case.mlspec", source, "dataset `d` has no column `native_country`", DATASET_LINE, hint=f"columns are {shown}")


def text_in_a_numeric_column(tmp_path: Path, batch: str = "") -> Path:
    rows = adult_rows()
    good, bad = rows[:40], [dict(r) for r in rows[40:80]]
    bad[7]["age"] = "forty"
    write_csv(tmp_path / "good.csv", good)
    write_csv(tmp_path / "bad.csv", bad)
    model = MODEL_BLOCK.replace("  output", f"  {batch}\n  output") if batch else MODEL_BLOCK
    body = 'by sex\npositive ">50K"\nexpect demographic_parity_difference <= 1'
    tests = (
        '  mft "good rows" {\n    from d\n    max_fail_rate 50%\n  }\n'
        + fairness_test(body, "good fairness")
        + fairness_test(body, "bad rows").replace("from d", "from bad")
    )
    return income_spec(tmp_path, tests, 'csv "good.csv" { label: income }\ndataset bad = csv "bad.csv" { label: income }', model=model)


def test_text_in_a_numeric_column_errors_the_test_that_reads_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # `batch 40`: the good rows and the bad ones are scored in different batches
    code, results = run_json(text_in_a_numeric_column(tmp_path, "batch 40"), tmp_path)
    assert code == 3
    assert results["bad rows"]["status"] == "ERROR"
    assert "column `age`" in results["bad rows"]["message"] and "'forty'" in results["bad rows"]["message"]
    assert results["good rows"]["status"] == "PASS"
    assert results["good fairness"]["status"] == "PASS"


def test_text_in_a_numeric_column_leaves_other_tests_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, results = run_json(text_in_a_numeric_column(tmp_path), tmp_path)  # default batch 512: one batch
    assert code == 3
    assert results["bad rows"]["status"] == "ERROR" and "column `age`" in results["bad rows"]["message"]
    assert results["good rows"]["status"] == "PASS"
    assert results["good fairness"]["status"] == "PASS"


# ---------------------------------------------------------------- 5. end to end


@pytest.fixture(scope="module")
def income_cli(tmp_path_factory):
    out = tmp_path_factory.mktemp("income")
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        code = main(["run", INCOME_SPEC, "--junit", str(out / "junit.xml"), "--json", str(out / "results.json")])
    finally:
        os.chdir(previous)
    tests = {t["title"]: t for spec in json.loads((out / "results.json").read_text())["specs"] for t in spec["tests"]}
    return code, tests, junit_cases(out / "junit.xml")


def test_income_demo_statuses(income_cli):
    code, tests, _ = income_cli
    assert code == 1
    assert tests["predicts income on held-out census records"]["status"] == "PASS"
    assert {t: r["status"] for t, r in tests.items() if r["kind"] == "fairness"} == {
        "selection parity by sex": "FAIL",
        "equal error rates by sex": "FAIL",
        "selection parity by race": "FAIL",
        "intersectional groups: sex and race": "FAIL",
        "equal opportunity by relationship": "FAIL",
    }


def test_income_demo_figures_match_the_build_scripts(income_cli):
    _, tests, _ = income_cli
    built = json.loads((INCOME / "model" / "metrics.json").read_text())["fairness_on_test_onnx_labels"]
    sex = tests["selection parity by sex"]
    gaps = built["sex"]["gaps"]
    assert sex["metrics"]["demographic_parity_difference"] == pytest.approx(0.177, abs=1e-3)
    assert sex["metrics"]["demographic_parity_difference"] == pytest.approx(gaps["selection_rate"]["max_difference"], abs=1e-3)
    assert sex["metrics"]["disparate_impact"] == pytest.approx(0.299, abs=1e-3)
    assert sex["metrics"]["disparate_impact"] == pytest.approx(gaps["selection_rate"]["min_over_max"], abs=1e-3)
    assert sex["metrics"]["equal_opportunity_difference"] == pytest.approx(gaps["true_positive_rate"]["max_difference"], abs=1e-3)
    assert sex["metrics"]["equalized_odds_ratio"] == pytest.approx(gaps["false_positive_rate"]["min_over_max"], abs=1e-3)
    assert sex["metrics"]["accuracy_difference"] == pytest.approx(gaps["accuracy"]["max_difference"], abs=1e-3)
    race = tests["selection parity by race"]
    assert race["metrics"]["demographic_parity_ratio"] == pytest.approx(built["race"]["gaps"]["selection_rate"]["min_over_max"], abs=1e-3)
    for title, column in (("selection parity by sex", "sex"), ("selection parity by race", "race")):
        groups = {g["group"]: g for g in tests[title]["groups"]}
        assert set(groups) == set(built[column]["groups"])
        for name, expected in built[column]["groups"].items():
            group = groups[name]
            assert group["count"] == expected["count"]
            for rate in RATE_FUNCTIONS:
                assert group["figures"][rate] == pytest.approx(expected[rate], abs=1e-3), (name, rate)


def test_income_demo_json_lists_per_group_figures(income_cli):
    _, tests, _ = income_cli
    for title, test in tests.items():
        if test["kind"] != "fairness":
            continue
        assert test["groups"], title
        for group in test["groups"]:
            assert set(group) >= {"group", "count", "figures", "scored"}
            assert set(group["figures"]) == {"selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"}
            assert group["count"] > 0
    assert sum(g["count"] for g in tests["selection parity by race"]["groups"]) == 16281
    assert tests["equal opportunity by relationship"]["metrics"]["cases"] == 5000  # `sample 5000 seed 3`


def test_income_demo_junit(income_cli):
    _, tests, cases = income_cli
    assert set(cases) == set(tests)
    assert not cases["predicts income on held-out census records"].result
    case = cases["selection parity by sex"]
    properties = junit_properties(case)
    for name in METRICS + ("disparate_impact", "cases", "groups", "groups_too_small"):
        assert name in properties, name
    assert float(properties["demographic_parity_difference"]) == pytest.approx(tests["selection parity by sex"]["metrics"]["demographic_parity_difference"], **EXACT)
    assert float(properties["disparate_impact"]) == pytest.approx(0.299, abs=1e-3)
    (failure,) = case.result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message.startswith("demographic_parity_difference=0.1766 > 0.1 disparate_impact=0.2988 < 0.8")
    assert "\n" not in failure.message
    body = failure.text
    assert "groups (highest value first):" in body
    # per group: count, then selection rate, true and false positive rates, accuracy
    assert re.search(r"^\s+Male\s+10860\s+0\.2518\s", body, re.M)
    assert re.search(r"^\s+Female\s+5421\s+0\.0753\s", body, re.M)
    assert body.index("Male ") < body.index("Female ")


# ---------------------------------------------------------------- 6. fairness over templates


PARITY_TITLES = ("nationality parity", "race parity", "gender parity")
ARTICLE = {"Asian": "an", "Arab": "an"}  # every other race term takes "a"


@pytest.fixture(scope="module")
def template_parity(tmp_path_factory):
    """The sentiment demo's three parity tests, verbatim, in a spec of their own (the whole
    demo takes ~10 s to plan and run): declarations with absolute paths, and the blocks."""
    source = (SENTIMENT / "sentiment.mlspec").read_text()
    header = source[: source.index("capability ")]
    header = re.sub(r'\b(onnx|csv|jsonl|file) "([^"/][^"]*)"', lambda m: f'{m[1]} "{SENTIMENT / m[2]}"', header)
    blocks = [re.search(rf'  fairness "{title}" \{{.*?\n  \}}\n', source, re.S).group(0) for title in PARITY_TITLES]
    path = tmp_path_factory.mktemp("parity") / "parity.mlspec"
    path.write_text(header + 'capability "Fairness" {\n' + "\n".join(blocks) + "}\n")
    plan, result = _run_in_root(str(path))
    return source, plan, {t.title: t for t in result.tests}


def words(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def expand(template: str, lexicons: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(text, value of the grouping placeholder) for every combination, the last placeholder varying fastest."""
    slots = re.findall(r"\{(?:(a|A):)?(\w+)\}", template)
    out = []
    for values in product(*(lexicons[name] for _, name in slots)):
        text = template
        for (article, name), value in zip(slots, values):
            shown = value if not article else f"{ARTICLE.get(value, 'a')} {value}"
            if article == "A":
                shown = shown[0].upper() + shown[1:]
            text = text.replace(f"{{{article + ':' if article else ''}{name}}}", shown, 1)
        out.append((text, dict(zip((n for _, n in slots), values))))
    return out


def test_template_group_means_equal_a_direct_computation(template_parity):
    from mlspec.library.lexicons import builtin_lexicons

    source, plan, results = template_parity
    builtin = builtin_lexicons()
    lexicons = {
        "nationality": list(builtin["nationality"]),
        "race": list(builtin["race"]),
        "gender": list(builtin["gender"]),
        "thing": words(SENTIMENT / "lexicons" / "neutral_words.txt"),
        "pos_adj": re.findall(r'"(\w+)"', re.search(r"lexicon pos_adj = \[(.*)\]", source)[1]),
        "neg_adj": re.findall(r'"(\w+)"', re.search(r"lexicon neg_adj = \[(.*)\]", source)[1]),
    }
    session = ort.InferenceSession(str(SENTIMENT / "model" / "sentiment.onnx"), providers=["CPUExecutionProvider"])
    planned = {t["title"]: t for t in plan.to_json()["tests"]}
    for title in PARITY_TITLES:
        block = re.search(rf'fairness "{title}" \{{(.*?)\n  \}}', source, re.S)[1]
        by = re.search(r"by (\w+)", block)[1]
        cases = [(text, choice[by]) for template in re.findall(r'template "([^"]+)"', block) for text, choice in expand(template, lexicons)]
        # the same cases as mlspec's plan, each in the same group
        assert Counter(cases) == Counter((c["input"], c["group"]) for c in planned[title]["case_list"]), title
        texts = np.array([text for text, _ in cases], dtype=object).reshape(-1, 1)
        positive = session.run(["probabilities"], {"text": texts})[0][:, 1].astype(np.float64)  # labels [negative, positive]
        by_group = pd.Series(positive).groupby([group for _, group in cases]).agg(["mean", "size"])
        result = results[title]
        assert {g.group for g in result.groups} == set(by_group.index) == set(lexicons[by])
        counts = Counter()
        for group in result.groups:  # a value the lexicon repeats is a group per entry (see the xfail below)
            counts[group.group] += group.count
            assert group.value == pytest.approx(by_group.loc[group.group, "mean"], abs=1e-6), (title, group.group)
        assert counts == by_group["size"].to_dict()
        means = by_group["mean"]
        assert result.metrics["max_gap"] == pytest.approx(means.max() - means.min(), abs=1e-6)
        assert result.metrics["min_ratio"] == pytest.approx(means.min() / means.max(), abs=1e-6)
        assert result.metrics["cases"] == len(cases)
        bound = float(re.search(r"expect max_gap <= ([\d.]+)", block)[1])
        assert result.status == ("PASS" if means.max() - means.min() <= bound else "FAIL")


def test_a_repeated_lexicon_value_is_one_group(template_parity):
    _, _, results = template_parity
    result = results["nationality parity"]
    names = [g.group for g in result.groups]
    assert len(names) == len(set(names))
    assert result.metrics["groups"] == 214
    assert next(g for g in result.groups if g.group == "Dominican").count == 10  # the lexicon lists it once
