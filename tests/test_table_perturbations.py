"""Table perturbations (mlspec.library.table_perturbations) on the income demo data."""

import csv
from pathlib import Path

import numpy as np
import pytest

from mlspec.library import table_perturbations as tp
from mlspec.library.perturbations import TooManyVariants
from mlspec.library.table_perturbations import TABLE_PERTURBATIONS, Step, cases_without_variant, perturb_table, step_problem
from mlspec.library.tables import Table, text_column

ADULT = Path(__file__).resolve().parents[1] / "specs" / "income" / "data" / "adult_test.csv"


def read_table(path: Path, marker: str = "?") -> Table:
    with path.open(newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))
    columns = {name: text_column(name, [row[i] for row in rows], (marker,)) for i, name in enumerate(header)}
    return Table(columns, len(rows), np.arange(2, len(rows) + 2), missing_text=marker)


def small_table(marker: str = "?", **cells: list[str]) -> Table:
    columns = {name: text_column(name, values, (marker,)) for name, values in cells.items()}
    rows = len(next(iter(cells.values())))
    return Table(columns, rows, np.arange(2, rows + 2), missing_text=marker)


@pytest.fixture(scope="module")
def adult() -> Table:
    return read_table(ADULT)


def perturb(cases: Table, *steps: Step, dataset: Table | None = None, seed: int = 0, variants: int = 1):
    return perturb_table(cases, list(steps), dataset if dataset is not None else cases, np.random.default_rng(seed), variants)


def assert_other_columns_unchanged(cases: Table, variants: Table, variant_case: np.ndarray, changed: set[str]) -> None:
    for name, column in cases.columns.items():
        if name not in changed:
            np.testing.assert_array_equal(variants.columns[name].text, column.text[variant_case])
            np.testing.assert_array_equal(variants.columns[name].missing, column.missing[variant_case])


def assert_numbers_match_text(column) -> None:
    """A numeric column's text reads back as its values (text is what a model is fed)."""
    present = ~column.missing
    np.testing.assert_array_equal(column.text[present].astype(np.float64), column.values[present])
    assert np.isnan(column.values[column.missing]).all()


# --- the registry --------------------------------------------------------------


def test_registry_describes_each_perturbation():
    assert list(TABLE_PERTURBATIONS) == ["set", "flip", "shift", "scale", "noise", "missing"]
    for info in TABLE_PERTURBATIONS.values():
        assert info.params[0].name == "column" and info.params[0].kind == "column"
        assert info.usage.startswith(info.name + "(") and info.doc
    assert [name for name, info in TABLE_PERTURBATIONS.items() if info.randomized] == ["noise"]
    assert [name for name, info in TABLE_PERTURBATIONS.items() if info.numeric_only] == ["shift", "scale", "noise"]
    assert [name for name, info in TABLE_PERTURBATIONS.items() if info.column_keyed] == ["set", "shift", "scale"]
    assert [len(info.params) for info in TABLE_PERTURBATIONS.values()] == [2, 1, 2, 2, 2, 1]
    assert TABLE_PERTURBATIONS["noise"].params[1].default == tp.NOISE_STD  # `noise(age)`: std 0.1


def test_steps_print_as_written():
    assert str(Step("set", "sex", "Female")) == 'set(sex: "Female")'
    assert str(Step("shift", "age", 5.0)) == "shift(age: 5)"
    assert str(Step("scale", "hours_per_week", 1.1)) == "scale(hours_per_week: 1.1)"
    assert str(Step("noise", "age", 0.1)) == "noise(age, std: 0.1)"
    assert str(Step("flip", "sex")) == "flip(sex)"
    assert str(Step("missing", "occupation")) == "missing(occupation)"


# --- flip ------------------------------------------------------------------------


