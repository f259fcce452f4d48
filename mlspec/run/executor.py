"""Stage 4: Plan -> results (`run_plan`).

For each model, every unique input its tests need is scored once, in batches of the
model's batch size; then each test's expectations are evaluated over whole arrays
(`expectations.evaluate`). Attack tests then run their attack on the model
(`adversarial.run_attack`). A model that cannot be loaded, or a batch that fails or
returns non-numbers, turns exactly the tests that depend on it into ERROR with the
reason; everything else still runs and every test gets a result.

With a prediction cache (`mlspec.run.cache`), the rows a model scored before are taken from
it and only the others are scored. Local models score batches of at least `MIN_ROWS`
inputs (a short batch is padded with repeats): back ends take other kernels for the
smallest batches, and a score would otherwise change in its last bits with the number of
inputs scored beside it, which differs between a full, a cached and a sharded run.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mlspec.compile.plan import Plan, TestPlan
from mlspec.errors import MlspecError, first_line, render
from mlspec.library.neutral_band import expose
from mlspec.model import ModelInfo
from mlspec.results import Example, GroupFigure, Prediction, SpecResult, TestResult
from mlspec.run.batch_tuning import BatchTuner
from mlspec.run.cache import PredictionCache
from mlspec.run.expectations import Evaluation, evaluate, figure_against
from mlspec.run.fairness_result import group_fairness_result
from mlspec.run.load_test import load_result
from runners import ModelRunner, load_runner
from runners.base import ScoresShapeError

MAX_EXAMPLES = 10
MIN_ROWS = 16  # rows of the smallest batch a local (onnx, torch) model scores

RunnerFactory = Callable[[ModelInfo], ModelRunner]


@dataclass
class ModelScores:
    """Probabilities for the inputs a model scored; rows it could not score are marked failed."""

    probs: np.ndarray  # [n_inputs of the model's table, n_labels]; NaN where not scored
    failed: np.ndarray  # bool [n_inputs]
    runner: ModelRunner | None = None
    problems: list[str] = field(default_factory=list)
    load_error: str | None = None
    seconds: float = 0.0
    splits_left: int = 200  # failed batches split to find the failing inputs; a model failing on everything stops it
    gave_up: str | None = None  # a remote model whose whole batch failed: the rest is not sent
    min_rows: int = 1  # a shorter batch is padded with repeats of its last input
    batching: str | None = None  # the batch size chosen by measurement, and the timings


def run_plan(plan: Plan, load: RunnerFactory | None = None, cache: PredictionCache | None = None) -> SpecResult:
    """Score the plan's inputs on each model (those not in `cache`) and evaluate every test."""
    load = load or load_runner
    started = time.perf_counter()
    scores = {name: _score_model(plan, model, load, cache) for name, model in plan.models.items() if _used(plan, name)}
    results = []
    for test in plan.tests:
        for model in test.models:
            results.append(_test_result(plan, test, model, scores.get(model), load))
    notes = [f"model `{name}`: {s.batching}" for name, s in scores.items() if s.batching]
    return SpecResult(spec=plan.spec_name, path=plan.spec_path, seed=plan.seed, tests=results, seconds=time.perf_counter() - started, notes=notes)


def _used(plan: Plan, model: str) -> bool:
    return any(model in t.models and t.error is None for t in plan.tests)


def _calls_model(plan: Plan, model: str) -> bool:
    """Whether a test of `model` calls it itself (attacks, load tests), beyond the scored inputs."""
    return any(model in t.models and t.error is None and t.kind in ("attack", "load") for t in plan.tests)


def _score_model(plan: Plan, model: ModelInfo, load: RunnerFactory, cache: PredictionCache | None = None) -> ModelScores:
    started = time.perf_counter()
    table = plan.table(model.table)
    n_inputs = 0 if table is None else len(table)
    scores = ModelScores(np.full((n_inputs, len(model.labels)), np.nan, dtype=np.float32), np.zeros(n_inputs, dtype=bool))
    ids = plan.model_inputs(model.name)
    cached = cache.view(model, plan, ids) if cache is not None else None
    todo = cached.fill(scores.probs) if cached is not None else ids
    if cached is None or len(todo) or _calls_model(plan, model.name):  # every row cached: no need to load the model
        try:
            scores.runner = load(model)
        except MlspecError as error:
            scores.load_error = render(error.diagnostic)
            scores.failed[ids] = True
            return scores

    def describe(input_id: int) -> str:
        return plan.describe(model.table, input_id)

    if model.format in ("onnx", "torch"):
        scores.min_rows = MIN_ROWS if model.batch_tuned else min(MIN_ROWS, model.batch)
    _score_inputs(scores, table, todo, model, describe)
    if cached is not None:
        cached.save(scores.probs, scores.failed, scores.runner)
    scores.probs = expose(scores.probs, model.neutral_band)  # after the cache, which keeps the model's own scores
    scores.seconds = time.perf_counter() - started
    return scores


