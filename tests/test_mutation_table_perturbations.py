"""Exact figures of mlspec.library.table_perturbations, written from its mutation survivors
(docs/mutation.md): every message in full, the boundaries of each check, and the variants'
cells, text and numbers compared with what numpy computes the same way."""

import statistics

import numpy as np
import pytest

from mlspec.library import table_perturbations as tp
from mlspec.library.perturbations import TooManyVariants
from mlspec.library.table_perturbations import Step, cases_without_variant, perturb_table, step_problem
from mlspec.library.tables import Column, Table, text_column


def table(marker: str = "?", **cells: list[str]) -> Table:
    columns = {name: text_column(name, values, (marker,)) for name, values in cells.items()}
    rows = len(next(iter(cells.values())))
    return Table(columns, rows, np.arange(2, rows + 2), missing_text=marker)


def perturb(cases: Table, *steps: Step, dataset: Table | None = None, seed: int = 0, variants: int = 1):
    return perturb_table(cases, list(steps), dataset if dataset is not None else cases, np.random.default_rng(seed), variants)


def cells(variants: Table, name: str) -> list[str]:
    return variants.columns[name].text.tolist()


# --- Step and _shown -------------------------------------------------------------------


def test_steps_print_every_kind_of_value():
    assert str(Step("noise", "age")) == "noise(age)"
    assert str(Step("noise", "age", 0.25)) == "noise(age, std: 0.25)"
    assert str(Step("noise", "age", 2.0)) == "noise(age, std: 2)"
    assert str(Step("set", "age", 40.0)) == "set(age: 40)"
    assert str(Step("set", "age", 40.5)) == "set(age: 40.5)"
    assert str(Step("set", "age", 7)) == "set(age: 7)"
    assert str(Step("set", "sex", "")) == 'set(sex: "")'
    assert str(Step("shift", "age", -3.0)) == "shift(age: -3)"


def test_shown_writes_whole_floats_without_a_point_and_quotes_text():
    assert tp._shown(40.0) == "40"
    assert tp._shown(1.5) == "1.5"
    assert tp._shown(-2.0) == "-2"
    assert tp._shown(3) == "3"
    assert tp._shown("3") == '"3"'
    assert tp._shown(None) == "None"
    assert tp._shown(float("inf")) == "inf"


def test_std_of_a_step():
    assert Step("noise", "age").std == 0.1 == tp.NOISE_STD
    assert Step("noise", "age", 0.3).std == 0.3
    std = Step("noise", "age", "0.5").std
    assert std == 0.5 and type(std) is float
    assert type(Step("noise", "age", 2).std) is float


# --- _number and _spread ----------------------------------------------------------------


def test_number_reads_numbers_and_refuses_the_rest():
    assert tp._number(None) is None
    assert tp._number(True) is None and tp._number(False) is None
    assert tp._number("abc") is None
    assert tp._number([1]) is None  # TypeError
    assert tp._number("nan") is None and tp._number(float("nan")) is None
    assert tp._number("1e3") == 1000.0 and tp._number(" 2 ") == 2.0
    assert tp._number(0) == 0.0 and tp._number("-0.5") == -0.5
    assert tp._number(float("inf")) == float("inf")


def test_spread_is_the_population_std_of_the_present_values():
    column = text_column("x", ["1", "?", "2", "4", "?", "9"], ("?",))
    assert tp._spread(column) == pytest.approx(statistics.pstdev([1, 2, 4, 9]), rel=1e-15)
    assert tp._spread(column) == float(np.std([1.0, 2.0, 4.0, 9.0]))
    nothing = Column("x", np.array(["?", "?"], dtype=object), np.array([True, True]), np.full(2, np.nan))
    assert tp._spread(nothing) == 0.0


# --- step_problem: every message ---------------------------------------------------------


def numbers(*cells: str) -> Column:
    return text_column("n", list(cells), ("?",))


