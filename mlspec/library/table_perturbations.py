"""Perturbations of table rows for INV and DIR tests: variants of a test's cases.

A test's cases are the rows of a `Table`; a perturbation is a chain of `Step`s, each
changing one column: `set`, `flip`, `shift`, `scale`, `noise` or `missing`
(`TABLE_PERTURBATIONS` describes them for the checker). `perturb_table` applies a chain
to every case at once and returns the variants, each with the index of its case.

Rules:
- Each step applies to every variant the step before made; a randomized step (`noise`)
  draws `variants` times per row, the others once.
- A variant whose cells all equal its case's is dropped (`set(sex: "Female")` on a row
  that is already Female); `cases_without_variant` lists the cases left with none, for
  which the test does not apply.
- What the dataset says decides: `flip` takes the values the column has in the whole
  dataset, `noise` the column's standard deviation there (population, ddof 0), and a
  column holds numbers when the dataset's column does.
- Numbers are written back as text (what a model is fed) with `number_text`: whole when
  the dataset's column, the cells so far and the change are whole (a shift of an integer
  column by 1 turns "39" into "40"; `noise` never is). A cell whose number a step leaves
  equal keeps its text, and a missing cell stays missing under `shift`, `scale` and `noise`.
- A number `set` writes is written whole when it is a whole number ("40", not "40.0").

Everything is numpy over whole columns; every random draw comes from the generator passed
in, so the same cases, steps and generator state give the same variants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from mlspec.library.perturbations import Param, TooManyVariants
from mlspec.library.tables import Column, Table, number_text

# The most values `flip` makes variants for (one variant per other value of the column).
MAX_FLIP_VALUES = 1_000
# `noise`'s std when a call gives none: a tenth of the column's standard deviation.
NOISE_STD = 0.1
# The most variant rows one chain makes from a test's cases.
MAX_VARIANT_ROWS = 10_000_000
# Up to this many values, `flip` compares the column with each value rather than looking each cell up.
_FEW = 4


@dataclass(frozen=True)
class TablePerturbation:
    """A registered table perturbation: how a spec calls it and how it behaves.

    The first parameter is always the column. When `column_keyed`, the second is written
    as the column's named argument (`shift(age: 5)`); otherwise the others are named
    (`noise(age, std: 0.1)`).
    """

    name: str
    params: tuple[Param, ...]
    randomized: bool
    numeric_only: bool
    column_keyed: bool
    usage: str
    doc: str


_COLUMN = Param("column", "column")

TABLE_PERTURBATIONS: dict[str, TablePerturbation] = {
    info.name: info
    for info in (
        TablePerturbation("set", (_COLUMN, Param("value", "value")), False, False, True,
                          "set(COLUMN: VALUE)", "set every case's cell to the value (text, or a number)"),
        TablePerturbation("flip", (_COLUMN,), False, False, False,
                          "flip(COLUMN)", "one variant per other value the column takes in the dataset"),
        TablePerturbation("shift", (_COLUMN, Param("amount", "float")), False, True, True,
                          "shift(COLUMN: AMOUNT)", "add the amount to the cell (numbers only)"),
        TablePerturbation("scale", (_COLUMN, Param("factor", "float")), False, True, True,
                          "scale(COLUMN: FACTOR)", "multiply the cell by the factor (numbers only)"),
        TablePerturbation("noise", (_COLUMN, Param("std", "float", NOISE_STD, 0.0)), True, True, False,
                          "noise(COLUMN, std: STD)",
                          "add gaussian noise, its standard deviation `std` times the column's in the dataset (numbers only)"),
        TablePerturbation("missing", (_COLUMN,), False, False, False,
                          "missing(COLUMN)", "make the cell missing"),
    )
}


@dataclass(frozen=True)
class Step:
    """One bound call of a chain: `set`'s value, `shift`'s amount, `scale`'s factor or `noise`'s std."""

    name: str
    column: str
    value: str | float | None = None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.name}({self.column})"
        if self.name == "noise":
            return f"{self.name}({self.column}, std: {_shown(self.value)})"
        return f"{self.name}({self.column}: {_shown(self.value)})"

    @property
    def std(self) -> float:
        """`noise`'s std (NOISE_STD when the call gives none)."""
        return NOISE_STD if self.value is None else float(self.value)


