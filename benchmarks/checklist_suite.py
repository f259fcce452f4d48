"""Benchmark: `mlspec run` vs raw ONNX Runtime vs CheckList on CheckList's sentiment suite.

The suite is CheckList's released sentiment suite (38 tests, 86,420 cases, 178,578
examples, 164,771 distinct strings; specs/checklist/sentiment_suite.json.gz).
For each model (models.py: `demo`, the committed binary sentiment model behind CheckList's
neutral band; `constant`, a near-free model, so the harnesses' own cost shows):

- raw: ONNX Runtime alone on the distinct strings, best of a grid of batch sizes and
  thread counts (raw_inference.py; inference calls only);
- CheckList end to end, in this process (checklist_reference.py): read the JSON, build
  the TestSuite, create the ONNX session, `suite.run` (prediction, in batches of
  --checklist-batch, and CheckList's scoring) and read each test's stats; --repeat times
  first, then once per round of the mlspec runs (the figures use those);
- mlspec end to end, as a subprocess of this interpreter (`python -m mlspec run SPEC
  --model sentiment=CARD --json --junit`: interpreter start, imports, the plan, scoring,
  evaluation, reports), three ways, interleaved: compiling the suite (`--no-cache`); the
  unchanged suite, its plan from the plan cache, scored afresh (`--no-prediction-cache`:
  a new model version in CI, the headline figure); and a re-run from both caches. Also
  its scoring time (its `batching` note) and its fixed costs (start-up, imports, reading
  the plan, reports: the run less its time from the plan to its results). The spec comes
  from `mlspec import checklist`, run once and timed apart; if the import is not
  available the mlspec side is skipped;
- the scoring part alone (`executor._score_model` in one interpreter: load and score, or
  the cache's lookups), without and with the cache, interleaved.

Prints medians of --repeat runs (default $BENCH_RUNS, else 5), ratios against the
baselines measured in the same run (CheckList / mlspec, mlspec / raw best, the caches'
re-run speed-up over a fresh run, and whether a re-run from the prediction cache is never
slower than scoring afresh), a summary beside issue 17's targets, and per test CheckList's (cases after filtering,
failing cases) beside mlspec's (applicable, failures), flagging mismatches.
Run from anywhere: .venv/bin/python benchmarks/checklist_suite.py [--repeat 5]
(`make bench`, or `BENCH_RUNS=3 make bench`; `make bench-setup` installs CheckList).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checklist_reference as reference
import models
import raw_inference

REPO = models.REPO
SIDES = ("raw", "checklist", "mlspec")
NOISE = 1.03  # a cached re-run within this of an uncached run counts as no slower


def header() -> None:
    """Interpreter, repository python and a one-line environment summary."""
    import onnxruntime

    print(f"python: {sys.executable} (repository venv: {REPO / '.venv' / 'bin' / 'python'})")
    print(
        f"env: {os.cpu_count()} CPUs, Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}, "
        f"checklist {metadata.version('checklist')}, numpy {metadata.version('numpy')}, {platform.platform()}"
    )
    print(f"importing CheckList (viewer stubbed) in a fresh interpreter: {checklist_import_seconds():.3f} s (in no figure below)")


def checklist_import_seconds() -> float:
    """Seconds to import checklist_reference (and so CheckList) in a new interpreter."""
    code = "import time; t = time.perf_counter(); import checklist_reference; print(time.perf_counter() - t)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip())


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_raw(model, texts, args) -> tuple[raw_inference.Timing, raw_inference.Timing]:
    """Best raw inference time (median of repeats) and its setting, printed; with the best
    setting of ONNX Runtime's own threads (one call at a time), which CheckList gets."""
    best, timings = raw_inference.best_setting(model, texts, args.repeat, args.raw_sample, full_grid=args.full_grid, log=print)
    for timing in (t for t in timings if t.n == len(texts)):
        print(f"  all    {timing.n:7d} inputs: {timing.seconds:8.3f} s  {timing.setting()}")
    serial = min((t for t in timings if t.workers == 1), key=lambda t: (t.n != len(texts), t.seconds))
    if serial.n != len(texts):
        serial = raw_inference.time_setting(model.path, texts, serial.batch, serial.threads, args.repeat)
    print(f"  raw ONNX Runtime, {best.n} distinct inputs: {best.seconds:.3f} s  ({best.setting()}; runs {fmt(best.runs)})")
    print(f"  raw ONNX Runtime, one call at a time: {serial.seconds:.3f} s  ({serial.setting()}; runs {fmt(serial.runs)})")
    return best, serial


