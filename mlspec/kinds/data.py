"""`data`: checks of a dataset itself, no model needed.

`data "adult is clean" { from adult; expect ... }` holds a dataset's rows (after `where`
slices and `sample`) to expectations of `mlspec.library.data_checks`:

- `column age` / `column age: integer` (present, of a type: number, integer, text);
- `age between 17 and 90`, `sex in ["Male", "Female"]`, `label in [...]` (every present
  value in range, among the allowed ones);
- figures against thresholds: `rows`, `missing(col)` / `missing` (share of missing cells;
  alone: the worst column), `duplicates` / `duplicates(col)` (repeated rows or values),
  `label_share(X)`, `min_label_share`, `overlap(other_dataset)` (rows also in another
  dataset: leakage). A count compared with a percentage (`duplicates <= 1%`) is compared
  as its share.

A failing check names its column and shows the offending rows by their line in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlspec.compile.plan import ColumnCheck, LabelCheck, MetricCheck, Payload
from mlspec.errors import CompileError, did_you_mean, quoted
from mlspec.language.kinds import TestKind, deferred, register
from mlspec.library.data_checks import COLUMN_TYPES, DATA_CHECKS, CheckFigure, DataCheckError, run_check
from mlspec.library.tables import Table
from mlspec.results import TestResult, checked_figures
from mlspec.run.expectations import COMPARE, figure_against

ast = deferred("mlspec.language.ast")  # the check and compile hooks' node types: a run from a cached plan needs none

if TYPE_CHECKING:  # the hooks' arguments
    from mlspec.compile.compiler import TestCompiler
    from mlspec.language.checker import TestChecker

# The figures `expect NAME(ARGUMENT) OP N` takes: what the argument is (None: none), and whether it may be left out.
FIGURES = {
    "rows": (None, True),
    "missing": ("column", True),
    "duplicates": ("column", True),
    "label_share": ("label", False),
    "min_label_share": (None, True),
    "overlap": ("dataset", False),
}


@dataclass(frozen=True)
class DataPlan(Payload):
    """The rows a data test checks, its label column, and the other datasets `overlap` names."""

    table: Table
    label_column: str
    others: dict[str, Table]

    scores_inputs = False

    def summary(self) -> str | None:
        return f"{self.table.rows:,} rows, {len(self.table.columns)} columns"

    def json_fields(self) -> dict:
        return {"rows": self.table.rows, "columns": list(self.table.columns)}


class Data(TestKind):
    keyword = "data"
    statements = frozenset({"source", "sample", "slices", "expects"})

    def uses_models(self, test) -> bool:
        return False

    def check(self, checker: TestChecker, placeholders) -> None:
        test = checker.test
        if test.templates:
            checker.error("a data test checks a dataset", test.templates[0].span, "take the rows `from` a dataset")
        if not test.expects:
            checker.error(f"data test {quoted(test.title)} has no expectation", test.title_span, "for example `expect missing(age) <= 1%`")
        for expect in test.expects:
            _check_expectation(checker, expect)

    def cases(self, compiler: TestCompiler) -> dict:
        decl = compiler.decl
        dataset = compiler.checked.datasets[decl.source.value]
        label = dataset.columns["label"]
        table = compiler.dataset_table(_columns_named(decl))
        if _uses_label(decl) and label not in table.columns:
            raise CompileError(f"dataset `{dataset.name}` has no label column `{label}`", dataset.span, "map it: `{ label: COLUMN }`")
        labels = table.columns[label].text if label in table.columns else None
        chosen = compiler.chosen_rows(table.rows, labels, table)
        others = {e.argument.value: compiler.dataset_table(name=e.argument) for e in decl.expects if _figure(e) == "overlap"}
        payload = DataPlan(table=table.take(chosen), label_column=label, others=others)
        _check_types(decl, payload.table)
        return dict(inputs=np.zeros(0, np.int64), payload=payload)

    def shard_cost(self, test) -> int:
        return max(1, test.payload.table.rows // 100)

    def evaluate(self, run) -> TestResult:
        payload: DataPlan = run.test.payload
        metrics: dict = {"rows": payload.table.rows, "columns": len(payload.table.columns)}
        parts, details, oks = [], [], []
        for check in run.test.checks:
            ok, part, found = _outcome(check, payload)
            oks.append(ok)
            parts.append(part)
            if not ok and found is not None and found.detail:
                details.append(found.detail)
            metrics.update(_figures(check, found))
        failing = [part for part, ok in zip(parts, oks) if not ok]
        if failing:
            message = f"{len(failing)} of {len(oks)} checks fail: " + "; ".join(failing)
        else:
            message = f"all {len(oks)} checks hold: " + "; ".join(parts)
        return TestResult(**run.base, status="FAIL" if failing else "PASS", message=message, metrics=metrics, details=details)

    def figures(self, result: TestResult) -> str:
        """`rows=16281 missing(occupation)=0.059 duplicates=3`: the rows and the figures checked."""
        if result.status == "ERROR":
            return ""
        return checked_figures(result, ("rows",))


# ---- check


def _figure(expect) -> str | None:
    return expect.metric.value if isinstance(expect, ast.MetricExpect) else None


def _check_expectation(checker: TestChecker, expect) -> None:
    if isinstance(expect, ast.ColumnExpect):
        if expect.type is not None and expect.type.value not in COLUMN_TYPES:
            checker.error(f"unknown column type `{expect.type.value}`", expect.type.span, did_you_mean(expect.type.value, COLUMN_TYPES) or "types are " + ", ".join(COLUMN_TYPES))
    elif isinstance(expect, ast.BetweenExpect):
        low, high = checker.finite(expect.low, "a bound"), checker.finite(expect.high, "a bound")
        if low is not None and high is not None and low > high:
            checker.error(f"the range is empty: {expect.low.shown} > {expect.high.shown}", expect.span, "write the lower bound first")
    elif isinstance(expect, ast.LabelCondition) and expect.op != "in":
        checker.error("a data test checks the label column with `expect label in [...]`", expect.span)
    elif isinstance(expect, ast.MetricExpect):
        _check_figure(checker, expect)
    elif not isinstance(expect, (ast.CategoriesExpect, ast.LabelCondition)):
        checker.error("a data test expects checks of columns and rows, e.g. `missing(age) <= 1%`", expect.span)


def _check_figure(checker: TestChecker, expect: ast.MetricExpect) -> None:
    name = expect.metric.value
    if name not in FIGURES:
        known = [*FIGURES]
        checker.error(f"unknown data figure `{name}`", expect.metric.span, did_you_mean(name, known) or "figures are " + ", ".join(known))
        return
    argument, optional = FIGURES[name]
    if argument is None and expect.argument is not None:
        checker.error(f"`{name}` takes no argument", expect.argument.span)
    elif argument is not None and expect.argument is None and not optional:
        checker.error(f"`{name}` needs a {argument}", expect.metric.span, f"write `{name}({argument.upper()})`")
    elif argument == "dataset" and expect.argument is not None:
        checker.check_dataset_name(expect.argument)
    if expect.at_name is not None:
        checker.error("`at` names a point of an attack's eps sweep; a data test has none", expect.at_name.span, "drop the `at ...`")
    if DATA_CHECKS[name].value == "share" or expect.value.percent:
        checker.fraction(expect.value, f"`{name}`")
    else:
        checker.finite(expect.value, f"`{name}`")


# ---- compile


def _columns_named(decl: ast.TestDecl) -> list[ast.Name]:
    """The columns the expectations name, which the data must have (a `column` check aside:
    a missing column fails it)."""
    named = []
    for expect in decl.expects:
        if isinstance(expect, (ast.BetweenExpect, ast.CategoriesExpect)):
            named.append(expect.column)
        elif isinstance(expect, ast.MetricExpect) and FIGURES.get(expect.metric.value, (None,))[0] == "column" and expect.argument:
            named.append(expect.argument)
    return named


def _uses_label(decl: ast.TestDecl) -> bool:
    return any(isinstance(e, ast.LabelCondition) or _figure(e) in ("label_share", "min_label_share") for e in decl.expects)


def _check_types(decl: ast.TestDecl, table: Table) -> None:
    """A range needs a column of numbers (located at its name)."""
    for expect in decl.expects:
        if isinstance(expect, ast.BetweenExpect) and not table.columns[expect.column.value].numeric:
            raise CompileError(f"column `{expect.column.value}` holds text; a range compares numbers", expect.column.span, f"check its values with `{expect.column.value} in [...]`")


# ---- run


def _outcome(check, payload: DataPlan) -> tuple[bool, str, CheckFigure | None]:
    """Whether a check holds, its part of the message, and what it found."""
    try:
        found = _check_figure_of(check, payload)
    except DataCheckError as error:
        return False, f"{check}: {error}", None
    if isinstance(check, MetricCheck):
        value = _compared(check, found)
        ok = bool(COMPARE[check.op](value, check.value))
        return ok, figure_against(check, value, ok), found
    holds = found.value == 1.0 if isinstance(check, ColumnCheck) and check.kind == "column" else found.count == 0
    return holds, f"{check}: {'holds' if holds else 'fails'}", found


def _figures(check, found: CheckFigure | None) -> dict:
    """The figures a check adds to the result: a count and its share (`duplicates`,
    `duplicates_share`), a share, or a column check's offending cells."""
    if not isinstance(check, MetricCheck):
        return {str(check): None if found is None else found.count}
    if found is None:
        return {check.figure: None}
    if DATA_CHECKS[check.metric].value == "count":
        return {check.figure: found.count, f"{check.figure}_share": found.share}
    return {check.figure: found.value}