def _shown(value: str | float | None) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- checking a step ---------------------------------------------------------


def step_problem(step: Step, column: Column | None) -> str | None:
    """Why `step` cannot apply to the dataset's `column` (None: the dataset lacks it), or None."""
    info = TABLE_PERTURBATIONS.get(step.name)
    if info is None:
        return f"unknown table perturbation `{step.name}` (known: {', '.join(TABLE_PERTURBATIONS)})"
    if column is None:
        return f"`{step}`: the dataset has no column `{step.column}`"
    if info.numeric_only and not column.numeric:
        return f"`{step}`: column `{step.column}` holds text, not numbers"
    return _VALUE_PROBLEMS.get(step.name, lambda step, column: None)(step, column)


def _set_problem(step: Step, column: Column) -> str | None:
    if step.value is None or step.value == "":
        return f"`{step}`: set needs a value; to make the cell missing write `missing({step.column})`"
    if column.numeric and _number(step.value) is None:
        return f"`{step}`: column `{step.column}` holds numbers, and {_shown(step.value)} is not one"
    return None


def _flip_problem(step: Step, column: Column) -> str | None:
    count = len(_categories(column))
    if count < 2:
        return f"`{step}`: column `{step.column}` takes {'one value only' if count else 'no value'}, so there is nothing to flip to"
    if count > MAX_FLIP_VALUES:
        return f"`{step}`: column `{step.column}` takes {count:,} values; flip makes a variant per value, for at most {MAX_FLIP_VALUES:,}"
    return None


def _amount_problem(step: Step, column: Column) -> str | None:
    amount = _number(step.value) if not isinstance(step.value, str) else None
    if amount is None or not math.isfinite(amount):
        return f"`{step}`: {step.name} needs a finite number"
    return None


def _noise_problem(step: Step, column: Column) -> str | None:
    problem = _amount_problem(step, column) if step.value is not None else None
    if problem:
        return problem
    if not step.std > 0:
        return f"`{step}`: std must be above 0"
    spread = _spread(column)
    if not math.isfinite(spread):
        return f"`{step}`: column `{step.column}` holds an infinite value, so its standard deviation is not a number"
    if not spread > 0:
        return f"`{step}`: column `{step.column}` takes one value only, so its standard deviation is 0"
    return None


_VALUE_PROBLEMS = {"set": _set_problem, "flip": _flip_problem, "shift": _amount_problem, "scale": _amount_problem, "noise": _noise_problem}


def _number(value: str | float | None) -> float | None:
    """The value as a float, or None when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _spread(column: Column) -> float:
    """The standard deviation of a numeric column's present values (0 when it has none)."""
    present = column.values[~column.missing]
    return float(np.std(present)) if len(present) else 0.0


# --- applying a chain --------------------------------------------------------


