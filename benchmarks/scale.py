"""Benchmark: template expansion throughput, and the peak memory of a 1,000,000-case run.

- Expansion: `mlspec.compile.templates.expand` over the whole product of a five-placeholder
  template (2,000,000 cases), against the obvious hand-written generator (a str.format per
  case over itertools.product) measured in the same run; medians of --repeat.
- Memory: `mlspec run` (check, compile, score, evaluate, JUnit + JSON reports) of a spec
  whose one test has 1,000,000 cases, on a near-free ONNX model (models.py), in a fresh
  interpreter that reports its own peak resident memory; beside it, the peak of an
  interpreter that only imports mlspec and onnxruntime (the floor).

Run: .venv/bin/python benchmarks/scale.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import models

from mlspec.compile.templates import expand
from mlspec.language.checker import Placeholder

LEXICONS = {
    "name": [f"Name{i}" for i in range(50)],
    "verb": ["loved", "liked", "hated", "enjoyed", "praised", "disliked", "admired", "mocked", "saw", "missed"],
    "thing": ["flight", "seat", "crew", "pilot", "food", "service", "plane", "trip", "staff", "airline"],
    "adj": ["good", "great", "awful", "bad", "fine", "nice", "poor", "slow", "quick", "clean", "dirty", "late", "loud", "calm", "cold", "warm", "new", "old", "cheap", "rude"],
    "city": [f"City{i}" for i in range(20)],
}
TEMPLATE = "{name} {verb} the {adj} {thing} from {city}."
GOAL_CASES_PER_SECOND = 2_000_000
GOAL_PEAK_BYTES = 1.5 * 2**30


def placeholders(text: str) -> tuple[Placeholder, ...]:
    found, start = [], text.find("{")
    while start >= 0:
        end = text.index("}", start) + 1
        key = text[start + 1 : end - 1]
        found.append(Placeholder(key=key, lexicon=key, article=None, start=start, end=end))
        start = text.find("{", end)
    return tuple(found)


def time_expansion(repeat: int) -> tuple[int, float, float]:
    """(cases, median seconds of mlspec's expand, median seconds of a per-case format loop)."""
    parts = placeholders(TEMPLATE)
    total = int(np.prod([len(LEXICONS[p.lexicon]) for p in parts]))
    ours, naive = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        texts = expand(TEMPLATE, parts, LEXICONS, np.arange(total, dtype=np.int64)).texts
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        keys, lists = [p.key for p in parts], [LEXICONS[p.lexicon] for p in parts]
        reference = [TEMPLATE.format(**dict(zip(keys, values))) for values in itertools.product(*lists)]
        naive.append(time.perf_counter() - started)
        assert len(texts) == len(reference) == total and texts[-1] == reference[-1]
        del texts, reference
    return total, statistics.median(ours), statistics.median(naive)


# The peak is VmHWM, this process's own high-water mark (ru_maxrss would carry over the
# parent's from before exec).
MEASURE = """
import sys
from mlspec.cli import main
code = main(sys.argv[1:]) if len(sys.argv) > 1 else 0
import onnxruntime  # the floor imports what a run imports
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print("PEAK_KB", status, "EXIT", code, file=sys.stderr)
"""

MILLION_SPEC = """spec "million"
model m {{
  onnx "{model}"
  input text
  output probabilities labels [negative, neutral, positive]
}}
lexicon name = [{names}]
lexicon verb = [{verbs}]
lexicon thing = [{things}]
lexicon adj = [{adjs}]
capability "Scale" {{
  mft "a million cases" {{
    template "{{name}} {{verb}} the {{adj}} {{thing}} and the {{adj2}} {{thing2}}."
    expect label != negative
  }}
}}
"""


def quoted(values: list[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def peak_memory(workdir: Path) -> tuple[int, int, float]:
    """(peak KB of the 1M-case run, peak KB of the floor, seconds of the run)."""
    model = models.bench_model("constant", str(workdir))
    spec = workdir / "million.mlspec"
    names = [f"Name{i}" for i in range(5)]
    spec.write_text(
        MILLION_SPEC.format(model=model.path, names=quoted(names), verbs=quoted(LEXICONS["verb"][:5]), things=quoted(LEXICONS["thing"]), adjs=quoted(LEXICONS["adj"])),
        encoding="utf-8",
    )
    cases = len(names) * 5 * 20 * 10 * 20 * 10
    assert cases == 1_000_000, cases
    started = time.perf_counter()
    run = _measure(["run", str(spec), "--no-cache", "--junit", str(workdir / "m.xml"), "--json", str(workdir / "m.json")])
    seconds = time.perf_counter() - started
    return run, _measure([]), seconds


def _measure(arguments: list[str]) -> int:
    done = subprocess.run([sys.executable, "-c", MEASURE, *arguments], capture_output=True, text=True, check=False)
    line = next((line for line in done.stderr.splitlines() if line.startswith("PEAK_KB")), None)
    if line is None:
        raise SystemExit(f"the measured run failed:\n{done.stderr[-2000:]}")
    return int(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases, ours, naive = time_expansion(args.repeat)
    rate = cases / ours
    print(f"template expansion, {cases:,} cases of {TEMPLATE!r} (median of {args.repeat}):")
    print(f"  mlspec expand: {ours:.3f} s = {rate / 1e6:.2f} M cases/s (goal >= {GOAL_CASES_PER_SECOND / 1e6:.0f} M: {'met' if rate >= GOAL_CASES_PER_SECOND else 'NOT met'})")
    print(f"  str.format per case over itertools.product: {naive:.3f} s = {cases / naive / 1e6:.2f} M cases/s; ratio {naive / ours:.1f}x")
    with tempfile.TemporaryDirectory(prefix="mlspec-scale-") as tmp:
        runs = [peak_memory(Path(tmp)) for _ in range(args.repeat)]
    peak = statistics.median(r[0] for r in runs) * 1024
    floor = statistics.median(r[1] for r in runs) * 1024
    seconds = statistics.median(r[2] for r in runs)
    print(f"1,000,000-case run on a near-free model (median of {args.repeat}): {seconds:.2f} s end to end")
    print(
        f"  peak resident memory {peak / 2**20:.0f} MiB (goal <= {GOAL_PEAK_BYTES / 2**20:.0f} MiB: {'met' if peak <= GOAL_PEAK_BYTES else 'NOT met'}); "
        f"importing mlspec and onnxruntime alone: {floor / 2**20:.0f} MiB; the cases cost {(peak - floor) / 2**20:.0f} MiB, ratio {peak / floor:.1f}x the floor"
    )


if __name__ == "__main__":
    main()
