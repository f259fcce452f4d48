"""Stage 4: Plan -> results (`run_plan`).

For each model, every unique input its tests need is scored once, in batches of the
model's batch size; then each test is evaluated by its kind (`mlspec.kinds`, through the
registry in `mlspec.language.kinds`): expectations over whole arrays, or an attack or a
load test that calls the model itself. A model that cannot be loaded, or a batch that fails or
returns non-numbers, turns exactly the tests that depend on it into ERROR with the
reason; everything else still runs and every test gets a result.

With a prediction cache (`mlspec.run.cache`), the rows a model scored before are taken from
it and only the others are scored; the cache stands aside (a note says so) for a model that
loads and scores faster than it looks up, as measured in earlier runs. Local models score batches of at least `MIN_ROWS`
inputs (a short batch is padded with repeats): back ends take other kernels for the
smallest batches, and a score would otherwise change in its last bits with the number of
inputs scored beside it, which differs between a full, a cached and a sharded run.

The value of every secret a spec reads (`header ... env`) is masked in its results
(`mlspec.secrets`), so no report can show it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mlspec.compile.plan import Plan, TestPlan
from mlspec.errors import MlspecError, first_line, render
from mlspec.language.kinds import kind
from mlspec.library.neutral_band import expose
from mlspec.model import ModelInfo
from mlspec.results import SpecResult, TestResult
from mlspec.run.batch_tuning import ROUNDS, BatchTuner
from mlspec.run.cache import PredictionCache
from mlspec.secrets import mask_data, secret_values
from runners import ModelRunner, load_runner
from runners.base import ScoresShapeError

MAX_EXAMPLES = 10
MIN_ROWS = 16  # rows of the smallest batch a local model (onnx, torch: `Backend.local`) scores

RunnerFactory = Callable[[ModelInfo], ModelRunner]
NO_MODEL = ""  # the model of a test that runs on none (a data check): its results name no model


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
    cache_note: str | None = None  # why the prediction cache stood aside for this model


class Progress:
    """What a run reports as it goes (the command line draws it); this one reports nothing.
    `advance` may be called from several threads at once."""

    def start(self, task: str, total: int) -> None:
        """A task of `total` steps begins: scoring a model's inputs, or evaluating tests."""

    def advance(self, steps: int) -> None:
        """`steps` more steps of the current task are done."""

    def finish(self) -> None:
        """The current task is done."""


def run_plan(
    plan: Plan,
    load: RunnerFactory | None = None,
    cache: PredictionCache | None = None,
    finished: list[TestResult] | None = None,
    progress: Progress | None = None,
) -> SpecResult:
    """Score the plan's inputs on each model (those not in `cache`) and evaluate every test.
    Each result is also appended to `finished` as soon as it is known, so an interrupted run
    can still report what it did (`unfinished`). A test's `seconds` are its evaluation plus
    its share of its model's scoring, by the inputs it needs, so the tests' times add up to the run."""
    load = load or load_runner
    progress = progress or Progress()
    started = time.perf_counter()
    scores = {name: _score_model(plan, model, load, cache, progress) for name, model in plan.models.items() if _used(plan, name)}
    shares = _scoring_shares(plan, scores)
    results = finished if finished is not None else []
    runs = [(test, model) for test in plan.tests for model in test.models or (NO_MODEL,)]
    progress.start(f"{plan.spec_name}: tests", len(runs))
    for test, model in runs:
        result = _test_result(plan, test, model, scores.get(model), load)
        results.append(result.model_copy(update={"seconds": result.seconds + shares.get((test.id, model), 0.0)}))
        progress.advance(1)
    progress.finish()
    notes = [f"model `{name}`: {s.batching}" for name, s in scores.items() if s.batching]
    notes += [s.cache_note for s in scores.values() if s.cache_note]
    return _masked(SpecResult(spec=plan.spec_name, path=plan.spec_path, seed=plan.seed, tests=list(results), seconds=time.perf_counter() - started, notes=notes), plan)