def test_every_problem_message_in_full():
    n = numbers("1", "2", "?")
    words = text_column("w", ["a", "b", "a"])
    assert step_problem(Step("jitter", "n", 1.0), n) == "unknown table perturbation `jitter` (known: set, flip, shift, scale, noise, missing)"
    assert step_problem(Step("shift", "agee", 1.0), None) == "`shift(agee: 1)`: the dataset has no column `agee`"
    assert step_problem(Step("noise", "w", 0.1), words) == "`noise(w, std: 0.1)`: column `w` holds text, not numbers"
    assert step_problem(Step("set", "n"), n) == "`set(n)`: set needs a value; to make the cell missing write `missing(n)`"
    assert step_problem(Step("set", "n", ""), n) == '`set(n: "")`: set needs a value; to make the cell missing write `missing(n)`'
    assert step_problem(Step("set", "n", "old"), n) == '`set(n: "old")`: column `n` holds numbers, and "old" is not one'
    assert step_problem(Step("set", "w", "old"), words) is None
    assert step_problem(Step("set", "w", 3.0), words) is None
    assert step_problem(Step("set", "n", "3"), n) is None
    assert step_problem(Step("set", "n", 3.5), n) is None
    assert step_problem(Step("shift", "n", "5"), n) == '`shift(n: "5")`: shift needs a finite number'
    assert step_problem(Step("scale", "n"), n) == "`scale(n)`: scale needs a finite number"
    assert step_problem(Step("scale", "n", float("nan")), n) == "`scale(n: nan)`: scale needs a finite number"
    assert step_problem(Step("shift", "n", float("-inf")), n) == "`shift(n: -inf)`: shift needs a finite number"
    assert step_problem(Step("shift", "n", -2.5), n) is None
    assert step_problem(Step("scale", "n", 0.0), n) is None
    assert step_problem(Step("missing", "w"), words) is None
    assert step_problem(Step("missing", "n"), n) is None


def test_flip_problems_at_their_boundaries():
    assert step_problem(Step("flip", "w"), text_column("w", ["a", "b"])) is None
    assert step_problem(Step("flip", "w"), text_column("w", ["a", "a"])) == (
        "`flip(w)`: column `w` takes one value only, so there is nothing to flip to")
    assert step_problem(Step("flip", "w"), text_column("w", ["?", "?"], ("?",))) == (
        "`flip(w)`: column `w` takes no value, so there is nothing to flip to")
    at_limit = text_column("w", [f"v{i}" for i in range(tp.MAX_FLIP_VALUES)])
    assert step_problem(Step("flip", "w"), at_limit) is None
    past = text_column("w", [f"v{i}" for i in range(tp.MAX_FLIP_VALUES + 1)])
    assert step_problem(Step("flip", "w"), past) == (
        "`flip(w)`: column `w` takes 1,001 values; flip makes a variant per value, for at most 1,000")


def test_noise_problems_in_full():
    n = numbers("1", "2", "?")
    assert step_problem(Step("noise", "n"), n) is None
    assert step_problem(Step("noise", "n", 0.5), n) is None
    assert step_problem(Step("noise", "n", 1e-300), n) is None
    assert step_problem(Step("noise", "n", "0.5"), n) == '`noise(n, std: "0.5")`: noise needs a finite number'
    assert step_problem(Step("noise", "n", float("inf")), n) == "`noise(n, std: inf)`: noise needs a finite number"
    assert step_problem(Step("noise", "n", 0.0), n) == "`noise(n, std: 0)`: std must be above 0"
    assert step_problem(Step("noise", "n", -0.5), n) == "`noise(n, std: -0.5)`: std must be above 0"
    with np.errstate(invalid="ignore"):  # inf - inf in the std
        infinite = step_problem(Step("noise", "n", 0.1), numbers("1", "inf"))
    assert infinite == "`noise(n, std: 0.1)`: column `n` holds an infinite value, so its standard deviation is not a number"
    assert step_problem(Step("noise", "n", 0.1), numbers("3", "3.0", "?")) == (
        "`noise(n, std: 0.1)`: column `n` takes one value only, so its standard deviation is 0")


