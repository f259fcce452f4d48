"""The back-end registry (`runners.registry`), the `ModelRunner` protocol the executor
relies on, and the KServe v2 codec shared by the `http` back end and `mlspec serve`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlspec.errors import Span
from mlspec.language.models import replace_model_file
from mlspec.model import HttpInfo, ImageInfo, ModelInfo
from mlspec.run.cache import PredictionCache
from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file
from runners import Backend, ModelRunner, backend, backends, format_for_suffix, kserve_v2, load_runner, register, unregister
from runners.http_runner import HttpRunner

ROOT = Path(__file__).resolve().parent.parent
SPAN = Span(file="m.mlspec", line=1, col=1, end_line=1, end_col=2)


def model_info(format: str = "onnx", **fields) -> ModelInfo:
    base = dict(
        name="m", format=format, path=None, target=None, input_kind="text", output_kind="probabilities",
        labels=("negative", "positive"), batch=8, span=SPAN,
    )
    return ModelInfo(**{**base, **fields})


class FakeRunner:
    """A complete `ModelRunner`: scores by text length, remembers every call."""

    gradients = False
    device = "cpu"
    concurrency = 1
    split_failed_batches = True

    def __init__(self, model: ModelInfo, device: str = "auto", allow_python: bool = False):
        self.model, self.asked_device, self.allow_python = model, device, allow_python
        self.labels = model.labels
        self.calls: list[tuple[int, bool]] = []

    def predict(self, inputs, split: bool = True) -> np.ndarray:
        self.calls.append((len(inputs), split))
        p = np.array([(len(str(text)) % 10) / 10 for text in inputs], dtype=np.float32)
        return np.stack([1 - p, p], axis=1)

    def tensor(self, inputs):
        raise NotImplementedError

    def forward(self, batch):
        raise NotImplementedError


def fake_backend(**fields) -> Backend:
    settings = dict(
        format="fake", suffixes=(".fake",), gradients=True, local=False, devices=("cpu",), cacheable=False,
        distributions=(), load=FakeRunner, default_device=lambda: "cpu",
    )
    return Backend(**{**settings, **fields})


@pytest.fixture
def fake():
    """A back end registered for one test, then removed."""
    registered = register(fake_backend())
    try:
        yield registered
    finally:
        unregister("fake")
    assert "fake" not in backends()


# ---------------------------------------------------------------------- the registry


def test_every_back_end_registers_a_complete_descriptor():
    assert set(backends()) == {"onnx", "torch", "huggingface", "python", "http"}
    for format, described in backends().items():
        assert isinstance(described, Backend) and described.format == format and backend(format) is described
        for field in dataclasses.fields(Backend):
            assert getattr(described, field.name) is not None, (format, field.name)
        assert described.devices and all(isinstance(d, str) for d in described.devices)
        assert callable(described.load) and callable(described.default_device)
        assert not described.cacheable or described.distributions
        assert all(format_for_suffix(suffix) == format for suffix in described.suffixes)
    assert backends()["python"].default_device() == "cpu" and backends()["http"].default_device() == "remote"


def test_what_each_format_can_do():
    summary = {f: (b.suffixes, b.gradients, b.local, b.devices, b.cacheable, b.distributions) for f, b in backends().items()}
    assert summary == {
        "onnx": ((".onnx",), False, True, ("cpu", "cuda"), True, ("onnxruntime", "onnxruntime-gpu")),
        "torch": ((".pt", ".pt2", ".ts"), True, True, ("cpu", "cuda"), True, ("torch",)),
        "huggingface": ((), True, True, ("cpu", "cuda"), False, ()),
        "python": ((), False, False, ("cpu",), False, ()),
        "http": ((), False, False, ("remote",), False, ()),
    }
    assert [format_for_suffix(s) for s in (".ONNX", ".pt2", ".ts", ".pkl", "")] == ["onnx", "torch", "torch", None, None]


def test_load_runner_dispatches_through_the_registry(fake):
    runner = load_runner(model_info("fake"), "cuda", allow_python=True)
    assert isinstance(runner, FakeRunner) and isinstance(runner, ModelRunner)
    assert (runner.asked_device, runner.allow_python) == ("cuda", True)
    unregister("fake")
    with pytest.raises(ValueError, match="no back end for model format 'fake'"):
        load_runner(model_info("fake"))
    with pytest.raises(ValueError, match="no back end for model format 'nope'"):
        backend("nope")


def test_a_model_file_takes_the_format_and_abilities_of_its_suffix(fake):
    declared = model_info("onnx", path=Path("m.onnx").resolve(), local=True)
    replaced = replace_model_file(declared, "other.fake")
    assert (replaced.format, replaced.gradients, replaced.local) == ("fake", True, False)
    back = replace_model_file(replaced, "digits.pt2")
    assert (back.format, back.gradients, back.local) == ("torch", True, True)
    remote = replace_model_file(back, "http://127.0.0.1:9/v2/models/m/infer")
    assert (remote.format, remote.gradients, remote.local, remote.batch_tuned) == ("http", False, False, False)


def test_declarations_carry_what_their_back_end_can_do():
    models = plan_file(ROOT / "specs/digits/digits.mlspec")[1].models
    assert {name: (m.format, m.gradients, m.local) for name, m in models.items()} == {
        "digits": ("torch", True, True),
        "digits_exported": ("torch", True, True),
        "digits_onnx": ("onnx", False, True),
    }


def test_registering_checks_the_descriptor(fake):
    with pytest.raises(ValueError, match="already registered"):
        register(fake_backend(gradients=False))
    register(fake)  # the same descriptor again: nothing changes
    with pytest.raises(ValueError, match=r"both claim \.onnx"):
        register(fake_backend(format="fake2", suffixes=(".onnx",)))
    with pytest.raises(ValueError, match="names the distributions"):
        fake_backend(cacheable=True)
    with pytest.raises(ValueError, match="begin with a dot"):
        fake_backend(suffixes=("onnx",))
    with pytest.raises(TypeError):
        Backend(format="incomplete", suffixes=())  # every field is stated


def test_the_cache_asks_the_descriptor(fake, tmp_path):
    model_file = tmp_path / "m.fake"
    model_file.write_bytes(b"weights")
    cache = PredictionCache(tmp_path / "cache", "auto")
    assert cache.model_key(model_info("fake", path=model_file)) is None  # not cacheable
    unregister("fake")
    register(fake_backend(cacheable=True, distributions=("no-such-distribution", "numpy"), default_device=lambda: "cuda"))
    assert cache.model_key(model_info("fake", path=model_file)) is not None
    assert cache._version("fake") == f"numpy {np.__version__}"
    assert cache._device("fake") == "cuda"


def test_importing_runners_imports_no_machine_learning_library():
    code = "import runners, sys; print(sorted(m for m in ('torch', 'onnxruntime', 'httpx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------- the protocol


def test_the_executor_never_splits_a_call_and_reads_the_runner_s_features(tmp_path):
    spec = tmp_path / "s.mlspec"
    spec.write_text(
        'model m {\n  onnx "unused.onnx"\n  input text\n  output probabilities labels [negative, positive]\n  batch 4\n}\n'
        'lexicon w = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"]\n'
        'capability "c" {\n  mft "t" {\n    template "{w}"\n    expect label == positive\n  }\n}\n'
    )
    _, plan = plan_file(spec)
    made = []

    def load(model):
        made.append(FakeRunner(model))
        return made[0]

    result = run_plan(plan, load=load)
    assert result.tests[0].status in ("PASS", "FAIL")
    assert made[0].calls == [(4, False), (4, False)]  # batches of 4 (the last padded: a local model), never split


def test_http_runner_states_every_feature():
    endpoint = model_info("http", http=HttpInfo("http://127.0.0.1:9/v2/models/m/infer", "kserve_v2", 3, 1.0, 0, (), "instances", "predictions"))
    with HttpRunner(endpoint) as runner:
        assert isinstance(runner, ModelRunner)
        assert (runner.device, runner.gradients, runner.concurrency, runner.split_failed_batches) == ("remote", False, 3, False)


# ---------------------------------------------------------------------- the KServe v2 codec


def over_the_wire(value):
    """What the other side reads: the value as JSON, parsed again."""
    return json.loads(json.dumps(value, allow_nan=False, separators=(",", ":")))


@pytest.mark.parametrize("rank", [None, 2, 1])
def test_text_round_trip(rank):
    model = model_info("http")
    texts = ["good", "", "naïve — ünïcödé", "tab\tand\nnewline"]
    tensors = kserve_v2.request_tensors(model, texts, "text", rank)
    assert tensors[0]["shape"] == ([4] if rank == 1 else [4, 1]) and tensors[0]["datatype"] == "BYTES"
    assert kserve_v2.read_inputs(model, over_the_wire({"inputs": tensors})) == texts


def test_image_round_trip():
    model = model_info("http", input_kind="image", image=ImageInfo((1, 4, 5), 0.0, 1.0))
    images = np.random.default_rng(0).random((3, 1, 4, 5), dtype=np.float32)
    tensors = kserve_v2.request_tensors(model, images)
    assert (tensors[0]["name"], tensors[0]["shape"], tensors[0]["datatype"]) == ("input", [3, 1, 4, 5], "FP32")
    decoded = kserve_v2.read_inputs(model, over_the_wire({"inputs": tensors}))
    assert decoded.dtype == np.float32 and np.array_equal(decoded, images)


def test_table_round_trip():
    model = model_info("http", input_kind="table", columns=("age", "workclass", "hours"))
    rows = np.array([[39, "State-gov", 40.5], [50, "Private", 13], [np.int64(38), "Private", np.float64(40.0)]], dtype=object)
    tensors = kserve_v2.request_tensors(model, rows)
    assert [(t["name"], t["datatype"], t["shape"]) for t in tensors] == [("age", "INT64", [3, 1]), ("workclass", "BYTES", [3, 1]), ("hours", "FP64", [3, 1])]
    decoded = kserve_v2.read_inputs(model, over_the_wire({"inputs": tensors}))
    assert decoded.shape == (3, 3) and decoded.tolist() == [[39, "State-gov", 40.5], [50, "Private", 13], [38, "Private", 40.0]]


def test_scores_and_metadata_round_trip():
    model = model_info("http", labels=("a", "b", "c"))
    probs = np.random.default_rng(1).dirichlet(np.ones(3), size=5)
    answer = over_the_wire({"outputs": [kserve_v2.output_tensor(probs)]})
    np.testing.assert_array_equal(kserve_v2.read_scores(answer, 5, 3), probs.astype(np.float32))
    assert kserve_v2.metadata_input(over_the_wire({"inputs": kserve_v2.input_metadata(model)})) == ("text", 2)
    assert kserve_v2.output_metadata(model) == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]


def test_the_codec_says_what_does_not_fit():
    model = model_info("http")
    with pytest.raises(kserve_v2.V2Error, match=r"^input `text` has shape \[3, 1\] but 2 values$"):
        kserve_v2.read_inputs(model, {"inputs": [{"name": "text", "shape": [3, 1], "datatype": "BYTES", "data": ["a", "b"]}]})
    with pytest.raises(kserve_v2.V2Error, match="^the server answered with an error: boom$"):
        kserve_v2.read_scores({"error": "boom"}, 1, 2)
    with pytest.raises(kserve_v2.V2Error, match=r"^no output of the response holds scores for 2 labels \(outputs: `x` FP32 \[1, 3\], `y` FP32 None\)$"):
        kserve_v2.read_scores({"outputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}, {"name": "y", "datatype": "FP32"}]}, 1, 2)
    with pytest.raises(ValueError, match="a table row has 2 values for 3 columns"):
        kserve_v2.request_tensors(model_info("http", input_kind="table", columns=("a", "b", "c")), [[1, 2]])


@pytest.mark.parametrize("name", ["onnxruntime", "onnxruntime-gpu", "torch", "numpy", "junit-xml", "junit_xml", "PyYAML", "mlspec", "lark", "no-such-distribution"])
def test_installed_version_says_what_importlib_metadata_says(name):
    import importlib.metadata

    from runners.registry import installed_version

    try:
        expected = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        expected = None
    assert installed_version(name) == expected


def test_installed_version_leaves_other_layouts_to_importlib_metadata(tmp_path, monkeypatch):
    from runners import registry

    asked = []
    monkeypatch.setattr(registry, "_metadata_version", lambda name: asked.append(name) or "from metadata")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(tmp_path)])
    (tmp_path / "Some.Package-2.0.dist-info").mkdir()
    assert registry.installed_version("some-package") == "2.0" and not asked  # names compare normalised
    (tmp_path / "some_package-1.0.dist-info").mkdir()  # a stale second copy: which one counts is importlib's call
    assert registry.installed_version("some_package") == "from metadata"
    (tmp_path / "eggy-1.0-py3.11.egg-info").mkdir()
    assert registry.installed_version("eggy") == "from metadata"
    assert registry.installed_version("absent") is None and asked == ["some_package", "eggy"]