def unfinished(plan: Plan, finished: list[TestResult], reason: str) -> SpecResult:
    """The spec's result when its run stopped early: the tests that finished, then every
    other test (on each of its models) as ERROR with `reason`."""
    done = {(result.id, result.model) for result in finished}
    bases = [(test, _base(test, model)) for test in plan.tests for model in test.models or (NO_MODEL,)]
    rest = [
        with_figures(TestResult(**base, status="ERROR", message=reason, metrics={"cases": test.n_cases}))
        for test, base in bases
        if (base["id"], base["model"]) not in done
    ]
    return _masked(SpecResult(spec=plan.spec_name, path=plan.spec_path, seed=plan.seed, tests=[*finished, *rest]), plan)


def _masked(result: SpecResult, plan: Plan) -> SpecResult:
    """The result with the value of every secret the spec reads (`header ... env`) masked."""
    variables = [variable for model in plan.models.values() if model.http for _, _, variable in model.http.headers if variable]
    secrets = secret_values(variables)
    return SpecResult.model_validate(mask_data(result.model_dump(), secrets)) if secrets else result


def _scoring_shares(plan: Plan, scores: dict[str, ModelScores]) -> dict[tuple[str, str], float]:
    """Each (test, model)'s share of the model's scoring time, in proportion to the inputs it needs."""
    shares = {}
    for name, scored in scores.items():
        sizes = {test.id: len(test.input_ids()) for test in plan.tests if name in test.models and test.error is None}
        total = sum(sizes.values())
        shares.update({(test_id, name): scored.seconds * size / total for test_id, size in sizes.items() if total})
    return shares


def _used(plan: Plan, model: str) -> bool:
    return any(model in t.models and t.error is None for t in plan.tests)


def _calls_model(plan: Plan, model: str) -> bool:
    """Whether a test of `model` calls it itself (attacks, load tests), beyond the scored inputs."""
    return any(model in t.models and t.error is None and kind(t.kind).calls_model for t in plan.tests)


def _score_model(plan: Plan, model: ModelInfo, load: RunnerFactory, cache: PredictionCache | None, progress: Progress) -> ModelScores:
    started = time.perf_counter()
    table = plan.table(model.table)
    n_inputs = 0 if table is None else len(table)
    scores = ModelScores(np.full((n_inputs, len(model.labels)), np.nan, dtype=np.float32), np.zeros(n_inputs, dtype=bool))
    ids = plan.model_inputs(model.name)
    cached = cache.view(model, plan, ids) if cache is not None else None
    todo = cached.fill(scores.probs) if cached is not None else ids
    load_seconds = None
    if cached is None or len(todo) or _calls_model(plan, model.name):  # every row cached: no need to load the model
        try:
            loading = time.perf_counter()
            scores.runner = load(model)
            load_seconds = time.perf_counter() - loading
        except MlspecError as error:
            scores.load_error = render(error.diagnostic)
            scores.failed[ids] = True
            return scores

    def describe(input_id: int) -> str:
        return plan.describe(model.table, input_id)

    if model.local:
        scores.min_rows = MIN_ROWS if model.batch_tuned else min(MIN_ROWS, model.batch)
    progress.start(f"model {model.name}: scoring", len(todo) if scores.runner is not None else 0)
    scoring = time.perf_counter()
    _score_inputs(scores, table, todo, model, describe, progress.advance)
    progress.finish()
    if cached is not None:
        cached.save(scores.probs, scores.failed, scores.runner, (load_seconds, time.perf_counter() - scoring, len(todo) if scores.runner else 0))
        scores.cache_note = cached.skipped
    scores.probs = expose(scores.probs, model.neutral_band)  # after the cache, which keeps the model's own scores
    scores.seconds = time.perf_counter() - started
    return scores


