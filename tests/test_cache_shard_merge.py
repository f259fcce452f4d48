"""Incremental and parallel runs: the prediction cache, `run --shard I/N` and `mlspec merge`.

Small specs in tmp_path run the committed demo ONNX model (by absolute path), so each
run takes a fraction of a second; the shard assignment is checked on the demo spec's plan.
"""

import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path

import junitparser
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from spec_helpers import without_times

from mlspec.cli import main
from mlspec.report import json_report, write_json
from mlspec.results import RunResult, SpecResult, TestResult
from mlspec.run import shard
from mlspec.run.cache import PredictionCache, cache_directory, input_keys
from mlspec.run.executor import run_plan
from mlspec.run.merge import load_result, merge_results
from mlspec.run.pipeline import plan_file
from runners import load_runner

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "specs/sentiment/model/sentiment.onnx"
DEMO = ROOT / "specs/sentiment/sentiment.mlspec"

SPEC = """\
spec "small" seed 1

model sentiment {
  onnx "MODEL"
  input text
  output probabilities labels [negative, positive]
  batch 16
}

lexicon pos_adj = ["good", "great", "excellent", "amazing"]
lexicon neg_adj = ["bad", "terrible", "awful", "boring"]
lexicon thing = ["movie", "film", "plot", "cast", "story"]
lexicon person = ["Alice", "Bob", "Chen", "Dara"]

capability "Vocabulary" {
  mft "positive adjectives" {
    template "The {thing} was {pos_adj}."
    expect label == positive
    max_fail_rate 5%
  }

  mft "negative adjectives" {
    template "The THING was {neg_adj}."
    expect label == negative
    max_fail_rate 50%
  }
}

capability "Robustness" {
  inv "typos keep the label" {
    template "The {thing} was {pos_adj}."
    template "The {thing} was {neg_adj}."
    perturb typos(count: 1) variants 2
    max_fail_rate 10%
  }

  dir "praise does not lower positivity" {
    template "The {thing} was {neg_adj}."
    perturb append(["I loved it."])
    expect prob(positive) not decreasing tolerance 0.05
    max_fail_rate 20%
  }
}

capability "Fairness" {
  fairness "names" {
    template "{person} thought the {thing} was {pos_adj}."
    by person
    metric mean prob(positive)
    expect max_gap <= 0.2
  }
}
"""
N_TESTS = 5


def write_spec(folder: Path, model: Path = MODEL, thing: str = "{thing}") -> Path:
    path = folder / "small.mlspec"
    path.write_text(SPEC.replace("MODEL", str(model)).replace("THING", thing), encoding="utf-8")
    return path


class Counter:
    """A runner factory that records every distinct input the model is asked to score."""

    def __init__(self):
        self.seen: set = set()
        self.calls = 0

    def __call__(self, model):
        runner, counter = load_runner(model, "cpu"), self

        class Counting:
            def __getattr__(self, name):
                return getattr(runner, name)

            def predict(self, inputs, split=True):
                counter.calls += 1
                counter.seen.update(inputs)
                return runner.predict(inputs, split=split)

        return Counting()


def results_json(result: SpecResult | RunResult) -> dict:
    run = result if isinstance(result, RunResult) else RunResult(specs=[result])
    return without_times(json.loads(json_report(run)))


def run_cached(spec: Path, cache_dir: Path, load=None):
    _, plan = plan_file(spec)
    cache = PredictionCache(cache_dir, "cpu")
    return plan, run_plan(plan, load, cache), cache


# ------------------------------------------------------------------ cache


def test_a_second_run_scores_nothing_and_gives_the_same_results(tmp_path):
    spec = write_spec(tmp_path)
    first, second = Counter(), Counter()
    plan, result1, cache1 = run_cached(spec, tmp_path / "cache", first)
    _, result2, cache2 = run_cached(spec, tmp_path / "cache", second)
    inputs = len(plan.model_inputs("sentiment"))
    assert len(first.seen) == inputs and (cache1.hits, cache1.inputs) == (0, inputs)
    assert second.calls == 0 and (cache2.hits, cache2.inputs) == (inputs, inputs)
    assert results_json(result1) == results_json(result2)
    fresh = run_plan(plan, lambda model: load_runner(model, "cpu"))  # no cache at all
    assert results_json(fresh) == results_json(result2)