# --- perturb_table: checks and limits ------------------------------------------------------


def test_variants_and_cases_are_checked_with_full_messages():
    cases = table(x=["1", "2"])
    with pytest.raises(ValueError) as raised:
        perturb(cases, Step("shift", "x", 1.0), variants=0)
    assert str(raised.value) == "variants must be at least 1, got 0"
    dataset = table(x=["1", "2"], y=["a", "b"])
    with pytest.raises(ValueError) as raised:
        perturb(cases, Step("flip", "y"), dataset=dataset)
    assert str(raised.value) == "`flip(y)`: the cases have no column `y`"
    with pytest.raises(ValueError) as raised:
        perturb(cases, Step("flip", "z"), dataset=dataset)
    assert str(raised.value) == "`flip(z)`: the dataset has no column `z`"
    # every step is checked before any applies
    with pytest.raises(ValueError, match="holds text"):
        perturb(dataset, Step("shift", "x", 1.0), Step("scale", "y", 2.0))


def test_the_variant_row_limit_is_inclusive(monkeypatch):
    cases = table(w=["a", "b", "c"])  # flip: 2 variants each, 6 rows
    monkeypatch.setattr(tp, "MAX_VARIANT_ROWS", 6)
    _, variant_case = perturb(cases, Step("flip", "w"))
    assert variant_case.tolist() == [0, 0, 1, 1, 2, 2]
    numeric = table(x=["1", "2", "3"])
    _, variant_case = perturb(numeric, Step("noise", "x", 0.1), variants=2)
    assert variant_case.tolist() == [0, 0, 1, 1, 2, 2]
    monkeypatch.setattr(tp, "MAX_VARIANT_ROWS", 5)
    with pytest.raises(TooManyVariants) as raised:
        perturb(cases, Step("flip", "w"))
    assert str(raised.value) == "the perturbation makes 6 variant rows, more than the 5 mlspec makes"
    with pytest.raises(TooManyVariants) as raised:
        perturb(numeric, Step("noise", "x", 0.1), variants=2)
    assert str(raised.value) == "the perturbation makes 6 variant rows, more than the 5 mlspec makes"
    monkeypatch.setattr(tp, "MAX_VARIANT_ROWS", 999)
    many = table(w=[f"v{i}" for i in range(1000)])
    with pytest.raises(TooManyVariants, match="999,000 variant rows, more than the 999 mlspec"):
        perturb(many, Step("flip", "w"))


def test_cases_without_variant_counts_every_case():
    assert cases_without_variant(np.array([0, 0, 2]), 5).tolist() == [1, 3, 4]
    assert cases_without_variant(np.array([], dtype=np.int64), 2).tolist() == [0, 1]
    assert cases_without_variant(np.array([0, 1]), 2).tolist() == []


# --- the result table -------------------------------------------------------------------------


def test_one_variant_each_shares_the_unchanged_columns():
    cases = table(x=["1", "2"], y=["a", "b"])
    variants, variant_case = perturb(cases, Step("shift", "x", 1.0))
    assert variant_case.tolist() == [0, 1]
    assert variants.columns["y"] is cases.columns["y"]
    assert variants.rows == 2 and variants.lines.tolist() == [2, 3] and variants.missing_text == "?"
    assert list(variants.columns) == ["x", "y"]


