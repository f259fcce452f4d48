"""`drift`: has the data moved between a reference dataset and a current one?

`drift "since training" { from reference; against current; expect psi(age) <= 0.1 }`
compares one column's distribution in the two datasets with a statistic of
`mlspec.library.drift` (its binning and definitions are written there): psi,
ks_statistic, ks_pvalue, chi2_pvalue, js_distance, wasserstein. `prediction` as the column
compares the model's outputs on the two datasets: the predicted label of a classifier
(categories), the value of a regression model (numbers). Missing cells are left out of
both samples. `where` slices and `sample N` apply to both datasets alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlspec.compile.plan import MetricCheck, Payload
from mlspec.errors import CompileError, did_you_mean, quoted
from mlspec.language.kinds import TestKind, deferred, register
from mlspec.library.drift import DRIFT_STATISTICS, MAX_VALUES_AS_CATEGORIES, column_drift, counts_as_categories
from mlspec.library.tables import Column, shared_codes
from mlspec.results import TestResult, checked_figures
from mlspec.run.expectations import COMPARE, figure_against

ast = deferred("mlspec.language.ast")  # the check and compile hooks' node types: a run from a cached plan needs none

if TYPE_CHECKING:  # the hooks' arguments
    from mlspec.compile.compiler import TestCompiler
    from mlspec.language.checker import TestChecker

PREDICTION = "prediction"  # the column name that means the model's output
P_VALUES = ("ks_pvalue", "chi2_pvalue")


@dataclass(frozen=True)
class DriftPlan(Payload):
    """The compared columns of both datasets; with `prediction`, the test's inputs are the
    reference rows, then the current ones."""

    reference: dict[str, Column]
    current: dict[str, Column]
    n_reference: int  # inputs of the reference dataset (the rest are the current one's)

    def summary(self) -> str | None:
        rows = len(next(iter(self.reference.values())).text) if self.reference else self.n_reference
        current = len(next(iter(self.current.values())).text) if self.current else 0
        return f"reference {rows:,} rows, current {current:,} rows"

    def json_fields(self) -> dict:
        return {"columns": sorted(self.reference)}


class Drift(TestKind):
    keyword = "drift"
    statements = frozenset({"source", "against", "sample", "slices", "expects"})

    def uses_models(self, test) -> bool:
        return any(isinstance(e, ast.MetricExpect) and e.argument is not None and e.argument.value == PREDICTION for e in test.expects)

    def table_problem(self, table: str, takes: str):
        if table == "image":
            return "drift compares table or text columns and predictions; this test's models take images", None
        return None

    def check(self, checker: TestChecker, placeholders) -> None:
        test = checker.test
        if test.source is None or test.against is None:
            checker.error(f"drift test {quoted(test.title)} compares two datasets", test.title_span, "write `from REFERENCE` and `against CURRENT`")
        if not test.expects:
            checker.error(f"drift test {quoted(test.title)} has no expectation", test.title_span, "for example `expect psi(age) <= 0.1`")
        for expect in test.expects:
            if not isinstance(expect, ast.MetricExpect):
                checker.error("a drift test expects statistics of columns, e.g. `psi(age) <= 0.1`", expect.span)
                continue
            _check_statistic(checker, expect)

    def cases(self, compiler: TestCompiler) -> dict:
        decl = compiler.decl
        columns = [e.argument for e in decl.expects if e.argument.value != PREDICTION]
        reference = compiler.dataset_table(columns)
        current = compiler.dataset_table(columns, name=decl.against)
        ref_rows = compiler.chosen_rows(reference.rows, _labels(compiler, reference, decl.source), reference, decl.source)
        cur_rows = compiler.chosen_rows(current.rows, _labels(compiler, current, decl.against), current, decl.against)
        names = [c.value for c in columns]
        payload = DriftPlan(
            reference={name: reference.columns[name].take(ref_rows) for name in names},
            current={name: current.columns[name].take(cur_rows) for name in names},
            n_reference=len(ref_rows) if compiler.models else 0,
        )
        _check_columns(decl, payload)
        inputs = _prediction_inputs(compiler, ref_rows, cur_rows) if compiler.models else np.zeros(0, np.int64)
        return dict(inputs=inputs, payload=payload)

    def shard_cost(self, test) -> int:
        payload: DriftPlan = test.payload
        rows = sum(len(c.text) for c in payload.reference.values()) + sum(len(c.text) for c in payload.current.values())
        return max(test.n_examples, rows // 100)

    def evaluate(self, run) -> TestResult:
        test = run.test
        payload: DriftPlan = test.payload
        samples: dict = {}  # each column's two samples, made once for all its statistics
        found = {check.figure: _statistic(check, payload, run, samples) for check in test.checks if isinstance(check, MetricCheck)}
        checks = [check for check in test.checks if isinstance(check, MetricCheck)]
        oks = [found[check.figure] is not None and bool(COMPARE[check.op](found[check.figure], check.value)) for check in checks]
        parts = [figure_against(check, found[check.figure], ok) for check, ok in zip(checks, oks)]
        metrics = {"reference_rows": _rows(payload.reference, payload.n_reference), "current_rows": _rows(payload.current, len(test.inputs) - payload.n_reference)}
        metrics.update(found)
        return TestResult(**run.base, status="PASS" if all(oks) else "FAIL", message=" ".join(parts), metrics=metrics)

    def figures(self, result: TestResult) -> str:
        """`psi(age)=0.031 ks_pvalue(hours_per_week)=0.200`: the statistics checked."""
        if result.status == "ERROR":
            return ""
        return checked_figures(result)


# ---- check


def _check_statistic(checker: TestChecker, expect: ast.MetricExpect) -> None:
    name = expect.metric.value
    if name not in DRIFT_STATISTICS:
        hint = did_you_mean(name, DRIFT_STATISTICS) or "statistics are " + ", ".join(DRIFT_STATISTICS)
        checker.error(f"unknown drift statistic `{name}`", expect.metric.span, hint)
        return
    if expect.argument is None:
        checker.error(f"`{name}` compares one column", expect.metric.span, f"write `{name}(COLUMN)` or `{name}({PREDICTION})`")
    elif expect.argument.value == PREDICTION and checker.regression is not None:
        problem = statistic_problem(name, numeric=checker.regression)
        if problem:
            checker.error(f"`{name}({PREDICTION})`: {problem}", expect.span)
    if expect.at_name is not None:
        checker.error("`at` names a point of an attack's eps sweep; a drift test has none", expect.at_name.span, "drop the `at ...`")
    if name in P_VALUES:
        checker.fraction(expect.value, f"`{name}`")
    else:
        checker.finite(expect.value, f"`{name}`")


def statistic_problem(name: str, numeric: bool, reference: np.ndarray | None = None) -> str | None:
    """Why statistic `name` does not apply to a column of numbers (`numeric`) or of text."""
    applies = DRIFT_STATISTICS[name]
    if not numeric and not applies.categories:
        return f"{name} compares numbers, and this column holds text: use psi, js_distance or chi2_pvalue"
    if numeric and not applies.numbers and (reference is None or not counts_as_categories(reference, True)):
        return f"{name} compares categories; this column holds numbers (more than {MAX_VALUES_AS_CATEGORIES} distinct values): use ks_pvalue"
    return None


# ---- compile


def _labels(compiler: TestCompiler, table, name: ast.Name):
    """The label column of a dataset, for `where expected ...` slices."""
    column = compiler.checked.datasets[name.value].columns["label"]
    return table.columns[column].text if column in table.columns else None


def _check_columns(decl: ast.TestDecl, payload: DriftPlan) -> None:
    """Each statistic applies to its column's values in both datasets (located at the argument)."""
    for expect in decl.expects:
        column = expect.argument.value
        if column == PREDICTION:
            continue
        reference, current = payload.reference[column], payload.current[column]
        for which, values in (("reference", reference), ("current", current)):
            if values.missing.all():
                dataset = decl.source if which == "reference" else decl.against
                raise CompileError(f"column `{column}` has no values in dataset `{dataset.value}`", expect.argument.span, "every cell is missing, or the slices keep no row")
        problem = statistic_problem(expect.metric.value, reference.numeric and current.numeric, reference.present)
        if problem:
            raise CompileError(f"`{expect.metric.value}({column})`: {problem}", expect.span)