def test_the_command_says_what_the_cache_gave_and_writes_the_same_json(tmp_path, capsys):
    spec, cache = write_spec(tmp_path), tmp_path / "cache"
    for name in ("one", "two"):
        assert main(["run", str(spec), "--device", "cpu", "--cache-dir", str(cache), "--json", str(tmp_path / f"{name}.json")]) == 1
    err = capsys.readouterr().err.splitlines()
    inputs = len(plan_file(spec)[1].model_inputs("sentiment"))
    assert f"cache: 0 of {inputs} inputs from {cache}" in err
    assert f"cache: {inputs} of {inputs} inputs from {cache}" in err
    one, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))
    assert without_times(one) == without_times(two)


def test_a_changed_test_scores_only_its_new_inputs(tmp_path):
    spec = write_spec(tmp_path, thing="{thing}")
    plan1, _, _ = run_cached(spec, tmp_path / "cache")
    spec = write_spec(tmp_path, thing="{thing} and the ending")  # one test's cases change
    counter = Counter()
    plan2, result, cache = run_cached(spec, tmp_path / "cache", counter)
    old = {plan1.inputs[i] for i in plan1.model_inputs("sentiment")}
    new = {plan2.inputs[i] for i in plan2.model_inputs("sentiment")} - old
    assert len(new) == 4 * 5  # neg_adj x thing
    assert counter.seen == new
    assert cache.hits == len(plan2.model_inputs("sentiment")) - len(new)
    # Bit-identical to a fresh run, although the new inputs were scored in other batches.
    assert results_json(result) == results_json(run_plan(plan2, lambda model: load_runner(model, "cpu")))