def test_lines_rows_and_other_columns_follow_the_variants():
    cases = table(marker="NA", w=["a", "b", "NA"], y=["p", "q", "r"], z=["1", "2", "3"])
    variants, variant_case = perturb(cases, Step("flip", "w"))
    assert variant_case.tolist() == [0, 1, 2, 2]
    assert cells(variants, "w") == ["b", "a", "a", "b"]
    assert variants.columns["w"].missing.tolist() == [False] * 4
    assert variants.columns["w"].values is None
    assert cells(variants, "y") == ["p", "q", "r", "r"]
    assert variants.columns["z"].values.tolist() == [1.0, 2.0, 3.0, 3.0]
    assert variants.lines.tolist() == [2, 3, 4, 4] and variants.rows == 4 and variants.missing_text == "NA"


def test_a_variant_that_only_changes_missingness_is_kept():
    cases = table(marker="", x=["1", ""])
    variants, variant_case = perturb(cases, Step("missing", "x"))
    assert variant_case.tolist() == [0]
    assert cells(variants, "x") == [""] and variants.columns["x"].missing.tolist() == [True]
    # a present cell written like the marker: made missing, it differs from its case by missingness only
    data = Table({"x": Column("x", np.array(["?", "?"], dtype=object), np.array([False, True]))}, 2, np.arange(2), "?")
    variants, variant_case = perturb(data, Step("missing", "x"))
    assert variant_case.tolist() == [0] and variants.columns["x"].missing.tolist() == [True]


def test_a_chain_back_to_the_case_on_one_column_drops_only_those():
    cases = table(x=["1", "2", "3"], y=["a", "b", "a"])
    variants, variant_case = perturb(cases, Step("shift", "x", 1.0), Step("set", "y", "a"), Step("shift", "x", -1.0))
    assert variant_case.tolist() == [1]
    assert cells(variants, "x") == ["2"] and cells(variants, "y") == ["a"]


# --- set ---------------------------------------------------------------------------------------


def test_set_writes_numbers_whole_or_as_float_text():
    cases = table(x=["39", "?", "40.0", "41"], w=["a", "b", "?", "d"])
    variants, variant_case = perturb(cases, Step("set", "x", 40.0))
    assert variant_case.tolist() == [0, 1, 3]
    assert cells(variants, "x") == ["40", "40", "40"]
    assert variants.columns["x"].values.tolist() == [40.0] * 3
    assert variants.columns["x"].missing.tolist() == [False] * 3
    half, variant_case = perturb(cases, Step("set", "x", 40.5))
    assert variant_case.tolist() == [0, 1, 2, 3] and cells(half, "x") == ["40.5"] * 4
    assert half.columns["x"].values.tolist() == [40.5] * 4
    as_text, variant_case = perturb(cases, Step("set", "x", "40"))
    assert variant_case.tolist() == [0, 1, 3] and cells(as_text, "x") == ["40"] * 3  # "40.0" holds 40 already
    assert as_text.columns["x"].values.tolist() == [40.0] * 3
    words, variant_case = perturb(cases, Step("set", "w", 7.0))
    assert variant_case.tolist() == [0, 1, 2, 3] and cells(words, "w") == ["7"] * 4
    assert words.columns["w"].values is None and words.columns["w"].missing.tolist() == [False] * 4
    words, variant_case = perturb(cases, Step("set", "w", 0.25))
    assert cells(words, "w") == ["0.25"] * 4
    words, variant_case = perturb(cases, Step("set", "w", "b"))
    assert variant_case.tolist() == [0, 2, 3] and cells(words, "w") == ["b"] * 3


# --- flip --------------------------------------------------------------------------------------


def test_flip_of_numbers_gives_every_other_value_in_order():
    dataset = table(x=["10", "2", "?", "2.0", "33", "-1"])
    cases = dataset.take(np.array([0, 2, 3]))  # 10, missing, 2.0
    variants, variant_case = perturb(cases, Step("flip", "x"), dataset=dataset)
    assert variant_case.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    x = variants.columns["x"]
    assert x.text.tolist() == ["-1", "2", "33", "-1", "2", "10", "33", "-1", "10", "33"]
    assert x.values.tolist() == [-1.0, 2.0, 33.0, -1.0, 2.0, 10.0, 33.0, -1.0, 10.0, 33.0]
    assert x.missing.tolist() == [False] * 10


