"""Checks of a dataset's quality, for the `data` kind: each gives a `CheckFigure`.

A figure is a number the expectation compares (`value`), what it counts (`count` out of
`total`, so a kind can compare a count or, with `%`, the `share`), the first offending rows
(indices into the table, in row order) and a line naming the column and showing offending
cells. `run_check(name, table, **arguments)` calls a check by its name in the spec;
`DATA_CHECKS` lists them.

What `value` is: 1.0 or 0.0 for `column` (holds or not); a share for `missing`, `between`,
`in` (of the present cells), `label_share` and `min_label_share` (of the labelled rows); a
count for `rows`, `duplicates` and `overlap`. `DATA_CHECKS[name].value` says which.

Rules:
- Missing cells are not values: `between`, `in`, `duplicates(column)` and the label checks
  leave them out (their share is out of the present cells or labels); whole-row
  `duplicates` and `overlap` compare them as equal (whatever the file wrote in them).
- A column compares by number when it is numeric (in both tables, for `overlap`): "1" and
  "1.0" agree; else by text as written.
- `column x: number` accepts the cells a numeric column accepts (Python's float(), NaN
  aside); `integer` also wants them whole and finite.
- `label_share` and `min_label_share` count rows whose label is present.

Whole rows are compared by a 64-bit hash of their cells, read column by column while rows
may still match; every match found is then checked cell by cell, and should two different
rows share a hash the check starts again comparing exact codes: figures never depend on
hashing. Text is the slow part: each text cell read costs a Python-level operation
(`hash`, a set lookup), about 0.1 to 0.2 microseconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

import numpy as np

from mlspec.errors import did_you_mean
from mlspec.library.tables import Column, Table

# The most offending rows a figure keeps (the first ones, in row order).
SHOWN_ROWS = 10
# The most offending cells a detail line quotes.
QUOTED_CELLS = 5
COLUMN_TYPES = ("number", "integer", "text")
# Up to this many values, a comparison of the column per value is faster than a lookup per cell.
_FEW = 4


class DataCheckError(ValueError):
    """A check cannot be made: an unknown column, text where numbers are needed."""


@dataclass(frozen=True)
class CheckFigure:
    """What a check found: the figure, what it counts, offending rows and a line saying so."""

    value: float  # what the expectation compares (each check says what)
    count: int  # the cells or rows counted: missing, out of range, duplicate, ...
    total: int  # what `count` is out of: rows, present cells or labels
    rows: np.ndarray  # int64: the first SHOWN_ROWS offending rows, in row order
    detail: str  # names the column and quotes offending cells
    column: str | None = None  # the column the figure is about (for `missing`: the worst)
    # For `duplicates`: the earlier row each of `rows` repeats; for `overlap`: its row in the other table.
    repeats: np.ndarray | None = field(default=None)

    @property
    def share(self) -> float:
        """`count` as a share of `total` (0 when there is nothing to count)."""
        return self.count / self.total if self.total else 0.0


# --- the checks --------------------------------------------------------------


def rows(table: Table) -> CheckFigure:
    """The number of rows (value: the count)."""
    return CheckFigure(float(table.rows), table.rows, table.rows, _no_rows(), f"{table.rows:,} rows")


def has_column(table: Table, column: str, type: str | None = None) -> CheckFigure:
    """The column is present and, when `type` is given, of that type: `number` (every present
    cell a number), `integer` (and whole) or `text` (anything). Value 1.0 when it holds, else
    0.0; count: the cells of the wrong type, out of the present cells."""
    if type is not None and type not in COLUMN_TYPES:
        raise DataCheckError(f"unknown column type `{type}` (known: {', '.join(COLUMN_TYPES)})")
    if column not in table.columns:
        hint = did_you_mean(column, table.columns)
        detail = f"no column `{column}`" + (f" ({hint})" if hint else f" (columns: {', '.join(table.columns)})")
        return CheckFigure(0.0, 0, 0, _no_rows(), detail, column)
    cells = table.columns[column]
    present = int(np.count_nonzero(~cells.missing))
    wrong = _wrong_type(cells, type or "text")
    count = int(np.count_nonzero(wrong))
    if count == 0:
        return CheckFigure(1.0, 0, present, _no_rows(), f"column `{column}`" + (f" holds {_plural(type)}" if type else " is present"), column)
    what = "numbers" if type == "number" else "whole numbers"
    detail = f"column `{column}`: {count:,} of {present:,} cells are not {what}: {_quoted(table, cells, wrong)}"
    return CheckFigure(0.0, count, present, _first(wrong), detail, column)


def missing(table: Table, column: str | None = None) -> CheckFigure:
    """The share of missing cells of a column (value: the share). Without a column: the
    column with the largest share (the first such, in column order)."""
    if column is None:
        return _worst_missing(table)
    cells = _column(table, column)
    count = int(np.count_nonzero(cells.missing))
    share = count / table.rows if table.rows else 0.0
    detail = f"column `{column}`: {count:,} of {table.rows:,} cells missing ({share:.2%})" + _lines_of(table, cells.missing)
    return CheckFigure(share, count, table.rows, _first(cells.missing), detail, column)


def between(table: Table, column: str, low: float, high: float) -> CheckFigure:
    """Present values outside [low, high] (value: their share of the present cells)."""
    cells = _numeric_column(table, column)
    present = ~cells.missing
    outside = present & ((cells.values < low) | (cells.values > high))
    return _offending(table, cells, outside, int(np.count_nonzero(present)), f"outside [{_number(low)}, {_number(high)}]")


def in_(table: Table, column: str, allowed: list) -> CheckFigure:
    """Present values not among `allowed` (value: their share of the present cells). A numeric
    column compares numbers (`1` and `1.0` agree); a text column compares text."""
    cells = _column(table, column)
    present = ~cells.missing
    if cells.numeric:
        numbers = [number for number in map(_as_number, allowed) if number is not None]
        listed = np.isin(cells.values, np.array(numbers, dtype=np.float64))
    else:
        listed = _among(cells.text, {_as_text(value) for value in allowed})
    shown = ", ".join(f'"{_as_text(value)}"' for value in allowed)
    return _offending(table, cells, present & ~listed, int(np.count_nonzero(present)), f"not among [{shown}]")


def duplicates(table: Table, column: str | None = None) -> CheckFigure:
    """Rows equal to an earlier row on every column (value: their count; share: of the rows);
    with a column, present cells equal to an earlier present cell of that column. Offending:
    the later copies, each with the first row it repeats (`repeats`)."""
    if column is None:
        keep = np.ones(table.rows, dtype=bool)
        first = _first_copies(list(table.columns.values()), np.arange(table.rows))
        what, total = "rows repeat an earlier row", table.rows
    else:
        cells = _column(table, column)
        keep = ~cells.missing
        first = _first_copies([cells], np.flatnonzero(keep))
        what, total = f"values of column `{column}` repeat an earlier one", int(np.count_nonzero(keep))
    repeated = keep & (first != np.arange(table.rows))
    count = int(np.count_nonzero(repeated))
    shown = _first(repeated)
    pairs = ", ".join(f"line {table.lines[row]} repeats line {table.lines[first[row]]}" for row in shown[:QUOTED_CELLS])
    detail = f"{count:,} of {total:,} {what}" + (f": {pairs}" if count else "")
    return CheckFigure(float(count), count, total, shown, detail, column, first[shown])


def label_share(table: Table, label_column: str, label) -> CheckFigure:
    """The share of rows with a present label whose label is `label` (value: the share)."""
    cells = _column(table, label_column)
    if cells.numeric:
        number = _as_number(label)
        hits = cells.values == number if number is not None else np.zeros(table.rows, dtype=bool)
    else:
        hits = ~cells.missing & (cells.text == _as_text(label))
    count, total = int(np.count_nonzero(hits)), int(np.count_nonzero(~cells.missing))
    share = count / total if total else 0.0
    detail = f'label "{_as_text(label)}": {count:,} of {total:,} labelled rows ({share:.2%}) in column `{label_column}`'
    return CheckFigure(share, count, total, _no_rows(), detail, label_column)


def min_label_share(table: Table, label_column: str) -> CheckFigure:
    """The share of the rarest label among rows with a present label (value: the share;
    ties: the label first in `Column.categories` order)."""
    cells = _column(table, label_column)
    labels, counts = _label_counts(cells)
    total = int(counts.sum())
    if total == 0:
        return CheckFigure(0.0, 0, 0, _no_rows(), f"column `{label_column}` has no labels", label_column)
    rarest = int(np.argmin(counts))
    shares = ", ".join(f'"{label}" {count / total:.2%}' for label, count in zip(labels, counts))
    detail = f'rarest label "{labels[rarest]}": {counts[rarest]:,} of {total:,} labelled rows in column `{label_column}` ({shares})'
    return CheckFigure(counts[rarest] / total, int(counts[rarest]), total, _no_rows(), detail, label_column)


def overlap(table: Table, other: Table, label_column: str | None = None) -> CheckFigure:
    """Rows of `table` equal to a row of `other` on the columns both have, the label column
    aside (leakage). Value: their count; share: of `table`'s rows; `repeats`: for each shown
    row, the first equal row of `other`."""
    names = [name for name in table.columns if name in other.columns and name != label_column]
    if not names:
        raise DataCheckError("the two datasets have no column in common" + (f" besides the label `{label_column}`" if label_column else ""))
    match = _matches(*_comparable(table, other, names), table.rows, other.rows)
    found = match >= 0
    count = int(np.count_nonzero(found))
    shown = _first(found)
    pairs = ", ".join(f"line {table.lines[row]} = line {other.lines[match[row]]}" for row in shown[:QUOTED_CELLS])
    compared = f"compared on {len(names)} columns" + (f", the label `{label_column}` aside" if label_column in table.columns else "")
    detail = f"{count:,} of {table.rows:,} rows also in the other dataset ({compared})" + (f": {pairs}" if count else "")
    return CheckFigure(float(count), count, table.rows, shown, detail, None, match[shown])


@dataclass(frozen=True)
class DataCheck:
    """A registered check: the function `run_check` calls, its arguments and its figure."""

    name: str
    fn: Callable[..., CheckFigure]
    arguments: tuple[str, ...]  # besides the table
    value: str  # what `CheckFigure.value` is: "share", "count" or "holds" (1.0 or 0.0)
    doc: str


DATA_CHECKS: dict[str, DataCheck] = {
    check.name: check
    for check in (
        DataCheck("column", has_column, ("column", "type"), "holds", "the column is present, of a type: number, integer or text"),
        DataCheck("rows", rows, (), "count", "the number of rows"),
        DataCheck("missing", missing, ("column",), "share", "the share of missing cells of a column, or of the worst column"),
        DataCheck("between", between, ("column", "low", "high"), "share", "present values outside [low, high]"),
        DataCheck("in", in_, ("column", "allowed"), "share", "present values not among the allowed ones"),
        DataCheck("duplicates", duplicates, ("column",), "count", "rows equal to an earlier row, or values repeated in a column"),
        DataCheck("label_share", label_share, ("label_column", "label"), "share", "one label's share of the labelled rows"),
        DataCheck("min_label_share", min_label_share, ("label_column",), "share", "the rarest label's share of the labelled rows"),
        DataCheck("overlap", overlap, ("other", "label_column"), "count", "rows also in another dataset (leakage)"),
    )
}


def run_check(name: str, table: Table, **arguments) -> CheckFigure:
    """The figure of the check `name` (a key of DATA_CHECKS) on `table`."""
    check = DATA_CHECKS.get(name)
    if check is None:
        raise DataCheckError(f"unknown data check `{name}` (known: {', '.join(DATA_CHECKS)})")
    return check.fn(table, **arguments)


# --- columns, rows and details -----------------------------------------------


def _column(table: Table, name: str) -> Column:
    if name not in table.columns:
        hint = did_you_mean(name, table.columns)
        raise DataCheckError(f"the dataset has no column `{name}`" + (f"; {hint}" if hint else ""))
    return table.columns[name]


def _numeric_column(table: Table, name: str) -> Column:
    cells = _column(table, name)
    if not cells.numeric:
        raise DataCheckError(f"column `{name}` holds text, not numbers")
    return cells


def _no_rows() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _first(mask: np.ndarray) -> np.ndarray:
    """The first SHOWN_ROWS rows where `mask` holds."""
    return np.flatnonzero(mask)[:SHOWN_ROWS].astype(np.int64)


def _offending(table: Table, cells: Column, offending: np.ndarray, total: int, what: str) -> CheckFigure:
    """A figure of cells that break a rule: their share of `total`, their rows, quoted."""
    count = int(np.count_nonzero(offending))
    detail = f"column `{cells.name}`: {count:,} of {total:,} values {what}" + (f": {_quoted(table, cells, offending)}" if count else "")
    return CheckFigure(count / total if total else 0.0, count, total, _first(offending), detail, cells.name)


def _quoted(table: Table, cells: Column, mask: np.ndarray) -> str:
    """The first offending cells with their lines: `line 17 "3.5"`."""
    shown = np.flatnonzero(mask)[:QUOTED_CELLS]
    more = ", ..." if np.count_nonzero(mask) > len(shown) else ""
    return ", ".join(f'line {table.lines[row]} "{cells.text[row]}"' for row in shown) + more


def _lines_of(table: Table, mask: np.ndarray) -> str:
    shown = np.flatnonzero(mask)[:QUOTED_CELLS]
    if len(shown) == 0:
        return ""
    more = ", ..." if np.count_nonzero(mask) > len(shown) else ""
    return ": lines " + ", ".join(str(table.lines[row]) for row in shown) + more


def _plural(type: str) -> str:
    return {"number": "numbers", "integer": "whole numbers", "text": "text"}[type]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _as_number(value) -> float | None:
    """An allowed value or label as a number (None when it is not one)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else number