def _score_inputs(scores: ModelScores, table, todo: np.ndarray, model: ModelInfo, describe, scored: Callable[[int], None]) -> None:
    """Score `todo` in batches of the declared size, or of a size (and number of calls in
    parallel) measured on probes spread over the inputs (`batch_tuning`), keeping the
    runner's `concurrency` batches in flight: requests to an endpoint, or one batch per CPU
    core for a local model (whose calls are then not split across the cores again:
    `predict(..., split=False)`)."""
    if scores.runner is None:  # every input was cached: the model was not loaded
        return
    started = time.perf_counter()
    table = _indexable(table)
    workers = max(1, scores.runner.concurrency)
    tuner = BatchTuner(len(todo), workers) if model.batch_tuned else None
    order = getattr(scores.runner, "order", None)  # a back end that scores some orders faster (texts by token length)
    arranged = order(_take(table, todo)) if order is not None and len(todo) > 1 else None
    if arranged is not None:
        todo = todo[arranged]

    def score_one(chunk: np.ndarray, busy: list[float]) -> None:
        began = time.perf_counter()
        _score_batch(scores, table, chunk, model.name, describe)
        busy.append(time.perf_counter() - began)
        scored(len(chunk))

    with ThreadPoolExecutor(max_workers=workers) as pool:

        def score(rows: np.ndarray, size: int, calls: int) -> float:
            """Score `rows` in batches of `size`, `calls` at a time; the seconds the calls took, added up."""
            chunks, busy = [rows[i : i + size] for i in range(0, len(rows), size)], []
            if calls == 1 or len(chunks) == 1:
                for chunk in chunks:
                    score_one(chunk, busy)
            else:
                list(pool.map(lambda chunk: score_one(chunk, busy), chunks))
            return sum(busy)

        rest = _probe(tuner, todo, score) if tuner is not None and tuner.tuning else todo
        size, calls = tuner.chosen if tuner is not None else (model.batch, workers)
        score(rest, size, calls)
    if tuner is not None and (tuner.rounds or tuner.quick is not None):
        seconds = time.perf_counter() - started
        scores.batching = f"{tuner.describe()}; scored {len(todo)} inputs in {seconds:.3f} s ({seconds / len(todo) * 1e6:.1f} µs/input)"


def _probe(tuner: BatchTuner, todo: np.ndarray, score: Callable[[np.ndarray, int, int], float]) -> np.ndarray:
    """Score a warm-up, then time the tuner's candidates round by round, each round's slots
    side by side in a region of `todo`, the regions spread evenly over it; the rest of `todo`.
    A slot's time per input is its calls' seconds added up, over its inputs and the calls in
    parallel: not its wall time, which with a batch or two per worker waits for the last one
    (a straggler, on a busy machine) and so would count against the larger sizes."""
    probed = np.zeros(len(todo), dtype=bool)
    warmup = tuner.warmup_rows()
    tuner.warmed_up(score(todo[:warmup], *tuner.warmup_setting()), warmup)  # not a timing: the session's first allocations
    probed[:warmup] = True
    spacing = (len(todo) - warmup) // ROUNDS
    while tuner.tuning:
        start, timings = warmup + tuner.rounds * spacing, {}
        for setting in tuner.next_round():
            rows = todo[start : start + tuner.slot_rows(setting)]
            timings[setting] = score(rows, *setting) / max(1, len(rows)) / setting[1]
            probed[start : start + len(rows)] = True
            start += len(rows)
        tuner.record(timings)
    return todo[~probed]


def _indexable(table):
    """A model's input table as an array rows are taken from at once (the text table, a list, as objects)."""
    if not isinstance(table, list):
        return table
    texts = np.empty(len(table), dtype=object)
    texts[:] = table
    return texts


def _take(table: np.ndarray, rows: np.ndarray):
    """The inputs at `rows` as a back end takes them: texts as a list, images and table rows as an array."""
    return table[rows].tolist() if table.dtype == object and table.ndim == 1 else table[rows]


