"""Stage 4: Plan -> results (`run_plan`).

For each model, every unique input its tests need is scored once, in batches of the
model's batch size; then each test's expectations are evaluated over whole arrays
(`expectations.evaluate`). A model that cannot be loaded, or a batch that fails or
returns non-numbers, turns exactly the tests that depend on it into ERROR with the
reason; everything else still runs and every test gets a result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mlspec.checker import ModelInfo
from mlspec.errors import MlspecError, first_line, render
from mlspec.expectations import Evaluation, evaluate
from mlspec.plan import Plan, TestPlan
from mlspec.results import Example, GroupFigure, Prediction, SpecResult, TestResult
from runners import ModelRunner, load_runner

MAX_EXAMPLES = 10

RunnerFactory = Callable[[ModelInfo], ModelRunner]


@dataclass
class ModelScores:
    """Probabilities for the inputs a model scored; rows it could not score are marked failed."""

    probs: np.ndarray  # [n_inputs, n_labels]; NaN where not scored
    failed: np.ndarray  # bool [n_inputs]
    problems: list[str] = field(default_factory=list)
    load_error: str | None = None
    seconds: float = 0.0


def run_plan(plan: Plan, load: RunnerFactory | None = None) -> SpecResult:
    """Score the plan's inputs on each model and evaluate every test."""
    load = load or load_runner
    started = time.perf_counter()
    scores = {name: _score_model(plan, model, load) for name, model in plan.models.items() if _used(plan, name)}
    results = []
    for test in plan.tests:
        for model in test.models:
            results.append(_test_result(plan, test, model, scores.get(model)))
    return SpecResult(spec=plan.spec_name, path=plan.spec_path, seed=plan.seed, tests=results, seconds=time.perf_counter() - started)


def _used(plan: Plan, model: str) -> bool:
    return any(model in t.models and t.error is None for t in plan.tests)


def _score_model(plan: Plan, model: ModelInfo, load: RunnerFactory) -> ModelScores:
    started = time.perf_counter()
    n_inputs = len(plan.inputs)
    scores = ModelScores(np.full((n_inputs, len(model.labels)), np.nan, dtype=np.float32), np.zeros(n_inputs, dtype=bool))
    ids = plan.model_inputs(model.name)
    try:
        runner = load(model)
    except MlspecError as error:
        scores.load_error = render(error.diagnostic)
        scores.failed[ids] = True
        return scores
    for start in range(0, len(ids), model.batch):
        chunk = ids[start : start + model.batch]
        _score_batch(runner, plan.inputs, chunk, scores, model.name)
    scores.seconds = time.perf_counter() - started
    return scores


def _score_batch(runner: ModelRunner, inputs: list[str], chunk: np.ndarray, scores: ModelScores, name: str) -> None:
    try:
        probs = np.asarray(runner.predict([inputs[i] for i in chunk]))
        if probs.shape != (len(chunk), scores.probs.shape[1]):
            raise ValueError(f"model `{name}` returned scores of shape {list(probs.shape)} for {len(chunk)} inputs")
    except Exception as error:  # any back-end failure is reported on the tests it affects
        scores.failed[chunk] = True
        scores.problems.append(f"model `{name}` failed on a batch of {len(chunk)} inputs: {first_line(error)}")
        return
    bad_rows = ~np.isfinite(probs).all(axis=1)
    if bad_rows.any():
        scores.failed[chunk[bad_rows]] = True
        example = inputs[chunk[bad_rows][0]]
        scores.problems.append(f"model `{name}` returned NaN or infinite scores for {int(bad_rows.sum())} inputs (first: {example[:80]!r})")
    scores.probs[chunk] = probs


# ------------------------------------------------------------------ one test


