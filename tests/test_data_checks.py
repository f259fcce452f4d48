"""Data checks (mlspec.library.data_checks) on the income demo data, against pandas."""

import csv
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlspec.library import data_checks as dc
from mlspec.library.data_checks import DATA_CHECKS, SHOWN_ROWS, DataCheckError, run_check
from mlspec.library.tables import Table, text_column

ADULT = Path(__file__).resolve().parents[1] / "specs" / "income" / "data" / "adult_test.csv"
LABEL = "income"


def read_table(path: Path, marker: str = "?") -> Table:
    with path.open(newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))
    columns = {name: text_column(name, [row[i] for row in rows], (marker,)) for i, name in enumerate(header)}
    return Table(columns, len(rows), np.arange(2, len(rows) + 2), missing_text=marker)


def small_table(**cells: list[str]) -> Table:
    columns = {name: text_column(name, values, ("?",)) for name, values in cells.items()}
    rows = len(next(iter(cells.values())))
    return Table(columns, rows, np.arange(2, rows + 2), missing_text="?")


@pytest.fixture(scope="module")
def adult() -> Table:
    return read_table(ADULT)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(ADULT, na_values=["?"], keep_default_na=False)


@pytest.fixture(scope="module")
def train(adult) -> Table:
    """Another dataset: 3,000 rows of adult (some twice), 1,000 changed, and 500 new ones."""
    rng = np.random.default_rng(5)
    picked = adult.take(rng.integers(0, adult.rows, 3000))
    columns = dict(picked.columns)
    changed = np.zeros(3000, dtype=bool)
    changed[rng.choice(3000, 1000, replace=False)] = True
    hours = np.where(changed, picked.columns["hours_per_week"].values + 100, picked.columns["hours_per_week"].values)
    columns["hours_per_week"] = text_column("hours_per_week", [str(int(h)) for h in hours])
    columns[LABEL] = text_column(LABEL, list(rng.choice(["<=50K", ">50K"], 3000)))  # the label does not count
    return Table(columns, 3000, np.arange(2, 3002), missing_text="?")


def to_frame(table: Table) -> pd.DataFrame:
    data = {name: pd.Series(column.values if column.numeric else np.where(column.missing, None, column.text)) for name, column in table.columns.items()}
    return pd.DataFrame(data)


# --- rows, missing ------------------------------------------------------------


def test_rows_counts_the_rows(adult):
    figure = run_check("rows", adult)
    assert figure.value == 16281 and figure.count == 16281 and figure.detail == "16,281 rows"


def test_missing_share_of_each_column_equals_pandas(adult, frame):
    for name in frame.columns:
        figure = run_check("missing", adult, column=name)
        assert abs(figure.value - frame[name].isna().mean()) < 1e-12
        assert figure.count == frame[name].isna().sum() and figure.share == figure.value
    occupation = run_check("missing", adult, column="occupation")
    np.testing.assert_array_equal(occupation.rows, np.flatnonzero(frame["occupation"].isna())[:SHOWN_ROWS])
    assert occupation.detail.startswith("column `occupation`: 966 of 16,281 cells missing (5.93%): lines 6, 8, 15")


def test_missing_over_all_columns_is_the_worst_column(adult, frame):
    figure = run_check("missing", adult)
    assert figure.column == frame.isna().mean().idxmax() == "occupation"
    assert abs(figure.value - frame.isna().mean().max()) < 1e-12


# --- column types ----------------------------------------------------------------


def test_column_present_and_of_a_type(adult):
    assert run_check("column", adult, column="age", type="integer").value == 1.0
    assert run_check("column", adult, column="age", type="number").value == 1.0
    assert run_check("column", adult, column="sex").value == 1.0
    assert run_check("column", adult, column="sex", type="text").value == 1.0
    absent = run_check("column", adult, column="agee")
    assert absent.value == 0.0 and "no column `agee`" in absent.detail and "did you mean `age`" in absent.detail
    text = run_check("column", adult, column="sex", type="number")
    assert text.value == 0.0 and text.count == text.total == 16281
    assert text.detail.startswith('column `sex`: 16,281 of 16,281 cells are not numbers: line 2 "Male"')
    with pytest.raises(DataCheckError, match="unknown column type"):
        run_check("column", adult, column="sex", type="float")


