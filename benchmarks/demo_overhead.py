"""How much an `mlspec run` of the demo spec costs beyond the model's own inference.

Baseline, measured in the same process: ONNX Runtime scoring the plan's unique inputs
directly, in batches of the model's batch size. Prints medians of several repetitions
and their ratios. Run from the repository root:

    .venv/bin/python benchmarks/demo_overhead.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort

from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file

SPEC = "specs/sentiment/sentiment.mlspec"


def raw_inference(path: str, inputs: list[str], batch: int) -> float:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    started = time.perf_counter()
    for start in range(0, len(inputs), batch):
        chunk = np.array(inputs[start : start + batch], dtype=object).reshape(-1, 1)
        session.run(["probabilities"], {"text": chunk})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    compile_times, run_times, raw_times = [], [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        _, plan = plan_file(SPEC)
        compile_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        run_plan(plan)
        run_times.append(time.perf_counter() - started)
        model = plan.models["sentiment"]
        raw_times.append(raw_inference(str(model.path), plan.inputs, model.batch))
    raw, run, compiled = (statistics.median(t) for t in (raw_times, run_times, compile_times))
    examples = sum(t.n_examples for t in plan.tests)
    print(f"demo spec: {len(plan.tests)} tests, {examples} examples, {len(plan.inputs)} unique inputs")
    print(f"raw ONNX Runtime inference of the unique inputs: {raw:.3f} s (median of {args.repeat})")
    print(f"mlspec run stage (load model, score, evaluate):   {run:.3f} s  = {run / raw:.2f}x raw")
    print(f"mlspec parse + check + compile:                   {compiled:.3f} s")
    print(f"end to end (compile + run):                       {compiled + run:.3f} s  = {(compiled + run) / raw:.2f}x raw")


if __name__ == "__main__":
    main()
