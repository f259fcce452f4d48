"""`fairness`: does the model treat groups of people alike?

Two forms, told apart by where the cases come from:

- over templates (`by LEXICON`, `metric mean prob(X)` or `metric positive_rate`): each
  case's group is the value of the lexicon it was filled with; the test's figures are the
  spread of the metric over the groups, `max_gap` (largest - smallest) and `min_ratio`
  (smallest / largest);
- over a labelled dataset (`from DATA by COLUMN, ...`, `positive LABEL`): groups are the
  combinations of the `by` columns' values, and the figures are Fairlearn's group metrics
  (`mlspec.library.fairness`): demographic parity, equalized odds, equal opportunity,
  accuracy difference, disparate impact. Groups smaller than `min_group_size` are
  reported, not scored; an undefined metric fails its expectation and the message names
  the groups that make it undefined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlspec.compile.plan import MetricCheck, Payload, Subject, TestPlan
from mlspec.errors import CompileError, did_you_mean, quoted
from mlspec.language.kinds import TestKind, deferred, register
from mlspec.library.fairness import METRIC_RATES, RATES, group_fairness
from mlspec.results import GroupFigure, TestResult, format_figure
from mlspec.run.expectations import COMPARE, figure_against, subject_values

ast = deferred("mlspec.language.ast")  # the check and compile hooks' node types: a run from a cached plan needs none

if TYPE_CHECKING:  # the hooks' arguments
    from mlspec.compile.compiler import TestCompiler
    from mlspec.language.checker import TestChecker

SPREAD_METRICS = {"max_gap": "<=", "min_ratio": ">="}  # over templates, of the test's `metric`
# Over a labelled dataset (definitions in mlspec/library/fairness.py); the direction each must be held to.
GROUP_METRICS = {
    "demographic_parity_difference": "<=",
    "demographic_parity_ratio": ">=",
    "equalized_odds_difference": "<=",
    "equalized_odds_ratio": ">=",
    "equal_opportunity_difference": "<=",
    "equal_opportunity_ratio": ">=",
    "accuracy_difference": "<=",
    "disparate_impact": ">=",
}


@dataclass(frozen=True)
class GroupMetric:
    kind: str  # mean | positive_rate | mae
    label: str | None  # prob(label) for mean; the positive label for positive_rate
    subject: Subject | None = None

    def __str__(self) -> str:
        if self.kind == "mae":
            return "mae"
        return f"mean {self.subject}" if self.kind == "mean" else f"positive_rate ({self.label})"


@dataclass(frozen=True)
class FairnessPlan(Payload):
    """The groups of a fairness test's cases and what is compared across them."""

    groups: np.ndarray  # group index of each case
    group_names: tuple[str, ...]
    metric: GroupMetric | None = None  # over templates: the per-group metric
    positive: str | None = None  # over a dataset: the favourable label
    privileged: np.ndarray | None = None  # over a dataset: bool per case, in the privileged group
    min_group_size: int = 1  # smaller groups are reported, not scored

    def json_fields(self) -> dict:
        return {"metric": str(self.metric) if self.metric else None}

    def case_fields(self, index: int) -> dict:
        return {"group": self.group_names[self.groups[index]]}


class Fairness(TestKind):
    keyword = "fairness"
    statements = frozenset({"templates", "source", "sample", "slices", "by", "metric", "positive", "privileged", "min_group_size", "expects"})

    def table_problem(self, table: str, takes: str):
        if table == "image":
            return "fairness tests group cases by text or table columns; this test's models take images", None
        return None

    def check(self, checker: TestChecker, placeholders) -> None:
        if checker.test.source:
            _check_group_fairness(checker)
        else:
            _check_template_fairness(checker, placeholders)

    def cases(self, compiler: TestCompiler) -> dict:
        return _group_cases(compiler) if compiler.decl.source else _template_cases(compiler)

    def evaluate(self, run) -> TestResult:
        payload: FairnessPlan = run.test.payload
        if payload.metric is None:
            return group_fairness_result(run.base, run.test, run.probs[run.test.inputs], run.labels)
        return spread_result(run.base, run.test, run.probs, run.labels)

    def figures(self, result: TestResult) -> str:
        """`cases=120 groups=4 max_gap=0.031`: the counts and the figures the test holds to."""
        if result.status == "ERROR":
            return ""
        metrics = result.metrics
        checked = [check.split()[0] for check in result.checks if check.split()[0] in metrics]
        shown = ["cases", "groups", *checked] if checked else list(metrics)
        return " ".join(f"{name}={format_figure(metrics[name])}" for name in shown if name in metrics)


