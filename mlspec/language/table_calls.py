"""How a perturbation of table rows is written: which column it changes and with what.

`set(sex: "Female")`, `shift(age: 1)` and `scale(hours_per_week: 1.1)` name the column as
the name of their one argument (or take it first: `shift(age, 1)`); `flip(sex)` and
`missing(occupation)` take the column alone; `noise(age, std: 0.1)` takes the column and
a `std`. The checker and the compiler read a call through `bind_table_call`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlspec.errors import Span
from mlspec.language import ast

# What follows the column in each perturbation's call.
FORMS = {"set": "value", "shift": "value", "scale": "value", "flip": "column", "missing": "column", "noise": "std"}
USAGE = {
    "set": 'set(COLUMN: VALUE), e.g. set(sex: "Female")',
    "shift": "shift(COLUMN: NUMBER), e.g. shift(age: 5)",
    "scale": "scale(COLUMN: NUMBER), e.g. scale(hours_per_week: 1.1)",
    "flip": "flip(COLUMN): one variant for each other value the column takes in the data",
    "missing": "missing(COLUMN)",
    "noise": "noise(COLUMN, std: NUMBER), the std relative to the column's in the data",
}


@dataclass(frozen=True)
class TableCall:
    """A table perturbation as written: its column and value, or what is wrong with it."""

    name: str
    span: Span
    column: ast.Name | None = None
    value: ast.Value | None = None  # set's value, shift's amount, scale's factor, noise's std
    problem: str | None = None


def table_usage(info) -> str:
    return "usage: " + USAGE.get(info.name, info.name)


def bind_table_call(call: ast.Call) -> TableCall:
    """The column and value of a table perturbation's call."""
    name = call.name.value
    form = FORMS.get(name, "column")
    positional = [a.value for a in call.args if a.name is None]
    named = {a.name: a.value for a in call.args if a.name is not None}
    if form == "column" and not named and len(positional) == 1 and isinstance(positional[0], ast.Name):
        return TableCall(name, call.span, column=positional[0])
    if form == "value":
        if not positional and len(named) == 1:
            ((column, value),) = named.items()
            return TableCall(name, call.span, column=_column_name(call, column), value=value)
        if not named and len(positional) == 2 and isinstance(positional[0], ast.Name):
            return TableCall(name, call.span, column=positional[0], value=positional[1])
    if form == "std" and len(positional) == 1 and isinstance(positional[0], ast.Name):
        if not named or set(named) == {"std"}:  # `noise(age)`: std 0.1
            return TableCall(name, call.span, column=positional[0], value=named.get("std"))
    return TableCall(name, call.span, problem=f"`{name}` is written {USAGE.get(name, name)}")


def _column_name(call: ast.Call, column: str) -> ast.Name:
    """The column a named argument names, located at the argument."""
    argument = next(a for a in call.args if a.name == column)
    span = argument.span
    return ast.Name(value=column, span=Span(file=span.file, line=span.line, col=span.col, end_line=span.line, end_col=span.col + len(column)))