def _score_batch(scores: ModelScores, table, chunk: np.ndarray, name: str, describe) -> None:
    """Score one batch. A batch that fails is split in halves until the inputs that fail
    are found, so only the tests that need those inputs become errors."""
    if scores.gave_up:  # a dead or failing endpoint: do not spend every batch's retries on it
        scores.failed[chunk] = True
        return
    rows = np.concatenate([chunk, np.repeat(chunk[-1:], scores.min_rows - len(chunk))]) if len(chunk) < scores.min_rows else chunk
    batch = _take(table, rows)
    try:
        probs = np.asarray(scores.runner.predict(batch, split=False))  # the executor keeps `concurrency` calls in flight
        if probs.shape != (len(rows), scores.probs.shape[1]):
            raise ScoresShapeError(f"model `{name}` returned scores of shape {list(probs.shape)} for {len(rows)} inputs")
        probs = probs[: len(chunk)]
    except Exception as error:  # any back-end failure is reported on the tests it affects
        splittable = not isinstance(error, ScoresShapeError) and scores.runner.split_failed_batches
        if len(chunk) > 1 and splittable and scores.splits_left > 0:
            scores.splits_left -= 1
            middle = len(chunk) // 2
            _score_batch(scores, table, chunk[:middle], name, describe)
            _score_batch(scores, table, chunk[middle:], name, describe)
            return
        scores.failed[chunk] = True
        what = repr(describe(chunk[0])[:120]) if len(chunk) == 1 else f"a batch of {len(chunk)} inputs"
        scores.problems.append(f"model `{name}` failed on {what}: {first_line(error)}")
        if not scores.runner.split_failed_batches:
            scores.gave_up = first_line(error)
        return
    bad_rows = ~np.isfinite(probs).all(axis=1)
    if bad_rows.any():
        scores.failed[chunk[bad_rows]] = True
        example = describe(chunk[bad_rows][0])
        scores.problems.append(f"model `{name}` returned NaN or infinite scores for {int(bad_rows.sum())} inputs (first: {example[:80]!r})")
    scores.probs[chunk] = probs


# ------------------------------------------------------------------ one test


@dataclass(frozen=True)
class TestRun:
    """What a kind's `evaluate` hook gets: one test on one model, its scores and helpers."""

    __test__ = False  # not a pytest test class

    plan: Plan
    test: TestPlan
    model: ModelInfo | None  # None: a test that runs on no model (a data check)
    scores: ModelScores | None
    load: RunnerFactory  # loads another runner (a load test's endpoint with more connections)
    base: dict  # the TestResult fields every result of this test on this model carries

    @property
    def probs(self) -> np.ndarray:
        """Probabilities of every input of the model's table (rows by input id), labels as exposed."""
        return self.scores.probs

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.exposed_labels if self.model else ()

    @property
    def runner(self) -> ModelRunner:
        return self.scores.runner

    def describe(self, input_id: int) -> str:
        """An input of the test as reports show it."""
        return self.plan.describe(self.test.input_table, input_id)


def _test_result(plan: Plan, test: TestPlan, model: str, scores: ModelScores | None, load: RunnerFactory) -> TestResult:
    started = time.perf_counter()
    test_kind = kind(test.kind)
    base = _base(test, model)
    error = _error_for(test, scores)
    if error:
        result = TestResult(**base, status="ERROR", message=error, metrics={"cases": test.n_cases})
    else:
        try:
            result = test_kind.evaluate(TestRun(plan, test, plan.models.get(model), scores, load, base))
        except Exception as error:  # a fault of mlspec itself: this test is an ERROR, the run goes on
            message = f"mlspec failed on this test ({type(error).__name__}: {first_line(error)}); please report it"
            result = TestResult(**base, status="ERROR", message=message, metrics={"cases": test.n_cases})
    return with_figures(result).model_copy(update={"seconds": time.perf_counter() - started})


def _base(test: TestPlan, model: str) -> dict:
    """The TestResult fields of `test` on `model` that do not depend on how it went."""
    return dict(
        id=test.id if len(test.models) <= 1 else f"{test.id} [{model}]",
        title=test.title if len(test.models) <= 1 else f"{test.title} [{model}]",
        capability=test.capability,
        kind=test.kind,
        model=model,
        file=test.file,
        line=test.line,
        checks=[str(c) for c in (*test.checks, *test.slices, *(f"where original.{w}" for w in test.where))],
    )


def with_figures(result: TestResult) -> TestResult:
    """The result with what reports show of it as its kind says: `rated` and the `digest` line."""
    test_kind = kind(result.kind)
    return result.model_copy(update={"rated": test_kind.rated, "digest": test_kind.figures(result)})


def _error_for(test: TestPlan, scores: ModelScores | None) -> str | None:
    if test.error:
        return test.error
    if not test.models:
        return None
    if scores is None:
        return "model was not run"
    if scores.load_error:
        return scores.load_error
    if scores.failed[test.input_ids()].any():
        return "; ".join(dict.fromkeys(scores.problems)) or "model failed on some inputs"
    return None