# ---- check


def _check_group_fairness(checker: TestChecker) -> None:
    """A fairness test over a labelled dataset: groups by columns, Fairlearn's group metrics
    (or, with a `metric`, its spread over the groups)."""
    test = checker.test
    if not test.by:
        checker.error(f"fairness test {quoted(test.title)} needs `by COLUMN, ...`", test.title_span, "the columns that define the groups, e.g. `by sex, race`")
    if test.metric or checker.regression:
        _check_group_spread(checker)
        return
    if not test.positive:
        checker.error(f"fairness test {quoted(test.title)} needs `positive LABEL`", test.title_span, "the favourable outcome the rates count, e.g. `positive \">50K\"`")
    if test.metric:
        checker.error("`metric` belongs to fairness tests over templates", test.metric.span, "over a dataset, expect group metrics such as demographic_parity_difference")
    if test.min_group_size:
        checker.integer(test.min_group_size, "min_group_size", minimum=1)
    if not test.expects:
        checker.error(f"fairness test {quoted(test.title)} has no expectation", test.title_span, "for example `expect demographic_parity_difference <= 0.1`")
    for expect in test.expects:
        direction = GROUP_METRICS.get(expect.metric.value) if isinstance(expect, ast.MetricExpect) else None
        if direction is None:
            hint = did_you_mean(expect.metric.value, GROUP_METRICS) if isinstance(expect, ast.MetricExpect) else None
            checker.error("a fairness test over a dataset expects one of " + ", ".join(GROUP_METRICS), expect.span, hint)
        elif expect.op != direction:
            checker.error(f"`{expect.metric.value}` is held to `{direction} x`, not `{expect.op} x`", expect.span)
        elif expect.metric.value.endswith("difference"):
            checker.fraction(expect.value, expect.metric.value)
        else:
            checker.finite(expect.value, expect.metric.value)
        _check_no_at(checker, expect)
        if isinstance(expect, ast.MetricExpect) and expect.metric.value == "disparate_impact" and not test.privileged:
            checker.error("`disparate_impact` compares with the privileged group", expect.span, "add `privileged COLUMN == VALUE`")


def _check_group_spread(checker: TestChecker) -> None:
    """Over a dataset with `metric mean ...` or `metric mae` (a regression model's error):
    the spread of the metric over the groups."""
    test = checker.test
    if test.metric is None:
        checker.error(f"fairness test {quoted(test.title)} of a regression model needs a `metric`", test.title_span, "`metric mean value` or `metric mae`")
    elif test.metric.kind == "mae" and not checker.regression:
        checker.error("`metric mae` is a regression model's error; this model outputs labels", test.metric.span, "`metric mean prob(LABEL)` or `metric positive_rate`")
    elif test.metric.kind == "positive_rate" and not test.positive:
        checker.error("`metric positive_rate` needs `positive LABEL`", test.metric.span)
    if test.privileged:
        checker.error("`privileged` belongs to fairness tests with group metrics", test.statement_spans["privileged"])
    if test.min_group_size:
        checker.integer(test.min_group_size, "min_group_size", minimum=1)
    _check_spread_expectations(checker)


def _check_spread_expectations(checker: TestChecker) -> None:
    test = checker.test
    if not test.expects:
        checker.error(f"fairness test {quoted(test.title)} has no expectation", test.title_span, "for example `expect max_gap <= 0.1`")
    for expect in test.expects:
        if not isinstance(expect, ast.MetricExpect) or SPREAD_METRICS.get(expect.metric.value) != expect.op:
            checker.error("a fairness test expects `max_gap <= x` or `min_ratio >= x`", expect.span)
            continue
        if checker.regression and expect.metric.value == "max_gap":
            checker.non_negative(expect.value, "max_gap")  # in the model's units
        else:
            checker.fraction(expect.value, expect.metric.value)
        _check_no_at(checker, expect)