def run_checklist(model, args, serial: raw_inference.Timing | None, quiet: bool = False) -> tuple[dict, float]:
    """CheckList end to end, `repeat` times (once if `quiet`, printing nothing); the last
    run's results and the median total. Its prediction function scores in the best
    one-call-at-a-time raw setting (batch size and ONNX Runtime threads), or in
    --checklist-batch texts a call."""
    batch = args.checklist_batch if args.checklist_batch >= 0 else (serial.batch if serial else 64)
    threads = serial.threads if serial else 0
    batch = batch or None
    load_model = lambda: partial(model.probs3, models.session(model.path, threads), batch=batch)
    clocks = []
    for _ in range(1 if quiet else args.repeat):
        results, clock = reference.end_to_end(load_model, args.suite)
        clocks.append(clock)
    parts = {part: median([c[part] for c in clocks]) for part in clocks[0]}
    if quiet:
        return results, parts["total"]
    print(
        f"  CheckList end to end: {parts['total']:.3f} s (runs {fmt([c['total'] for c in clocks])}): "
        f"read JSON {parts['load']:.3f}, build suite {parts['build']:.3f}, session {parts['model']:.3f}, "
        f"suite.run + stats {parts['run']:.3f} (of which prediction {parts['predict']:.3f}, "
        f"so CheckList's own work ~{parts['run'] - parts['predict']:.3f}); batch {batch or 'whole test'}, intra_op_num_threads {threads}"
    )
    return results, parts["total"]