def test_flip_with_values_the_dataset_lacks_gives_every_value():
    dataset = table(x=["1", "2", "3"], w=["a", "b", "c"])
    many = table(x=["1", "2", "3", "4", "5", "6"], w=["a", "b", "c", "d", "e", "f"])
    cases = table(x=["9", "0", "2"], w=["z", "0", "b"])
    variants, variant_case = perturb(cases, Step("flip", "x"), dataset=dataset)
    assert variant_case.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert cells(variants, "x") == ["1", "2", "3", "1", "2", "3", "1", "3"]
    for reference in (dataset, many):  # few values: one comparison per value; more: a lookup per cell
        variants, variant_case = perturb(cases, Step("flip", "w"), dataset=reference)
        k = reference.columns["w"].text.tolist()
        assert variant_case.tolist() == [0] * len(k) + [1] * len(k) + [2] * (len(k) - 1)
        assert cells(variants, "w") == k + k + [v for v in k if v != "b"]


@pytest.mark.parametrize("size", [3, 4, 5, 6])
def test_flip_of_text_around_the_few_values_threshold(size):
    values = [f"v{i}" for i in range(size)]
    dataset = table(w=values + ["?"])
    variants, variant_case = perturb(dataset, Step("flip", "w"))
    expected_case = [i for i in range(size) for _ in range(size - 1)] + [size] * size
    assert variant_case.tolist() == expected_case
    expected = [v for i in range(size) for v in values if v != values[i]] + values
    assert cells(variants, "w") == expected
    assert variants.columns["w"].missing.tolist() == [False] * len(expected)


def test_flip_of_a_numeric_column_whose_cases_are_all_missing():
    dataset = table(x=["1", "2", "?"], y=["a", "b", "c"])
    cases = table(x=["?"], y=["c"])
    assert cases.columns["x"].values is None  # a sample of missing cells has no numbers
    variants, variant_case = perturb(cases, Step("flip", "x"), dataset=dataset)
    assert variant_case.tolist() == [0, 0]
    assert cells(variants, "x") == ["1", "2"] and variants.columns["x"].values.tolist() == [1.0, 2.0]
    shifted, variant_case = perturb(cases, Step("shift", "x", 1.0), dataset=dataset)
    assert variant_case.tolist() == []
    assert shifted.columns["x"].values is not None and shifted.rows == 0
    set_, variant_case = perturb(cases, Step("set", "x", 5.0), dataset=dataset)
    assert variant_case.tolist() == [0] and cells(set_, "x") == ["5"] and set_.columns["x"].values.tolist() == [5.0]


def test_flip_of_a_text_column_that_reads_as_numbers_in_the_cases_compares_text():
    dataset = table(w=["1", "01", "a"])  # text in the dataset
    cases = table(w=["1", "01"])  # numbers in the cases alone
    assert cases.columns["w"].values is not None
    variants, variant_case = perturb(cases, Step("flip", "w"), dataset=dataset)
    assert variant_case.tolist() == [0, 0, 1, 1]
    assert cells(variants, "w") == ["01", "a", "1", "a"]
    assert variants.columns["w"].values is None


def test_categories_are_remembered_for_one_column_only(monkeypatch):
    monkeypatch.setattr(tp, "_last_categories", None)
    first = text_column("w", ["b", "a", "b"])
    second = text_column("w", ["d", "c", "?"], ("?",))
    assert tp._categories(first).tolist() == ["a", "b"]
    assert tp._categories(second).tolist() == ["c", "d"]
    assert tp._categories(first).tolist() == ["a", "b"]
    numeric = text_column("n", ["10", "9", "9.0", "?"], ("?",))
    assert tp._categories(numeric).tolist() == ["9", "10"]
    assert tp._last_categories[0] is numeric
    assert tp._categories(numeric) is tp._last_categories[1]