def test_wrong_type_names_the_offending_cells():
    table = small_table(n=["1", "2.5", "x", "?", "1e3", " 7 ", "inf", "nan"])
    as_integer = run_check("column", table, column="n", type="integer")
    assert as_integer.rows.tolist() == [1, 2, 6, 7] and as_integer.count == 4 and as_integer.total == 7
    assert as_integer.detail == 'column `n`: 4 of 7 cells are not whole numbers: line 3 "2.5", line 4 "x", line 8 "inf", line 9 "nan"'
    as_number = run_check("column", table, column="n", type="number")
    assert as_number.rows.tolist() == [2, 7]  # "nan" written in a cell is text to mlspec
    numeric = small_table(n=["1", "2.5", "?"])
    assert run_check("column", numeric, column="n", type="integer").rows.tolist() == [1]


def test_number_syntax_agrees_with_python_float():
    rng = random.Random(3)
    alphabet = list("0123456789_.eE+- \tinfINFtyTYax\x00\xa0\u0661")
    cells = ["1_000", "1e1_0", "1.e5", ".e5", "1_.5", "1__0", "-Infinity", "+nan", "\u0661\u0662", "1\xa0", "0x10", "5.", "1" * 60, "1" * 60 + "x"]
    cells += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(20000)]
    text = np.array(cells, dtype=object)
    parsed = dc._parse_numbers(text, np.zeros(len(text), dtype=bool))

    def reference(cell):
        try:
            return float(cell)
        except ValueError:
            return np.nan

    expected = np.array([reference(cell) for cell in cells])
    np.testing.assert_array_equal(parsed, expected)  # NaN where not a number: equal as arrays


# --- between, in -------------------------------------------------------------------


def test_between_counts_present_values_outside_the_range(adult, frame):
    figure = run_check("between", adult, column="age", low=20, high=80)
    outside = (frame["age"] < 20) | (frame["age"] > 80)
    assert figure.count == outside.sum() and abs(figure.value - outside.mean()) < 1e-12
    np.testing.assert_array_equal(figure.rows, np.flatnonzero(outside)[:SHOWN_ROWS])
    assert figure.detail.startswith('column `age`: 902 of 16,281 values outside [20, 80]: line 6 "18"')
    assert run_check("between", adult, column="age", low=17, high=90).count == 0
    with pytest.raises(DataCheckError, match="holds text"):
        run_check("between", adult, column="sex", low=0, high=1)


def test_in_counts_present_values_not_allowed(adult, frame):
    figure = run_check("in", adult, column="race", allowed=["White", "Black"])
    present = frame["race"].dropna()
    assert figure.count == (~present.isin(["White", "Black"])).sum() and figure.total == len(present)
    assert 'column `race`' in figure.detail and '"Asian-Pac-Islander"' in figure.detail
    workclass = run_check("in", adult, column="workclass", allowed=sorted(frame["workclass"].dropna().unique()))
    assert workclass.count == 0  # missing cells are not values
    many = run_check("in", adult, column="native_country", allowed=sorted(frame["native_country"].dropna().unique())[:20])
    assert many.count == (~frame["native_country"].dropna().isin(sorted(frame["native_country"].dropna().unique())[:20])).sum()


def test_in_compares_numbers_in_a_numeric_column():
    table = small_table(level=["1", "1.0", "2", "3"], code=["1", "1.0", "a", "?"])
    assert run_check("in", table, column="level", allowed=[1, "2"]).rows.tolist() == [3]
    assert run_check("in", table, column="code", allowed=[1, "a"]).rows.tolist() == [1]  # text: "1.0" is not "1"


# --- duplicates ------------------------------------------------------------------------


def test_duplicate_rows_equal_pandas(adult, frame):
    figure = run_check("duplicates", adult)
    duplicated = frame.duplicated()
    assert figure.count == duplicated.sum() == figure.value
    assert abs(figure.share - duplicated.mean()) < 1e-12
    np.testing.assert_array_equal(figure.rows, np.flatnonzero(duplicated)[:SHOWN_ROWS])
    for row, first in zip(figure.rows, figure.repeats):
        assert first < row and frame.iloc[first].equals(frame.iloc[row])
        assert not frame.iloc[:first].eq(frame.iloc[row]).all(axis=1).any()  # the first copy
    assert figure.detail.startswith(f"{figure.count:,} of 16,281 rows repeat an earlier row: line {figure.rows[0] + 2} repeats line {figure.repeats[0] + 2}")


def test_duplicates_of_a_column_equal_pandas(adult, frame):
    for name in ("age", "occupation", "hours_per_week"):
        figure = run_check("duplicates", adult, column=name)
        present = frame[name].dropna()
        assert figure.count == present.duplicated().sum() and figure.total == len(present)
    table = small_table(id=["a", "b", "a", "?", "?", "c", "b"])
    figure = run_check("duplicates", table, column="id")
    assert figure.rows.tolist() == [2, 6] and figure.repeats.tolist() == [0, 1]  # missing cells are not values


