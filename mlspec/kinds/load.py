"""`load`: latency and errors of a model under concurrent requests.

`concurrency` workers send one input per request, cycling through the test's inputs,
until `requests` have been sent or `duration` has passed (whichever comes first; a load
test is always bounded in count and time). Each request's latency and outcome are
recorded; the figures are:

- p50_latency, p95_latency, p99_latency, mean_latency, max_latency: over all requests
  (failed ones included: a timeout costs its time), in seconds, shown in ms;
- throughput: requests completed per second of wall time;
- error_rate: failed requests over requests sent.

A test in which every request failed (a server that is down, or answers nothing but
errors) measured nothing: it is an ERROR with the first failure's reason, not a FAIL.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlspec.compile.plan import MetricCheck, Payload, TestPlan
from mlspec.errors import did_you_mean, first_line, quoted
from mlspec.language.kinds import TestKind, deferred, register
from mlspec.model import MAX_CONCURRENCY, ModelInfo
from mlspec.results import TestResult, format_percent
from mlspec.run.executor import RunnerFactory
from mlspec.run.expectations import COMPARE, negate

ast = deferred("mlspec.language.ast")  # the check and compile hooks' node types: a run from a cached plan needs none

if TYPE_CHECKING:  # the hooks' arguments
    from mlspec.compile.compiler import TestCompiler
    from mlspec.language.checker import TestChecker

LATENCIES = ("p50_latency", "p95_latency", "p99_latency", "mean_latency", "max_latency")
SAFETY_SECONDS = 600  # no load test runs longer, whatever it asks for
# What each figure measures, and the thresholds it takes.
METRICS = {
    "p50_latency": "duration",
    "p95_latency": "duration",
    "p99_latency": "duration",
    "mean_latency": "duration",
    "max_latency": "duration",
    "throughput": "rate",  # requests per second
    "error_rate": "fraction",
}
MAX_REQUESTS = 100_000
MAX_SECONDS = 600
REQUEST_COST = 10  # a request, in scored inputs (one round trip each), for shards
SECOND_COST = 10_000  # a second of a `duration` test, in scored inputs


@dataclass(frozen=True)
class LoadPlan(Payload):
    """A load test: how many requests (or for how long), and how many in flight at once."""

    requests: int | None
    seconds: float | None
    concurrency: int
    scores_inputs = False  # it sends its own requests, not the batched pass

    def __str__(self) -> str:
        parts = ([f"{self.requests} requests"] if self.requests else []) + ([f"up to {self.seconds:g}s"] if self.seconds else [])
        return " or ".join(parts) + f", {self.concurrency} at once"

    def summary(self) -> str:
        return str(self)


class Load(TestKind):
    keyword = "load"
    statements = frozenset({"source", "sample", "requests", "duration", "concurrency", "expects"})
    needs_cases = False  # it says itself that it takes its inputs `from` a dataset
    calls_model = True

    def check(self, checker: TestChecker, placeholders) -> None:
        """Requests (or a duration) at a concurrency, and expectations on latency and errors."""
        test = checker.test
        if not test.source:
            checker.error(f"load test {quoted(test.title)} takes its requests' inputs `from` a dataset", test.title_span)
        if not test.requests and not test.duration:
            checker.error(f"load test {quoted(test.title)} needs `requests N` or `duration D` (or both: it stops at the first)", test.title_span)
        if test.requests:
            checker.integer(test.requests, "requests", minimum=1, maximum=MAX_REQUESTS)
        if test.duration and (not test.duration.duration or not 0 < test.duration.value <= MAX_SECONDS):
            checker.error(f"duration takes a time up to {MAX_SECONDS}s, such as 10s, not {test.duration.shown}", test.duration.span)
        if test.concurrency:
            checker.integer(test.concurrency, "concurrency", minimum=1, maximum=MAX_CONCURRENCY)
        if not test.expects:
            checker.error(f"load test {quoted(test.title)} has no expectation", test.title_span, "for example `expect p95_latency <= 50ms`")
        for expect in test.expects:
            _check_expectation(checker, expect)

    def cases(self, compiler: TestCompiler) -> dict:
        ids, _ = compiler.labelled_inputs()
        decl = compiler.decl
        http = compiler.models[0].http if compiler.models else None
        plan = LoadPlan(
            requests=decl.requests.whole() if decl.requests else None,  # checked: from 1 to MAX_REQUESTS
            seconds=decl.duration.value if decl.duration else None,
            concurrency=decl.concurrency.whole() if decl.concurrency else (http.concurrency if http else 1),
        )
        return dict(inputs=ids, payload=plan)

    def evaluate(self, run) -> TestResult:
        table = run.plan.table(run.test.input_table)
        inputs = table[run.test.inputs] if isinstance(table, np.ndarray) else [table[i] for i in run.test.inputs]
        runner = _load_runner(run.model, run.runner, run.test.payload.concurrency, run.load)
        return load_result(run.base, run.test, runner, inputs)

    def shard_cost(self, test: TestPlan) -> int:
        plan: LoadPlan = test.payload
        return plan.requests * REQUEST_COST if plan.requests else int((plan.seconds or 1) * SECOND_COST)

    def figures(self, result: TestResult) -> str:
        """`300 requests, p50 0.1ms p95 0.6ms p99 12ms, 5941/s, 0.0% errors`."""
        if result.status == "ERROR":
            return ""
        metrics = result.metrics
        if not metrics.get("requests"):
            return "no request sent"
        latencies = " ".join(f"{name.split('_')[0]} {metrics[name] * 1000:.3g}ms" for name in ("p50_latency", "p95_latency", "p99_latency"))
        return f"{metrics['requests']} requests, {latencies}, {metrics['throughput']:.4g}/s, {format_percent(metrics['error_rate'])} errors"


def _check_expectation(checker: TestChecker, expect) -> None:
    kind = METRICS.get(expect.metric.value) if isinstance(expect, ast.MetricExpect) else None
    if kind is None:
        hint = did_you_mean(expect.metric.value, METRICS) if isinstance(expect, ast.MetricExpect) else None
        checker.error("a load test expects " + ", ".join(METRICS), expect.span, hint)
    elif kind == "duration" and not expect.value.duration:
        checker.error(f"`{expect.metric.value}` is a time: write it with a unit, e.g. 50ms or 2s", expect.value.span)
    elif kind == "fraction":
        checker.fraction(expect.value, expect.metric.value)
    elif kind == "rate" and (expect.value.duration or expect.value.percent):
        checker.error("`throughput` counts requests per second: a plain number", expect.value.span)
    else:
        checker.finite(expect.value, expect.metric.value)
    if kind is not None and expect.at_name is not None:
        checker.error("`at` names a point of an attack's eps sweep; a load test has none", expect.at_name.span, "drop the `at ...`")


def _load_runner(model: ModelInfo, runner, concurrency: int, load: RunnerFactory):
    """The runner a load test sends through: an endpoint's own, with room for the test's workers."""
    if model.http is None or concurrency <= model.http.concurrency:
        return runner
    return load(dataclasses.replace(model, http=dataclasses.replace(model.http, concurrency=concurrency)))


def load_result(base: dict, test: TestPlan, runner, inputs) -> TestResult:
    """Send the test's requests to `runner` and judge the figures. `inputs`: the test's inputs."""
    plan: LoadPlan = test.payload
    latencies, errors, first_error, seconds = _send(runner, inputs, plan.requests, plan.seconds, plan.concurrency)
    metrics = _figures(latencies, errors, seconds)
    verdicts = [(check, metrics.get(check.metric)) for check in test.checks]
    oks = [value is not None and bool(COMPARE[check.op](value, check.value)) for check, value in verdicts]
    message = " ".join(_against(check, value, ok) for (check, value), ok in zip(verdicts, oks))
    if first_error:
        message += f" (first error: {first_error})"
    if not latencies.size:
        return TestResult(**base, status="ERROR", message=f"no request was sent ({message})", metrics=metrics)
    if errors.all():  # a server that is down or fails every request: nothing was measured
        return TestResult(**base, status="ERROR", message=f"every one of {latencies.size} requests failed: {first_error}", metrics=metrics)
    return TestResult(**base, status="PASS" if all(oks) else "FAIL", message=message, metrics=metrics)


def _send(runner, inputs, requests: int | None, seconds: float | None, concurrency: int):
    """Run the workers; return per-request latencies, failure flags, the first error and the wall time."""
    total = requests or 10**9
    deadline = time.perf_counter() + min(seconds or SAFETY_SECONDS, SAFETY_SECONDS)
    lock = threading.Lock()
    taken = [0]
    records: list[tuple[float, bool]] = []
    first_error: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                index = taken[0]
                if index >= total or time.perf_counter() >= deadline:
                    return
                taken[0] += 1
            request = inputs[index % len(inputs) : index % len(inputs) + 1]
            started = time.perf_counter()
            try:
                runner.predict(request)
                failed = False
            except Exception as error:  # a failed request is a figure of the test, not a crash
                failed = True
                with lock:
                    first_error[:1] = first_error[:1] or [first_line(error)]
            with lock:
                records.append((time.perf_counter() - started, failed))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(concurrency, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies = np.array([r[0] for r in records], dtype=np.float64)
    errors = np.array([r[1] for r in records], dtype=bool)
    return latencies, errors, (first_error[0] if first_error else None), wall


def _figures(latencies: np.ndarray, errors: np.ndarray, wall: float) -> dict[str, float | int | None]:
    if not latencies.size:
        return {"requests": 0, "errors": 0, "error_rate": None, "throughput": None, **{name: None for name in LATENCIES}}
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {
        "requests": int(latencies.size),
        "errors": int(errors.sum()),
        "error_rate": float(errors.mean()),
        "throughput": float((~errors).sum() / wall) if wall > 0 else None,
        "p50_latency": float(p50),
        "p95_latency": float(p95),
        "p99_latency": float(p99),
        "mean_latency": float(latencies.mean()),
        "max_latency": float(latencies.max()),
    }


def _against(check: MetricCheck, value: float | None, ok: bool) -> str:
    """`p95_latency=12.3ms <= 50ms`: latencies in milliseconds, rates as percentages."""
    def shown(number: float) -> str:
        if check.metric in LATENCIES:
            return f"{number * 1000:.4g}ms"
        return f"{number * 100:.4g}%" if check.metric == "error_rate" else f"{number:.4g}"

    if value is None:
        return f"{check.metric}=undefined, expected {check.op} {shown(check.value)}"
    relation = check.op if ok else negate(check.op)
    return f"{check.metric}={shown(value)} {relation} {shown(check.value)}"


register(Load())