def _test_result(plan: Plan, test: TestPlan, model: str, scores: ModelScores | None) -> TestResult:
    started = time.perf_counter()
    labels = plan.models[model].labels
    base = dict(
        id=test.id if len(test.models) == 1 else f"{test.id} [{model}]",
        title=test.title if len(test.models) == 1 else f"{test.title} [{model}]",
        capability=test.capability,
        kind=test.kind,
        model=model,
        file=test.file,
        line=test.line,
        checks=[str(c) for c in (*test.checks, *(f"where original.{w}" for w in test.where))],
    )
    error = _error_for(test, scores)
    if error:
        return TestResult(**base, status="ERROR", message=error, metrics={"cases": test.n_cases})
    evaluation = evaluate(test, scores.probs, labels)
    if test.kind == "fairness":
        result = _fairness_result(base, test, evaluation)
    else:
        result = _rate_result(base, test, evaluation, scores.probs, labels, plan.inputs)
    return result.model_copy(update={"seconds": time.perf_counter() - started})


def _error_for(test: TestPlan, scores: ModelScores | None) -> str | None:
    if test.error:
        return test.error
    if scores is None:
        return "model was not run"
    if scores.load_error:
        return scores.load_error
    if scores.failed[test.input_ids()].any():
        return "; ".join(dict.fromkeys(scores.problems)) or "model failed on some inputs"
    return None


def _rate_result(base: dict, test: TestPlan, evaluation: Evaluation, probs, labels, inputs) -> TestResult:
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
    examples = _examples(test, evaluation, failing, probs, labels, inputs)
    return TestResult(**base, status="PASS" if passed else "FAIL", message=message, metrics=metrics, examples=examples)


def _prediction(input_id: int, probs: np.ndarray, labels, inputs) -> Prediction:
    row = probs[input_id]
    return Prediction(
        text=inputs[input_id], label=labels[int(row.argmax())], probs={label: round(float(p), 6) for label, p in zip(labels, row)}
    )


def _examples(test: TestPlan, evaluation: Evaluation, failing, probs, labels, inputs) -> list[Example]:
    """The first failing cases in case order; for INV/DIR, each with its first failing variant."""
    cases = np.flatnonzero(failing)[:MAX_EXAMPLES]
    expected = [test.expected_labels[test.expected[c]] if test.expected is not None and test.expected[c] >= 0 else None for c in cases]
    if test.variants is None:
        return [Example(prediction=_prediction(test.inputs[c], probs, labels, inputs), expected=e) for c, e in zip(cases, expected)]
    failed_variants = np.flatnonzero(~evaluation.variant_passed)
    first_of_case = dict(zip(test.variant_case[failed_variants][::-1], failed_variants[::-1]))
    return [
        Example(
            prediction=_prediction(test.variants[first_of_case[c]], probs, labels, inputs),
            original=_prediction(test.inputs[c], probs, labels, inputs),
            expected=e,
        )
        for c, e in zip(cases, expected)
    ]


def _fairness_result(base: dict, test: TestPlan, evaluation: Evaluation) -> TestResult:
    groups = [
        GroupFigure(group=name, count=int(count), value=None if np.isnan(value) else round(float(value), 6))
        for name, count, value in zip(test.group_names, evaluation.group_counts, evaluation.group_values)
    ]
    figures = evaluation.group_metrics
    metrics = {"cases": test.n_cases, "groups": sum(1 for g in groups if g.count), **figures}
    parts = []
    for check, ok in zip(test.checks, evaluation.group_checks_passed):
        value = figures.get(check.metric)
        shown = "undefined" if value is None else f"{value:.4g}"
        relation = check.op if ok else _negate(check.op)
        parts.append(f"{check.metric}={shown} {relation} {check.value:g}")
    ranked = sorted((g for g in groups if g.value is not None), key=lambda g: (-g.value, g.group))
    if ranked:
        parts.append(f"(highest {ranked[0].group} {ranked[0].value:.3f}, lowest {ranked[-1].group} {ranked[-1].value:.3f}, {test.metric})")
    status = "PASS" if all(evaluation.group_checks_passed) else "FAIL"
    if not test.n_cases:
        status = "SKIP"
    return TestResult(**base, status=status, message=" ".join(parts) or "no groups", metrics=metrics, groups=groups)


def _negate(op: str) -> str:
    return {"<=": ">", ">=": "<", "<": ">=", ">": "<=", "==": "!=", "!=": "=="}[op]
