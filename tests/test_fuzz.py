"""A seeded, time-bounded fuzz of `mlspec check` and `mlspec fmt` (the engine: tests/fuzz/nightly.py).

Two thousand generated and mutated specs (numbers huge, tiny, negative or NaN-like; lists
nested deep; NUL, U+2028, surrogates, right-to-left marks; CRLF, tabs; odd paths;
truncated and byte-flipped demo specs) go through `check --no-models` and `fmt --check`
in this process. None may end in a traceback; each exits 0 or 2 (`fmt --check`: 1 too),
and an exit 2 says where the problem is. The nightly run is the same with more cases:

    python tests/fuzz/nightly.py --count 100000 --seed N
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = 2000
SEED = 20240611
BUDGET_SECONDS = 45  # the cases left when time is up are not run (a slow machine runs fewer)


def _engine():
    spec = importlib.util.spec_from_file_location("mlspec_fuzz_nightly", ROOT / "tests" / "fuzz" / "nightly.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def engine():
    return _engine()


def test_the_fuzz_finds_no_traceback(engine, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = engine.fuzz(SEED, CASES, tmp_path, limit=20, budget=BUDGET_SECONDS)
    shown = [f"{label}: mlspec {' '.join(o.argv[:-1])}: {o.problem}\n  input: {data[:300]!r}\n{o.stderr[-800:]}" for label, o, data in report.problems[:5]]
    assert not report.problems, f"{len(report.problems)} problems in {report.runs} runs; the first:\n" + "\n".join(shown)
    assert report.runs >= 1000, f"only {report.runs} runs in {BUDGET_SECONDS}s"
    # the specs reach every outcome: accepted, refused, and formatted
    for outcome in [("check", 0), ("check", 2), ("fmt", 0), ("fmt", 1), ("fmt", 2)]:
        assert report.statuses.get(outcome, 0) > 0, report.statuses


def test_the_cases_are_the_same_for_the_same_seed(engine):
    seeds = engine.load_seeds()
    assert len(seeds) >= 10
    first = [(c.label, c.data) for c in engine.cases(5, 200, seeds)]
    assert first == [(c.label, c.data) for c in engine.cases(5, 200, seeds)]
    assert first != [(c.label, c.data) for c in engine.cases(6, 200, seeds)]


def test_the_judge_catches_what_it_looks_for(engine, tmp_path):
    """A traceback, an exit status other than 0 and 2, and an error without a place are each reported."""
    path = str(tmp_path / "x.mlspec")
    outcome = engine.Outcome
    assert engine.judge(outcome(["check", path], RecursionError("deep"), "", "", 0.0)).startswith("RecursionError")
    assert engine.judge(outcome(["check", path], 1, "", "", 0.0)) == "exit status 1"
    assert engine.judge(outcome(["fmt", "--check", path], 1, "", "", 0.0)) is None
    assert engine.judge(outcome(["check", path], 2, "", "error: something\n", 0.0)) == "an error without a place: error: something"
    assert engine.judge(outcome(["check", path], 2, "", f"{path}:3:4: error: something\n", 0.0)) is None
    assert engine.judge(outcome(["check", path], 2, "", f"error: {path} is not UTF-8 text (byte 3)\n", 0.0)) is None


def test_the_nightly_script_runs(engine, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLSPEC_ALLOW_PATH", os.environ.get("MLSPEC_ALLOW_PATH", ""))  # the script sets it: put it back after
    assert engine.main(["--count", "30", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "30 cases (seed 3), 60 runs" in out and "tracebacks: 0; other problems: 0" in out