def perturb_table(cases: Table, steps: list[Step], dataset: Table, rng: np.random.Generator, variants: int = 1) -> tuple[Table, np.ndarray]:
    """The variants of `cases` under the chain `steps` (a Table with the same columns), and
    for each variant the index of its case, in case order.

    `dataset` is the whole dataset the cases come from. When every case has exactly one
    variant, the columns no step changes are the cases' own (arrays are shared, not copied).
    Raises ValueError when a step cannot apply (see `step_problem`), TooManyVariants past
    MAX_VARIANT_ROWS."""
    if variants < 1:
        raise ValueError(f"variants must be at least 1, got {variants}")
    for step in steps:
        problem = step_problem(step, dataset.columns.get(step.column))
        if problem is None and step.column not in cases.columns:
            problem = f"`{step}`: the cases have no column `{step.column}`"
        if problem:
            raise ValueError(problem)
    variant_case = np.arange(cases.rows)
    changed: dict[str, Column] = {}  # the columns steps changed, one cell per variant
    for step in steps:
        if step.column in changed:
            current = changed[step.column]
        else:
            current = _working_column(cases.columns[step.column].take(variant_case), dataset.columns[step.column])
        parent, column = _apply(step, current, dataset.columns[step.column], rng, variants, cases.missing_text)
        variant_case = variant_case[parent]
        changed = {name: other.take(parent) for name, other in changed.items()}
        changed[step.column] = column
    keep = _differs_from_case(changed, cases, variant_case)
    variant_case = variant_case[keep]
    one_each = np.array_equal(variant_case, np.arange(cases.rows))  # then unchanged columns are the cases' own
    columns = {}
    for name, column in cases.columns.items():
        if name in changed:
            columns[name] = changed[name].take(keep)
        else:
            columns[name] = column if one_each else column.take(variant_case)
    return Table(columns, len(variant_case), cases.lines[variant_case], cases.missing_text), variant_case


def cases_without_variant(variant_case: np.ndarray, cases: int) -> np.ndarray:
    """The indices of the cases (of `cases`) that got no variant: the test does not apply to them."""
    return np.flatnonzero(np.bincount(variant_case, minlength=cases) == 0)


def _working_column(column: Column, in_dataset: Column) -> Column:
    """The cases' column, numeric exactly when the dataset's is (a sample of missing cells has no values)."""
    if not in_dataset.numeric:
        return Column(column.name, column.text, column.missing)
    values = column.values if column.values is not None else np.full(len(column.text), np.nan)
    return Column(column.name, column.text, column.missing, values)


def _differs_from_case(changed: dict[str, Column], cases: Table, variant_case: np.ndarray) -> np.ndarray:
    """Whether each variant differs from its case in some cell."""
    differs = np.zeros(len(variant_case), dtype=bool)
    for name, column in changed.items():
        case = cases.columns[name].take(variant_case)
        differs |= (column.missing != case.missing) | (~column.missing & (column.text != case.text))
    return differs


def _apply(step: Step, column: Column, in_dataset: Column, rng: np.random.Generator, variants: int, missing_text: str) -> tuple[np.ndarray, Column]:
    """One step on every row of `column`: for each new row, the row it comes from, and the new
    column (a missing cell written `missing_text`)."""
    return _STEPS[step.name](step, column, in_dataset, rng, variants, missing_text)


def _set(step: Step, column: Column, in_dataset: Column, rng, variants: int, missing_text: str) -> tuple[np.ndarray, Column]:
    """Every cell set to the value: a number in a numeric column, else text."""
    rows = len(column.text)
    number = _number(step.value)
    written = step.value if isinstance(step.value, str) else number_text(np.array([number]), number.is_integer())[0]
    if column.values is None:
        return np.arange(rows), Column(column.name, np.full(rows, written, dtype=object), np.zeros(rows, dtype=bool))
    return np.arange(rows), _with_numbers(column, np.full(rows, number), False, missing_text, np.full(rows, written, dtype=object))


def _flip(step: Step, column: Column, in_dataset: Column, rng, variants: int, missing_text: str) -> tuple[np.ndarray, Column]:
    """One row per other value of the dataset's column, for every row, in the order of the values."""
    categories = _categories(in_dataset)
    own = _category_index(column, categories)
    other = np.arange(len(categories))[None, :] != own[:, None]  # rows x values
    _hold_to_limit(int(np.count_nonzero(other)))
    parent, value = np.nonzero(other)
    values = None if column.values is None else categories.astype(np.float64)[value]
    return parent, Column(column.name, categories[value], np.zeros(len(parent), dtype=bool), values)