def _check_template_fairness(checker: TestChecker, placeholders) -> None:
    test = checker.test
    for statement in ("privileged", "min_group_size"):
        if getattr(test, statement):
            checker.error(f"`{statement}` belongs to fairness tests over a dataset", test.statement_spans[statement])
    if len(test.by) != 1:
        span = test.by[1].span if test.by else test.title_span
        checker.error("a fairness test over templates groups cases `by` one lexicon", span)
    else:
        group = test.by[0]
        for template, found in zip(test.templates, placeholders):
            if not any(p.key == group.value for p in found):
                checker.error(f"template has no `{{{group.value}}}` to group by", template.text_span)
    if test.metric is None:
        checker.error(f"fairness test {quoted(test.title)} needs a `metric`", test.title_span, "`metric mean prob(LABEL)` or `metric positive_rate`")
    elif test.metric.kind == "positive_rate" and not test.positive:
        checker.error("`metric positive_rate` needs `positive LABEL`", test.metric.span)
    _check_spread_expectations(checker)


def _check_no_at(checker: TestChecker, expect) -> None:
    """`at eps X` names a point of an attack's sweep; a fairness figure has no such points."""
    if isinstance(expect, ast.MetricExpect) and expect.at_name is not None:
        checker.error("`at` names a point of an attack's eps sweep; a fairness test has none", expect.at_name.span, "drop the `at ...`")


# ---- compile


def _group_cases(compiler: TestCompiler) -> dict:
    """Fairness over a dataset: cases grouped by the values of the `by` columns."""
    from mlspec.compile.compiler import expected_labels
    decl = compiler.decl
    by = [name.value for name in decl.by]
    privileged_column = decl.privileged_column.value if decl.privileged_column else None
    _check_group_columns(compiler, [*decl.by, *([decl.privileged_column] if privileged_column else [])])
    extra = list(dict.fromkeys(by + ([privileged_column] if privileged_column else [])))
    ids, labels, columns = compiler.dataset_cases(extra)
    if decl.metric is not None:
        return _group_spread_cases(compiler, ids, labels, columns, by)
    if not labels or any(label is None for label in labels):
        dataset = compiler.checked.datasets[decl.source.value]
        raise CompileError(f"dataset `{dataset.name}` has no labels; group metrics compare predictions with true labels", dataset.span, "map the label column: `{ label: COLUMN }`")
    groups, group_names = _groups(columns, by)
    payload = dict(groups=groups, group_names=group_names, positive=decl.positive.value)
    if decl.min_group_size:
        payload["min_group_size"] = decl.min_group_size.whole()  # checked: a whole number >= 1
    if privileged_column:
        value = decl.privileged.labels[0]
        mask = np.array([v == value.value for v in columns[privileged_column]], dtype=bool)
        if not mask.any():
            shown = ", ".join(sorted(set(columns[privileged_column]))[:8])
            raise CompileError(f"no case has {privileged_column} == {value.value!r}", value.span, f"values of {privileged_column}: {shown}")
        payload["privileged"] = mask
    return dict(inputs=ids, payload=FairnessPlan(**payload), **expected_labels(labels))


def _group_spread_cases(compiler: TestCompiler, ids: np.ndarray, labels: list, columns: dict, by: list[str]) -> dict:
    """Over a dataset with a `metric`: the cases' groups, and their true values for `mae`."""
    from mlspec.compile.compiler import lower_subject
    decl = compiler.decl
    groups, group_names = _groups(columns, by)
    metric = decl.metric
    subject = lower_subject(metric.subject) if metric.subject else None
    label = decl.positive.value if metric.kind == "positive_rate" else (metric.subject.label.value if metric.subject and metric.subject.label else None)
    payload = FairnessPlan(groups=groups, group_names=group_names, metric=GroupMetric(kind=metric.kind, label=label, subject=subject))
    if decl.min_group_size:
        payload = FairnessPlan(**{**payload.__dict__, "min_group_size": decl.min_group_size.whole()})
    expectations = compiler.expectations_of(labels) if metric.kind == "mae" else {}
    if metric.kind == "mae" and (expectations.get("expected_values") is None or np.isnan(expectations["expected_values"]).any()):
        dataset = compiler.checked.datasets[decl.source.value]
        raise CompileError(f"`metric mae` compares each case with its true value; dataset `{dataset.name}` has none for some cases", dataset.span, "map the label column: `{ label: COLUMN }`")
    return dict(inputs=ids, payload=payload, **expectations)


