"""Table data as typed columns: what data checks, drift, metrics slices and table
perturbations work on.

A dataset's cells arrive as text (a CSV file) or as JSON values; each column becomes a
`Column`: its cells as text (what a table model is fed, and what reports show), a
missing mask (an empty cell, JSON null, or the dataset's `missing` marker), and, when every
present cell is a number, its values as float64 (NaN where missing). All conversions are
numpy operations over whole columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Column:
    """One column of a table."""

    name: str
    text: np.ndarray  # object array of str: each cell as written (a missing cell: '', or the dataset's marker)
    missing: np.ndarray  # bool per row
    values: np.ndarray | None = None  # float64 per row (NaN where missing) when the column is numeric
    # As read from a file: each row's index among the column's distinct cells, and those cells.
    codes: np.ndarray | None = field(default=None, compare=False, repr=False)
    uniques: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def numeric(self) -> bool:
        """Every present cell is a number (a column with no present cell is not numeric)."""
        return self.values is not None

    @property
    def integral(self) -> bool:
        """Numeric, and every present value a whole number."""
        if self.values is None:
            return False
        present = self.values[~self.missing]
        return bool(np.all(present == np.round(present)))

    @property
    def present(self) -> np.ndarray:
        """The values of the present cells: float64 for a numeric column, else text."""
        return (self.values if self.values is not None else self.text)[~self.missing]

    def take(self, rows: np.ndarray) -> Column:
        """The column at `rows` (indices or a bool mask)."""
        if _every_row(rows, len(self.text)):
            return self
        values = None if self.values is None else self.values[rows]
        codes = None if self.codes is None else self.codes[rows]
        return Column(self.name, self.text[rows], self.missing[rows], values, codes, self.uniques)

    def categories(self) -> np.ndarray:
        """The distinct present cells, as text, sorted (numerically for a numeric column)."""
        if self.values is not None:
            present = ~self.missing
            _, first = np.unique(self.values[present], return_index=True)
            return self.text[present][first]
        return np.unique(self.text[~self.missing].astype(str)).astype(object)


@dataclass(frozen=True)
class Table:
    """A dataset's columns, every one of `rows` rows, and where each row is in its file."""

    columns: dict[str, Column]
    rows: int
    lines: np.ndarray  # int64 per row: its line in the file (1-based), for messages
    missing_text: str = ""  # what the file writes in a missing cell: '' or its `missing` marker

    def take(self, rows: np.ndarray) -> Table:
        """The table at `rows` (indices or a bool mask), in that order."""
        if _every_row(rows, self.rows):
            return self
        columns = {name: column.take(rows) for name, column in self.columns.items()}
        return Table(columns, len(self.lines[rows]), self.lines[rows], self.missing_text)


def text_column(name: str, cells, missing_markers: tuple[str, ...] = (), all_text: bool = False) -> Column:
    """A column from its cells: str (`all_text` says they all are, as a CSV file's), or JSON
    values (None is missing; numbers and bools are shown as JSON writes them). A cell equal
    to a marker is missing, its text kept. Numeric when every present cell parses as a
    finite or infinite number, NaN aside.

    Each distinct cell is kept once (its text shared by the rows holding it) and parsed as
    a number once: a column's distinct values are usually far fewer than its rows."""
    if not all_text:
        cells = _as_text(cells)
    encoder = CellCodes()
    return coded_column(name, encoder.codes(cells), encoder.uniques(), missing_markers)


class CellCodes:
    """Numbers the distinct cells of a column as they come, chunk after chunk."""

    def __init__(self) -> None:
        self.distinct: dict[str, int] = {}

    def codes(self, cells: list[str]) -> np.ndarray:
        """Each cell's number (new cells numbered in order of first appearance)."""
        for cell in dict.fromkeys(cells):  # the distinct cells only: few, usually
            self.distinct.setdefault(cell, len(self.distinct))
        return np.fromiter(map(self.distinct.__getitem__, cells), dtype=np.int32, count=len(cells))

    def uniques(self) -> np.ndarray:
        uniques = np.empty(len(self.distinct), dtype=object)
        uniques[:] = list(self.distinct)
        return uniques


def coded_column(name: str, codes: np.ndarray, uniques: np.ndarray, missing_markers: tuple[str, ...] = ()) -> Column:
    """A column from each row's index among its distinct cells (`uniques`, str)."""
    absent = uniques == ""
    for marker in missing_markers:
        absent |= uniques == marker
    numbers = _numbers(uniques, absent)
    return Column(name, uniques[codes], absent[codes], None if numbers is None else numbers[codes], codes, uniques)


def shared_codes(reference: Column, current: Column) -> tuple[np.ndarray, np.ndarray] | None:
    """The present cells of two columns as indices into the distinct cells of both (equal
    text, equal index); None when a column was not read from a file (it has no codes)."""
    if reference.codes is None or current.codes is None:
        return None
    index = {cell: code for code, cell in enumerate(dict.fromkeys([*reference.uniques, *current.uniques]))}
    recode = [np.fromiter(map(index.__getitem__, column.uniques), dtype=np.int64, count=len(column.uniques)) for column in (reference, current)]
    return recode[0][reference.codes[~reference.missing]], recode[1][current.codes[~current.missing]]


def _every_row(rows: np.ndarray, count: int) -> bool:
    """Whether `rows` (indices or a mask) picks every row of `count`, in order."""
    rows = np.asarray(rows)
    if rows.dtype == bool:
        return len(rows) == count and bool(rows.all())
    return len(rows) == count and (count == 0 or (rows[0] == 0 and rows[-1] == count - 1 and bool((np.diff(rows) == 1).all())))


def _as_text(cells) -> list[str]:
    """Cells as str; None becomes ''."""
    cells = cells if isinstance(cells, list) else list(cells)
    if all(type(cell) is str for cell in cells):
        return cells
    return [_json_text(cell) for cell in cells]


def _json_text(cell) -> str:
    if cell is None:
        return ""
    if cell is True or cell is False:
        return "true" if cell else "false"
    return cell if isinstance(cell, str) else str(cell)


def _numbers(text: np.ndarray, missing: np.ndarray) -> np.ndarray | None:
    """The cells as float64 (NaN where missing), or None when a present cell is not a number
    (or none is present)."""
    if missing.all():
        return None
    present = text[~missing]
    try:
        numbers = present.astype(np.float64)  # float() of each cell, in numpy's loop
    except (ValueError, TypeError, OverflowError):
        return None
    if np.isnan(numbers).any():  # "nan" written in a cell is text, not a number
        return None
    values = np.full(len(text), np.nan)
    values[~missing] = numbers
    return values


def number_text(values: np.ndarray, integral: bool) -> np.ndarray:
    """Numbers as cells of text: whole numbers without a decimal point when `integral`,
    else the shortest text that reads back as the same float64; NaN as ''."""
    out = np.empty(len(values), dtype=object)
    finite = np.isfinite(values)
    if integral and np.all(values[finite] == np.round(values[finite])):
        out[finite] = values[finite].astype(np.int64).astype(str)
    else:
        out[finite] = list(map(float.__repr__, values[finite].tolist()))  # the shortest text that reads back the same
    out[~finite & ~np.isnan(values)] = np.where(values[~finite & ~np.isnan(values)] > 0, "inf", "-inf")
    out[np.isnan(values)] = ""
    return out