def _as_text(value) -> str:
    """An allowed value or label as a cell of text: whole numbers without a decimal point."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _worst_missing(table: Table) -> CheckFigure:
    if not table.columns:
        return CheckFigure(0.0, 0, table.rows, _no_rows(), "the dataset has no columns")
    counts = [int(np.count_nonzero(column.missing)) for column in table.columns.values()]
    worst = list(table.columns)[int(np.argmax(counts))]
    return missing(table, worst)


def _label_counts(cells: Column) -> tuple[list[str], np.ndarray]:
    """The present labels, in `Column.categories` order, and how many rows have each."""
    present = ~cells.missing
    if cells.numeric:
        _, first, counts = np.unique(cells.values[present], return_index=True, return_counts=True)
        return list(cells.text[present][first]), counts
    text = cells.text[present]
    labels = sorted(set(text.tolist()))
    if len(labels) <= _FEW:
        return labels, np.array([np.count_nonzero(text == label) for label in labels], dtype=np.int64)
    counted = Counter(text.tolist())
    return labels, np.array([counted[label] for label in labels], dtype=np.int64)


def _among(text: np.ndarray, names: set[str]) -> np.ndarray:
    """Whether each cell is one of `names`."""
    if len(names) <= _FEW:  # a comparison per name beats a set lookup per cell
        listed = np.zeros(len(text), dtype=bool)
        for name in names:
            listed |= text == name
        return listed
    return np.fromiter(map(names.__contains__, text), dtype=bool, count=len(text))


# --- column types --------------------------------------------------------------


def _wrong_type(cells: Column, type: str) -> np.ndarray:
    """The present cells that are not of `type`."""
    if type == "text":
        return np.zeros(len(cells.missing), dtype=bool)
    values = cells.values if cells.numeric else _parse_numbers(cells.text, cells.missing)
    present = ~cells.missing
    if type == "number":
        return present & np.isnan(values)
    return present & ~(np.isfinite(values) & (values == np.round(values)))


def _parse_numbers(text: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Each cell as a float64, NaN where missing or not a number as `text_column` reads
    numbers (Python's float(); NaN written as text does not count). Each distinct cell is
    parsed once: a column holds far fewer distinct cells than rows."""
    present = text[~missing]
    parsed = {cell: _float_or_nan(cell) for cell in dict.fromkeys(present)}
    values = np.full(len(text), np.nan)
    values[~missing] = np.fromiter(map(parsed.__getitem__, present), dtype=np.float64, count=len(present))
    return values


