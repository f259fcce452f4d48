"""`--ray`: scoring on Ray actors gives the results of a local run (the cache, a dying actor,
attacks included), and an unreachable cluster or a missing Ray is a clear error at once.

One local Ray cluster (loopback, 2 CPUs) serves the whole module; its start is most of the time."""

import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from spec_helpers import without_times

from mlspec.errors import UsageError
from mlspec.run.cache import PredictionCache
from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file
from runners import load_runner

ray = pytest.importorskip("ray")

from runners.ray_runner import ClusterError, RayRunner, connect, ray_loader  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT / "specs/sentiment/sentiment.mlspec"
DIGITS = ROOT / "specs/digits/model"


@pytest.fixture(scope="module")
def cluster():
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    assert time.perf_counter() - started < 60
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def load(cluster):
    """One loader for the module, as in one `mlspec run --ray`: its actors are reused across runs."""
    loader = ray_loader(None, actors=2, device="cpu")
    yield loader
    loader.close()


@pytest.fixture(scope="module")
def sentiment():
    return plan_file(SENTIMENT)[1]


@pytest.fixture(scope="module")
def local_result(sentiment):
    return without_seconds(run_plan(sentiment, lambda model: load_runner(model, "cpu")))


def without_seconds(result) -> dict:
    return without_times(result.model_dump())


def sentiment_runner(load, plan) -> RayRunner:
    runner = load(plan.models["sentiment"])
    assert isinstance(runner, RayRunner)
    return runner


def test_a_run_on_ray_actors_gives_the_local_results(load, sentiment, local_result):
    result = run_plan(sentiment, load)
    runner = sentiment_runner(load, sentiment)
    assert without_seconds(result) == local_result
    assert runner.concurrency == 2 and len(runner.actors) == 2 and runner.calls > 0
    assert (runner.labels, runner.device) == (("negative", "positive"), "cpu")


def test_a_warm_cache_sends_no_batch_to_the_actors(load, sentiment, local_result, tmp_path):
    runner = sentiment_runner(load, sentiment)
    run_plan(sentiment, load, PredictionCache(tmp_path, "cpu"))
    calls = runner.calls
    result = run_plan(sentiment, load, PredictionCache(tmp_path, "cpu"))
    assert runner.calls == calls
    assert without_seconds(result) == local_result


def killed(actor) -> None:
    """Kill `actor` and wait until it is gone: `ray.kill` returns before the actor is dead,
    and a call sent meanwhile may still be answered."""
    ray.kill(actor)
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=5)
        except ray.exceptions.RayActorError:
            return
        except ray.exceptions.GetTimeoutError:
            continue
        time.sleep(0.05)
    raise AssertionError("the killed actor still answers after 30 s")


def test_a_batch_whose_actor_died_is_scored_again(load, sentiment):
    runner = sentiment_runner(load, sentiment)
    texts = ["a good film", "a dull, boring film"] * 8
    before = runner.predict(texts, split=False)
    for actor in runner.actors:
        killed(actor)
    after = runner.predict(texts, split=False)
    assert np.array_equal(before, after) and runner.restarts >= 1
    assert len(runner.actors) >= 1


def test_a_run_completes_when_an_actor_dies_midway(load, sentiment, local_result, monkeypatch):
    """The actor given the run's third batch dies just before the batch is sent to it."""
    runner = sentiment_runner(load, sentiment)
    take, taken = runner._take, []

    def take_and_kill_the_third():
        actor = take()
        taken.append(actor)
        if len(taken) == 3:
            killed(actor)
        return actor

    monkeypatch.setattr(runner, "_take", take_and_kill_the_third)
    restarts = runner.restarts
    result = run_plan(sentiment, load)
    assert len(taken) > 3
    assert without_seconds(result) == local_result
    assert runner.restarts == restarts + 1


def test_the_models_own_error_reaches_the_executor_as_is(load, sentiment):
    model = sentiment.models["sentiment"]
    images = np.zeros((16, 3), dtype=np.float32)  # not texts
    with pytest.raises(Exception) as local:
        load_runner(model, "cpu").predict(images, split=False)
    with pytest.raises(Exception) as remote:
        sentiment_runner(load, sentiment).predict(images, split=False)
    assert type(remote.value) is type(local.value) and str(remote.value) == str(local.value)


def test_attacks_white_and_black_box_give_the_local_results(load, tmp_path):
    spec = tmp_path / "attacks.mlspec"
    spec.write_text(ATTACKS.replace("MODELS", str(DIGITS)))
    plan = plan_file(spec)[1]
    local = run_plan(plan, lambda model: load_runner(model, "cpu"))
    remote = run_plan(plan, load)
    assert without_seconds(remote) == without_seconds(local)
    assert {test.status for test in remote.tests} <= {"PASS", "FAIL"}


ATTACKS = """spec "attacks" seed 0

model digits {
  torch "MODELS/digits.pt"
  input image shape [1, 28, 28] range [0, 1]
  output logits labels ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
  batch 50
}

model digits_onnx {
  onnx "MODELS/digits.onnx"
  input image shape [1, 28, 28] range [0, 1]
  output logits labels ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
  batch 50
}

dataset test = npz "MODELS/../data/digits_test.npz" { input: x, label: y }

capability "Robustness" {
  attack "FGSM" on digits {
    from test sample 100 seed 0
    method fgsm(eps: 0.1)
    expect robust_accuracy >= 0.60
  }

  attack "square" on digits_onnx {
    from test sample 20 seed 0
    method square(eps: 0.1, queries: 30)
    expect robust_accuracy >= 0.50
  }
}
"""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_cluster_is_a_cluster_error_at_once():
    started = time.perf_counter()
    with pytest.raises(ClusterError, match="no Ray cluster answers at 127.0.0.1:"):
        connect(f"127.0.0.1:{closed_port()}", timeout=3)
    assert time.perf_counter() - started < 5


def test_auto_with_no_cluster_answering_is_a_cluster_error_at_once(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port()}")  # what `auto` finds, as if a cluster had stopped
    started = time.perf_counter()
    with pytest.raises(ClusterError, match="no Ray cluster answers"):
        connect("auto", timeout=3)
    assert time.perf_counter() - started < 5


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(UsageError, match="--ray needs Ray") as error:
        connect(None)
    assert "pip install '.[ray]'" in error.value.diagnostics[0].hint
