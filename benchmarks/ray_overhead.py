"""Benchmark: what scoring on Ray actors (`mlspec run --ray`) costs against a local run.

In one process, on a local Ray cluster started here:

- the suite (default: CheckList's sentiment suite imported as by `make demo-checklist`, on the
  demo model card; `--spec` and `--model` for another) run locally and with `--ray-actors`
  actors (default 2), no prediction cache, medians of --repeat runs, their ratio, and
  whether the results are identical (apart from times and the batch tuner's notes);
- per-batch figures for a projection: the demo transformer's scoring time per input
  locally (one batch on one core, as the executor sends it), the same batch through one
  Ray actor, and the round trip of a batch of texts to an actor that only counts it.

A projection to N actors on their own cores: time ~ inputs x (per-input scoring + per-batch
overhead / batch size) / N, plus the cluster's and actors' start (printed).
Run: .venv/bin/python benchmarks/ray_overhead.py [--repeat 3] [--actors 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlspec.run.executor import run_plan  # noqa: E402
from mlspec.run.pipeline import plan_file  # noqa: E402
from runners import load_runner  # noqa: E402
from runners.ray_runner import RayRunner, connect, ray_loader  # noqa: E402

SUITE = REPO / "build/checklist/sentiment_suite.mlspec"
CARD = REPO / "specs/checklist/demo_model.mlspec"
TRANSFORMER = REPO / "specs/sentiment/model/transformer.mlspec"
SENTIMENT = REPO / "specs/sentiment/sentiment.mlspec"


def main() -> None:
    options = arguments()
    spec, models = suite(options)
    print(f"suite: {spec.name}, models {models or 'as declared'}; {options.actors} actors; medians of {options.repeat}")
    started = time.perf_counter()
    connect(None)
    print(f"local Ray cluster started in {time.perf_counter() - started:.1f} s")
    compare_runs(spec, models, options)
    per_batch(options)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--spec", help="a spec to run instead of CheckList's suite")
    parser.add_argument("--model", action="append", default=[], help="NAME=FILE, as `mlspec run --model`")
    parser.add_argument("--batch", type=int, default=64, help="batch of the per-batch figures")
    return parser.parse_args()


def suite(options) -> tuple[Path, dict[str, str] | None]:
    """The spec to run and its `--model` paths; CheckList's suite is imported when not yet built."""
    if options.spec:
        return Path(options.spec), dict(m.split("=", 1) for m in options.model) or None
    spec = SUITE
    if not spec.exists():
        out = Path(tempfile.mkdtemp(prefix="checklist-"))
        subprocess.run([sys.executable, "-m", "mlspec", "import", "checklist", str(REPO / "specs/checklist/sentiment_suite.json.gz"), "-o", str(out)], check=True)
        spec = out / "sentiment_suite.mlspec"
    return spec, {"sentiment": str(CARD)}


def compare_runs(spec: Path, models: dict[str, str] | None, options) -> None:
    _, plan = plan_file(spec, model_paths=models)
    local_load = lambda model: load_runner(model, "cpu")  # noqa: E731
    started = time.perf_counter()
    ray_load = ray_loader(None, actors=options.actors, device="cpu")
    for model in plan.models.values():
        ray_load(model)
    print(f"{options.actors} actors per model started and loaded their models in {time.perf_counter() - started:.1f} s")
    local_times, ray_times, results = [], [], {}
    for _ in range(options.repeat):
        for side, load, times in (("local", local_load, local_times), ("ray", ray_load, ray_times)):
            started = time.perf_counter()
            results[side] = run_plan(plan, load)
            times.append(time.perf_counter() - started)
    local, ray = statistics.median(local_times), statistics.median(ray_times)
    inputs = sum(len(plan.model_inputs(name)) for name in plan.models)
    print(f"run, local: {local:.2f} s   on Ray: {ray:.2f} s   ratio ray/local: {ray / local:.2f}   ({inputs} inputs scored)")
    print(f"  runs, local: {', '.join(f'{t:.2f}' for t in local_times)}; ray: {', '.join(f'{t:.2f}' for t in ray_times)}")
    same = without_times(results["local"]) == without_times(results["ray"])
    print(f"results identical (apart from seconds and the batch tuner's notes): {same}")
    for side in ("local", "ray"):
        for note in results[side].notes:
            print(f"  {side} note: {note[:160]}")
    ray_load.close()


def without_times(result) -> list:
    def strip(data):
        if isinstance(data, dict):
            return {key: strip(value) for key, value in data.items() if key != "seconds"}
        if isinstance(data, list):
            return [strip(value) for value in data]
        return data

    return strip(result.model_dump()["tests"])


def per_batch(options) -> None:
    """The transformer's scoring per input locally and through one actor, and a batch's round trip."""
    _, plan = plan_file(SENTIMENT, model_paths={"sentiment": str(TRANSFORMER)})
    model = plan.models["sentiment"]
    table = plan.table("text")
    texts = [table[i] for i in range(min(len(table), options.batch * 20))]
    batches = [texts[i : i + options.batch] for i in range(0, len(texts) - options.batch + 1, options.batch)]
    local = load_runner(model, "cpu")
    remote = RayRunner(model, "cpu", False, 1, 0.0)
    local_seconds = timed(lambda batch: local.predict(batch, split=False), batches)
    ray_seconds = timed(lambda batch: remote.predict(batch, split=False), batches)
    trip = round_trip(texts[: options.batch], 30)
    remote.release()
    size = sum(len(t.encode()) for t in texts[: options.batch])
    print(f"demo transformer, batches of {options.batch} texts ({size / options.batch:.0f} bytes a text), medians over {len(batches)} batches:")
    print(f"  local, one call on one core: {local_seconds * 1e3:.2f} ms a batch, {local_seconds / options.batch * 1e6:.0f} µs an input")
    print(f"  through one Ray actor:       {ray_seconds * 1e3:.2f} ms a batch, {ray_seconds / options.batch * 1e6:.0f} µs an input")
    print(f"  overhead a batch: {(ray_seconds - local_seconds) * 1e3:.2f} ms; round trip of the batch to an actor that only counts it: {trip * 1e3:.2f} ms")


def timed(call, batches: list) -> float:
    call(batches[0])  # warm-up
    times = []
    for batch in batches:
        started = time.perf_counter()
        call(batch)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def round_trip(batch: list, rounds: int) -> float:
    import ray

    counter = ray.remote(num_cpus=1)(Counter).remote()
    ray.get(counter.count.remote(batch))
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        ray.get(counter.count.remote(batch))
        times.append(time.perf_counter() - started)
    ray.kill(counter)
    return statistics.median(times)


class Counter:
    def count(self, batch) -> int:
        return len(batch)


if __name__ == "__main__":
    main()
