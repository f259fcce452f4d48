"""`metrics`: figures of a model over a whole dataset, held to thresholds.

A classifier's figures (`mlspec.library.metrics`, scikit-learn's definitions): accuracy,
balanced_accuracy, precision(X), recall(X), f1(X), macro_f1, and roc_auc for a binary
model (the score is P(`positive`), by default of the model's second label). Its result
carries the confusion matrix. A regression model's: mae, rmse, r2, max_error and mape
(`mae(name)` for one of several outputs; the first by default). `where` slices choose the
rows (`where expected == X`, `where COLUMN == V`), so per-class and per-group figures are
one test each. A figure that is undefined on the data (precision of a label never
predicted, roc_auc with one class) fails its expectation and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlspec.compile.plan import LABEL_SET, MetricCheck, Payload
from mlspec.errors import CompileError, did_you_mean, quoted
from mlspec.language.kinds import TestKind, deferred, register
from mlspec.library import metrics as figures_of
from mlspec.results import ConfusionMatrix, TestResult, checked_figures
from mlspec.run.expectations import COMPARE, figure_against

ast = deferred("mlspec.language.ast")  # the check and compile hooks' node types: a run from a cached plan needs none

if TYPE_CHECKING:  # the hooks' arguments
    from mlspec.compile.compiler import TestCompiler
    from mlspec.language.checker import TestChecker

# Each figure: whether it takes an argument (a label), and the direction a threshold takes.
CLASSIFICATION = {
    "accuracy": (False, ">="),
    "balanced_accuracy": (False, ">="),
    "macro_f1": (False, ">="),
    "precision": (True, ">="),
    "recall": (True, ">="),
    "f1": (True, ">="),
    "roc_auc": (False, ">="),
}
REGRESSION = {"mae": "<=", "rmse": "<=", "r2": ">=", "max_error": "<=", "mape": "<="}
FRACTIONS = {"accuracy", "balanced_accuracy", "macro_f1", "precision", "recall", "f1", "roc_auc"}
MAX_MATRIX_LABELS = 20  # a larger confusion matrix stays in the JSON report only


@dataclass(frozen=True)
class MetricsPlan(Payload):
    """Which label roc_auc scores as positive."""

    positive: str | None = None

    def summary(self) -> str | None:
        return f"positive {self.positive}" if self.positive else None


class Metrics(TestKind):
    keyword = "metrics"
    statements = frozenset({"source", "sample", "slices", "positive", "expects"})

    def check(self, checker: TestChecker, placeholders) -> None:
        test = checker.test
        if not test.expects:
            example = "mae <= 50" if checker.regression else "accuracy >= 0.8"
            checker.error(f"metrics test {quoted(test.title)} has no expectation", test.title_span, f"for example `expect {example}`")
        for expect in test.expects:
            if not isinstance(expect, ast.MetricExpect):
                checker.error("a metrics test expects figures of the dataset, e.g. `accuracy >= 0.8` or `mae <= 50`", expect.span)
            elif checker.regression:
                _check_regression_figure(checker, expect)
            else:
                _check_classification_figure(checker, expect)
        if test.positive and checker.regression:
            checker.error("`positive` names a classifier's label; this model outputs values", test.positive.span)

    def cases(self, compiler: TestCompiler) -> dict:
        ids, labels = compiler.labelled_inputs()
        expectations = compiler.expectations_of(labels)
        _check_outcomes(compiler, expectations)
        positive = compiler.decl.positive.value if compiler.decl.positive else None
        if positive is None and not compiler.regression and compiler.models:
            positive = compiler.models[0].exposed_labels[-1]
        return dict(inputs=ids, payload=MetricsPlan(positive=positive), **expectations)

    def evaluate(self, run) -> TestResult:
        test = run.test
        scores = run.probs[test.inputs]
        if run.model.regression:
            return _result(run.base, test, _regression_figures(test, scores, run.labels), [])
        found, matrix = _classification_figures(test, scores, run.labels)
        result = _result(run.base, test, found, _matrix_lines(matrix, run.labels))
        return result.model_copy(update={"confusion": ConfusionMatrix(labels=list(run.labels), counts=matrix.tolist())})

    def figures(self, result: TestResult) -> str:
        """`cases=16281 accuracy=0.852 recall(>50K)=0.573`: the cases and the figures checked."""
        if result.status == "ERROR":
            return ""
        return checked_figures(result, ("cases",))


# ---- check


def _check_classification_figure(checker: TestChecker, expect: ast.MetricExpect) -> None:
    name = expect.metric.value
    if name not in CLASSIFICATION:
        what = " (a regression figure: this model outputs labels)" if name in REGRESSION else ""
        hint = (None if what else did_you_mean(name, CLASSIFICATION)) or "figures are " + ", ".join(CLASSIFICATION)
        checker.error(f"unknown classification figure `{name}`{what}", expect.metric.span, hint)
        return
    takes_label, _ = CLASSIFICATION[name]
    if takes_label and expect.argument is None:
        checker.error(f"`{name}` is a figure of one label", expect.metric.span, f"write `{name}(LABEL)`")
    elif not takes_label and expect.argument is not None:
        checker.error(f"`{name}` takes no argument", expect.argument.span)
    elif expect.argument is not None:
        labels = _model_labels(checker)
        checker.check_label(expect.argument, frozenset(labels) if labels else None)
    if name == "roc_auc":
        labels = _model_labels(checker)
        if labels and len(labels) != 2:
            checker.error(f"`roc_auc` scores a binary model; this one has {len(labels)} labels", expect.metric.span, "expect `macro_f1` or per-label figures")
    _check_threshold(checker, expect, name in FRACTIONS)


def _check_regression_figure(checker: TestChecker, expect: ast.MetricExpect) -> None:
    name = expect.metric.value
    if name not in REGRESSION:
        what = " (a classification figure: this model outputs values)" if name in CLASSIFICATION else ""
        hint = (None if what else did_you_mean(name, REGRESSION)) or "figures are " + ", ".join(REGRESSION)
        checker.error(f"unknown regression figure `{name}`{what}", expect.metric.span, hint)
        return
    if expect.argument is not None:
        checker.check_label(expect.argument, frozenset(_model_labels(checker)) or None)
    _check_threshold(checker, expect, False)


def _check_threshold(checker: TestChecker, expect: ast.MetricExpect, fraction: bool) -> None:
    if expect.at_name is not None:
        checker.error("`at` names a point of an attack's eps sweep; a metrics test has none", expect.at_name.span, "drop the `at ...`")
    if fraction:
        checker.fraction(expect.value, f"`{expect.metric.value}`")
    else:
        checker.finite(expect.value, f"`{expect.metric.value}`")


def _model_labels(checker: TestChecker) -> tuple[str, ...]:
    return checker.models[checker.test_models[0]].exposed_labels if checker.test_models else ()


# ---- compile


def _check_outcomes(compiler: TestCompiler, expectations: dict) -> None:
    """Every case needs its true label (one, not a set) or value."""
    values = expectations.get("expected_values")
    expected = expectations.get("expected")
    dataset = compiler.checked.datasets[compiler.decl.source.value] if compiler.decl.source else None
    where = compiler.decl.title_span if dataset is None else dataset.span
    if compiler.regression:
        if values is None or np.isnan(values).any():
            raise CompileError("a metrics test compares every case with its true value; some cases have none", where, "map the label column: `{ label: COLUMN }`")
        return
    if expected is None or (expected < 0).any():
        raise CompileError("a metrics test compares every case with its true label; some cases have none", where, "map the label column: `{ label: COLUMN }`")
    sets = [name for name in expectations["expected_labels"] if LABEL_SET in name]
    if sets:
        raise CompileError(f"a metrics test needs one true label a case, not a set such as {sets[0]!r}", where)


# ---- run


def _classification_figures(test, scores: np.ndarray, labels: tuple[str, ...]) -> tuple[dict, np.ndarray]:
    """The figures of a classifier, and its confusion matrix."""
    index = {label: i for i, label in enumerate(labels)}
    expected = np.array([index[name] for name in test.expected_labels], dtype=np.int64)[test.expected]
    predicted = scores.argmax(axis=1)
    found = figures_of.classification_figures(expected, predicted, len(labels), labels)
    positive = test.payload.positive
    if positive is not None and len(labels) == 2:
        found["roc_auc"] = figures_of.roc_auc(expected == index[positive], scores[:, index[positive]])
    return found, figures_of.confusion_matrix(expected, predicted, len(labels))


def _regression_figures(test, values: np.ndarray, outputs: tuple[str, ...]) -> dict:
    """Each output's figures: `mae` for the first output, `mae(name)` for any."""
    found = {}
    for position, output in enumerate(outputs):
        figures = figures_of.regression_figures(test.expected_values, values[:, position].astype(np.float64))
        found.update({f"{name}({output})": value for name, value in figures.items()})
        if position == 0:
            found.update(figures)
    return found