def _float_or_nan(cell: str) -> float:
    try:
        return float(cell)
    except (ValueError, TypeError, OverflowError):
        return np.nan


# --- equal rows ----------------------------------------------------------------
#
# Rows are compared column by column through codes: a number's bits (-0.0 as 0.0, one NaN),
# a text's hash. A 64-bit hash of the codes so far finds candidate matches. After the numeric
# columns (cheap, so first) and after each text column, the rows whose hash lands in a bucket
# no other row (or no row of the other table) lands in are dropped, so text, the slow part,
# is read only where a match is still possible. Every match found is then checked cell by
# cell; should two different rows share a hash, exact codes (np.unique) decide.


@dataclass
class _Side:
    """The rows of one table still compared: their columns, hash and codes so far."""

    columns: list[Column]
    rows: np.ndarray
    keys: np.ndarray = field(init=False)
    codes: dict[int, np.ndarray] = field(default_factory=dict)  # by column index

    def __post_init__(self):
        self.keys = np.zeros(len(self.rows), dtype=np.uint64)

    def add(self, j: int, codes: np.ndarray) -> None:
        self.codes[j] = codes
        with np.errstate(over="ignore"):
            self.keys = _mix(self.keys ^ codes.view(np.uint64))

    def keep(self, mask: np.ndarray) -> None:
        self.rows, self.keys = self.rows[mask], self.keys[mask]
        self.codes = {j: codes[mask] for j, codes in self.codes.items()}


