"""CheckList's three behavioural kinds: `mft`, `inv` and `dir` (Ribeiro et al., 2020).

- mft (minimum functionality test): each case's prediction must meet the expectations
  (by default, `label == expected`).
- inv (invariance): a case's variants (perturbed, swapped, or listed in the data) must
  keep the original's prediction (by default, `unchanged`).
- dir (directional): the variants' scores must move the way the expectations say.

Each test is judged by its failure rate over the cases its `where` conditions apply to,
held to `max_fail_rate` (0 by default); the failing examples are the first failing cases
in case order, each with its first failing variant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mlspec.compile.plan import LabelCheck, TestPlan, UnchangedCheck
from mlspec.errors import quoted
from mlspec.kinds.metrics import CLASSIFICATION, REGRESSION
from mlspec.language.kinds import TestKind, deferred, register
from mlspec.results import Example, Prediction, TestResult, counted_cases, format_percent, whole
from mlspec.run.expectations import Evaluation, evaluate

ast = deferred("mlspec.language.ast")  # the check and compile hooks' node types: a run from a cached plan needs none

if TYPE_CHECKING:  # the hooks' arguments
    from mlspec.compile.compiler import TestCompiler
    from mlspec.language.checker import TestChecker

MAX_EXAMPLES = 10
CASE_STATEMENTS = frozenset({"templates", "source", "sample", "slices", "expects", "max_fail_rate"})
VARIANT_STATEMENTS = CASE_STATEMENTS | {"perturb", "swap", "where"}
DATASET_FIGURES = {*CLASSIFICATION, *REGRESSION}  # `expect mae <= 50` in an mft: say where it belongs


class RateKind(TestKind):
    """What the three share: cases, a failure rate, failing examples."""

    rated = True

    def evaluate(self, run) -> TestResult:
        evaluation = evaluate(run.test, run.probs, run.labels)
        return rate_result(run.base, run.test, evaluation, run.probs, run.labels, run.describe, run.model.regression)

    def figures(self, result: TestResult) -> str:
        """`3/120 failed (2.5%), max 5.0%`."""
        metrics = result.metrics
        cases, failures = counted_cases(metrics), whole(metrics.get("failures"))
        if cases is None or failures is None:
            return ""
        rate = metrics.get("fail_rate")
        if rate is None and cases:
            rate = failures / cases
        text = f"{failures}/{cases} failed"
        if rate is not None:
            text += f" ({format_percent(rate)})"
        limit = metrics.get("max_fail_rate")
        if limit is not None:
            text += f", max {format_percent(limit)}"
        return text


class Mft(RateKind):
    keyword = "mft"
    article = "an"
    statements = CASE_STATEMENTS

    def check(self, checker: TestChecker, placeholders) -> None:
        test = checker.test
        for expect in test.expects:
            if isinstance(expect, ast.MetricExpect) and expect.metric.value in DATASET_FIGURES:
                checker.error(f"`{expect.metric.value}` is a figure of a whole dataset: it belongs in a metrics test", expect.span, f"write `metrics \"...\" {{ from DATASET; expect {expect.metric.value} ... }}`")
            elif not isinstance(expect, (ast.LabelCondition, ast.ScoreCondition, ast.WithinExpect)):
                checker.error("an mft test expects a label, a probability or a value", expect.span, "for example `expect label == positive`")
        if checker.regression and not test.expects:
            checker.error(f"mft test {quoted(test.title)} of a regression model has no expectation", test.title_span, "for example `expect value within 10% of expected`")
            return
        needs_expected = not test.expects or any(getattr(e, "expected", False) for e in test.expects)
        if needs_expected and not _has_expected_labels(test):
            if test.expects:
                checker.error("`label == expected` needs a label on every case", test.expects[0].span, "add `-> LABEL` to each template, or use a dataset with a label column")
            else:
                checker.error(f"mft test {quoted(test.title)} has no expectation", test.title_span, "add `expect label == LABEL`, or `-> LABEL` to each template")

    def default_checks(self) -> tuple:
        return (LabelCheck(op="==", expected=True),)

    def cases(self, compiler: TestCompiler) -> dict:
        ids, labels = compiler.labelled_inputs()
        return dict(inputs=ids, **compiler.expectations_of(labels))


class VariantKind(RateKind):
    """INV and DIR: cases with variants, from a perturbation, a swap or the data."""

    statements = VARIANT_STATEMENTS

    def check_variants(self, checker: TestChecker) -> None:
        """Variants come from a perturbation, a swap, or the dataset's own `variants` lists (one of them)."""
        test = checker.test
        dataset = checker.datasets.get(test.source.value) if test.source else None
        given = dataset is not None and "variants" in dataset.columns
        if given and checker.table == "row":
            checker.error(
                f"dataset `{test.source.value}` maps a `variants` column, which lists texts; table rows are changed with `perturb`",
                test.source.span,
                "for example `perturb flip(sex)` or `perturb shift(age: 1)`",
            )
            return
        if not test.perturb and not test.swap and not given:
            checker.error(f"{test.kind} test {quoted(test.title)} changes nothing", test.title_span, "add `perturb ...` or `swap LEXICON`")
        if given and test.perturb:
            checker.error("the dataset gives each case its variants; a `perturb` would make others", test.perturb.span, "use a dataset without `variants`, or drop the `perturb`")

    def cases(self, compiler: TestCompiler) -> dict:
        decl = compiler.decl
        if compiler.input_table == "image":
            return compiler.image_variants()
        if compiler.input_table == "row":
            return compiler.table_variants()
        if decl.swap:
            return compiler.swap_cases()
        if decl.source and not decl.perturb:
            return compiler.given_variants()
        texts, labels = compiler.templated() if decl.templates else compiler.from_dataset()
        return compiler.perturbed(texts, labels)