def test_flip_gives_each_row_the_other_sex_and_changes_nothing_else(adult):
    variants, variant_case = perturb(adult, Step("flip", "sex"))
    np.testing.assert_array_equal(variant_case, np.arange(adult.rows))
    sex = adult.columns["sex"].text
    expected = np.where(sex == "Male", "Female", "Male")
    np.testing.assert_array_equal(variants.columns["sex"].text, expected)
    assert_other_columns_unchanged(adult, variants, variant_case, {"sex"})
    np.testing.assert_array_equal(variants.lines, adult.lines)
    assert variants.missing_text == "?"


def test_flip_takes_the_values_of_the_whole_dataset_not_only_the_cases(adult):
    cases = adult.take(np.flatnonzero(adult.columns["race"].text == "White")[:50])
    variants, variant_case = perturb(cases, Step("flip", "race"), dataset=adult)
    others = ["Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other"]
    np.testing.assert_array_equal(variant_case, np.repeat(np.arange(50), 4))
    np.testing.assert_array_equal(variants.columns["race"].text, np.tile(others, 50))


def test_flip_gives_a_missing_cell_every_value(adult):
    occupation = adult.columns["occupation"]
    values = sorted(set(occupation.text[~occupation.missing]))
    missing_rows = np.flatnonzero(occupation.missing)[:3]
    cases = adult.take(np.concatenate([missing_rows, [0]]))
    variants, variant_case = perturb(cases, Step("flip", "occupation"), dataset=adult)
    counts = np.bincount(variant_case)
    assert counts.tolist() == [len(values)] * 3 + [len(values) - 1]
    assert variants.columns["occupation"].text[: len(values)].tolist() == values
    assert not variants.columns["occupation"].missing.any()


def test_flip_of_a_numeric_column_keeps_numbers_and_compares_by_value(adult):
    cases = adult.take(np.arange(200))
    variants, variant_case = perturb(cases, Step("flip", "education_num"), dataset=adult)
    column = variants.columns["education_num"]
    assert_numbers_match_text(column)
    assert np.bincount(variant_case).tolist() == [15] * 200  # 16 values in the data
    assert not np.any(column.values == cases.columns["education_num"].values[variant_case])
    written_as_float = small_table(level=["1.0", "2", "3"])
    _, variant_case = perturb(written_as_float, Step("flip", "level"))
    assert np.bincount(variant_case).tolist() == [2, 2, 2]  # "1.0" is the value 1


# --- shift, scale ----------------------------------------------------------------


def test_shift_of_an_integer_column_by_a_whole_number_keeps_integers(adult):
    variants, variant_case = perturb(adult, Step("shift", "education_num", 1.0))
    column = variants.columns["education_num"]
    before = adult.columns["education_num"].values
    np.testing.assert_array_equal(column.values, before + 1)
    np.testing.assert_array_equal(column.text, (before + 1).astype(np.int64).astype(str).astype(object))
    assert adult.columns["education_num"].text[0] == "7" and column.text[0] == "8"
    assert_other_columns_unchanged(adult, variants, variant_case, {"education_num"})


def test_shift_by_a_fraction_writes_decimals(adult):
    variants, _ = perturb(adult.take(np.arange(3)), Step("shift", "age", 0.5))
    assert variants.columns["age"].text.tolist() == ["25.5", "38.5", "28.5"]


def test_scale_keeps_integers_for_a_whole_factor_and_text_matches_numbers(adult):
    doubled, _ = perturb(adult, Step("scale", "hours_per_week", 2.0))
    assert doubled.columns["hours_per_week"].text[0] == "80"
    scaled, variant_case = perturb(adult, Step("scale", "hours_per_week", 1.1))
    column = scaled.columns["hours_per_week"]
    assert_numbers_match_text(column)
    np.testing.assert_array_equal(column.values, adult.columns["hours_per_week"].values[variant_case] * 1.1)