def _score_inputs(scores: ModelScores, table, todo: np.ndarray, model: ModelInfo, describe) -> None:
    """Score `todo` in batches of the declared size, or of a size measured on the first
    batches (`batch_tuning`), keeping the runner's `concurrency` batches in flight: requests
    to an endpoint, or one batch per CPU core for a local model (whose calls are then not
    split across the cores again: `split_calls`)."""
    workers = max(1, getattr(scores.runner, "concurrency", 1))
    tuner = BatchTuner(len(todo)) if model.batch_tuned else None
    splits = getattr(scores.runner, "split_calls", None)
    if splits is not None:
        scores.runner.split_calls = False

    def score(chunks: list[np.ndarray]) -> None:
        if workers == 1 or len(chunks) == 1:
            for chunk in chunks:
                _score_batch(scores, table, chunk, model.name, describe)
        else:
            list(pool.map(lambda chunk: _score_batch(scores, table, chunk, model.name, describe), chunks))

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            start = 0
            while tuner is not None and tuner.tuning and start < len(todo):  # each size timed on enough batches at once
                size = tuner.size()
                end = min(start + max(tuner.probe_rows(), size * workers), len(todo))
                group = [todo[i : min(i + size, end)] for i in range(start, end, size)]
                started = time.perf_counter()
                score(group)
                tuner.record(end - start, time.perf_counter() - started)
                start = end
            size = tuner.chosen if tuner is not None else model.batch
            score([todo[i : i + size] for i in range(start, len(todo), size)])
    finally:
        if splits is not None:
            scores.runner.split_calls = splits
    if tuner is not None and tuner.timings:
        scores.batching = tuner.describe()


def _score_batch(scores: ModelScores, table, chunk: np.ndarray, name: str, describe) -> None:
    """Score one batch. A batch that fails is split in halves until the inputs that fail
    are found, so only the tests that need those inputs become errors."""
    if scores.gave_up:  # a dead or failing endpoint: do not spend every batch's retries on it
        scores.failed[chunk] = True
        return
    rows = np.concatenate([chunk, np.repeat(chunk[-1:], scores.min_rows - len(chunk))]) if len(chunk) < scores.min_rows else chunk
    batch = table[rows] if isinstance(table, np.ndarray) else [table[i] for i in rows]
    try:
        probs = np.asarray(scores.runner.predict(batch))
        if probs.shape != (len(rows), scores.probs.shape[1]):
            raise ScoresShapeError(f"model `{name}` returned scores of shape {list(probs.shape)} for {len(rows)} inputs")
        probs = probs[: len(chunk)]
    except Exception as error:  # any back-end failure is reported on the tests it affects
        splittable = not isinstance(error, ScoresShapeError) and getattr(scores.runner, "split_failed_batches", True)
        if len(chunk) > 1 and splittable and scores.splits_left > 0:
            scores.splits_left -= 1
            middle = len(chunk) // 2
            _score_batch(scores, table, chunk[:middle], name, describe)
            _score_batch(scores, table, chunk[middle:], name, describe)
            return
        scores.failed[chunk] = True
        what = repr(describe(chunk[0])[:120]) if len(chunk) == 1 else f"a batch of {len(chunk)} inputs"
        scores.problems.append(f"model `{name}` failed on {what}: {first_line(error)}")
        if not getattr(scores.runner, "split_failed_batches", True):
            scores.gave_up = first_line(error)
        return
    bad_rows = ~np.isfinite(probs).all(axis=1)
    if bad_rows.any():
        scores.failed[chunk[bad_rows]] = True
        example = describe(chunk[bad_rows][0])
        scores.problems.append(f"model `{name}` returned NaN or infinite scores for {int(bad_rows.sum())} inputs (first: {example[:80]!r})")
    scores.probs[chunk] = probs