def test_duplicates_compare_numbers_by_value_and_missing_cells_as_equal():
    table = small_table(x=["1", "1.0", "1", "2"], y=["?", "", "a", "?"])
    assert run_check("duplicates", table).rows.tolist() == [1]


def test_hash_collisions_do_not_change_figures(adult, frame, train, monkeypatch):
    """With a hash that collides all the time, the exact comparison decides."""
    expected_duplicates = run_check("duplicates", adult).rows.tolist()
    expected_overlap = run_check("overlap", adult, other=train, label_column=LABEL)
    monkeypatch.setattr(dc, "_mix", lambda x: x & np.uint64(7))
    figure = run_check("duplicates", adult)
    assert figure.count == frame.duplicated().sum() and figure.rows.tolist() == expected_duplicates
    collided = run_check("overlap", adult, other=train, label_column=LABEL)
    assert collided.count == expected_overlap.count and collided.repeats.tolist() == expected_overlap.repeats.tolist()


# --- labels ------------------------------------------------------------------------------


def test_label_shares_equal_pandas(adult, frame):
    shares = frame[LABEL].value_counts(normalize=True)
    figure = run_check("label_share", adult, label_column=LABEL, label=">50K")
    assert abs(figure.value - shares[">50K"]) < 1e-12 and figure.count == 3846
    rarest = run_check("min_label_share", adult, label_column=LABEL)
    assert abs(rarest.value - shares.min()) < 1e-12 and 'rarest label ">50K"' in rarest.detail
    assert run_check("label_share", adult, label_column=LABEL, label="maybe").value == 0.0


def test_label_shares_of_numbers_and_of_many_labels():
    numbers = small_table(y=["0", "1", "1.0", "?", "2"])
    assert run_check("label_share", numbers, label_column="y", label=1).value == 0.5
    rarest = run_check("min_label_share", numbers, label_column="y")
    assert rarest.value == 0.25 and 'rarest label "0"' in rarest.detail
    many = small_table(y=[f"c{i % 20}" for i in range(99)])
    assert run_check("min_label_share", many, label_column="y").count == 4


# --- overlap --------------------------------------------------------------------------------


def test_overlap_equals_a_pandas_merge(adult, frame, train):
    figure = run_check("overlap", adult, other=train, label_column=LABEL)
    columns = [name for name in frame.columns if name != LABEL]
    theirs = to_frame(train)[columns].drop_duplicates()
    merged = frame[columns].reset_index().merge(theirs, on=columns, how="inner")
    assert figure.count == len(merged) > 0 and figure.value == figure.count
    np.testing.assert_array_equal(figure.rows, np.sort(merged["index"].to_numpy())[:SHOWN_ROWS])
    for row, match in zip(figure.rows, figure.repeats):
        for name in columns:
            mine, their = adult.columns[name], train.columns[name]
            assert mine.missing[row] == their.missing[match] and (mine.missing[row] or mine.text[row] == their.text[match])
    assert "compared on 13 columns, the label `income` aside" in figure.detail


def test_overlap_compares_the_columns_both_have():
    mine = small_table(a=["1", "2", "3"], b=["x", "y", "z"], only_mine=["p", "q", "r"])
    theirs = small_table(b=["y", "x", "x"], a=["2.0", "1", "9"])
    figure = run_check("overlap", mine, other=theirs)
    assert figure.rows.tolist() == [0, 1] and figure.repeats.tolist() == [1, 0]
    text_in_theirs = small_table(a=["2.0", "1", "n"], b=["y", "x", "x"])  # `a` is text there: "2" is not "2.0"
    assert run_check("overlap", mine, other=text_in_theirs).rows.tolist() == [0]
    with pytest.raises(DataCheckError, match="no column in common"):
        run_check("overlap", mine, other=small_table(c=["1"]))


# --- dispatch ---------------------------------------------------------------------------------


def test_checks_are_called_by_name(adult):
    assert set(DATA_CHECKS) == {"column", "rows", "missing", "between", "in", "duplicates", "label_share", "min_label_share", "overlap"}
    assert {name for name, check in DATA_CHECKS.items() if check.value == "count"} == {"rows", "duplicates", "overlap"}
    with pytest.raises(DataCheckError, match="unknown data check"):
        run_check("nulls", adult)
    with pytest.raises(DataCheckError, match="did you mean `occupation`"):
        run_check("missing", adult, column="ocupation")
