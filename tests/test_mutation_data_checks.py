"""Data checks (mlspec.library.data_checks) on small tables where every figure is known:
each check's value, count, total, rows, repeats and detail line exactly, the boundaries
(`between`'s bounds, five quoted cells, no rows, no labels), and duplicates and overlap
against a plain Python reference (a dict of row tuples) on random tables, with the row hash
as it is and with a hash that collides all the time (docs/mutation.md)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mlspec.library import data_checks as dc
from mlspec.library.data_checks import DATA_CHECKS, DataCheckError, run_check
from mlspec.library.tables import Column, Table, text_column


def table(marker: str = "?", **cells: list[str]) -> Table:
    columns = {name: text_column(name, values, (marker,)) for name, values in cells.items()}
    rows = len(next(iter(cells.values()))) if cells else 0
    return Table(columns, rows, np.arange(2, rows + 2), missing_text=marker)


def figure_of(found) -> tuple:
    return (found.value, found.count, found.total, found.rows.tolist(), found.detail, found.column)


def assert_int64(found):
    assert found.rows.dtype == np.int64
    if found.repeats is not None:
        assert found.repeats.dtype == np.int64


# ================================================================= rows, column


def test_rows():
    assert figure_of(run_check("rows", table(a=["1"] * 1234))) == (1234.0, 1234, 1234, [], "1,234 rows", None)
    empty = run_check("rows", Table({}, 0, np.zeros(0, dtype=np.int64)))
    assert figure_of(empty) == (0.0, 0, 0, [], "0 rows", None) and empty.share == 0.0
    assert_int64(empty)


def test_column_of_each_type():
    t = table(n=["1", "2.5", "?", "-3"], i=["1", "2", "?", "1e2"], s=["a", "1", "?", "b"])
    assert figure_of(run_check("column", t, column="n")) == (1.0, 0, 3, [], "column `n` is present", "n")
    assert figure_of(run_check("column", t, column="n", type="number")) == (1.0, 0, 3, [], "column `n` holds numbers", "n")
    assert figure_of(run_check("column", t, column="i", type="integer")) == (1.0, 0, 3, [], "column `i` holds whole numbers", "i")
    assert figure_of(run_check("column", t, column="s", type="text")) == (1.0, 0, 3, [], "column `s` holds text", "s")
    wrong = run_check("column", t, column="n", type="integer")
    assert figure_of(wrong) == (0.0, 1, 3, [1], 'column `n`: 1 of 3 cells are not whole numbers: line 3 "2.5"', "n")
    assert wrong.share == 1 / 3
    text = run_check("column", t, column="s", type="number")
    assert figure_of(text) == (0.0, 2, 3, [0, 3], 'column `s`: 2 of 3 cells are not numbers: line 2 "a", line 5 "b"', "s")
    assert_int64(text)


def test_integer_wants_whole_finite_numbers():
    t = table(x=["1e300", "-0", "inf", "-inf", "0.5", "-2", "?", "1e-300"])
    found = run_check("column", t, column="x", type="integer")
    assert found.rows.tolist() == [2, 3, 4, 7] and found.count == 4 and found.total == 7
    text = table(x=["1e300", "-0", "inf", "-inf", "0.5", "-2", "?", "1e-300", "x"])
    found = run_check("column", text, column="x", type="integer")
    assert found.rows.tolist() == [2, 3, 4, 7, 8]
    assert run_check("column", text, column="x", type="number").rows.tolist() == [8]


def test_a_missing_column_and_unknown_types():
    t = table(age=["1"], income=["a"])
    assert figure_of(run_check("column", t, column="agee")) == (0.0, 0, 0, [], "no column `agee` (did you mean `age`?)", "agee")
    assert run_check("column", t, column="zzz").detail == "no column `zzz` (columns: age, income)"
    with pytest.raises(DataCheckError, match=r"^unknown column type `float` \(known: number, integer, text\)$"):
        run_check("column", t, column="age", type="float")
    with pytest.raises(DataCheckError, match="unknown column type"):
        run_check("column", t, column="nope", type="float")  # the type is checked first


def test_five_cells_are_quoted_then_dots():
    five = table(x=["a", "b", "c", "d", "e", "1"])
    assert run_check("column", five, column="x", type="number").detail.endswith('line 5 "d", line 6 "e"')
    six = table(x=["a", "b", "c", "d", "e", "f", "1"])
    found = run_check("column", six, column="x", type="number")
    assert found.detail == 'column `x`: 6 of 7 cells are not numbers: line 2 "a", line 3 "b", line 4 "c", line 5 "d", line 6 "e", ...'


def test_offending_rows_are_the_first_ten():
    t = table(x=["x"] * 11 + ["1"] + ["y"])
    found = run_check("column", t, column="x", type="number")
    assert found.rows.tolist() == list(range(10)) and found.count == 12


# ================================================================= missing


def test_missing_of_a_column():
    t = table(a=["1", "?", "?", "2", "?", "?", "?", "?"], b=["x", "", "y", "?", "z", "w", "v", "u"])
    found = run_check("missing", t, column="a")
    assert figure_of(found) == (0.75, 6, 8, [1, 2, 4, 5, 6, 7], "column `a`: 6 of 8 cells missing (75.00%): lines 3, 4, 6, 7, 8, ...", "a")
    exactly_five = table(a=["?", "?", "1", "?", "?", "?"])
    assert run_check("missing", exactly_five, column="a").detail == "column `a`: 5 of 6 cells missing (83.33%): lines 2, 3, 5, 6, 7"
    none = run_check("missing", t, column="b")
    assert figure_of(none) == (0.25, 2, 8, [1, 3], "column `b`: 2 of 8 cells missing (25.00%): lines 3, 5", "b")
    clean = table(c=["1", "2"])
    assert run_check("missing", clean, column="c").detail == "column `c`: 0 of 2 cells missing (0.00%)"


def test_missing_of_an_empty_table():
    t = Table({"a": Column("a", np.zeros(0, dtype=object), np.zeros(0, dtype=bool))}, 0, np.zeros(0, dtype=np.int64))
    assert figure_of(run_check("missing", t, column="a")) == (0.0, 0, 0, [], "column `a`: 0 of 0 cells missing (0.00%)", "a")
    assert figure_of(run_check("missing", t)) == (0.0, 0, 0, [], "column `a`: 0 of 0 cells missing (0.00%)", "a")
    no_columns = run_check("missing", Table({}, 3, np.arange(2, 5)))
    assert figure_of(no_columns) == (0.0, 0, 3, [], "the dataset has no columns", None)


def test_the_worst_column_and_ties():
    t = table(a=["1", "?", "2"], b=["?", "?", "x"], c=["?", "?", "?"])
    assert run_check("missing", t).column == "c"
    tie = table(a=["1", "2", "3"], b=["?", "x", "y"], c=["z", "?", "y"])
    found = run_check("missing", tie)
    assert found.column == "b" and found.rows.tolist() == [0]
    assert run_check("missing", table(a=["1"], b=["2"])).column == "a"


# ================================================================= between, in


def test_between_includes_its_bounds():
    t = table(x=["1", "2", "3", "?", "4", "0.5", "3.25"])
    found = run_check("between", t, column="x", low=1, high=3)
    assert figure_of(found) == (3 / 6, 3, 6, [4, 5, 6], 'column `x`: 3 of 6 values outside [1, 3]: line 6 "4", line 7 "0.5", line 8 "3.25"', "x")
    found = run_check("between", t, column="x", low=0.5, high=3.25)
    assert figure_of(found) == (1 / 6, 1, 6, [4], 'column `x`: 1 of 6 values outside [0.5, 3.25]: line 6 "4"', "x")
    inside = run_check("between", t, column="x", low=-1.0, high=4.0)
    assert figure_of(inside) == (0.0, 0, 6, [], "column `x`: 0 of 6 values outside [-1, 4]", "x")


def test_between_on_a_column_with_nothing_present():
    t = Table({"x": Column("x", np.array(["", ""], dtype=object), np.array([True, True]), np.array([np.nan, np.nan]))}, 2, np.arange(2, 4))
    assert figure_of(run_check("between", t, column="x", low=0, high=1)) == (0.0, 0, 0, [], "column `x`: 0 of 0 values outside [0, 1]", "x")
    with pytest.raises(DataCheckError, match=r"^column `s` holds text, not numbers$"):
        run_check("between", table(s=["a"]), column="s", low=0, high=1)


def test_in_numbers_and_texts():
    numbers = table(x=["1", "1.0", "2", "?", "3", "2e0"])
    found = run_check("in", numbers, column="x", allowed=[1, "2", "x", None, float("nan")])
    assert figure_of(found) == (0.2, 1, 5, [4], 'column `x`: 1 of 5 values not among ["1", "2", "x", "None", "nan"]: line 6 "3"', "x")
    assert run_check("in", numbers, column="x", allowed=[]).count == 5
    words = table(w=["a", "b", "2", "?", "c", "2.0", "d", "e", "f"])
    few = run_check("in", words, column="w", allowed=["a", 2.0, "c"])
    assert figure_of(few) == (5 / 8, 5, 8, [1, 5, 6, 7, 8], 'column `w`: 5 of 8 values not among ["a", "2", "c"]: line 3 "b", line 7 "2.0", line 8 "d", line 9 "e", line 10 "f"', "w")
    many = run_check("in", words, column="w", allowed=["a", 2.0, "c", "x", "y", "z", "e"])
    assert many.rows.tolist() == [1, 5, 6, 8] and many.count == 4 and many.total == 8
    four = run_check("in", words, column="w", allowed=["a", "b", "c", "d"])
    five = run_check("in", words, column="w", allowed=["a", "b", "c", "d", "e"])
    assert four.rows.tolist() == [2, 5, 7, 8] and five.rows.tolist() == [2, 5, 8]


def test_allowed_values_as_text_and_as_numbers():
    assert dc._as_text("x") == "x" and dc._as_text(2.0) == "2" and dc._as_text(2.5) == "2.5" and dc._as_text(3) == "3"
    assert dc._as_text(True) == "True" and dc._as_text(None) == "None"
    assert dc._as_number("1e3") == 1000.0 and dc._as_number(None) is None and dc._as_number("x") is None
    assert dc._as_number("nan") is None and dc._as_number(float("inf")) == float("inf")
    assert dc._number(3.0) == "3" and dc._number(-2) == "-2" and dc._number(0.25) == "0.25"


# ================================================================= duplicates


def test_duplicate_rows_exactly():
    t = table(a=["1", "1.0", "2", "1", "?", "?"], b=["x", "x", "y", "x", "z", "z"])
    found = run_check("duplicates", t)
    assert figure_of(found) == (3.0, 3, 6, [1, 3, 5], "3 of 6 rows repeat an earlier row: line 3 repeats line 2, line 5 repeats line 2, line 7 repeats line 6", None)
    assert found.repeats.tolist() == [0, 0, 4] and found.share == 0.5
    assert_int64(found)
    column = run_check("duplicates", t, column="a")
    assert figure_of(column) == (2.0, 2, 4, [1, 3], "2 of 4 values of column `a` repeat an earlier one: line 3 repeats line 2, line 5 repeats line 2", "a")
    assert column.repeats.tolist() == [0, 0]
    none = run_check("duplicates", table(a=["1", "2"]))
    assert figure_of(none) == (0.0, 0, 2, [], "0 of 2 rows repeat an earlier row", None) and none.repeats.tolist() == []


def test_duplicates_quote_five_pairs():
    t = table(a=["1"] * 8)
    found = run_check("duplicates", t)
    assert found.detail == "7 of 8 rows repeat an earlier row: " + ", ".join(f"line {n} repeats line 2" for n in range(3, 8))
    assert found.rows.tolist() == list(range(1, 8)) and found.repeats.tolist() == [0] * 7


def test_duplicates_of_an_empty_table_and_of_no_columns():
    empty = table(a=[], b=[])
    found = run_check("duplicates", empty)
    assert figure_of(found) == (0.0, 0, 0, [], "0 of 0 rows repeat an earlier row", None)
    assert figure_of(run_check("duplicates", empty, column="a")) == (0.0, 0, 0, [], "0 of 0 values of column `a` repeat an earlier one", "a")
    no_columns = run_check("duplicates", Table({}, 3, np.arange(2, 5)))
    assert no_columns.count == 2 and no_columns.rows.tolist() == [1, 2] and no_columns.repeats.tolist() == [0, 0]


def test_numbers_compare_by_value_and_missing_cells_as_equal():
    t = table(x=["0", "-0", "0.0", "1", "?", "?", "-0.0"])
    assert run_check("duplicates", t).rows.tolist() == [1, 2, 5, 6]
    hand = Table(
        {"x": Column("x", np.array(["", "", "1"], dtype=object), np.array([True, True, False]), np.array([np.nan, -np.nan, 1.0]))},
        3, np.arange(2, 5),
    )
    found = run_check("duplicates", hand)
    assert found.rows.tolist() == [1] and found.repeats.tolist() == [0]
    tiny = table(x=["0", "1e-17", "-1e-17", "1e-300", "5e-324"])  # numbers too close to 0 to tell apart after + 1.0
    assert run_check("duplicates", tiny).count == 0 and run_check("duplicates", tiny, column="x").count == 0
    assert run_check("overlap", tiny, other=table(x=["1e-17"])).rows.tolist() == [1]
    marked = table(marker="NA", x=["NA", "a", "NA", ""], y=["1", "a", "1", ""])
    assert run_check("duplicates", marked).rows.tolist() == [2]
    whatever = Table(
        {"t": Column("t", np.array(["?", "NA", "a"], dtype=object), np.array([True, True, False]))}, 3, np.arange(2, 5)
    )  # what the file wrote in a missing cell does not count
    assert run_check("duplicates", whatever).rows.tolist() == [1]


# ================================================================= labels


def test_label_share_exactly():
    t = table(y=["0", "1", "1.0", "?", "2", "1"])
    found = run_check("label_share", t, label_column="y", label=1)
    assert figure_of(found) == (0.6, 3, 5, [], 'label "1": 3 of 5 labelled rows (60.00%) in column `y`', "y")
    assert run_check("label_share", t, label_column="y", label="x").count == 0
    assert run_check("label_share", t, label_column="y", label=None).count == 0
    words = table(y=["a", "b", "?", "a", "1.0"])
    found = run_check("label_share", words, label_column="y", label="a")
    assert figure_of(found) == (0.5, 2, 4, [], 'label "a": 2 of 4 labelled rows (50.00%) in column `y`', "y")
    assert run_check("label_share", words, label_column="y", label=1.0).count == 0  # text: "1.0" is not "1"
    marked = table(marker="a", y=["a", "b", "a"])
    assert run_check("label_share", marked, label_column="y", label="a").count == 0  # a missing label is no label
    nothing = table(y=["?", "?"])
    assert figure_of(run_check("label_share", nothing, label_column="y", label="?")) == (0.0, 0, 0, [], 'label "?": 0 of 0 labelled rows (0.00%) in column `y`', "y")


def test_min_label_share_exactly():
    t = table(y=["b", "a", "c", "b", "?", "a", "c", "c"])
    found = run_check("min_label_share", t, label_column="y")
    assert figure_of(found) == (2 / 7, 2, 7, [], 'rarest label "a": 2 of 7 labelled rows in column `y` ("a" 28.57%, "b" 28.57%, "c" 42.86%)', "y")
    assert isinstance(found.count, int)
    numbers = table(y=["10", "9", "9", "10.0", "?", "9.0", "2"])
    found = run_check("min_label_share", numbers, label_column="y")
    assert figure_of(found) == (1 / 6, 1, 6, [], 'rarest label "2": 1 of 6 labelled rows in column `y` ("2" 16.67%, "9" 50.00%, "10" 33.33%)', "y")
    nothing = run_check("min_label_share", table(y=["?"]), label_column="y")
    assert figure_of(nothing) == (0.0, 0, 0, [], "column `y` has no labels", "y")


@pytest.mark.parametrize("distinct", [1, 3, 4, 5, 6, 12])
def test_label_counts_equal_pandas(distinct):
    rng = np.random.default_rng(distinct)
    cells = [f"L{int(v)}" for v in rng.integers(0, distinct, 200)] + ["?"] * 7
    t = table(y=cells)
    counts = pd.Series([c for c in cells if c != "?"]).value_counts()
    labels, found = dc._label_counts(t.columns["y"])
    assert labels == sorted(counts.index) and found.tolist() == [counts[label] for label in labels]
    rarest = run_check("min_label_share", t, label_column="y")
    assert rarest.count == counts.min() and rarest.total == 200 and rarest.value == counts.min() / 200
    for label in labels:
        assert run_check("label_share", t, label_column="y", label=label).count == counts[label]


def test_values_among_names_equal_a_set_lookup():
    text = np.array(["a", "b", "c", "d", "e", "f", "a"], dtype=object)
    for names in ({"a"}, {"a", "b", "c", "d"}, {"a", "b", "c", "d", "e"}, {"f", "x", "y", "z", "w", "v"}, set()):
        assert dc._among(text, names).tolist() == [cell in names for cell in text]


# ================================================================= overlap


def test_overlap_exactly():
    mine = table(a=["1", "2", "3", "?", "5"], b=["x", "y", "z", "w", "v"], label=["p", "q", "p", "q", "p"])
    theirs = table(b=["y", "x", "w", "x", "z"], a=["2.0", "1", "?", "1", "4"], label=["q", "q", "q", "q", "q"])
    found = run_check("overlap", mine, other=theirs, label_column="label")
    assert figure_of(found) == (3.0, 3, 5, [0, 1, 3], "3 of 5 rows also in the other dataset (compared on 2 columns, the label `label` aside): line 2 = line 3, line 3 = line 2, line 5 = line 4", None)
    assert found.repeats.tolist() == [1, 0, 2]
    assert_int64(found)
    with_label = run_check("overlap", mine, other=theirs)
    assert figure_of(with_label) == (2.0, 2, 5, [1, 3], "2 of 5 rows also in the other dataset (compared on 3 columns): line 3 = line 2, line 5 = line 4", None)
    other_labels = table(b=["y", "x", "w", "x", "z"], a=["2.0", "1", "?", "1", "4"], label=["r", "r", "r", "r", "r"])
    none = run_check("overlap", mine, other=other_labels)
    assert figure_of(none) == (0.0, 0, 5, [], "0 of 5 rows also in the other dataset (compared on 3 columns)", None)
    absent_label = run_check("overlap", mine, other=other_labels, label_column="nothing")
    assert absent_label.detail == "0 of 5 rows also in the other dataset (compared on 3 columns)"


def test_overlap_quotes_five_pairs():
    mine = table(a=[str(i) for i in range(7)])
    theirs = table(a=[str(i) for i in range(6, -1, -1)])
    found = run_check("overlap", mine, other=theirs)
    assert found.detail == "7 of 7 rows also in the other dataset (compared on 1 columns): " + ", ".join(f"line {i + 2} = line {8 - i}" for i in range(5))
    assert found.repeats.tolist() == [6, 5, 4, 3, 2, 1, 0]


def test_overlap_with_nothing_to_compare():
    mine = table(a=["1"], label=["x"])
    with pytest.raises(DataCheckError, match=r"^the two datasets have no column in common$"):
        run_check("overlap", mine, other=table(b=["1"]))
    with pytest.raises(DataCheckError, match=r"^the two datasets have no column in common besides the label `label`$"):
        run_check("overlap", mine, other=table(label=["x"]), label_column="label")
    empty = run_check("overlap", mine, other=table(a=[]))
    assert figure_of(empty) == (0.0, 0, 1, [], "0 of 1 rows also in the other dataset (compared on 1 columns)", None)
    nothing_here = run_check("overlap", table(a=[]), other=mine)
    assert figure_of(nothing_here) == (0.0, 0, 0, [], "0 of 0 rows also in the other dataset (compared on 1 columns)", None)


def test_overlap_compares_text_where_either_side_is_text():
    mine = table(a=["1", "2", "1.0"])
    assert run_check("overlap", mine, other=table(a=["1.0", "x"])).rows.tolist() == [2]
    assert run_check("overlap", mine, other=table(a=["1.0", "3"])).rows.tolist() == [0, 2]
    assert run_check("overlap", table(a=["x", "1"]), other=table(a=["1.0", "2"])).rows.tolist() == []


# ================================================================= equal rows against a reference, on random tables


NUMBERS = ["1", "1.0", "2", "-0", "0", "3.5", "?", "10", "1e1"]
WORDS = ["a", "b", "c", "?", "A", "b ", "ab"]


def random_table(rng, rows: int, names: list[str], kinds: dict[str, str]) -> Table:
    cells = {}
    for name in names:
        pool = NUMBERS if kinds[name] == "number" else WORDS
        cells[name] = [str(v) for v in rng.choice(pool[: int(rng.integers(2, len(pool) + 1))], size=rows)]
    return table(**cells)


def row_keys(t: Table, names: list[str], as_numbers: dict[str, bool]) -> list[tuple]:
    keys = []
    for row in range(t.rows):
        key = []
        for name in names:
            column = t.columns[name]
            if column.missing[row]:
                key.append(None)
            elif as_numbers[name]:
                key.append(("n", float(column.text[row]) + 0.0))
            else:
                key.append(("t", column.text[row]))
        keys.append(tuple(key))
    return keys


def reference_duplicates(t: Table, names: list[str]) -> tuple[list[int], list[int]]:
    seen, rows, repeats = {}, [], []
    for row, key in enumerate(row_keys(t, names, {n: t.columns[n].numeric for n in names})):
        if key in seen:
            rows.append(row)
            repeats.append(seen[key])
        else:
            seen[key] = row
    return rows, repeats


def reference_overlap(mine: Table, theirs: Table, names: list[str]) -> tuple[list[int], list[int]]:
    numeric = {n: mine.columns[n].numeric and theirs.columns[n].numeric for n in names}
    first = {}
    for row, key in enumerate(row_keys(theirs, names, numeric)):
        first.setdefault(key, row)
    found = [(row, first[key]) for row, key in enumerate(row_keys(mine, names, numeric)) if key in first]
    return [r for r, _ in found], [m for _, m in found]


def check_equal_rows(seed: int):
    rng = np.random.default_rng(seed)
    names = ["n1", "t1", "n2", "t2", "lbl"][: int(rng.integers(1, 6))]
    kinds = {name: ("number" if name.startswith("n") or (name == "lbl" and seed % 2) else "text") for name in names}
    mine = random_table(rng, int(rng.integers(0, 40)), names, kinds)
    theirs = random_table(rng, int(rng.integers(0, 40)), names[::-1], kinds)
    found = run_check("duplicates", mine)
    rows, repeats = reference_duplicates(mine, names)
    assert found.count == len(rows) and found.rows.tolist() == rows[:10] and found.repeats.tolist() == repeats[:10]
    for name in names:
        present = np.flatnonzero(~mine.columns[name].missing)
        rows, repeats = reference_duplicates(mine.take(present), [name])
        found = run_check("duplicates", mine, column=name)
        assert found.count == len(rows) and found.total == len(present)
        assert found.rows.tolist() == present[rows][:10].tolist() and found.repeats.tolist() == present[repeats][:10].tolist()
    label = "lbl" if "lbl" in names and len(names) > 1 else None
    compared = [n for n in names if n != label]
    found = run_check("overlap", mine, other=theirs, label_column=label)
    rows, matches = reference_overlap(mine, theirs, compared)
    assert found.count == len(rows) and found.rows.tolist() == rows[:10] and found.repeats.tolist() == matches[:10]


@pytest.mark.parametrize("seed", range(40))
def test_equal_rows_equal_the_reference(seed):
    check_equal_rows(seed)


@pytest.mark.parametrize("mix", ["zero", "low bits"])
def test_equal_rows_equal_the_reference_when_every_hash_collides(monkeypatch, mix):
    monkeypatch.setattr(dc, "_mix", (lambda x: x & np.uint64(0)) if mix == "zero" else (lambda x: x & np.uint64(3)))
    for seed in range(40):
        check_equal_rows(seed)


def test_equal_rows_of_a_larger_table():
    """Enough rows for hash buckets to hold several rows by chance."""
    rng = np.random.default_rng(1)
    kinds = {"n1": "number", "t1": "text", "t2": "text"}
    mine = random_table(rng, 3000, list(kinds), kinds)
    theirs = random_table(rng, 2000, list(kinds), kinds)
    found = run_check("duplicates", mine)
    rows, repeats = reference_duplicates(mine, list(kinds))
    assert found.count == len(rows) and found.repeats.tolist() == repeats[:10]
    found = run_check("overlap", mine, other=theirs)
    rows, matches = reference_overlap(mine, theirs, list(kinds))
    assert found.count == len(rows) and found.rows.tolist() == rows[:10] and found.repeats.tolist() == matches[:10]


# ================================================================= the row hash's pieces


def test_heads_and_lookup():
    keys = np.array([5, 3, 5, 9, 3, 5], dtype=np.uint64)
    assert dc._heads(keys).tolist() == [0, 1, 0, 3, 1, 0]
    assert dc._heads(np.zeros(0, dtype=np.uint64)).tolist() == []
    assert dc._lookup(keys, np.array([3, 9, 3, 4], dtype=np.uint64)).tolist() == [-1, 0, -1, 1, 0, -1]
    assert dc._lookup(np.array([10, 1], dtype=np.uint64), np.array([2, 5], dtype=np.uint64)).tolist() == [-1, -1]
    assert dc._lookup(keys, np.zeros(0, dtype=np.uint64)).tolist() == [-1] * 6


def test_buckets_say_surely_when_no_key_is_shared():
    keys = np.array([1, 2, 3, 17, 2 + 32], dtype=np.uint64)
    for rows in (0, 1, 5, 8, 1000):
        size = dc._bucket_count(rows)
        assert size >= 4 * rows and size & (size - 1) == 0
    assert dc._buckets(keys, 16).tolist() == [1, 2, 3, 1, 2]
    assert dc._repeated(keys).tolist() == [False, True, False, False, True]
    assert dc._in_other(np.array([1, 7, 33, 40], dtype=np.uint64), np.array([1 + 64, 2], dtype=np.uint64)).tolist() == [True, False, True, False]


def test_mix_is_splitmix64s_finalizer():
    def reference(x: int) -> int:
        mask = (1 << 64) - 1
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    values = [0, 1, 2, 12345, 2**63, 2**64 - 1, 0x0123456789ABCDEF]
    with np.errstate(over="ignore"):
        got = dc._mix(np.array(values, dtype=np.uint64))
    assert [int(v) for v in got] == [reference(v) for v in values]


def test_cell_codes():
    numbers = text_column("n", ["1", "-0", "?", "0", "1.0"], ("?",))
    codes = dc._cell_codes(numbers, np.arange(5))
    assert codes.dtype == np.int64 and codes[0] == codes[4] and codes[1] == codes[3] and codes[0] != codes[1]
    assert codes[2] == np.array([np.nan]).view(np.int64)[0]
    words = text_column("t", ["a", "?", "b", "a"], ("?",))
    codes = dc._cell_codes(words, np.arange(4))
    assert codes.tolist() == [hash("a"), 0, hash("b"), hash("a")]
    assert dc._cell_codes(words, np.array([3, 1])).tolist() == [hash("a"), 0]
    assert dc._number_codes(np.array([-0.0, 0.0, -np.nan, np.nan])).tolist() == [0, 0, *np.array([np.nan] * 2).view(np.int64).tolist()]


def test_exact_keys_tell_rows_apart_without_hashing():
    a = dc._Side([text_column("t", ["a", "?", "b", "a"], ("?",)), text_column("n", ["1", "2", "1", "1.0"])], np.arange(4))
    b = dc._Side([text_column("t", ["b", "a", "?"], ("?",)), text_column("n", ["1", "1", "2"])], np.array([0, 1, 2]))
    for side in (a, b):
        for j, column in enumerate(side.columns):
            side.add(j, dc._cell_codes(column, side.rows))
    mine, theirs = dc._exact_keys([a, b])
    assert mine.dtype == np.int64 and theirs.dtype == np.int64
    assert mine[0] == mine[3] == theirs[1] and mine[2] == theirs[0] and mine[1] == theirs[2]
    assert len({mine[0], mine[1], mine[2]}) == 3
    empty = dc._exact_keys([dc._Side([], np.arange(3))])
    assert [k.tolist() for k in empty] == [[0, 0, 0]] and empty[0].dtype == np.int64


def test_missing_cells_as_empty_text():
    column = text_column("t", ["a", "?", "b"], ("?",))
    assert dc._missing_as_empty(column).tolist() == ["a", "", "b"]
    assert column.text.tolist() == ["a", "?", "b"]  # a copy


# ================================================================= dispatch and refusals


def test_checks_and_their_arguments():
    assert {name: (check.arguments, check.value) for name, check in DATA_CHECKS.items()} == {
        "column": (("column", "type"), "holds"),
        "rows": ((), "count"),
        "missing": (("column",), "share"),
        "between": (("column", "low", "high"), "share"),
        "in": (("column", "allowed"), "share"),
        "duplicates": (("column",), "count"),
        "label_share": (("label_column", "label"), "share"),
        "min_label_share": (("label_column",), "share"),
        "overlap": (("other", "label_column"), "count"),
    }
    t = table(a=["1"])
    with pytest.raises(DataCheckError, match=re.escape("unknown data check `nulls` (known: column, rows, missing, between, in, duplicates, label_share, min_label_share, overlap)") + "$"):
        run_check("nulls", t)
    with pytest.raises(DataCheckError, match=r"^the dataset has no column `b`$"):
        run_check("missing", t, column="b")
    with pytest.raises(DataCheckError, match=r"^the dataset has no column `aa`; did you mean `a`\?$"):
        run_check("missing", t, column="aa")


def test_parse_numbers_keeps_missing_cells_nan():
    text = np.array(["1", "x", "2", "", "1"], dtype=object)
    missing = np.array([False, False, True, True, False])
    got = dc._parse_numbers(text, missing)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [1.0, np.nan, np.nan, np.nan, 1.0])
    assert np.isnan(dc._float_or_nan(None)) and np.isnan(dc._float_or_nan(10**400)) and dc._float_or_nan("1e999") == np.inf
