"""Raw ONNX Runtime inference of the suite's inputs: the floor for any harness.

The inputs are the suite's distinct strings (every MFT string and every string of the
INV / DIR cases, first-seen order: 164,771 of 178,578 examples). They go straight to
`onnxruntime.InferenceSession.run` for a grid of batch sizes and thread settings
(intra_op_num_threads, and single-threaded calls run side by side, one per core);
only the `run` calls are timed: the session is created and the input arrays (numpy
object arrays, one per batch) are built once per setting, outside the timing.

On a slow model a full grid is costly, so `best_setting` first screens the grid on
`sample` inputs spread evenly over all of them (median of `repeat`), then times the `finalists` best settings on
all inputs (median of `repeat`) and reports the fastest; a model whose screened best
extrapolates to under CHEAP_SECONDS gets the whole grid on all inputs, as `--full-grid`
does. Run alone: .venv/bin/python benchmarks/raw_inference.py --models demo,constant
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import models

BATCHES = (32, 64, 256, 1024, 4096, None)  # None: all inputs in one call
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
# (intra_op_num_threads, calls in parallel): ONNX Runtime's own thread settings (0: its
# default), and one single-threaded call per core from a thread pool (what mlspec does).
SETTINGS = ((1, 1), (2, 1), (0, 1)) + (((1, CORES),) if CORES > 1 else ())
CHEAP_SECONDS = 2.0  # a model whose screened best extrapolates below this gets the full grid


@dataclass
class Timing:
    """Median seconds of one setting over `n` inputs."""

    batch: int | None
    threads: int
    workers: int
    n: int
    seconds: float
    runs: list[float]

    def setting(self) -> str:
        batch = "all" if self.batch is None else str(self.batch)
        parallel = f", {self.workers} calls in parallel" if self.workers > 1 else ""
        return f"batch {batch}, intra_op_num_threads {self.threads}{' (default)' if self.threads == 0 else ''}{parallel}"


def unique_texts(tests: list[dict]) -> list[str]:
    """Distinct strings of all tests' data, first-seen order."""
    seen: dict[str, None] = {}
    for test in tests:
        for case in test["data"]:
            for text in case if isinstance(case, list) else [case]:
                seen.setdefault(text, None)
    return list(seen)


def time_setting(path, texts: list[str], batch: int | None, threads: int, repeat: int, workers: int = 1) -> Timing:
    """Median over `repeat` passes of session.run over `texts` in batches of `batch`
    (`workers` calls at a time from a thread pool when above 1)."""
    sess = models.session(path, threads)
    output = models.probability_output(sess)
    name = sess.get_inputs()[0].name
    size = batch or len(texts)
    arrays = [models.text_batch(sess, texts[start : start + size]) for start in range(0, len(texts), size)]
    runs = []
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(repeat):
            started = time.perf_counter()
            if workers == 1:
                for array in arrays:
                    sess.run([output], {name: array})
            else:
                list(pool.map(lambda array: sess.run([output], {name: array}), arrays))
            runs.append(time.perf_counter() - started)
    return Timing(batch, threads, workers, len(texts), statistics.median(runs), runs)


def spread(texts: list[str], sample: int) -> list[str]:
    """`sample` texts taken evenly over all of them: the first ones of a suite are often its
    shortest, and would screen the settings on unrepresentative inputs."""
    step = max(1, len(texts) // sample)
    return texts[::step][:sample]


def grid(path, texts, batches, settings, repeat) -> list[Timing]:
    """Every (batch, threads, calls in parallel) setting, fastest first."""
    timings = [time_setting(path, texts, b, t, repeat, w) for b in batches for t, w in settings]
    return sorted(timings, key=lambda timing: timing.seconds)


def best_setting(
    model: models.BenchModel,
    texts,
    repeat=3,
    sample=16384,
    finalists=2,
    full_grid=False,
    log=print,
) -> tuple[Timing, list[Timing]]:
    """The fastest setting on all `texts` and the timings behind the choice."""
    batches = [b for b in BATCHES if model.max_batch is None or (b or len(texts)) <= model.max_batch]
    if full_grid or len(texts) <= sample:
        timings = grid(model.path, texts, batches, SETTINGS, repeat)
        return timings[0], timings
    screened = grid(model.path, spread(texts, sample), batches, SETTINGS, repeat)
    for timing in screened:
        log(f"  screen {timing.n:7d} inputs: {timing.seconds:8.3f} s  {timing.setting()}")
    if screened[0].seconds * len(texts) / sample < CHEAP_SECONDS:  # cheap model: time the whole grid
        timings = grid(model.path, texts, batches, SETTINGS, repeat)
        return timings[0], screened + timings
    final = sorted(
        (time_setting(model.path, texts, s.batch, s.threads, repeat, s.workers) for s in screened[:finalists]),
        key=lambda timing: timing.seconds,
    )
    return final[0], screened + final


def main() -> None:
    from checklist_reference import SUITE_JSON, load_tests

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="demo,constant")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=16384)
    parser.add_argument("--full-grid", action="store_true")
    args = parser.parse_args()
    texts = unique_texts(load_tests(SUITE_JSON))
    print(f"{len(texts)} distinct inputs")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models.split(","):
            model = models.bench_model(name, workdir)
            best, timings = best_setting(model, texts, args.repeat, args.sample, full_grid=args.full_grid)
            for timing in (t for t in timings if t.n == len(texts)):
                print(f"  {name}: {timing.n:7d} inputs: {timing.seconds:8.3f} s  {timing.setting()}")
            print(f"{name}: best {best.seconds:.3f} s ({best.setting()}, median of {args.repeat})")


if __name__ == "__main__":
    main()