def test_category_index_numbers_and_text():
    categories = np.array(["1", "5", "9"], dtype=object)
    column = text_column("n", ["9", "5.0", "10", "0", "?", "1", "4"], ("?",))
    assert tp._category_index(column, categories).tolist() == [2, 1, -1, -1, -1, 0, -1]
    words = text_column("w", ["b", "?", "z", "a"], ("?",))
    assert tp._category_index(words, np.array(["a", "b"], dtype=object)).tolist() == [1, -1, -1, 0]
    five = np.array(["a", "b", "c", "d", "e"], dtype=object)
    assert tp._category_index(words, five).tolist() == [1, -1, -1, 0]
    hidden = Column("w", np.array(["a", "b"], dtype=object), np.array([True, False]))  # missing, its text a value
    assert tp._category_index(hidden, five).tolist() == [-1, 1]
    assert tp._category_index(hidden, np.array(["a", "b"], dtype=object)).tolist() == [-1, 1]


# --- shift and scale -----------------------------------------------------------------------------


def test_shift_and_scale_values_and_text():
    cases = table(x=["1", "?", "-2", "0"])
    shifted, variant_case = perturb(cases, Step("shift", "x", 3.0))
    assert variant_case.tolist() == [0, 2, 3]
    assert cells(shifted, "x") == ["4", "1", "3"] and shifted.columns["x"].values.tolist() == [4.0, 1.0, 3.0]
    scaled, variant_case = perturb(cases, Step("scale", "x", -2.0))
    assert variant_case.tolist() == [0, 2]  # 0 stays 0
    assert cells(scaled, "x") == ["-2", "4"] and scaled.columns["x"].values.tolist() == [-2.0, 4.0]
    scaled, variant_case = perturb(cases, Step("scale", "x", 0.5))
    assert cells(scaled, "x") == ["0.5", "-1.0"]  # a fractional factor: never whole


def test_integer_text_needs_the_dataset_the_cells_and_the_amount_whole():
    dataset = table(x=["1", "2", "2.5"])
    cases = dataset.take(np.array([0, 1]))
    shifted, _ = perturb(cases, Step("shift", "x", 1.0), dataset=dataset)
    assert cells(shifted, "x") == ["2.0", "3.0"]  # the dataset's column is not whole
    shifted, _ = perturb(cases, Step("shift", "x", 1.0))
    assert cells(shifted, "x") == ["2", "3"]
    # the cells so far are not all whole (0.5), though the dataset and the factor are:
    chained, _ = perturb(cases, Step("shift", "x", -0.5), Step("scale", "x", 0.0), dataset=cases)
    assert cells(chained, "x") == ["0.0", "0.0"]
    chained, _ = perturb(cases, Step("shift", "x", -1.0), Step("scale", "x", 0.0), dataset=cases)
    assert cells(chained, "x") == ["0", "0"]


def test_whole_looks_at_present_cells_only():
    column = Column("x", np.array(["1", "?"], dtype=object), np.array([False, True]), np.array([1.0, np.nan]))
    assert tp._whole(column) is True
    half = Column("x", np.array(["1.5", "2"], dtype=object), np.array([False, False]), np.array([1.5, 2.0]))
    assert tp._whole(half) is False
    assert tp._whole(Column("x", np.array(["2", "3"], dtype=object), np.zeros(2, dtype=bool), np.array([2.0, 3.0]))) is True


def test_an_infinite_number_times_zero_becomes_missing():
    cases = table(marker="NA", x=["inf", "2", "NA"])
    with np.errstate(invalid="ignore"):  # inf * 0
        variants, variant_case = perturb(cases, Step("scale", "x", 0.0))
    assert variant_case.tolist() == [0, 1]
    x = variants.columns["x"]
    assert x.text.tolist() == ["NA", "0"] and x.missing.tolist() == [True, False]
    assert np.isnan(x.values[0]) and x.values[1] == 0.0
    shifted, variant_case = perturb(cases, Step("shift", "x", 1.0))
    assert variant_case.tolist() == [1] and cells(shifted, "x") == ["3"]  # inf + 1 is inf: unchanged