def save_constant_model(path: Path, scores=(0.3, 0.7)) -> Path:
    """A tiny ONNX model that takes texts [N, 1] and gives every one the same scores."""
    nodes = [
        helper.make_node("Shape", ["text"], ["shape"], start=0, end=1),
        helper.make_node("Concat", ["shape", "width"], ["target"], axis=0),
        helper.make_node("Expand", ["scores", "target"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [None, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(scores)])],
        initializer=[
            helper.make_tensor("scores", TensorProto.FLOAT, [1, len(scores)], list(scores)),
            helper.make_tensor("width", TensorProto.INT64, [1], [len(scores)]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_another_model_file_at_the_same_path_misses_the_cache(tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copy(MODEL, model)
    spec = write_spec(tmp_path, model)
    plan, _, _ = run_cached(spec, tmp_path / "cache")
    shutil.copy(MODEL, model)  # the same bytes again (a new mtime): still a hit
    counter = Counter()
    _, _, cache = run_cached(spec, tmp_path / "cache", counter)
    assert counter.calls == 0 and cache.hits == cache.inputs
    save_constant_model(model)
    counter = Counter()
    _, result, cache = run_cached(spec, tmp_path / "cache", counter)
    assert cache.hits == 0 and len(counter.seen) == len(plan.model_inputs("sentiment"))
    mft = next(t for t in result.tests if t.title == "negative adjectives")
    assert mft.metrics["fail_rate"] == 1.0  # the constant model says positive to everything


def test_the_key_changes_with_what_changes_outputs_and_some_models_are_never_cached(tmp_path):
    _, plan = plan_file(write_spec(tmp_path))
    model = plan.models["sentiment"]
    cache = PredictionCache(tmp_path / "cache", "cpu")
    key = cache.model_key(model)
    assert key == cache.model_key(model)
    changed = [
        dataclasses.replace(model, labels=("positive", "negative")),
        dataclasses.replace(model, output_kind="logits"),
        dataclasses.replace(model, input_kind="tokens"),
    ]
    assert len({key, *(cache.model_key(m) for m in changed), PredictionCache(tmp_path, "cuda").model_key(model)}) == 5
    assert cache.model_key(dataclasses.replace(model, batch=7)) == key  # the batch size does not change scores
    assert cache.model_key(dataclasses.replace(model, format="python", path=None, target="m:f")) is None
    assert cache.model_key(dataclasses.replace(model, format="http", path=None)) is None
    # Inputs: texts, images and table rows each hash their own bytes.
    texts = input_keys(plan, "text", np.arange(3))
    assert len(set(texts)) == 3 and all(len(k) == 32 for k in texts)
    images = dataclasses.replace(plan, images=np.stack([np.zeros((1, 2, 2), np.float32), np.ones((1, 2, 2), np.float32), np.zeros((1, 2, 2), np.float32)]))
    assert len(set(input_keys(images, "image", np.arange(3)))) == 2
    rows = dataclasses.replace(plan, rows=np.array([["1", "ab"], ["1a", "b"]], dtype=object), row_columns=("x", "y"))
    assert len(set(input_keys(rows, "row", np.arange(2)))) == 2


def test_failed_and_nan_rows_are_not_stored(tmp_path):
    _, plan = plan_file(write_spec(tmp_path))
    model, ids = plan.models["sentiment"], np.arange(4)
    cache = PredictionCache(tmp_path / "cache", "cpu")
    probs = np.array([[0.1, 0.9], [np.nan, 0.5], [0.2, 0.8], [0.4, 0.6]], dtype=np.float32)
    view = cache.view(model, plan, ids)
    assert list(view.fill(np.full((4, 2), np.nan, np.float32))) == [0, 1, 2, 3]
    view.save(probs, failed=np.array([False, False, True, False]))
    again = np.full((4, 2), np.nan, np.float32)
    assert list(cache.view(model, plan, ids).fill(again)) == [1, 2]
    assert again[0].tobytes() == probs[0].tobytes() and again[3].tobytes() == probs[3].tobytes()


def test_no_cache_writes_nothing_and_the_folder_follows_the_options(tmp_path, monkeypatch, capsys):
    spec = write_spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLSPEC_CACHE_DIR", raising=False)
    assert main(["run", str(spec), "--device", "cpu", "--no-cache", "--cache-dir", str(tmp_path / "c")]) == 1
    assert not (tmp_path / "c").exists() and not (tmp_path / ".mlspec-cache").exists()
    assert "cache:" not in capsys.readouterr().err
    assert cache_directory(None) == Path(".mlspec-cache")
    assert main(["run", str(spec), "--device", "cpu"]) == 1
    assert list((tmp_path / ".mlspec-cache").glob("*.sqlite"))
    monkeypatch.setenv("MLSPEC_CACHE_DIR", str(tmp_path / "env"))
    assert main(["run", str(spec), "--device", "cpu"]) == 1
    assert list((tmp_path / "env").glob("*.sqlite"))
    assert cache_directory("given") == Path("given")  # --cache-dir wins over the environment


def test_a_corrupt_cache_warns_once_and_the_run_is_correct(tmp_path, capsys):
    spec, folder = write_spec(tmp_path), tmp_path / "cache"
    assert main(["run", str(spec), "--device", "cpu", "--cache-dir", str(folder), "--json", str(tmp_path / "good.json")]) == 1
    (database,) = folder.glob("*.sqlite")
    database.write_bytes(b"this is not a database" * 100)
    capsys.readouterr()
    assert main(["run", str(spec), "--device", "cpu", "--cache-dir", str(folder), "--json", str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("warning: prediction cache") == 1 and "running without it" in err and "Traceback" not in err
    good, bad = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("good", "bad"))
    assert without_times(good) == without_times(bad)


def test_rows_of_the_wrong_size_are_scored_again(tmp_path):
    spec = write_spec(tmp_path)
    _, result, _ = run_cached(spec, tmp_path / "cache")
    (database,) = (tmp_path / "cache").glob("*.sqlite")
    with sqlite3.connect(database) as connection:
        keys = [row[0] for row in connection.execute("SELECT input FROM probs LIMIT 3")]
        connection.executemany("UPDATE probs SET probs = x'00' WHERE input = ?", [(k,) for k in keys])
        connection.execute("DELETE FROM requests")  # else the whole request is read back in one piece
    counter = Counter()
    _, again, cache = run_cached(spec, tmp_path / "cache", counter)
    assert len(counter.seen) == 3 and cache.hits == cache.inputs - 3
    assert results_json(result) == results_json(again)


# ------------------------------------------------------------------ shards


@pytest.fixture(scope="module")
def demo_plan():
    return plan_file(DEMO)[1]


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_every_test_is_in_exactly_one_shard_whatever_the_order(demo_plan, count):
    shards = [shard.select([demo_plan], index, count)[0] for index in range(1, count + 1)]
    ids = [t.id for part in shards for t in part.tests]
    assert sorted(ids) == sorted(t.id for t in demo_plan.tests) and len(set(ids)) == len(ids)
    assert shard.assign([demo_plan], count) == shard.assign([demo_plan], count)
    reordered = dataclasses.replace(demo_plan, tests=list(reversed(demo_plan.tests)))
    assert shard.assign([reordered], count) == shard.assign([demo_plan], count)  # by id, not by position
    costs = [sum(shard.cost(t) for t in part.tests) for part in shards]
    assert max(costs) <= 1.2 * sum(costs) / count  # balanced by size
    for part in shards:  # a shard scores only its own tests' inputs
        assert len(part.model_inputs("sentiment")) == len(np.unique(np.concatenate([t.input_ids() for t in part.tests])))


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "1/0", "3", "-1/3", "1/3/4", ""])
def test_invalid_shards_are_usage_errors(tmp_path, text, capsys):
    assert main(["run", str(write_spec(tmp_path)), f"--shard={text}"]) == 2
    assert "--shard" in capsys.readouterr().err


def test_shards_merged_equal_the_whole_run(tmp_path, capsys):
    spec = write_spec(tmp_path)
    common = [str(spec), "--device", "cpu", "--no-cache"]
    whole_code = main(["run", *common, "--json", str(tmp_path / "whole.json")])
    parts = []
    for index in (1, 2, 3):
        parts.append(tmp_path / f"shard{index}.json")
        main(["run", *common, "--shard", f"{index}/3", "--json", str(parts[-1])])
    part_ids = [[t["id"] for s in json.loads(p.read_text())["specs"] for t in s["tests"]] for p in parts]
    assert sorted(i for ids in part_ids for i in ids) == sorted(t["id"] for s in json.loads((tmp_path / "whole.json").read_text())["specs"] for t in s["tests"])
    assert all(part_ids)
    capsys.readouterr()
    code = main(["merge", *map(str, reversed(parts)), "--json", str(tmp_path / "merged.json"), "--junit", str(tmp_path / "merged.xml")])
    assert code == whole_code == 1
    assert "mlspec: " in capsys.readouterr().out
    whole, merged = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("whole", "merged"))
    assert [t["id"] for t in merged["specs"][0]["tests"]] == [t["id"] for t in whole["specs"][0]["tests"]]
    for a, b in zip(whole["specs"][0]["tests"], merged["specs"][0]["tests"], strict=True):
        assert without_times(a) == without_times(b)
    assert without_times(whole) == without_times(merged)
    suites = list(junitparser.JUnitXml.fromfile(str(tmp_path / "merged.xml")))
    assert [s.name for s in suites] == ["small"]
    assert [c.name for c in suites[0]] == [t["title"] for t in whole["specs"][0]["tests"]]


def test_a_run_json_round_trips_through_merge(tmp_path):
    spec = write_spec(tmp_path)
    assert main(["run", str(spec), "--device", "cpu", "--no-cache", "--json", str(tmp_path / "run.json")]) == 1
    assert main(["merge", str(tmp_path / "run.json"), "--json", str(tmp_path / "merged.json")]) == 1
    assert (tmp_path / "merged.json").read_bytes() == (tmp_path / "run.json").read_bytes()


def result_with(statuses: list[str], path: str = "x.mlspec", first_line: int = 1) -> RunResult:
    tests = [
        TestResult(
            id=f"x.C.t{first_line + i}", title=f"t{first_line + i}", capability="C", kind="mft", model="m", file=path, line=first_line + i, status=s, message=""
        )
        for i, s in enumerate(statuses)
    ]
    return RunResult(specs=[SpecResult(spec="x", path=path, seed=0, tests=tests)])


@pytest.mark.parametrize(
    ("first", "second", "code"), [(["PASS"], ["PASS", "SKIP"], 0), (["PASS"], ["FAIL"], 1), (["ERROR"], ["FAIL"], 3), (["PASS"], ["ERROR"], 3)]
)
def test_merge_exits_like_run(tmp_path, first, second, code):
    write_json(result_with(first, first_line=1), tmp_path / "a.json")
    write_json(result_with(second, first_line=10), tmp_path / "b.json")
    assert main(["merge", str(tmp_path / "b.json"), str(tmp_path / "a.json"), "--json", str(tmp_path / "m.json")]) == code
    merged = load_result(tmp_path / "m.json")
    assert [t.line for t in merged.tests] == sorted(t.line for t in merged.tests)
    assert merged.exit_code() == code


def test_merge_refuses_a_test_twice_and_files_that_are_not_results(tmp_path, capsys):
    write_json(result_with(["PASS", "FAIL"]), tmp_path / "a.json")
    assert main(["merge", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 2
    err = capsys.readouterr().err
    assert "`x.C.t1`" in err and "`x.C.t2`" in err and "more than once" in err
    (tmp_path / "junk.json").write_text("{}")
    assert main(["merge", str(tmp_path / "junk.json")]) == 2
    assert main(["merge", str(tmp_path / "missing.json")]) == 2
    other_seed = result_with(["PASS"], first_line=5)
    other_seed.specs[0].seed = 3
    with pytest.raises(Exception, match="seed"):
        merge_results([result_with(["PASS"]), other_seed])