def _matrix_lines(matrix: np.ndarray, labels: tuple[str, ...]) -> list[str]:
    """The confusion matrix as text: a row per true label, a column per predicted label."""
    if len(labels) > MAX_MATRIX_LABELS:
        return [f"confusion matrix: {len(labels)} labels, in the JSON report"]
    width = max(len(str(matrix.max())), *(len(label) for label in labels))
    head = "true \\ predicted".ljust(max(16, max(len(label) for label in labels)))
    lines = ["confusion matrix:", "  " + head + "  " + "  ".join(label.rjust(width) for label in labels)]
    for label, row in zip(labels, matrix):
        lines.append("  " + label.ljust(len(head)) + "  " + "  ".join(str(count).rjust(width) for count in row))
    return lines


def _result(base: dict, test, found: dict, details: list[str]) -> TestResult:
    checks = [check for check in test.checks if isinstance(check, MetricCheck)]
    verdicts = [(check, found.get(check.figure)) for check in checks]
    oks = [value is not None and bool(COMPARE[check.op](value, check.value)) for check, value in verdicts]
    parts = [figure_against(check, value, ok) for (check, value), ok in zip(verdicts, oks)]
    metrics = {"cases": test.n_cases, **{name: _rounded(value) for name, value in found.items()}}
    if test.n_cases == 0:
        return TestResult(**base, status="SKIP", message="no cases", metrics=metrics)
    return TestResult(**base, status="PASS" if all(oks) else "FAIL", message=" ".join(parts), metrics=metrics, details=details)


def _rounded(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


register(Metrics())