def test_with_numbers_keeps_the_text_of_unchanged_cells():
    column = Column("x", np.array(["01", "2.50", "?", "7"], dtype=object), np.array([False, False, True, False]),
                    np.array([1.0, 2.5, np.nan, 7.0]))
    new = tp._with_numbers(column, np.array([1.0, 3.5, np.nan, np.nan]), False, "?")
    assert new.text.tolist() == ["01", "3.5", "?", "?"]
    assert new.missing.tolist() == [False, False, True, True]
    assert new.name == "x" and new.values is not None
    assert column.text.tolist() == ["01", "2.50", "?", "7"]  # the input is not written to
    given = tp._with_numbers(column, np.array([1.0, 4.0, 5.0, 7.0]), True, "?", np.array(["a", "b", "c", "d"], dtype=object))
    assert given.text.tolist() == ["01", "b", "c", "7"] and given.missing.tolist() == [False] * 4
    whole = tp._with_numbers(column, np.array([2.0, 2.5, np.nan, 8.0]), True, "?")
    assert whole.text.tolist() == ["2", "2.50", "?", "8"]


# --- noise ------------------------------------------------------------------------------------------


def test_noise_adds_exactly_the_generators_draws():
    dataset = table(marker="NA", x=["10", "NA", "13", "11", "20"])
    cases = dataset.take(np.array([0, 1, 2]))
    variants, variant_case = perturb(cases, Step("noise", "x", 0.5), dataset=dataset, seed=3, variants=2)
    std = 0.5 * np.std([10.0, 13.0, 11.0, 20.0])
    drawn = np.random.default_rng(3).normal(0.0, std, 6)
    expected = np.repeat([10.0, np.nan, 13.0], 2) + drawn
    assert variant_case.tolist() == [0, 0, 2, 2]  # the missing case stays missing: no variant
    x = variants.columns["x"]
    np.testing.assert_array_equal(x.values, expected[[0, 1, 4, 5]])
    assert x.text.tolist() == [repr(float(v)) for v in expected[[0, 1, 4, 5]]]
    assert x.missing.tolist() == [False] * 4


def test_noise_with_the_default_std_and_integers_writes_decimals():
    cases = table(x=["1", "3"])
    variants, _ = perturb(cases, Step("noise", "x"), seed=11)
    expected = np.array([1.0, 3.0]) + np.random.default_rng(11).normal(0.0, 0.1 * 1.0, 2)
    np.testing.assert_array_equal(variants.columns["x"].values, expected)
    assert "." in variants.columns["x"].text[0]


def test_noise_then_flip_keeps_each_draw_with_its_case():
    dataset = table(x=["1", "3"], w=["a", "b"])
    variants, variant_case = perturb(dataset, Step("noise", "x", 1.0), Step("flip", "w"), seed=5, variants=2)
    assert variant_case.tolist() == [0, 0, 1, 1]
    expected = np.repeat([1.0, 3.0], 2) + np.random.default_rng(5).normal(0.0, 1.0, 4)
    np.testing.assert_array_equal(variants.columns["x"].values, expected)
    assert cells(variants, "w") == ["b", "b", "a", "a"]


# --- missing ------------------------------------------------------------------------------------------