def _first_copies(columns: list[Column], rows: np.ndarray) -> np.ndarray:
    """For each row, the first of `rows` (ascending) equal to it on every column: itself
    when none is earlier, and itself for rows not among `rows`."""
    first = np.arange(len(columns[0].missing) if columns else len(rows))
    side = _Side(columns, rows)
    _narrow([side], lambda keys: [_repeated(keys[0])])
    heads = _heads(side.keys)
    copies = np.flatnonzero(heads != np.arange(len(heads)))
    if not _same(side, copies, side, heads[copies]):
        heads = _heads(_exact_keys([side])[0])
    first[side.rows] = side.rows[heads]
    return first


def _matches(mine: list[Column], theirs: list[Column], rows: int, their_rows: int) -> np.ndarray:
    """For each of `rows` rows, the first of `their_rows` rows equal to it on every column, or -1."""
    a, b = _Side(mine, np.arange(rows)), _Side(theirs, np.arange(their_rows))
    _narrow([a, b], lambda keys: [_in_other(keys[0], keys[1]), _in_other(keys[1], keys[0])])
    found = _lookup(a.keys, b.keys)
    hit = np.flatnonzero(found >= 0)
    if not _same(a, hit, b, found[hit]):
        found = _lookup(*_exact_keys([a, b]))
        hit = np.flatnonzero(found >= 0)
    match = np.full(rows, -1, dtype=np.int64)
    match[a.rows[hit]] = b.rows[found[hit]]
    return match


