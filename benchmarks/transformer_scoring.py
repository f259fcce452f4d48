"""Benchmark: mlspec scoring a transformer against a plain loop over the same inputs.

The inputs are the distinct texts of the demo spec (`specs/sentiment/sentiment.mlspec`);
the model is the demo transformer's ONNX export with its WordPiece tokenizer
(`specs/sentiment/model/transformer.mlspec`). In one run, --repeat times each (medians):

- mlspec: the executor scoring the plan's inputs (`mlspec.run.executor`, no cache): texts
  ordered by token length, batches of `--batch`, each scored in groups of one length,
  one single-threaded session call per core in flight;
- plain loop: the tokenizer's `encode_batch` on batches of `--batch` texts in the plan's
  order, each padded to its longest text, `session.run` on each, with ONNX Runtime's own
  threads (every core) and the same single-threaded sessions side by side (the faster of
  the two is the baseline);
- padded to max_length: the plain loop with every batch padded to `--max-length` tokens,
  what a harness that pads to a fixed length pays.

Prints the seconds of each and the ratios. Run: .venv/bin/python benchmarks/transformer_scoring.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPEC = ROOT / "specs" / "sentiment" / "sentiment.mlspec"
CARD = ROOT / "specs" / "sentiment" / "model" / "transformer.mlspec"
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def plan_and_model():
    from mlspec.run.pipeline import plan_file

    _, plan = plan_file(str(SPEC), {"sentiment": str(CARD)})
    return plan, plan.models["sentiment"]


def time_mlspec(plan, model) -> float:
    from mlspec.run import executor
    from runners import load_runner

    started = time.perf_counter()
    scores = executor._score_model(plan, model, lambda m: load_runner(m, "cpu"))
    seconds = time.perf_counter() - started
    assert not scores.failed.any() and scores.load_error is None
    return seconds


def sessions(model, threads: int, count: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return [ort.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"]) for _ in range(count)]


def batches(tokenizer, texts: list[str], batch: int, pad_to: int | None) -> list[dict]:
    """The feeds of each batch: padded to its longest text, or to `pad_to` tokens."""
    feeds = []
    for start in range(0, len(texts), batch):
        encodings = tokenizer.encode_batch(texts[start : start + batch])
        width = pad_to or max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids[:width]
            mask[row, : len(encoding.ids)] = 1
        feeds.append({"input_ids": ids, "attention_mask": mask})
    return feeds


def time_loop(model, texts: list[str], batch: int, pad_to: int | None, threads: int, workers: int) -> float:
    """Tokenize and score every batch (tokenizing is timed: mlspec's time includes it)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(model.hf_tokenizer.json)
    if pad_to:
        tokenizer.enable_truncation(pad_to)
    runners = sessions(model, threads, workers)
    started = time.perf_counter()
    feeds = batches(tokenizer, texts, batch, pad_to)
    if workers == 1:
        for feed in feeds:
            runners[0].run(None, feed)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda item: runners[item[0] % workers].run(None, item[1]), enumerate(feeds)))
    return time.perf_counter() - started


def median(function, repeat: int) -> tuple[float, list[float]]:
    runs = [function() for _ in range(repeat)]
    return statistics.median(runs), runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=512, help="texts a call (the model card's batch)")
    parser.add_argument("--max-length", type=int, default=64, help="tokens every batch is padded to, for the padded loop")
    args = parser.parse_args()
    plan, model = plan_and_model()
    texts = [plan.inputs[i] for i in plan.model_inputs("sentiment")]
    print(f"{len(texts):,} distinct texts of {SPEC.relative_to(ROOT)}; model {model.path.name}, batch {args.batch}, {CORES} cores")
    mlspec, mlspec_runs = median(lambda: time_mlspec(plan, model), args.repeat)
    own_threads, own_runs = median(lambda: time_loop(model, texts, args.batch, None, 0, 1), args.repeat)
    side_by_side, side_runs = median(lambda: time_loop(model, texts, args.batch, None, 1, CORES), args.repeat)
    padded, padded_runs = median(lambda: time_loop(model, texts, args.batch, args.max_length, 1, CORES), args.repeat)
    baseline = min(own_threads, side_by_side)
    print(f"  mlspec (length groups)              {mlspec:7.3f} s  runs {', '.join(f'{r:.3f}' for r in mlspec_runs)}")
    print(f"  plain loop, ONNX Runtime's threads  {own_threads:7.3f} s  runs {', '.join(f'{r:.3f}' for r in own_runs)}")
    print(f"  plain loop, a session per core      {side_by_side:7.3f} s  runs {', '.join(f'{r:.3f}' for r in side_runs)}")
    print(f"  padded to {args.max_length} tokens, a session per core {padded:7.3f} s  runs {', '.join(f'{r:.3f}' for r in padded_runs)}")
    print(f"ratio mlspec / plain loop (the faster): {mlspec / baseline:.2f}x; padding to {args.max_length} costs {padded / side_by_side:.2f}x the loop padded per batch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
