"""A model without `batch` is scored in batches of a size measured on its first inputs;
which size wins must not change any score."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mlspec.run import batch_tuning
from mlspec.run.batch_tuning import FIXED_BATCH, LADDER, PROBE_ROWS, BatchTuner
from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT / "specs/sentiment/model/sentiment.onnx"
DIGITS = ROOT / "specs/digits/model"


def drive(tuner: BatchTuner, cost_per_row, rows: int) -> list[int]:
    """Feed a tuner the timings of a model whose cost per input depends on the batch size."""
    sizes = []
    while rows > 0:
        size = min(tuner.size(), rows)
        sizes.append(size)
        tuner.record(size, size * cost_per_row(tuner.size()))
        rows -= size
    return sizes


def test_the_fastest_size_per_input_is_kept():
    tuner = BatchTuner(200_000)
    sizes = drive(tuner, lambda size: {32: 3.0, 64: 1.0, 128: 1.2, 256: 2.0}.get(size, 5.0), 200_000)
    assert tuner.chosen == 64
    assert [s for s, _ in tuner.timings] == [32, 64, 128, 256]  # two sizes over 10% slower than 64: the climb ends
    assert set(sizes[-100:]) == {64}
    assert "batch 64 (per input at 32:" in tuner.describe()


def test_of_sizes_about_as_fast_the_largest_is_kept():
    tuner = BatchTuner(10**6)
    drive(tuner, lambda size: {32: 1.0, 64: 1.02, 128: 1.2, 256: 1.5}.get(size, 9.0), 10**6)
    assert tuner.chosen == 64  # within 3% of 32's time per input, in half the calls


def test_one_slow_measurement_does_not_end_the_climb():
    tuner = BatchTuner(10**6)
    drive(tuner, lambda size: {32: 4.0, 64: 3.0, 128: 3.6, 256: 2.0, 512: 2.5, 1024: 2.6}.get(size, 9.0), 10**6)
    assert tuner.chosen == 256 and [s for s, _ in tuner.timings] == [32, 64, 128, 256, 512, 1024]


def test_a_size_that_keeps_getting_faster_climbs_the_whole_ladder():
    tuner = BatchTuner(10**6)
    drive(tuner, lambda size: 1.0 / size, 10**6)
    assert tuner.chosen == LADDER[-1] and len(tuner.timings) == len(LADDER)


def test_short_runs_are_not_tuned():
    tuner = BatchTuner(batch_tuning.MIN_TUNED_ROWS - 1)
    assert tuner.size() == FIXED_BATCH
    tuner.record(FIXED_BATCH, 1.0)
    assert tuner.timings == [] and tuner.size() == FIXED_BATCH


def test_each_size_is_timed_over_enough_inputs():
    tuner = BatchTuner(10**6)
    sizes = drive(tuner, lambda size: 1.0, 3 * PROBE_ROWS)
    assert sizes[: PROBE_ROWS // 32] == [32] * (PROBE_ROWS // 32)


def scores_by_batch(predict, inputs, sizes) -> list[np.ndarray]:
    return [np.concatenate([predict(inputs[i : i + size]) for i in range(0, len(inputs), size)]) for size in sizes]


def test_the_sentiment_model_scores_the_same_in_every_batch_size():
    import onnxruntime as ort

    session = ort.InferenceSession(str(SENTIMENT), providers=["CPUExecutionProvider"])
    with open(ROOT / "specs/sentiment/data/reviews_test.csv", encoding="utf-8", newline="") as data:
        texts = [row["text"] for row in csv.DictReader(data)][:1200]
    inputs = np.array(texts, dtype=object).reshape(-1, 1)
    name, output = session.get_inputs()[0].name, session.get_outputs()[1].name
    runs = scores_by_batch(lambda batch: session.run([output], {name: batch})[0], inputs, [16, 32, 64, 256, 1024, len(inputs)])
    for other in runs[1:]:
        assert np.array_equal(other, runs[0])


def test_the_digits_networks_score_the_same_in_every_batch_size():
    import onnxruntime as ort
    import torch

    pixels = np.load(ROOT / "specs/digits/data/digits_test.npz")["x"][:600]
    session = ort.InferenceSession(str(DIGITS / "digits.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    onnx_runs = scores_by_batch(lambda batch: session.run(None, {name: batch})[0], pixels, [16, 32, 128, 600])
    network = torch.jit.load(str(DIGITS / "digits.pt")).eval()
    with torch.no_grad():
        torch_runs = scores_by_batch(lambda batch: network(torch.from_numpy(batch)).numpy(), pixels, [16, 32, 128, 600])
    for runs in (onnx_runs, torch_runs):
        for other in runs[1:]:
            assert np.array_equal(other, runs[0])


class CountingModel:
    """Probabilities from the text's length; remembers the size of every batch."""

    labels = ("negative", "positive")
    device = "cpu"
    gradients = False
    concurrency = 1
    split_failed_batches = True

    def __init__(self):
        self.sizes: list[int] = []

    def predict(self, texts, split: bool = True) -> np.ndarray:
        self.sizes.append(len(texts))
        p = np.array([(len(t) % 10) / 10 for t in texts], dtype=np.float32)
        return np.stack([1 - p, p], axis=1)