def _check_figure_of(check, payload: DataPlan) -> CheckFigure:
    table = payload.table
    if isinstance(check, LabelCheck):
        return run_check("in", table, column=payload.label_column, allowed=list(check.labels))
    if isinstance(check, ColumnCheck):
        if check.kind == "column":
            return run_check("column", table, column=check.column, type=check.type)
        if check.kind == "between":
            return run_check("between", table, column=check.column, low=check.low, high=check.high)
        return run_check("in", table, column=check.column, allowed=list(check.values))
    return _metric_figure(check, payload)


def _metric_figure(check: MetricCheck, payload: DataPlan) -> CheckFigure:
    table, name = payload.table, check.metric
    if name in ("label_share", "min_label_share"):
        arguments = {"label_column": payload.label_column} | ({"label": check.argument} if name == "label_share" else {})
        return run_check(name, table, **arguments)
    if name == "overlap":
        return run_check(name, table, other=payload.others[check.argument], label_column=payload.label_column)
    if name == "rows":
        return run_check(name, table)
    return run_check(name, table, column=check.argument)


def _compared(check: MetricCheck, figure: CheckFigure) -> float:
    """The figure an expectation compares: a count's share when the threshold is a percentage."""
    if DATA_CHECKS[check.metric].value != "count":
        return figure.value
    return figure.share if check.written and check.written.endswith("%") else int(figure.value)



register(Data())