def _prediction_inputs(compiler: TestCompiler, ref_rows: np.ndarray, cur_rows: np.ndarray) -> np.ndarray:
    """The model inputs of both datasets' chosen rows, reference first."""
    decl = compiler.decl
    ids = []
    for name, rows in ((decl.source, ref_rows), (decl.against, cur_rows)):
        dataset = compiler.checked.datasets[name.value]
        if compiler.input_table == "row":
            table = compiler.dataset_table(compiler.models[0].columns, name=name)
            cells = np.empty((len(rows), len(compiler.models[0].columns)), dtype=object)
            for position, column in enumerate(compiler.models[0].columns):
                cells[:, position] = table.columns[column].text[rows]
            ids.append(compiler.rows.add(dataset.name, table.rows, rows, cells))
        else:
            texts = compiler.dataset_texts(dataset)
            ids.append(compiler.table.intern([texts[i] for i in rows]))
    return np.concatenate(ids)


# ---- run


def _statistic(check: MetricCheck, payload: DriftPlan, run, samples: dict) -> float | None:
    if check.argument not in samples:
        samples[check.argument] = _samples(check.argument, payload, run)
    reference, current, numeric = samples[check.argument]
    value = column_drift(check.metric, reference, current, numeric)
    return None if value is None or not np.isfinite(value) else float(value)


def _samples(column: str, payload: DriftPlan, run) -> tuple[np.ndarray, np.ndarray, bool]:
    """A column's values in the two datasets (missing cells left out), and whether they are numbers."""
    if column == PREDICTION:
        return _predictions(run, payload.n_reference)
    reference, current = payload.reference[column], payload.current[column]
    numeric = reference.numeric and current.numeric
    codes = None if numeric else shared_codes(reference, current)  # categories counted by code: no text hashed
    return (*(codes if codes is not None else (reference.present, current.present)), numeric)


def _predictions(run, n_reference: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The model's outputs on the reference rows and on the current ones: values, or label names."""
    scores = run.probs[run.test.inputs]
    if run.model.regression:
        outputs = scores[:, 0].astype(np.float64)
        return outputs[:n_reference], outputs[n_reference:], True
    labels = scores.argmax(axis=1)  # the predicted label, as its index: categories by code
    return labels[:n_reference], labels[n_reference:], False


def _rows(columns: dict[str, Column], fallback: int) -> int:
    return len(next(iter(columns.values())).text) if columns else fallback


register(Drift())