def test_the_executor_measures_a_size_and_scores_every_input_once(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_tuning, "PROBE_ROWS", 64)
    monkeypatch.setattr(batch_tuning, "MIN_TUNED_ROWS", 1000)
    words = [f"w{i}" for i in range(60)]
    spec = tmp_path / "s.mlspec"
    spec.write_text(
        f'model m {{\n  onnx "unused.onnx"\n  input text\n  output probabilities labels [negative, positive]\n}}\n'
        f"lexicon w = {words!r}\n".replace("'", '"')
        + 'capability "c" {\n  mft "t" {\n    template "{w1} {w2} {w3}"\n    expect label == positive\n  }\n}\n'
    )
    _, plan = plan_file(spec)
    assert plan.models["m"].batch_tuned
    model = CountingModel()
    result = run_plan(plan, load=lambda _: model)
    assert sum(model.sizes) == 60**3
    assert model.sizes[:2] == [32, 32] and max(model.sizes) in LADDER
    assert result.notes and result.notes[0].startswith("model `m`: batch ")
    (test,) = result.tests
    expected = sum((len(f"w{a} w{b} w{c}") % 10) / 10 <= 0.5 for a in range(60) for b in range(60) for c in range(60))
    assert test.metrics["failures"] == expected


def test_a_declared_batch_is_kept(tmp_path):
    spec = tmp_path / "s.mlspec"
    spec.write_text('model m {\n  onnx "unused.onnx"\n  input text\n  output probabilities labels [negative, positive]\n  batch 100\n}\ncapability "c" {\n  mft "t" {\n    template "a"\n    expect label == positive\n  }\n}\n')
    _, plan = plan_file(spec)
    assert not plan.models["m"].batch_tuned and plan.models["m"].batch == 100


def test_a_call_split_across_the_cores_scores_as_one_call(monkeypatch):
    import onnxruntime as ort

    from mlspec.run.pipeline import check_file
    from runners.onnx_runner import OnnxRunner

    monkeypatch.setattr("runners.onnx_runner.usable_cores", lambda: 3)
    model = check_file(ROOT / "specs/sentiment/sentiment.mlspec").models["sentiment"]
    runner = OnnxRunner(model, "cpu")
    assert runner.concurrency == 3
    with open(ROOT / "specs/sentiment/data/reviews_test.csv", encoding="utf-8", newline="") as data:
        texts = [row["text"] for row in csv.DictReader(data)][:500]
    session = ort.InferenceSession(str(SENTIMENT), providers=["CPUExecutionProvider"])
    whole = session.run(["probabilities"], {"text": np.array(texts, dtype=object).reshape(-1, 1)})[0]
    assert np.array_equal(runner.predict(texts), whole)  # three parts of 166-167 rows
    assert np.array_equal(runner.predict(texts, split=False), whole)


def test_a_measured_batch_gives_the_results_of_a_declared_one(monkeypatch):
    monkeypatch.setattr(batch_tuning, "PROBE_ROWS", 64)
    monkeypatch.setattr(batch_tuning, "MIN_TUNED_ROWS", 256)
    from dataclasses import replace

    from runners import load_runner

    _, plan = plan_file(ROOT / "specs/sentiment/sentiment.mlspec")
    declared = run_plan(plan, lambda model: load_runner(model, "cpu", False))
    tuned_plan = replace(plan, models={name: replace(m, batch_tuned=True) for name, m in plan.models.items()})
    measured = run_plan(tuned_plan, lambda model: load_runner(model, "cpu", False))
    assert measured.notes and "batch" in measured.notes[0]
    strip = lambda result: [t.model_dump(exclude={"seconds"}) for t in result.tests]  # noqa: E731
    assert strip(measured) == strip(declared)