class Inv(VariantKind):
    keyword = "inv"
    article = "an"

    def check(self, checker: TestChecker, placeholders) -> None:
        self.check_variants(checker)
        test = checker.test
        for expect in test.expects:
            if not isinstance(expect, ast.UnchangedExpect):
                checker.error("an inv test expects `unchanged`", expect.span, "use a dir test for directional expectations")
            elif checker.regression and expect.subject is None:
                checker.error("a regression model's inv test expects `value unchanged`", expect.span, "for example `expect value unchanged tolerance 5%`")
            elif expect.subject is not None and expect.tolerance is not None and not expect.tolerance.percent:
                checker.non_negative(expect.tolerance, "tolerance")
        if checker.regression and not test.expects:
            checker.error(f"inv test {quoted(test.title)} of a regression model has no expectation", test.title_span, "for example `expect value unchanged tolerance 5%`")
        if len(checker.test.expects) > 1:
            checker.error("an inv test has one `expect unchanged`", checker.test.expects[1].span)

    def default_checks(self) -> tuple:
        return (UnchangedCheck(tolerance=None),)


class Dir(VariantKind):
    keyword = "dir"

    def check(self, checker: TestChecker, placeholders) -> None:
        self.check_variants(checker)
        test = checker.test
        if not test.expects:
            checker.error(f"dir test {quoted(test.title)} has no expectation", test.title_span, "for example `expect prob(positive) not decreasing tolerance 0.1`")
        for expect in test.expects:
            if isinstance(expect, ast.UnchangedExpect):
                checker.error("`unchanged` belongs in an inv test", expect.span)
            elif isinstance(expect, (ast.MetricExpect, ast.WithinExpect)) or getattr(expect, "expected", False):
                checker.error("a dir test expects a direction, a label or a probability of the variants", expect.span)


def _has_expected_labels(test: ast.TestDecl) -> bool:
    if test.templates:
        return all(t.label for t in test.templates)
    return test.source is not None  # whether the file has a label column is checked when it is read


def _expected(test: TestPlan, case: int) -> str | None:
    """A case's expected label, or a regression model's expected value, as reports show it."""
    if test.expected_values is not None and not np.isnan(test.expected_values[case]):
        return f"{test.expected_values[case]:.6g}"
    if test.expected is not None and test.expected[case] >= 0:
        return test.expected_labels[test.expected[case]]
    return None


def rate_result(base: dict, test: TestPlan, evaluation: Evaluation, probs, labels, describe, regression: bool = False) -> TestResult:
    """PASS when the failure rate over the applicable cases is within `max_fail_rate`."""
    applicable = int(evaluation.applicable.sum())
    failing = evaluation.applicable & ~evaluation.passed
    failures = int(failing.sum())
    metrics = {
        "cases": test.n_cases,
        "examples": test.n_examples,
        "applicable": applicable,
        "failures": failures,
        "fail_rate": failures / applicable if applicable else None,
        "max_fail_rate": test.max_fail_rate,
    }
    if test.dropped:
        metrics["not_perturbed"] = test.dropped
    if applicable == 0:
        reason = "no cases" if test.n_cases == 0 else "no case meets the `where` conditions"
        return TestResult(**base, status="SKIP", message=f"{reason} ({test.n_cases} cases)", metrics=metrics)
    rate = failures / applicable
    passed = rate <= test.max_fail_rate
    relation = "<=" if passed else ">"
    message = f"fail_rate={rate:.4g} {relation} max_fail_rate={test.max_fail_rate:.4g} ({failures}/{applicable} cases)"
    examples = _examples(test, evaluation, failing, probs, labels, describe, regression)
    return TestResult(**base, status="PASS" if passed else "FAIL", message=message, metrics=metrics, examples=examples)


def _examples(test: TestPlan, evaluation: Evaluation, failing, probs, labels, describe, regression: bool) -> list[Example]:
    """The first failing cases in case order; for INV/DIR, each with its first failing variant."""
    cases = np.flatnonzero(failing)[:MAX_EXAMPLES]
    expected = [_expected(test, c) for c in cases]

    def shown(input_id):
        return Prediction.of(describe(input_id), probs[input_id], labels, values=regression)

    if test.variants is None:
        return [Example(prediction=shown(test.inputs[c]), expected=e) for c, e in zip(cases, expected)]
    failed_variants = np.flatnonzero(~evaluation.variant_passed)
    first_of_case = dict(zip(test.variant_case[failed_variants][::-1], failed_variants[::-1]))
    return [
        Example(prediction=shown(test.variants[first_of_case[c]]), original=shown(test.inputs[c]), expected=e)
        for c, e in zip(cases, expected)
    ]


for _kind in (Mft(), Inv(), Dir()):
    register(_kind)