def _narrow(sides: list[_Side], shared) -> None:
    """Add each column's codes to every side, numeric columns first, then text columns, those
    that tell rows apart best first; after the numeric ones and after each text column but the
    last, drop the rows `shared` says cannot match."""
    numeric = [column.values is not None for column in sides[0].columns]
    order = sorted(range(len(numeric)), key=lambda j: (not numeric[j], _equal_chance(sides[0].columns[j])))
    for step, j in enumerate(order):
        for side in sides:
            side.add(j, _cell_codes(side.columns[j], side.rows))
        last = step == len(order) - 1
        if not last and not numeric[order[step + 1]]:  # text next: reading it costs more than narrowing
            for side, mask in zip(sides, shared([side.keys for side in sides])):
                side.keep(mask)


def _equal_chance(column: Column, sample: int = 1000) -> float:
    """The chance that two cells of a text column are equal, from a sample of its cells: the
    lower, the sooner the column tells rows apart, so the earlier it is read."""
    if column.values is not None:
        return 0.0
    cells = column.text[:: max(1, len(column.text) // sample)].tolist()
    counts = np.array(list(Counter(cells).values()), dtype=np.float64)
    return float(np.sum((counts / len(cells)) ** 2)) if len(cells) else 0.0


def _cell_codes(column: Column, rows: np.ndarray) -> np.ndarray:
    """An int64 code of each cell at `rows`: a number's bits, or a text's hash (0 when
    missing, whatever the file wrote)."""
    if len(rows) < len(column.missing):  # some rows (`rows` are distinct): else all, in order
        column = column.take(rows)
    if column.values is not None:
        return _number_codes(column.values)
    codes = np.fromiter(map(hash, column.text), dtype=np.int64, count=len(rows))
    codes[column.missing] = 0
    return codes


def _number_codes(values: np.ndarray) -> np.ndarray:
    """Each number's bits, -0.0 as 0.0 and every NaN as one."""
    values = values + 0.0
    values[np.isnan(values)] = np.nan
    return values.view(np.int64)


def _same(a: _Side, at: np.ndarray, b: _Side, their_at: np.ndarray) -> bool:
    """Rows `at` of side `a` equal rows `their_at` of side `b` on every column."""
    for j, column in enumerate(a.columns):
        if column.values is not None:
            equal = a.codes[j][at] == b.codes[j][their_at]
        else:
            mine, theirs = column.take(a.rows[at]), b.columns[j].take(b.rows[their_at])
            equal = (mine.missing == theirs.missing) & (mine.missing | (mine.text == theirs.text))
        if not np.all(equal):
            return False
    return True


def _exact_keys(sides: list[_Side]) -> list[np.ndarray]:
    """For each side, a key per row equal exactly when the rows are (slow: no hashing)."""
    sizes = [len(side.rows) for side in sides]
    columns = []
    for j, column in enumerate(sides[0].columns):
        if column.values is not None:
            columns.append(np.concatenate([side.codes[j] for side in sides]))
        else:
            text = np.concatenate([_missing_as_empty(side.columns[j].take(side.rows)) for side in sides])
            index = dict(zip(dict.fromkeys(text), count()))
            columns.append(np.fromiter(map(index.__getitem__, text), dtype=np.int64, count=len(text)))
    if not columns:
        return [np.zeros(size, dtype=np.int64) for size in sizes]
    _, exact = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
    return np.split(exact.reshape(-1).astype(np.int64), np.cumsum(sizes)[:-1])


_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every bit of the result depends on every bit of `x` (uint64)."""
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


def _buckets(keys: np.ndarray, size: int) -> np.ndarray:
    """Each key's bucket among `size` (a power of two; the keys' low bits are well mixed)."""
    return (keys & np.uint64(size - 1)).astype(np.intp)


def _bucket_count(rows: int) -> int:
    """A power of two at least four times `rows`: few rows share a bucket by chance."""
    return 1 << max(4 * rows, 1).bit_length()


def _repeated(keys: np.ndarray) -> np.ndarray:
    """Whether another key may equal each key (its bucket holds another): False is sure."""
    size = _bucket_count(len(keys))
    buckets = _buckets(keys, size)
    return np.bincount(buckets, minlength=size)[buckets] > 1


def _in_other(keys: np.ndarray, their_keys: np.ndarray) -> np.ndarray:
    """Whether each key may be among `their_keys` (its bucket holds one): False is sure."""
    size = _bucket_count(len(keys) + len(their_keys))
    held = np.zeros(size, dtype=bool)
    held[_buckets(their_keys, size)] = True
    return held[_buckets(keys, size)]


def _heads(keys: np.ndarray) -> np.ndarray:
    """For each position, the first position with the same key."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.ones(len(keys), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    heads = np.empty(len(keys), dtype=np.int64)
    heads[order] = order[starts][np.cumsum(starts) - 1]
    return heads


def _lookup(keys: np.ndarray, their_keys: np.ndarray) -> np.ndarray:
    """For each key, the first position of `their_keys` holding it, or -1."""
    if len(their_keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    order = np.argsort(their_keys, kind="stable")
    ordered = their_keys[order]
    position = np.minimum(np.searchsorted(ordered, keys), len(ordered) - 1)
    return np.where(ordered[position] == keys, order[position], -1)


def _missing_as_empty(column: Column) -> np.ndarray:
    """The column's text, '' where missing (a present cell is never '')."""
    text = column.text.copy()
    text[column.missing] = ""
    return text


def _comparable(table: Table, other: Table, names: list[str]) -> tuple[list[Column], list[Column]]:
    """The shared columns of both tables, as numbers where numeric in both, else as text."""
    mine, theirs = [], []
    for name in names:
        a, b = table.columns[name], other.columns[name]
        if not (a.numeric and b.numeric):
            a, b = Column(name, a.text, a.missing), Column(name, b.text, b.missing)
        mine.append(a)
        theirs.append(b)
    return mine, theirs