def test_missing_in_text_and_numeric_columns():
    cases = table(marker="NA", x=["1", "NA", "3"], w=["a", "b", "NA"])
    variants, variant_case = perturb(cases, Step("missing", "x"))
    assert variant_case.tolist() == [0, 2]
    x = variants.columns["x"]
    assert x.text.tolist() == ["NA", "NA"] and x.missing.tolist() == [True, True]
    assert x.values is not None and np.isnan(x.values).all()
    variants, variant_case = perturb(cases, Step("missing", "w"))
    assert variant_case.tolist() == [0, 1]
    w = variants.columns["w"]
    assert w.text.tolist() == ["NA", "NA"] and w.missing.tolist() == [True, True] and w.values is None


def test_working_column_follows_the_dataset():
    numeric = text_column("x", ["1", "2"])
    words = text_column("x", ["1", "a"])
    as_text = tp._working_column(numeric, words)
    assert as_text.values is None and as_text.text.tolist() == ["1", "2"] and as_text.missing.tolist() == [False, False]
    assert as_text.name == "x"
    empty = text_column("x", ["?"], ("?",))
    as_numbers = tp._working_column(empty, numeric)
    assert as_numbers.values is not None and np.isnan(as_numbers.values).all() and len(as_numbers.values) == 1
    assert as_numbers.missing.tolist() == [True]
    same = tp._working_column(numeric, numeric)
    assert same.values is numeric.values


# --- what the result columns are ---------------------------------------------------------------------


def test_every_step_keeps_the_columns_name_and_object_text():
    cases = table(x=["1", "?", "3"], w=["a", "b", "?"])
    for step in (Step("set", "x", 2.0), Step("set", "w", "c"), Step("flip", "x"), Step("flip", "w"), Step("shift", "x", 1.0),
                 Step("scale", "x", 2.0), Step("noise", "x", 0.1), Step("missing", "x"), Step("missing", "w")):
        variants, _ = perturb(cases, step)
        column = variants.columns[step.column]
        assert column.name == step.column, step
        assert column.text.dtype == object, step
    assert tp._working_column(cases.columns["x"], cases.columns["w"]).name == "x"
    assert tp._working_column(cases.columns["x"], cases.columns["x"]).name == "x"


def test_a_number_set_after_missing_is_written_in_full():
    cases = table(x=["1", "2"])
    variants, variant_case = perturb(cases, Step("missing", "x"), Step("set", "x", 12345.0))
    assert variant_case.tolist() == [0, 1] and cells(variants, "x") == ["12345", "12345"]
    variants, _ = perturb(cases, Step("missing", "x"), Step("set", "x", "123.25"))
    assert cells(variants, "x") == ["123.25", "123.25"]


def test_a_variant_differing_in_an_earlier_column_only_is_kept():
    cases = table(x=["1", "2", "3"], y=["a", "b", "a"])
    variants, variant_case = perturb(cases, Step("shift", "x", 1.0), Step("set", "y", "a"))
    assert variant_case.tolist() == [0, 1, 2]
    assert cells(variants, "x") == ["2", "3", "4"] and cells(variants, "y") == ["a", "a", "a"]


def test_one_variant_per_case_by_default():
    cases = table(x=["1", "3"])
    variants, variant_case = perturb_table(cases, [Step("noise", "x", 1.0)], cases, np.random.default_rng(2))
    assert variant_case.tolist() == [0, 1]
    expected = np.array([1.0, 3.0]) + np.random.default_rng(2).normal(0.0, 1.0, 2)
    np.testing.assert_array_equal(variants.columns["x"].values, expected)


def test_noise_never_writes_integers_even_where_every_float_is_whole():
    # above 2**53 every float64 is a whole number; noise still writes the shortest float text
    cases = table(x=["1e17", "3e17"])
    variants, _ = perturb(cases, Step("noise", "x", 0.1), seed=1)
    expected = np.array([1e17, 3e17]) + np.random.default_rng(1).normal(0.0, 0.1 * 1e17, 2)
    np.testing.assert_array_equal(variants.columns["x"].values, expected)
    assert cells(variants, "x") == [repr(float(v)) for v in expected]
    assert all("e+17" in cell for cell in cells(variants, "x"))
