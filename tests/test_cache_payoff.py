"""The prediction cache stands aside for a model that scores faster than it looks up, and a
re-run of unchanged inputs reads them back in one piece; results are the same either way."""

from __future__ import annotations

import sqlite3

import numpy as np
from test_cache_shard_merge import Counter, results_json, run_cached, write_spec

from mlspec.cli import main
from mlspec.run import cache as cache_module
from mlspec.run.cache import Costs, PredictionCache
from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file
from runners import load_runner

SUITE = 164_771


def test_the_cache_stands_aside_only_when_loading_and_scoring_cost_less_than_lookups():
    near_free = Costs(load=0.02, score=0.4e-6, lookup=3e-6)
    assert near_free.stand_aside(SUITE)
    assert not near_free.stand_aside(1000)  # the load outweighs a short run's lookups
    assert not Costs(load=0.05, score=70e-6, lookup=3e-6).stand_aside(SUITE)  # a real model
    assert not Costs(load=0.02, score=None, lookup=3e-6).stand_aside(SUITE)  # not measured yet: look up
    assert not Costs(load=0.02, score=0.4e-6, lookup=None).stand_aside(SUITE)
    assert near_free.settled(Costs(load=0.025, score=0.5e-6, lookup=2.5e-6))  # about the same: not stored again
    assert not near_free.settled(Costs(load=0.02, score=0.4e-6)) and not near_free.settled(Costs(load=0.02, score=4e-6, lookup=3e-6))
    assert near_free.describe("m") == "cache: skipped for model `m` (loading 0.020 s + scoring 0.40 µs/input < lookup 3.00 µs/input)"


def forced_costly_lookups(monkeypatch) -> None:
    """Lookups estimated at a second each, and costs measured on any number of inputs."""
    monkeypatch.setattr(cache_module, "ROW_SECONDS", 1.0)
    monkeypatch.setattr(cache_module, "MIN_MEASURED_INPUTS", 1)


def test_a_skipped_cache_gives_the_results_of_a_used_one_and_of_none(tmp_path, monkeypatch):
    spec = write_spec(tmp_path)
    _, used_first, _ = run_cached(spec, tmp_path / "used")
    _, used_again, used = run_cached(spec, tmp_path / "used")
    assert used.hits == used.inputs > 0
    forced_costly_lookups(monkeypatch)
    plan, skipped_first, _ = run_cached(spec, tmp_path / "skipped")
    counter = Counter()
    _, skipped_again, skipped = run_cached(spec, tmp_path / "skipped", counter)
    assert skipped.inputs == skipped.hits == 0 and len(counter.seen) == len(plan.model_inputs("sentiment"))  # nothing looked up
    assert any(note.startswith("cache: skipped for model `sentiment` (loading") for note in skipped_again.notes)
    (database,) = (tmp_path / "skipped").glob("*.sqlite")
    with sqlite3.connect(database) as connection:  # only the costs were stored
        assert connection.execute("SELECT COUNT(*) FROM probs").fetchone()[0] == 0
        assert {name for (name,) in connection.execute("SELECT name FROM costs")} == {"load", "score", "lookup"}
    fresh = run_plan(plan, lambda model: load_runner(model, "cpu"))
    runs = [used_first, used_again, skipped_first, skipped_again, fresh]
    assert all(results_of(run) == results_of(fresh) for run in runs)  # only the notes differ


def results_of(result) -> list:
    return results_json(result)["specs"][0]["tests"]


def test_the_command_says_when_the_cache_stood_aside(tmp_path, monkeypatch, capsys):
    forced_costly_lookups(monkeypatch)
    spec = write_spec(tmp_path)
    errs = []
    for _ in range(2):
        assert main(["run", str(spec), "--device", "cpu", "--cache-dir", str(tmp_path / "cache")]) == 1
        errs.append(capsys.readouterr().err)
    assert all("cache: skipped for model `sentiment` (loading" in err for err in errs)
    assert "inputs from" not in errs[1]  # the second run looked nothing up (the first found an empty cache)


def test_a_re_run_reads_the_whole_request_back_and_equals_a_lookup_by_input(tmp_path):
    spec = write_spec(tmp_path)
    _, first, _ = run_cached(spec, tmp_path / "cache")
    counter = Counter()
    plan, whole, cache = run_cached(spec, tmp_path / "cache", counter)
    assert counter.calls == 0 and cache.hits == cache.inputs
    (database,) = (tmp_path / "cache").glob("*.sqlite")
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 1
        connection.execute("DELETE FROM requests")
    counter = Counter()
    _, by_input, cache = run_cached(spec, tmp_path / "cache", counter)
    assert counter.calls == 0 and cache.hits == cache.inputs
    assert results_json(first) == results_json(whole) == results_json(by_input)


def test_a_request_of_other_inputs_misses_the_whole_request_row(tmp_path):
    _, plan = plan_file(write_spec(tmp_path))
    model, ids = plan.models["sentiment"], plan.model_inputs("sentiment")
    cache = PredictionCache(tmp_path / "cache", "cpu")
    probs = np.random.default_rng(0).random((len(plan.inputs), 2)).astype(np.float32)
    view = cache.view(model, plan, ids)
    view.fill(np.full_like(probs, np.nan))
    view.save(probs, failed=np.zeros(len(probs), dtype=bool))
    part = ids[: len(ids) // 2]
    again = np.full_like(probs, np.nan)
    view = cache.view(model, plan, part)
    assert len(view.fill(again)) == 0 and not view.request_hit  # found input by input
    assert again[part].tobytes() == probs[part].tobytes()
    view = cache.view(model, plan, ids)
    whole = np.full_like(probs, np.nan)
    assert len(view.fill(whole)) == 0 and view.request_hit
    assert whole[ids].tobytes() == probs[ids].tobytes()