def mlspec(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """`python -m mlspec ARGS` with this interpreter, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "mlspec", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )


def import_suite(suite: Path, out_dir: Path) -> Path | None:
    """`mlspec import checklist SUITE -o OUT_DIR` once; the spec written, or None."""
    started = time.perf_counter()
    done = mlspec("import", "checklist", str(suite), "-o", str(out_dir))
    seconds = time.perf_counter() - started
    specs = sorted(out_dir.glob("*.mlspec"))
    if done.returncode != 0 or not specs:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"mlspec import not available (exit {done.returncode}: {last}); the mlspec side is skipped")
        return None
    print(f"mlspec import checklist: {seconds:.3f} s (not in the figures below) -> {specs[0]}")
    return specs[0]


def run_mlspec(model, spec: Path, workdir: Path, repeat: int, raw_again=None, checklist_again=None) -> dict | None:
    """`mlspec run` end to end as a subprocess, `repeat` times each, interleaved so that all
    see the same load (a shared machine's load changes between phases):

    - `fresh`: `--no-cache`: parse, check and compile the suite, score every input;
    - `wall`: the unchanged suite (its plan from the plan cache) scored afresh
      (`--no-prediction-cache`): a CI job testing a new model version;
    - `cached`: a re-run from both caches, filled once before (after `wall`, or before it
      every other round);
    - one pass of the best raw setting (`raw_again`, seconds);
    - one CheckList run end to end (`checklist_again`, seconds), just before `wall`: the
      headline ratio is the median over the rounds of CheckList's time over mlspec's in
      the same round (`paired`), so a change of the machine's speed between rounds cancels.

    Then the scoring part alone (`scoring_part`). `floor` is an interpreter importing numpy
    and ONNX Runtime alone (`floor_seconds`), once a round. `fixed` is the unchanged suite's run less
    what it spent from the plan being ready to its results (the report's `seconds` less
    the plan's load): interpreter start, imports, reading the plan, writing the reports.
    Returns the figures (medians) and the last JSON report's {test title: (applicable,
    failures)} (None, None for a test that did not run)."""
    card = workdir / f"{model.name}.card.mlspec"
    card.write_text(model.card(), encoding="utf-8")
    out_json, cached_json = workdir / f"{model.name}.json", workdir / "cached.json"
    cache = workdir / f"cache-{model.name}"
    mlspec(*run_arguments(spec, card, cached_json), "--cache-dir", str(cache))  # fills both caches
    runs: dict[str, list[float]] = {"fresh": [], "wall": [], "cached": [], "fixed": [], "plan": [], "inside": [], "scoring": [], "raw": [], "checklist": [], "floor": []}
    def cached_run() -> None:
        started = time.perf_counter()
        mlspec(*run_arguments(spec, card, cached_json), "--cache-dir", str(cache))
        runs["cached"].append(time.perf_counter() - started)

    for number in range(repeat):
        cached_first = number % 2 == 1  # the two runs of the unchanged suite swap places every other round
        if cached_first:
            cached_run()
        for name, options in (("fresh", ("--no-cache",)), ("wall", ("--cache-dir", str(cache), "--no-prediction-cache"))):
            if name == "wall" and checklist_again:
                runs["checklist"].append(checklist_again())
            out_json.unlink(missing_ok=True)
            started = time.perf_counter()
            done = mlspec(*run_arguments(spec, card, out_json), "--junit", str(workdir / f"{model.name}.xml"), *options)
            runs[name].append(time.perf_counter() - started)
            # 0: all passed, 1: some model tests failed (expected), 3: some test could not run;
            # a report is written in each case. 2 (spec error) or a crash writes none.
            if done.returncode not in (0, 1, 3) or not out_json.exists():
                print(f"  mlspec run {' '.join(options)} failed (exit {done.returncode}):\n{tail(done.stdout + done.stderr)}")
                return None
        report = json.loads(out_json.read_text(encoding="utf-8"))
        plan = plan_seconds(report["specs"][0]["notes"])
        runs["plan"].append(plan)
        runs["inside"].append(report["seconds"])
        runs["fixed"].append(runs["wall"][-1] - report["seconds"] + plan)
        runs["scoring"] += [s for s in [scored_seconds(report["specs"][0]["notes"])] if s is not None]
        if not cached_first:
            cached_run()
        runs["floor"].append(floor_seconds())
        runs["raw"] += [raw_again()] if raw_again else []
    figures = {name: median(values) if values else None for name, values in runs.items()}
    figures["cache_paired"] = median([c / w for c, w in zip(runs["cached"], runs["wall"])])
    figures["raw_interleaved"] = figures.pop("raw")
    figures["checklist_interleaved"] = figures.pop("checklist")
    if raw_again:
        print(f"  raw best setting, interleaved with the mlspec runs: {figures['raw_interleaved']:.3f} s (runs {fmt(runs['raw'])})")
    if checklist_again:
        figures["paired"] = median([c / w for c, w in zip(runs["checklist"], runs["wall"])])
        print(
            f"  CheckList end to end, interleaved with the mlspec runs: {figures['checklist_interleaved']:.3f} s (runs {fmt(runs['checklist'])}); "
            f"CheckList / mlspec (unchanged suite, scored afresh) round by round: {fmt([c / w for c, w in zip(runs['checklist'], runs['wall'])])}"
        )
    print(f"  mlspec run, compiling the suite (--no-cache): {figures['fresh']:.3f} s (runs {fmt(runs['fresh'])})")
    print(
        f"  mlspec run of the unchanged suite, scored afresh (--no-prediction-cache): {figures['wall']:.3f} s (runs {fmt(runs['wall'])}); "
        f"its own report says {figures['inside']:.3f} s"
    )
    print(
        f"  mlspec fixed costs (start-up, imports, plan read from the cache, reports): {figures['fixed']:.3f} s (runs {fmt(runs['fixed'])}); "
        f"of which reading the plan {figures['plan']:.3f} s; the interpreter importing numpy and ONNX Runtime and nothing else "
        f"takes {figures['floor']:.3f} s (runs {fmt(runs['floor'])}), so mlspec's own share is {figures['fixed'] - figures['floor']:.3f} s"
    )
    if runs["scoring"]:
        print(f"  mlspec scoring (from its `batching` note): {figures['scoring']:.3f} s (runs {fmt(runs['scoring'])})")
    print(f"  mlspec re-run of the unchanged suite from both caches: {figures['cached']:.3f} s (runs {fmt(runs['cached'])})")
    notes = report["specs"][0]["notes"] + json.loads(cached_json.read_text(encoding="utf-8"))["specs"][0]["notes"]
    for note in dict.fromkeys(notes):
        print(f"    {note}")
    figures.update(scoring_part(spec, card, workdir, repeat))
    tests = report["specs"][0]["tests"]
    for test in tests:
        if test["status"] in ("ERROR", "SKIP"):
            print(f"  mlspec {test['status']} in {test['title']!r}: {tail(test['message'], 3)}")
    figures["results"] = {t["title"]: (t["metrics"].get("applicable"), t["metrics"].get("failures")) for t in tests}
    return figures


def floor_seconds() -> float:
    """A fresh interpreter that imports numpy and ONNX Runtime and exits: the part of any
    run's fixed costs that is not mlspec's (a figure of the machine's speed at the time)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import numpy, onnxruntime"], check=True)
    return time.perf_counter() - started


def plan_seconds(notes: list[str]) -> float:
    """A run's time to read its plan from the plan cache (its `plan:` note)."""
    for note in notes:
        found = re.search(r"^plan: read from the plan cache in ([0-9.]+) s", note)
        if found:
            return float(found.group(1))
    raise SystemExit(f"the run did not read its plan from the plan cache: {notes}")


def run_arguments(spec: Path, card: Path, out_json: Path) -> tuple[str, ...]:
    return ("run", str(spec), "--model", f"sentiment={card}", "--json", str(out_json), "--allow-path", str(REPO))  # the demo model


def scored_seconds(notes: list[str]) -> float | None:
    """A run's scoring time, from its note on the measured batch size (`scored N inputs in X s`)."""
    for note in notes:
        found = re.search(r"scored \d+ inputs in ([0-9.]+) s", note)
        if found:
            return float(found.group(1))
    return None


# The scoring part alone, in one interpreter: `executor._score_model` (load included) without
# the cache and from it (lookups only), interleaved. Prints one JSON object of seconds.
SCORING_PART = """
import json, sys, time
from mlspec.run import executor
from mlspec.run.cache import PredictionCache
from mlspec.run.pipeline import plan_file
spec, card, folder, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
_, plan = plan_file(spec, {"sentiment": card}, allowed=[sys.argv[5]])
model, progress = plan.models["sentiment"], executor.Progress()
def timed(cache):
    started = time.perf_counter()
    executor._score_model(plan, model, executor.load_runner, cache, progress)
    return time.perf_counter() - started
timed(PredictionCache(folder))  # fills the cache
fresh, cached = [], []
for _ in range(repeat):
    fresh.append(timed(None))
    cached.append(timed(PredictionCache(folder)))
print(json.dumps({"fresh": fresh, "cached": cached}))
"""


def scoring_part(spec: Path, card: Path, workdir: Path, repeat: int) -> dict:
    """Medians of the scoring part alone (SCORING_PART): without the cache and from it."""
    folder = workdir / f"scoring-cache-{card.stem}"
    command = [sys.executable, "-c", SCORING_PART, str(spec), str(card), str(folder), str(repeat), str(REPO)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"  scoring part failed:\n{tail(done.stderr)}")
        return {}
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    fresh, cached = median(runs["fresh"]), median(runs["cached"])
    print(
        f"  scoring part alone (load + score, or the cache's lookups): without the cache {fresh:.3f} s (runs {fmt(runs['fresh'])}), "
        f"from it {cached:.3f} s (runs {fmt(runs['cached'])})"
    )
    return {"part_fresh": fresh, "part_cached": cached}


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def compare(checklist: dict, mlspec_results: dict | None) -> int:
    """Per-test table of CheckList's figures beside mlspec's; the number of mismatches."""
    mismatches = 0
    print(f"  {'test':<58} {'CheckList':>15} {'mlspec':>15}")
    print(f"  {'':<58} {'cases  fails':>15} {'cases  fails':>15}")
    for name, (cases, fails) in checklist.items():
        theirs = (mlspec_results or {}).get(name)
        flag = ""
        if mlspec_results is not None and theirs != (cases, fails):
            flag, mismatches = "  MISMATCH", mismatches + 1
        right = f"{theirs[0]:>6} {theirs[1]:>7}" if theirs else f"{'-':>15}"
        print(f"  {name[:58]:<58} {cases:>6} {fails:>7}  {right}{flag}")
    for name in sorted(set(mlspec_results or {}) - set(checklist)):
        print(f"  {name[:58]:<58} {'-':>15} {mlspec_results[name]!s:>15}  MISMATCH (not in CheckList)")
        mismatches += 1
    return mismatches


def profile_checklist(model, args, top: int = 10) -> None:
    """cProfile of CheckList's suite.run (with stats) on `model`: top cumulative entries."""
    suite = reference.build_suite(reference.load_tests(args.suite))
    predictor = reference.softmax_predictor(partial(model.probs3, models.session(model.path), batch=args.checklist_batch if args.checklist_batch > 0 else 64))
    profiler = cProfile.Profile()
    profiler.runcall(reference.run_suite, suite, predictor)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(f"cProfile of CheckList's suite.run on `{model.name}`, top {top} by cumulative time:")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def bench_one(name: str, texts: list[str], spec: Path | None, workdir: Path, args) -> dict:
    """All sides for one model, then its ratios and per-test comparison; the figures (medians)."""
    model = models.bench_model(name, workdir)
    print(f"\n== model {name}: {model.path}")
    best, serial = run_raw(model, texts, args) if "raw" in args.sides else (None, None)
    raw = best.seconds if best else None
    checklist_results, checklist_time = run_checklist(model, args, serial) if "checklist" in args.sides else ({}, None)
    raw_again = (lambda: raw_inference.time_setting(model.path, texts, best.batch, best.threads, 1, best.workers).seconds) if best else None
    checklist_again = (lambda: run_checklist(model, args, serial, quiet=True)[1]) if checklist_results else None
    figures = (run_mlspec(model, spec, workdir, args.repeat, raw_again, checklist_again) if spec and "mlspec" in args.sides else None) or {}
    figures.update(raw=figures.get("raw_interleaved") or raw, checklist=figures.get("checklist_interleaved") or checklist_time)
    raw, checklist_time = figures["raw"], figures["checklist"]
    wall, scoring = figures.get("wall"), figures.get("scoring")
    print(f"  medians of {args.repeat}: raw {show(raw)}, CheckList {show(checklist_time)}, mlspec {show(wall)} (scoring {show(scoring)})")
    print(
        f"  ratios: CheckList / mlspec {ratio(checklist_time, wall)}, round by round {times(figures.get('paired'))} "
        f"(compiling the suite: {ratio(checklist_time, figures.get('fresh'))}), "
        f"mlspec scoring / raw best {ratio(scoring, raw)}, mlspec / raw best {ratio(wall, raw)}, "
        f"mlspec / raw one call at a time {ratio(wall, serial.seconds if serial else None)}, CheckList / raw best {ratio(checklist_time, raw)}"
    )
    if "cached" in figures:
        print(
            f"  cache: a re-run of the unchanged suite is {ratio(figures['fresh'], figures['cached'])} faster than a fresh run "
            f"({ratio(figures['wall'], figures['cached'])} than one scoring afresh; scoring part alone "
            f"{ratio(figures.get('part_fresh'), figures.get('part_cached'))}); {never_slower(figures)}"
        )
    if checklist_results:
        mismatches = compare(checklist_results, figures.get("results"))
        if figures.get("results") is not None:
            print(f"  {mismatches} mismatching test(s)" if mismatches else "  all 38 tests agree")
    if args.profile:
        profile_checklist(model, args)
    return figures


def never_slower(figures: dict) -> str:
    """Whether the re-run from the prediction cache was no slower than the same run scoring
    afresh (both with the plan from the plan cache): the median over the rounds of their
    ratio in the same round, within NOISE."""
    verdict = "ok" if figures["cache_paired"] <= NOISE else "SLOWER"
    return (
        f"with / without the prediction cache {figures['cache_paired']:.2f}x round by round "
        f"({figures['cached'] / figures['wall']:.2f}x of the medians): {verdict} (never slower, {NOISE - 1:.0%} noise allowed)"
    )


def summary(results: dict[str, dict], repeat: int) -> None:
    """The headline figures of every model, medians of `repeat` runs measured in this run,
    beside the targets of issue 17."""
    print(f"\n== summary (medians of {repeat})")
    for name, figures in results.items():
        paired = f", round by round {times(figures['paired'])}" if figures.get("paired") else ""
        parts = [f"CheckList / mlspec {ratio(figures.get('checklist'), figures.get('wall'))}{paired}" + (" (target >= 5x)" if name == "constant" else "")]
        if name == "constant" and figures.get("fixed") is not None:
            parts.append(f"fixed costs {figures['fixed']:.3f} s (target <= 0.3 s; numpy and ONNX Runtime alone {figures['floor']:.3f} s)")
        if name == "demo":
            parts.append(f"mlspec scoring / raw best {ratio(figures.get('scoring'), figures.get('raw'))}")
            parts.append(f"mlspec / raw best {ratio(figures.get('wall'), figures.get('raw'))} (target <= 1.10x)")
        if "cached" in figures:
            parts.append(f"re-run from the caches {ratio(figures['fresh'], figures['cached'])} faster than a fresh run" + (" (target >= 20x)" if name == "demo" else ""))
            parts.append(never_slower(figures))
        print(f"  {name}: " + "; ".join(parts))


def show(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f} s"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else times(a / b)


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat",
        type=int,
        default=int(os.environ.get("BENCH_RUNS", "5")),
        help="runs per measurement; medians are reported (default: $BENCH_RUNS, else 5)",
    )
    parser.add_argument("--models", default="demo,constant", help="comma-separated: demo, constant")
    parser.add_argument(
        "--sides",
        default=",".join(SIDES),
        help="comma-separated: raw, checklist, mlspec (default all)",
    )
    parser.add_argument("--suite", type=Path, default=reference.SUITE_JSON)
    parser.add_argument(
        "--checklist-batch",
        type=int,
        default=-1,
        help="texts per model call in CheckList's pred_and_conf; 0: a whole test per call (default: the best raw batch size of one call at a time)",
    )
    parser.add_argument(
        "--raw-sample",
        type=int,
        default=16384,
        help="inputs the raw grid is screened on (default 16384)",
    )
    parser.add_argument("--full-grid", action="store_true", help="time every raw setting on all inputs")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile CheckList's suite.run per model",
    )
    args = parser.parse_args()
    args.sides = set(args.sides.split(","))
    return args


def main() -> None:
    args = parse_args()
    header()
    texts = raw_inference.unique_texts(reference.load_tests(args.suite))
    print(f"suite: {args.suite} ({len(texts)} distinct inputs)")
    with tempfile.TemporaryDirectory(prefix="mlspec-bench-") as tmp:
        workdir = Path(tmp)
        spec = import_suite(args.suite, workdir / "suite") if "mlspec" in args.sides else None
        results = {name: bench_one(name, texts, spec, workdir, args) for name in args.models.split(",")}
    summary(results, args.repeat)


if __name__ == "__main__":
    main()