def test_a_change_that_leaves_the_number_equal_makes_no_variant():
    table = small_table(x=["1", "0", "2.50", "?"], y=["a", "b", "c", "d"])
    variants, variant_case = perturb(table, Step("scale", "x", 1.0))
    assert len(variant_case) == 0
    variants, variant_case = perturb(table, Step("scale", "x", 0.0))
    assert variant_case.tolist() == [0, 2]  # 0 stays 0; a missing cell stays missing
    assert variants.columns["x"].text.tolist() == ["0.0", "0.0"]  # the column holds 2.50: not whole


def test_numbers_of_a_missing_cell_stay_missing():
    table = small_table(x=["1", "?", "3"])
    variants, variant_case = perturb(table, Step("shift", "x", 1.0))
    assert variant_case.tolist() == [0, 2] and variants.columns["x"].text.tolist() == ["2", "4"]
    assert cases_without_variant(variant_case, table.rows).tolist() == [1]


# --- noise -------------------------------------------------------------------------


def test_noise_has_the_requested_spread_and_draws_variants_per_case(adult):
    age = adult.columns["age"]
    variants, variant_case = perturb(adult, Step("noise", "age", 0.1), variants=5)
    np.testing.assert_array_equal(variant_case, np.repeat(np.arange(adult.rows), 5))
    added = variants.columns["age"].values - age.values[variant_case]
    requested = 0.1 * np.std(age.values)
    assert abs(np.std(added) / requested - 1) < 0.01
    assert abs(np.mean(added)) < 0.01 * requested
    assert_numbers_match_text(variants.columns["age"])
    assert_other_columns_unchanged(adult, variants, variant_case, {"age"})


def test_noise_is_deterministic_given_the_generator(adult):
    cases = adult.take(np.arange(100))
    first, _ = perturb(cases, Step("noise", "age", 0.2), dataset=adult, seed=7, variants=3)
    again, _ = perturb(cases, Step("noise", "age", 0.2), dataset=adult, seed=7, variants=3)
    other, _ = perturb(cases, Step("noise", "age", 0.2), dataset=adult, seed=8, variants=3)
    np.testing.assert_array_equal(first.columns["age"].text, again.columns["age"].text)
    assert not np.array_equal(first.columns["age"].values, other.columns["age"].values)


def test_noise_uses_the_datasets_spread_and_defaults_to_a_tenth(adult):
    cases = adult.take(np.flatnonzero(adult.columns["age"].values == 40))  # no spread of their own
    variants, _ = perturb(cases, Step("noise", "age", None), dataset=adult, variants=20)
    spread = np.std(variants.columns["age"].values - 40)
    assert abs(spread / (tp.NOISE_STD * np.std(adult.columns["age"].values)) - 1) < 0.05


# --- set, missing --------------------------------------------------------------------


def test_set_skips_the_cases_that_already_hold_the_value(adult):
    variants, variant_case = perturb(adult, Step("set", "sex", "Female"))
    male = np.flatnonzero(adult.columns["sex"].text == "Male")
    np.testing.assert_array_equal(variant_case, male)
    assert set(variants.columns["sex"].text) == {"Female"}
    np.testing.assert_array_equal(cases_without_variant(variant_case, adult.rows), np.flatnonzero(adult.columns["sex"].text == "Female"))


def test_set_of_a_number_writes_it_whole_and_sets_values(adult):
    variants, variant_case = perturb(adult, Step("set", "age", 40.0))
    column = variants.columns["age"]
    assert set(column.text) == {"40"} and set(column.values) == {40.0}
    np.testing.assert_array_equal(variant_case, np.flatnonzero(adult.columns["age"].values != 40))
    as_text, _ = perturb(adult.take(np.arange(3)), Step("set", "age", "41"))
    assert as_text.columns["age"].text.tolist() == ["41"] * 3 and as_text.columns["age"].values.tolist() == [41.0] * 3


