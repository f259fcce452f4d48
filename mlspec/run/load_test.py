"""Running a load test on one model: latency and errors under concurrent requests.

`concurrency` workers send one input per request, cycling through the test's inputs,
until `requests` have been sent or `duration` has passed (whichever comes first; a load
test is always bounded in count and time). Each request's latency and outcome are
recorded; the figures are:

- p50_latency, p95_latency, p99_latency, mean_latency, max_latency: over all requests
  (failed ones included: a timeout costs its time), in seconds, shown in ms;
- throughput: requests completed per second of wall time;
- error_rate: failed requests over requests sent.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from mlspec.compile.plan import MetricCheck, TestPlan
from mlspec.errors import first_line
from mlspec.results import TestResult
from mlspec.run.expectations import COMPARE, negate

LATENCIES = ("p50_latency", "p95_latency", "p99_latency", "mean_latency", "max_latency")
SAFETY_SECONDS = 600  # no load test runs longer, whatever it asks for


def load_result(base: dict, test: TestPlan, runner, inputs) -> TestResult:
    """Send the test's requests to `runner` and judge the figures. `inputs`: the test's inputs."""
    plan = test.load
    latencies, errors, first_error, seconds = _send(runner, inputs, plan.requests, plan.seconds, plan.concurrency)
    metrics = _figures(latencies, errors, seconds)
    verdicts = [(check, metrics.get(check.metric)) for check in test.checks]
    oks = [value is not None and bool(COMPARE[check.op](value, check.value)) for check, value in verdicts]
    message = " ".join(_against(check, value, ok) for (check, value), ok in zip(verdicts, oks))
    if first_error:
        message += f" (first error: {first_error})"
    if not latencies.size:
        return TestResult(**base, status="ERROR", message=f"no request was sent ({message})", metrics=metrics)
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