def _groups(columns: dict, by: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each case's group (the values of its `by` columns) and the groups' names, sorted."""
    keys = list(zip(*(columns[name] for name in by)))
    group_names = sorted({", ".join(key) for key in keys})
    position = {name: i for i, name in enumerate(group_names)}
    return np.array([position[", ".join(key)] for key in keys], dtype=np.int64), tuple(group_names)


def _check_group_columns(compiler: TestCompiler, names: list[ast.Name]) -> None:
    """Each `by` (and `privileged`) column exists in the data; reported at its name."""
    from mlspec.compile.datasets import column_names
    dataset = compiler.checked.datasets[compiler.decl.source.value]
    available = column_names(dataset)
    for name in names:
        if name.value not in available:
            hint = did_you_mean(name.value, available) or "columns are " + ", ".join(sorted(available))
            raise CompileError(f"dataset `{dataset.name}` has no column `{name.value}`", name.span, hint)


def _template_cases(compiler: TestCompiler) -> dict:
    """Fairness over templates: each case's group is the value its `by` lexicon gave it."""
    from mlspec.compile.compiler import lower_subject
    from mlspec.compile.templates import expand
    decl = compiler.decl
    group_key = decl.by[0].value
    lexicons = compiler.checked.lexicons
    texts, groups = [], []
    for template, placeholders, indices in compiler.sampled_templates():
        expansion = expand(template.text, placeholders, lexicons, indices)
        texts.extend(expansion.texts)
        groups.append(expansion.choices[group_key])
    metric = decl.metric
    if metric.kind == "mean":
        lowered = GroupMetric(kind="mean", label=metric.subject.label and metric.subject.label.value, subject=lower_subject(metric.subject))
    else:
        lowered = GroupMetric(kind="positive_rate", label=decl.positive.value)
    lexicon = group_key if group_key in lexicons else _lexicon_of(compiler.test, group_key)
    payload = FairnessPlan(groups=np.concatenate(groups) if groups else np.zeros(0, np.int64), group_names=tuple(lexicons[lexicon]), metric=lowered)
    return dict(inputs=compiler.table.intern(texts), payload=payload)


def _lexicon_of(test, key: str) -> str:
    return next(p.lexicon for found in test.placeholders for p in found if p.key == key)


# ---- run: over templates


def spread_result(base: dict, test: TestPlan, probs: np.ndarray, labels: tuple[str, ...]) -> TestResult:
    payload: FairnessPlan = test.payload
    counts, values = _group_values(payload, probs[test.inputs], {label: i for i, label in enumerate(labels)}, test.expected_values)
    small = (counts > 0) & (counts < payload.min_group_size)
    values = np.where(small, np.nan, values)
    groups = [
        GroupFigure(group=name, count=int(count), value=None if np.isnan(value) else round(float(value), 6), scored=not too_small)
        for name, count, value, too_small in zip(payload.group_names, counts, values, small)
    ]
    figures = _spread(values[(counts > 0) & ~small])
    oks = [_holds(check, figures) for check in test.checks if isinstance(check, MetricCheck)]
    metrics = {"cases": test.n_cases, "groups": sum(1 for g in groups if g.count and g.scored), **figures}
    parts = [figure_against(check, figures.get(check.metric), ok) for check, ok in zip(test.checks, oks)]
    ranked = sorted((g for g in groups if g.value is not None), key=lambda g: (-g.value, g.group))
    if ranked:
        parts.append(f"(highest {ranked[0].group} {ranked[0].value:.3f}, lowest {ranked[-1].group} {ranked[-1].value:.3f}, {payload.metric})")
    status = "PASS" if all(oks) else "FAIL"
    if not test.n_cases:
        status = "SKIP"
    return TestResult(**base, status=status, message=" ".join(parts) or "no groups", metrics=metrics, groups=groups)


def _group_values(payload: FairnessPlan, scores: np.ndarray, index: dict[str, int], expected: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cases per group and the metric's mean per group (NaN for an empty group): of a score,
    of the positive label's selection, or of a regression model's absolute error (`mae`)."""
    metric = payload.metric
    if metric.kind == "mae":
        values = np.abs(scores[:, 0].astype(np.float64) - expected)
    elif metric.kind == "mean":
        values = subject_values(metric.subject, scores, scores.argmax(axis=1), index)
    else:
        values = (scores.argmax(axis=1) == index[metric.label]).astype(np.float64)
    n_groups = len(payload.group_names)
    counts = np.bincount(payload.groups, minlength=n_groups)
    sums = np.bincount(payload.groups, weights=values.astype(np.float64), minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts, np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _spread(values: np.ndarray) -> dict[str, float | None]:
    """max_gap = largest - smallest group value; min_ratio = smallest / largest (None if undefined)."""
    if len(values) == 0:
        return {"max_gap": None, "min_ratio": None}
    largest, smallest = float(values.max()), float(values.min())
    return {"max_gap": largest - smallest, "min_ratio": smallest / largest if largest > 0 else None}


def _holds(check: MetricCheck, figures: dict[str, float | None]) -> bool:
    value = figures.get(check.metric)
    return value is not None and bool(COMPARE[check.op](value, check.value))


# ---- run: over a dataset


WHY_UNDEFINED = {
    "true_positive_rate": "no positive labels",
    "false_positive_rate": "no negative labels",
    "selection_rate": "no cases",
    "accuracy": "no cases",
}


def group_fairness_result(base: dict, test: TestPlan, probs: np.ndarray, labels: tuple[str, ...]) -> TestResult:
    """A fairness test over a labelled dataset: Fairlearn's group metrics, one model."""
    payload: FairnessPlan = test.payload
    positive = labels.index(payload.positive)
    y_pred = probs.argmax(axis=1) == positive
    y_true = np.array([test.expected_labels[e] == payload.positive for e in test.expected], dtype=bool)
    found = group_fairness(y_true, y_pred, payload.groups, len(payload.group_names), payload.min_group_size, payload.privileged)
    groups = [
        GroupFigure(
            group=name,
            count=int(found.counts[g]),
            value=_rounded(found.rates["selection_rate"][g]),
            figures={rate: _rounded(found.rates[rate][g]) for rate in RATES},
            scored=bool(found.kept[g]),
        )
        for g, name in enumerate(payload.group_names)
        if found.counts[g]
    ]
    kept = int(found.kept.sum())
    too_small = int(((found.counts > 0) & ~found.kept).sum())
    metrics = {"cases": test.n_cases, "groups": kept, "groups_too_small": too_small, **found.metrics}
    if kept < 2:
        message = f"{kept} group(s) of at least {payload.min_group_size} cases; group metrics compare two or more"
        return TestResult(**base, status="SKIP", message=message, metrics=metrics, groups=groups)
    verdicts = [(check, found.metrics.get(check.metric)) for check in test.checks]
    oks = [value is not None and bool(COMPARE[check.op](value, check.value)) for check, value in verdicts]
    parts = [figure_against(check, value, ok) + _undefined_reason(check.metric, value, found, payload.group_names) for (check, value), ok in zip(verdicts, oks)]
    if too_small:
        parts.append(f"({too_small} group(s) below min_group_size {payload.min_group_size} not scored)")
    return TestResult(**base, status="PASS" if all(oks) else "FAIL", message=" ".join(parts), metrics=metrics, groups=groups)


def _undefined_reason(metric: str, value: float | None, found, names) -> str:
    if value is not None:
        return ""
    if metric == "disparate_impact":
        return " (the privileged group has no positive predictions)"
    reasons = [
        f"{WHY_UNDEFINED[rate]} in {', '.join(names[g] for g in found.undefined_in[rate])}"
        for rate in METRIC_RATES[metric]
        if found.undefined_in[rate]
    ]
    return f" ({'; '.join(reasons)})" if reasons else " (all rates are zero)"


def _rounded(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


register(Fairness())