def test_missing_writes_the_datasets_marker_and_skips_missing_cells(adult):
    variants, variant_case = perturb(adult, Step("missing", "occupation"))
    occupation = adult.columns["occupation"]
    np.testing.assert_array_equal(variant_case, np.flatnonzero(~occupation.missing))
    assert set(variants.columns["occupation"].text) == {"?"} and variants.columns["occupation"].missing.all()
    numeric, _ = perturb(adult.take(np.arange(4)), Step("missing", "age"))
    assert numeric.columns["age"].values is not None and np.isnan(numeric.columns["age"].values).all()


# --- chains ------------------------------------------------------------------------------


def test_a_chain_applies_each_step_to_every_variant_of_the_step_before(adult):
    cases = adult.take(np.arange(500))
    variants, variant_case = perturb(cases, Step("shift", "age", 5.0), Step("flip", "sex"), dataset=adult)
    np.testing.assert_array_equal(variant_case, np.arange(500))
    np.testing.assert_array_equal(variants.columns["age"].values, cases.columns["age"].values + 5)
    assert not np.any(variants.columns["sex"].text == cases.columns["sex"].text)
    assert_other_columns_unchanged(cases, variants, variant_case, {"age", "sex"})

    noisy, noisy_case = perturb(cases, Step("noise", "age", 0.1), Step("flip", "race"), dataset=adult, variants=3)
    assert np.bincount(noisy_case).tolist() == [12] * 500  # 3 draws x 4 other races
    assert np.all(np.diff(noisy_case) >= 0)
    ages = noisy.columns["age"].values.reshape(500, 3, 4)
    assert np.all(ages == ages[:, :, :1]) and len(np.unique(ages[0, :, 0])) == 3  # each draw's age goes to its 4 flips
    assert not np.any(noisy.columns["race"].text == cases.columns["race"].text[noisy_case])


def test_a_chain_that_ends_where_it_started_makes_no_variant(adult):
    cases = adult.take(np.arange(300))
    variants, variant_case = perturb(cases, Step("flip", "sex"), Step("set", "sex", "Male"), dataset=adult)
    np.testing.assert_array_equal(variant_case, np.flatnonzero(cases.columns["sex"].text == "Female"))
    assert set(variants.columns["sex"].text) == {"Male"}


# --- problems --------------------------------------------------------------------------------


def test_step_problems_name_the_column(adult):
    columns = adult.columns
    assert step_problem(Step("shift", "sex", 1.0), columns["sex"]) == "`shift(sex: 1)`: column `sex` holds text, not numbers"
    constant = text_column("id", ["a"] * 5)
    assert step_problem(Step("flip", "id"), constant) == "`flip(id)`: column `id` takes one value only, so there is nothing to flip to"
    assert "standard deviation is 0" in step_problem(Step("noise", "n", 0.1), text_column("n", ["3"] * 5))
    assert "std must be above 0" in step_problem(Step("noise", "age", 0.0), columns["age"])
    assert "holds numbers" in step_problem(Step("set", "age", "old"), columns["age"])
    assert "missing(age)" in step_problem(Step("set", "age", ""), columns["age"])
    assert "no column `agee`" in step_problem(Step("shift", "agee", 1.0), None)
    assert "unknown table perturbation `jitter`" in step_problem(Step("jitter", "age", 1.0), columns["age"])
    assert "finite number" in step_problem(Step("shift", "age", float("inf")), columns["age"])
    for step in (Step("flip", "sex"), Step("set", "sex", "x"), Step("shift", "age", 1.0), Step("noise", "age", None), Step("missing", "age")):
        assert step_problem(step, columns[step.column]) is None


def test_a_step_that_cannot_apply_raises_and_the_variant_rows_are_limited(adult, monkeypatch):
    with pytest.raises(ValueError, match="holds text"):
        perturb(adult, Step("scale", "sex", 2.0))
    with pytest.raises(ValueError, match="variants"):
        perturb(adult, Step("flip", "sex"), variants=0)
    monkeypatch.setattr(tp, "MAX_VARIANT_ROWS", 1000)
    with pytest.raises(TooManyVariants):
        perturb(adult.take(np.arange(300)), Step("flip", "race"), dataset=adult)