# ------------------------------------------------------------------ one test


def _test_result(plan: Plan, test: TestPlan, model: str, scores: ModelScores | None, load: RunnerFactory) -> TestResult:
    started = time.perf_counter()
    labels = plan.models[model].exposed_labels
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
    describe = lambda input_id: plan.describe(test.input_table, input_id)  # noqa: E731
    if test.kind == "load":
        table = plan.table(test.input_table)
        inputs = table[test.inputs] if isinstance(table, np.ndarray) else [table[i] for i in test.inputs]
        result = load_result(base, test, _load_runner(plan.models[model], scores.runner, test.load.concurrency, load), inputs)
    elif test.kind == "attack":
        from mlspec.run.adversarial import attack_result  # imports torch: only for attack tests

        images = plan.images[test.inputs]
        result = attack_result(base, test, plan.models[model], scores.runner, images, scores.probs[test.inputs], describe)
    elif test.kind == "fairness" and test.positive and test.metric is None:
        result = group_fairness_result(base, test, scores.probs[test.inputs], labels)
    elif test.kind == "fairness":
        result = _fairness_result(base, test, evaluate(test, scores.probs, labels))
    else:
        result = _rate_result(base, test, evaluate(test, scores.probs, labels), scores.probs, labels, describe)
    return result.model_copy(update={"seconds": time.perf_counter() - started})


def _load_runner(model: ModelInfo, runner: ModelRunner, concurrency: int, load: RunnerFactory) -> ModelRunner:
    """The runner a load test sends through: an endpoint's own, with room for the test's workers."""
    if model.http is None or concurrency <= model.http.concurrency:
        return runner
    return load(dataclasses.replace(model, http=dataclasses.replace(model.http, concurrency=concurrency)))


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


def _rate_result(base: dict, test: TestPlan, evaluation: Evaluation, probs, labels, describe) -> TestResult:
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
    examples = _examples(test, evaluation, failing, probs, labels, describe)
    return TestResult(**base, status="PASS" if passed else "FAIL", message=message, metrics=metrics, examples=examples)


def _examples(test: TestPlan, evaluation: Evaluation, failing, probs, labels, describe) -> list[Example]:
    """The first failing cases in case order; for INV/DIR, each with its first failing variant."""
    cases = np.flatnonzero(failing)[:MAX_EXAMPLES]
    expected = [test.expected_labels[test.expected[c]] if test.expected is not None and test.expected[c] >= 0 else None for c in cases]

    def shown(input_id):
        return Prediction.of(describe(input_id), probs[input_id], labels)

    if test.variants is None:
        return [Example(prediction=shown(test.inputs[c]), expected=e) for c, e in zip(cases, expected)]
    failed_variants = np.flatnonzero(~evaluation.variant_passed)
    first_of_case = dict(zip(test.variant_case[failed_variants][::-1], failed_variants[::-1]))
    return [
        Example(prediction=shown(test.variants[first_of_case[c]]), original=shown(test.inputs[c]), expected=e)
        for c, e in zip(cases, expected)
    ]


def _fairness_result(base: dict, test: TestPlan, evaluation: Evaluation) -> TestResult:
    groups = [
        GroupFigure(group=name, count=int(count), value=None if np.isnan(value) else round(float(value), 6))
        for name, count, value in zip(test.group_names, evaluation.group_counts, evaluation.group_values)
    ]
    figures = evaluation.group_metrics
    metrics = {"cases": test.n_cases, "groups": sum(1 for g in groups if g.count), **figures}
    parts = [figure_against(check, figures.get(check.metric), ok) for check, ok in zip(test.checks, evaluation.group_checks_passed)]
    ranked = sorted((g for g in groups if g.value is not None), key=lambda g: (-g.value, g.group))
    if ranked:
        parts.append(f"(highest {ranked[0].group} {ranked[0].value:.3f}, lowest {ranked[-1].group} {ranked[-1].value:.3f}, {test.metric})")
    status = "PASS" if all(evaluation.group_checks_passed) else "FAIL"
    if not test.n_cases:
        status = "SKIP"
    return TestResult(**base, status=status, message=" ".join(parts) or "no groups", metrics=metrics, groups=groups)