def _arithmetic(step: Step, column: Column, in_dataset: Column, rng, variants: int, missing_text: str) -> tuple[np.ndarray, Column]:
    """`shift` adds the amount, `scale` multiplies by the factor."""
    amount = float(step.value)
    new = column.values + amount if step.name == "shift" else column.values * amount
    integral = in_dataset.integral and _whole(column) and amount.is_integer()
    return np.arange(len(new)), _with_numbers(column, new, integral, missing_text)


def _noise(step: Step, column: Column, in_dataset: Column, rng: np.random.Generator, variants: int, missing_text: str) -> tuple[np.ndarray, Column]:
    """`variants` draws per row of gaussian noise, std: `step.std` times the dataset's."""
    parent = np.repeat(np.arange(len(column.text)), variants)
    _hold_to_limit(len(parent))
    drawn = column.take(parent)
    noisy = drawn.values + rng.normal(0.0, step.std * _spread(in_dataset), len(parent))
    return parent, _with_numbers(drawn, noisy, False, missing_text)


def _missing(step: Step, column: Column, in_dataset: Column, rng, variants: int, missing_text: str) -> tuple[np.ndarray, Column]:
    """Every cell missing."""
    rows = len(column.text)
    values = None if column.values is None else np.full(rows, np.nan)
    return np.arange(rows), Column(column.name, np.full(rows, missing_text, dtype=object), np.ones(rows, dtype=bool), values)


_STEPS = {"set": _set, "flip": _flip, "shift": _arithmetic, "scale": _arithmetic, "noise": _noise, "missing": _missing}


def _hold_to_limit(rows: int) -> None:
    if rows > MAX_VARIANT_ROWS:
        raise TooManyVariants(f"the perturbation makes {rows:,} variant rows, more than the {MAX_VARIANT_ROWS:,} mlspec makes")


def _whole(column: Column) -> bool:
    """Every present value of a numeric column is a whole number."""
    present = column.values[~column.missing]
    return bool(np.all(present == np.round(present)))


def _with_numbers(column: Column, new: np.ndarray, integral: bool, missing_text: str, new_text: np.ndarray | None = None) -> Column:
    """The numeric column with values `new`: cells whose number changed get new text
    (`new_text`, or the number written by `number_text`; `missing_text` for NaN), the others keep theirs."""
    old = column.values
    changed = ~((new == old) | (np.isnan(new) & np.isnan(old)))
    text = column.text.copy()
    text[changed] = number_text(new[changed], integral) if new_text is None else new_text[changed]
    missing = np.isnan(new)
    text[changed & missing] = missing_text
    return Column(column.name, text, missing, new)


def _categories(column: Column) -> np.ndarray:
    """The distinct present cells as text, sorted: `Column.categories`, faster on text. The
    last column's are kept: checking a `flip` and applying it ask for the same ones."""
    global _last_categories
    last = _last_categories
    if last is not None and last[0] is column:
        return last[1]
    if column.numeric:
        categories = column.categories()
    else:
        categories = np.array(sorted(set(column.text[~column.missing].tolist())), dtype=object)
    _last_categories = (column, categories)
    return categories


_last_categories: tuple[Column, np.ndarray] | None = None  # holding the column, `is` cannot mistake another for it


def _category_index(column: Column, categories: np.ndarray) -> np.ndarray:
    """Each cell's index among `categories` (-1: missing, or none of them); numbers compare as numbers."""
    if column.values is not None:
        numbers = categories.astype(np.float64)
        position = np.minimum(np.searchsorted(numbers, column.values), len(numbers) - 1)
        return np.where(numbers[position] == column.values, position, -1)
    if len(categories) <= _FEW:  # a comparison of the column per value beats a lookup per cell
        own = np.full(len(column.text), -1, dtype=np.int64)
        for i, category in enumerate(categories):
            own[column.text == category] = i
    else:
        index = {category: i for i, category in enumerate(categories)}
        own = np.fromiter(map(index.get, column.text, repeat(-1)), dtype=np.int64, count=len(column.text))
    own[column.missing] = -1
    return own
