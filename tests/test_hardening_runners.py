"""Hardening of the model back ends and the model server: `.pt2` archives that would run
code are refused, HTTP exchanges keep to their deadline, `mlspec serve` answers bad
requests with 4xx and lets go of idle connections and abandoned requests, secrets with
characters a header cannot carry are a model's error, and a missing model file is
reported at its path.

Every server here listens on 127.0.0.1 only; every wait is bounded in time.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import threading
import time
import warnings
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
import uvicorn

with warnings.catch_warnings():  # starlette asks for another client package; httpx is the one installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from mlspec.cli import main
from mlspec.errors import ModelError, Span
from mlspec.model import HttpInfo, ImageInfo, ModelInfo
from mlspec.serve import MAX_CONNECTIONS, create_app, server_config
from runners import load_runner
from runners.http_runner import HttpRunner
from runners.pt2_archive import UnsafeArchive, check_archive

ROOT = Path(__file__).resolve().parents[1]
SENTIMENT_ONNX = ROOT / "specs/sentiment/model/sentiment.onnx"
LABELS = ("a", "b")


# ====================================================================== .pt2 archives


class Tiny(torch.nn.Module):
    """Images [n, 1, 2, 2] -> logits of two labels."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


class Payload:
    """Unpickling it writes `marker`: the proof that code from a model file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code from the model file ran')",))


def exported_bytes() -> bytes:
    torch.manual_seed(0)
    module = Tiny().eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(module, (torch.zeros(3, 1, 2, 2),), dynamic_shapes={"x": {0: batch}})
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clean_archive() -> bytes:
    return exported_bytes()


def pickled(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def rewritten(archive: bytes, change, extra: dict[str, bytes] | None = None) -> bytes:
    """The archive with each record (named without its root folder) passed through
    `change(name, data)`, and `extra` records added."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    root = source.namelist()[0].split("/", 1)[0]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            name = info.filename.split("/", 1)[1]
            target.writestr(info.filename, change(name, source.read(info.filename)))
        for name, data in (extra or {}).items():
            target.writestr(f"{root}/{name}", data)
    return out.getvalue()


def edit_json(name: str, edit):
    def change(record: str, data: bytes) -> bytes:
        if record != name:
            return data
        document = json.loads(data)
        edit(document)
        return json.dumps(document).encode()

    return change


def malicious(kind: str, archive: bytes, marker: Path) -> bytes:
    """An archive that, loaded with plain `torch.export.load(...).module()`, writes `marker`
    (or, for the records without a payload here, would load foreign code)."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    if kind == "pickled weight":

        def change(name, data):
            if name == "data/weights/model_weights_config.json":
                config = json.loads(data)
                config["config"]["fc.weight"]["use_pickle"] = True
                return json.dumps(config).encode()
            return pickled(Payload(marker)) if name == "data/weights/weight_0" else data

        return rewritten(archive, change)
    if kind == "pickled sample inputs":
        return rewritten(archive, lambda name, data: pickled(Payload(marker)) if name == "data/sample_inputs/model.pt" else data)
    if kind == "legacy pickled weights":
        return rewritten(archive, lambda name, data: data, {"data/weights/model.pt": pickled(Payload(marker))})
    if kind == "opaque object":
        return rewritten(archive, lambda name, data: data, {"data/constants/opaque_obj_0": pickled(Payload(marker))})
    if kind == "aotinductor library":
        return rewritten(archive, lambda name, data: data, {"data/aotinductor/model/model.so": b"\x7fELF"})
    if kind == "guard code":
        return rewritten(archive, edit_json("models/model.json", lambda m: m.update(guards_code=[f"{code} is None"])))
    if kind == "shape expression":

        def change(name, data):
            if name != "models/model.json":
                return data
            text = data.decode()
            symbol = next(part for part in text.split('"expr_str": "')[1:]).split('"', 1)[0]
            unescaped = json.loads(f'"{symbol}"')
            evil = f"({unescaped} if {code} else {unescaped})"
            return text.replace(f'"expr_str": "{symbol}"', f'"expr_str": {json.dumps(evil)}', 1).encode()

        return rewritten(archive, change)
    if kind == "call target":

        def insert(program):
            node = {"target": "torch.os.system", "inputs": [{"name": "command", "arg": {"as_string": f"touch {marker}"}, "kind": 1}], "outputs": [], "metadata": {}}
            program["graph_module"]["graph"]["nodes"].insert(0, node)

        return rewritten(archive, edit_json("models/model.json", insert))
    raise ValueError(kind)


ATTACKS = {
    "pickled weight": "pickled data (data/weights/weight_0, the weight 'fc.weight', marked use_pickle)",
    "pickled sample inputs": "pickled data (data/sample_inputs/model.pt, sample inputs holding pickled objects (exec))",
    "legacy pickled weights": "pickled data (data/weights/model.pt",
    "opaque object": "pickled data (data/constants/opaque_obj_0, a pickled object)",
    "aotinductor library": "AOTInductor code (data/aotinductor/model/model.so)",
    "guard code": "guard code",
    "shape expression": "shape expression",
    "call target": "calls 'torch.os.system'",
}
RUNS_CODE_IN_TORCH = ("pickled weight", "pickled sample inputs", "guard code", "shape expression")


def tiny_model(path: Path, name: str = "tiny") -> ModelInfo:
    return ModelInfo(
        name=name, format="torch", path=path, target=None, input_kind="image", output_kind="logits", labels=LABELS, batch=8,
        span=Span(file="t.mlspec", line=1, col=1, end_line=4, end_col=2), image=ImageInfo((1, 2, 2), 0.0, 1.0), gradients=True, local=True,
    )


def test_a_clean_archive_passes_the_checks_and_scores_as_the_module(tmp_path, clean_archive):
    path = tmp_path / "tiny.pt2"
    path.write_bytes(clean_archive)
    check_archive(clean_archive)
    runner = load_runner(tiny_model(path), "cpu")
    images = np.random.default_rng(0).random((5, 1, 2, 2), dtype=np.float32)
    torch.manual_seed(0)
    expected = torch.softmax(Tiny().eval()(torch.from_numpy(images)), dim=1).detach().numpy()
    np.testing.assert_allclose(runner.predict(images), expected, atol=1e-6)


def test_the_demo_archive_passes_the_checks():
    check_archive((ROOT / "specs/digits/model/digits.pt2").read_bytes())


@pytest.mark.parametrize("kind", RUNS_CODE_IN_TORCH)
def test_the_attacks_do_run_code_in_plain_torch_export_load(tmp_path, clean_archive, kind):
    """The reason for the checks: torch's own loader runs these archives' code."""
    marker = tmp_path / "ran"
    data = malicious(kind, clean_archive, marker)
    with contextlib.suppress(Exception):
        torch.export.load(io.BytesIO(data)).module()(torch.zeros(2, 1, 2, 2))
    assert marker.exists()


@pytest.mark.parametrize("kind", list(ATTACKS))
def test_an_archive_that_would_run_code_is_refused(tmp_path, clean_archive, kind):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt2"
    path.write_bytes(malicious(kind, clean_archive, marker))
    with pytest.raises(ModelError) as caught:
        load_runner(tiny_model(path), "cpu")
    message = caught.value.diagnostic.message
    assert message.startswith("model `tiny`: evil.pt2 is refused: ") and ATTACKS[kind] in message, message
    assert "does not unpickle model files or run code they carry" in message
    assert "re-save the model with torch.export.save" in caught.value.diagnostic.hint
    assert not marker.exists()
    with pytest.raises(UnsafeArchive):
        check_archive(path.read_bytes())


def test_duplicate_records_are_refused(clean_archive):
    source = zipfile.ZipFile(io.BytesIO(clean_archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target, pytest.warns(UserWarning, match="Duplicate name"):
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
        config = next(n for n in source.namelist() if n.endswith("model_weights_config.json"))
        target.writestr(config, source.read(config))
    with pytest.raises((UnsafeArchive, ValueError)):
        check_archive(out.getvalue())


def test_a_pickle_named_pt_is_not_unpickled_by_torchscript_loading(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickled(Payload(marker)))
    with pytest.raises(ModelError, match="could not be loaded as a TorchScript"):
        load_runner(tiny_model(path), "cpu")
    assert not marker.exists()


TINY_SPEC = """\
model evil {{
  torch "{evil}"
  input image shape [1, 2, 2] range [0, 1]
  output logits labels [a, b]
}}
model fine {{
  torch "tiny.pt2"
  input image shape [1, 2, 2] range [0, 1]
  output logits labels [a, b]
}}
dataset images = npz "images.npz"
capability "C" {{
  mft "evil images" on evil {{ from images
    max_fail_rate 100% }}
  mft "fine images" on fine {{ from images
    max_fail_rate 100% }}
}}
"""


@pytest.fixture
def evil_project(tmp_path, clean_archive, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "ran"
    (tmp_path / "tiny.pt2").write_bytes(clean_archive)
    (tmp_path / "evil.pt2").write_bytes(malicious("pickled weight", clean_archive, marker))
    np.savez(tmp_path / "images.npz", input=np.zeros((4, 1, 2, 2), np.float32), label=np.array([0, 1, 0, 1]))
    (tmp_path / "t.mlspec").write_text(TINY_SPEC.format(evil="evil.pt2"), encoding="utf-8")
    (tmp_path / "clean.mlspec").write_text(TINY_SPEC.format(evil="tiny.pt2"), encoding="utf-8")
    return tmp_path, marker


def test_check_refuses_a_pickled_archive(evil_project, capsys):
    folder, marker = evil_project
    assert main(["check", "t.mlspec"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("t.mlspec:1:1: error: model `evil`: evil.pt2 is refused: it holds pickled data (data/weights/weight_0")
    assert "Traceback" not in err
    assert not marker.exists()


def test_run_errors_the_tests_of_a_pickled_archive_and_runs_the_others(evil_project, capsys):
    folder, marker = evil_project
    assert main(["run", "t.mlspec", "--json", "r.json"]) == 3
    tests = {t["title"]: t for t in json.loads((folder / "r.json").read_text())["specs"][0]["tests"]}
    assert tests["evil images"]["status"] == "ERROR" and "pickled data" in tests["evil images"]["message"]
    assert tests["fine images"]["status"] in ("PASS", "FAIL")
    assert "Traceback" not in capsys.readouterr().err
    assert not marker.exists()


def test_model_option_with_a_pickled_archive(evil_project, capsys):
    folder, marker = evil_project
    assert main(["run", "clean.mlspec", "--model", "fine=evil.pt2", "--json", "r.json"]) == 3
    tests = {t["title"]: t for t in json.loads((folder / "r.json").read_text())["specs"][0]["tests"]}
    assert tests["fine images"]["status"] == "ERROR" and "evil.pt2 is refused" in tests["fine images"]["message"]
    assert tests["evil images"]["status"] in ("PASS", "FAIL")
    assert not marker.exists()


# ====================================================================== a missing model file

MISSING_SPEC = """\
model m {{
  {format} "{path}"
  input {input}
  output probabilities labels [negative, positive]
}}
dataset reviews = csv "reviews.csv" {{ text: text, label: label }}
capability "C" {{
  mft "reviews" {{ from reviews
    max_fail_rate 100% }}
}}
"""


@pytest.mark.parametrize("format, input_kind", [("onnx", "text"), ("torch", "image shape [1, 2, 2] range [0, 1]")])
def test_a_missing_model_file_is_reported_at_its_path(tmp_path, monkeypatch, capsys, format, input_kind):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "reviews.csv").write_text("text,label\ngood,positive\n", encoding="utf-8")
    if format == "torch":
        np.savez(tmp_path / "sub" / "reviews.npz", input=np.zeros((1, 1, 2, 2), np.float32), label=np.array([0]))
    spec_text = MISSING_SPEC.format(format=format, path=f"no_such_model.{'onnx' if format == 'onnx' else 'pt2'}", input=input_kind)
    if format == "torch":
        spec_text = spec_text.replace('csv "reviews.csv" { text: text, label: label }', 'npz "reviews.npz"')
    (tmp_path / "sub" / "t.mlspec").write_text(spec_text, encoding="utf-8")
    name = f"no_such_model.{'onnx' if format == 'onnx' else 'pt2'}"
    expected = [
        f"sub/t.mlspec:2:{len(format) + 4}: error: file not found: {name} (looked in sub)",
        f"    2 |   {format} \"{name}\"",
        "      |   " + " " * (len(format) + 1) + "^" * (len(name) + 2),
        "hint: a path in a spec is relative to the spec's folder",
    ]
    assert main(["check", "sub/t.mlspec"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == expected
    assert str(tmp_path) not in err

    assert main(["run", "sub/t.mlspec", "--json", "r.json"]) == 3
    (test,) = json.loads((tmp_path / "r.json").read_text())["specs"][0]["tests"]
    assert test["status"] == "ERROR" and test["message"].splitlines() == expected
    assert "Traceback" not in capsys.readouterr().err


def test_check_loads_only_model_files(tmp_path, monkeypatch, capsys):
    """`check` opens local model files only: not an endpoint (no request, no secret read)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLSPEC_UNSET_TOKEN", raising=False)
    (tmp_path / "reviews.csv").write_text("text,label\ngood,positive\n", encoding="utf-8")
    spec = MISSING_SPEC.format(format="http", path="http://127.0.0.1:9/v2/models/m/infer", input="text").replace(
        "  output", '  header "Authorization" env "MLSPEC_UNSET_TOKEN"\n  output'
    )
    (tmp_path / "t.mlspec").write_text(spec, encoding="utf-8")
    assert main(["check", "t.mlspec"]) == 0, capsys.readouterr().err


# ====================================================================== a secret a header cannot carry

SECRET_SPEC = """\
model local {{
  onnx "sentiment.onnx"
  input text
  output probabilities labels [negative, positive]
}}
model remote {{
  http "http://127.0.0.1:{port}/v2/models/m/infer"
  input text
  output probabilities labels [negative, positive]
  header "Authorization" env "MLSPEC_TOKEN"
  retries 0
}}
capability "C" {{
  mft "local" on local {{ template "good" -> positive
    max_fail_rate 100% }}
  mft "remote" on remote {{ template "good" -> positive
    max_fail_rate 100% }}
}}
"""


def test_a_secret_with_a_non_ascii_character_errors_only_its_model(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLSPEC_TOKEN", "Bearer sécret-token-value")
    shutil.copy(SENTIMENT_ONNX, tmp_path / "sentiment.onnx")
    (tmp_path / "t.mlspec").write_text(SECRET_SPEC.format(port=9), encoding="utf-8")
    assert main(["run", "t.mlspec", "--json", "r.json"]) == 3
    captured = capsys.readouterr()
    tests = {t["title"]: t for t in json.loads((tmp_path / "r.json").read_text())["specs"][0]["tests"]}
    assert tests["local"]["status"] in ("PASS", "FAIL")
    assert tests["remote"]["status"] == "ERROR"
    message = tests["remote"]["message"]
    assert "header `Authorization`: the value of $MLSPEC_TOKEN holds a character that is not ASCII" in message
    everything = message + captured.out + captured.err + (tmp_path / "r.json").read_text()
    assert "sécret" not in everything and "token-value" not in everything and "\\u00e9" not in everything
    assert "Traceback" not in captured.err


def test_a_header_name_that_is_not_a_token_is_a_model_error():
    model = text_model("http://127.0.0.1:9/v2/models/m/infer", headers=(("X Bad: yes", "v", None),))
    with pytest.raises(ModelError, match="is not a header name"):
        HttpRunner(model)


# ====================================================================== HTTP deadlines


def text_model(url: str, **settings) -> ModelInfo:
    info = dict(url=url, protocol="kserve_v2", concurrency=1, timeout=10.0, retries=0, headers=(), request_field="instances", response_path="predictions")
    info.update(settings)
    return ModelInfo(
        name="remote", format="http", path=None, target=None, input_kind="text", output_kind="probabilities", labels=LABELS, batch=8,
        span=Span(file="remote.mlspec", line=1, col=1, end_line=3, end_col=2), http=HttpInfo(**info),
    )


@contextlib.contextmanager
def dripping_server(head: bool, delay: float = 0.1, most: float = 20.0):
    """A server on 127.0.0.1 that answers every request one byte every `delay` seconds: its
    head (`head`), or a 200 head at once and then the body; for at most `most` seconds."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    requests = []

    def drip(connection: socket.socket) -> None:
        with connection:
            connection.settimeout(2)
            try:
                received = connection.recv(65536)
                requests.append(received.split(b"\r\n", 1)[0].decode())
                body = b'{"outputs": []}' + b" " * 100_000
                answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                if not head:
                    connection.sendall(answer)
                    answer = body
                end = time.monotonic() + most
                for byte in answer:
                    if stop.is_set() or time.monotonic() > end:
                        return
                    connection.sendall(bytes([byte]))
                    time.sleep(delay)
            except OSError:  # the client gave up
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=drip, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize("head", [False, True], ids=["body", "head"])
def test_a_dripping_server_holds_an_exchange_no_longer_than_its_timeout(head):
    with dripping_server(head) as (base, requests):
        runner = HttpRunner(text_model(f"{base}/v2/models/m/infer", timeout=1.0))
        started = time.monotonic()
        with pytest.raises(ModelError, match="timed out after 1s"):
            runner.predict(["good"])
        elapsed = time.monotonic() - started
        runner.close()
    assert requests[0].startswith("GET /v2/models/m ")  # the metadata, within its own deadline
    assert any(r.startswith("POST /v2/models/m/infer ") for r in requests)
    assert elapsed < 4.0, elapsed  # metadata GET (1s) + POST (1s), not the minutes a drip takes


# ====================================================================== mlspec serve: requests


class FakeRunner:
    """A text model's runner: constant scores (or NaN), `seconds` per call; counts its calls."""

    labels = LABELS
    device = "cpu"
    gradients = False
    concurrency = 1
    split_failed_batches = True

    def __init__(self, seconds: float = 0.0, nan: bool = False):
        self.seconds, self.nan, self.calls = seconds, nan, 0

    def predict(self, inputs, split: bool = True) -> np.ndarray:
        self.calls += 1
        time.sleep(self.seconds)
        return np.full((len(inputs), 2), np.nan if self.nan else 0.5)

    def tensor(self, inputs):
        raise NotImplementedError

    def forward(self, batch):
        raise NotImplementedError


def served_text_model(batch: int = 8) -> ModelInfo:
    return ModelInfo(
        name="m", format="onnx", path=Path("m.onnx"), target=None, input_kind="text", output_kind="probabilities", labels=LABELS, batch=batch,
        span=Span(file="m.mlspec", line=1, col=1, end_line=3, end_col=2), local=True,
    )


def image_model() -> ModelInfo:
    return ModelInfo(
        name="m", format="onnx", path=Path("m.onnx"), target=None, input_kind="image", output_kind="probabilities", labels=LABELS, batch=8,
        span=Span(file="m.mlspec", line=1, col=1, end_line=3, end_col=2), image=ImageInfo((2, 2), 0.0, 1.0), local=True,
    )


INFER = "/v2/models/m/infer"


def text_tensor(texts) -> dict:
    return {"inputs": [{"name": "text", "shape": [len(texts), 1], "datatype": "BYTES", "data": list(texts)}]}


@pytest.fixture
def client():
    """The app of a constant text model, in-process: an exception the app does not handle
    (what uvicorn logs with a traceback) fails the test."""
    with TestClient(create_app(served_text_model(), FakeRunner(), max_inputs=100), raise_server_exceptions=True) as test_client:
        yield test_client


def error_of(answer, status: int) -> str:
    assert answer.status_code == status, answer.text
    return answer.json()["error"]


def test_deeply_nested_json_is_a_400(client):
    for depth in (40, 100_000):
        body = '{"inputs": ' + "[" * depth + "]" * depth + "}"
        assert error_of(client.post(INFER, content=body), 400) == "the request's JSON nests deeper than 32 levels"
        assert error_of(client.post("/predict", content='{"instances": ' + "[" * depth + "]" * depth + "}"), 400).startswith("the request's JSON nests")


@pytest.mark.parametrize("path, body", [(INFER, '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["\\ud800"]}]}'), ("/predict", '{"instances": ["ok \\udfff"]}'), (INFER, '{"\\ud83d": 1, "inputs": []}')])
def test_a_lone_surrogate_is_a_400(client, path, body):
    assert "lone surrogate (U+D800 to U+DFFF)" in error_of(client.post(path, content=body), 400)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_or_infinity_in_the_inputs_is_a_400(value):
    with TestClient(create_app(image_model(), FakeRunner()), raise_server_exceptions=True) as client:
        body = '{"inputs": [{"name": "input", "shape": [1, 2, 2], "datatype": "FP32", "data": [0, 0.5, 1, %s]}]}' % value
        assert error_of(client.post(INFER, content=body), 400) == "the request holds NaN or an infinite number, which a model cannot score"
        assert error_of(client.post("/predict", content='{"instances": [[[0, 1], [1, %s]]]}' % value), 400).startswith("the request holds NaN")


def test_nan_scores_are_a_500_of_the_model_without_an_unhandled_error():
    with TestClient(create_app(served_text_model(), FakeRunner(nan=True)), raise_server_exceptions=True) as client:
        assert error_of(client.post(INFER, json=text_tensor(["good"])), 500) == "model `m` failed: it returned NaN or infinite scores"
        assert error_of(client.post("/predict", json={"instances": ["good"]}), 500).endswith("NaN or infinite scores")


def test_an_error_that_quotes_the_request_is_ascii_and_short(client):
    answer = client.post(INFER, json={"inputs": [{"name": "é" * 10_000, "shape": [1], "datatype": "BYTES", "data": ["x"]}]})
    assert answer.status_code == 400 and answer.content.isascii()
    assert answer.json()["error"].startswith("unknown input `éé") and len(answer.json()["error"]) <= 300


def test_more_inputs_than_the_cap_is_a_413_that_says_the_cap(client):
    assert client.post(INFER, json=text_tensor(["x"] * 100)).status_code == 200
    message = error_of(client.post(INFER, json=text_tensor(["x"] * 101)), 413)
    assert message == "the request holds 101 inputs; this server takes at most 100 a request: send them in several"
    assert "at most 100" in error_of(client.post("/predict", json={"instances": ["x"] * 300}), 413)


def test_scoring_longer_than_the_request_time_is_a_503():
    runner = FakeRunner(seconds=0.1)
    with TestClient(create_app(served_text_model(batch=1), runner, request_seconds=0.25), raise_server_exceptions=True) as client:
        message = error_of(client.post(INFER, json=text_tensor(["x"] * 50)), 503)
    assert message == "scoring the request took longer than 0.25s; send fewer inputs a request"
    assert runner.calls < 10


class _ThreadServer(uvicorn.Server):
    def capture_signals(self):  # not the main thread
        return contextlib.nullcontext()


@contextlib.contextmanager
def serving(config: uvicorn.Config):
    """Run a uvicorn configuration in a background thread; yields (host, port)."""
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield server.servers[0].sockets[0].getsockname()[:2]
    finally:
        server.should_exit = True
        thread.join(10)


def test_an_abandoned_request_lets_go_of_the_model():
    runner = FakeRunner(seconds=0.02)
    app = create_app(served_text_model(batch=4), runner)
    with serving(server_config(app, "127.0.0.1", 0)) as (host, port):
        base = f"http://{host}:{port}"
        with httpx.Client(base_url=base, trust_env=False) as client:
            with pytest.raises(httpx.ReadTimeout):  # 2,000 inputs: 500 chunks, about 10 s; the client leaves after 0.3 s
                client.post(INFER, json=text_tensor(["x"] * 2000), timeout=0.3)
            started = time.monotonic()
            answer = client.post(INFER, json=text_tensor(["y"]), timeout=10)
            waited = time.monotonic() - started
            assert answer.status_code == 200 and waited < 1.0, waited
            time.sleep(0.3)
            calls = runner.calls
            time.sleep(0.5)
            assert runner.calls == calls < 100  # the abandoned request was stopped


def test_a_large_request_does_not_hold_the_model_from_the_others():
    runner = FakeRunner(seconds=0.02)
    app = create_app(served_text_model(batch=4), runner)
    with serving(server_config(app, "127.0.0.1", 0)) as (host, port):
        base = f"http://{host}:{port}"
        big = threading.Thread(target=lambda: httpx.post(base + INFER, json=text_tensor(["x"] * 400), timeout=20, trust_env=False), daemon=True)
        big.start()
        time.sleep(0.3)
        started = time.monotonic()
        answer = httpx.post(base + INFER, json=text_tensor(["y"]), timeout=10, trust_env=False)
        assert answer.status_code == 200 and time.monotonic() - started < 1.0
        assert big.is_alive()  # the large one was still being scored
        big.join(20)


# ====================================================================== mlspec serve: connections


def test_idle_and_half_open_connections_are_closed():
    app = create_app(served_text_model(), FakeRunner())
    with serving(server_config(app, "127.0.0.1", 0, idle_seconds=1)) as (host, port):
        sockets = []
        try:
            for i in range(40):
                connection = socket.create_connection((host, port), timeout=5)
                if i % 4 == 0:
                    connection.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
                sockets.append(connection)
            started = time.monotonic()
            for connection in sockets:  # the server closes each: recv sees the end of the stream
                assert connection.recv(1024) == b""
            assert time.monotonic() - started < 5
            with httpx.Client(base_url=f"http://{host}:{port}", trust_env=False) as client:  # still serving
                assert client.post(INFER, json=text_tensor(["x"]), timeout=5).status_code == 200
        finally:
            for connection in sockets:
                connection.close()


def test_the_server_configuration_bounds_connections():
    config = server_config(create_app(served_text_model(), FakeRunner()), "127.0.0.1", 0)
    assert config.limit_concurrency == MAX_CONNECTIONS and config.timeout_keep_alive == 5


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_serve_on_a_port_out_of_range_is_a_usage_error(capsys, port):
    assert main(["serve", str(ROOT / "specs/sentiment/sentiment.mlspec"), "--port", port]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: --port takes a TCP port from 0 to 65535 (0: any free port), not {port}"


def _content_length(answer: bytes) -> int:
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_a_body_that_does_not_arrive_is_a_408_and_a_deep_answer_a_model_error():
    app = create_app(served_text_model(), FakeRunner(), request_seconds=0.5)
    with serving(server_config(app, "127.0.0.1", 0)) as (host, port):
        with socket.create_connection((host, port), timeout=5) as connection:
            connection.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _content_length(answer):
                chunk = connection.recv(4096)  # the head and the body may come in separate packets
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ") and b"did not arrive within 0.5s" in answer


def test_an_answer_nested_too_deeply_is_a_model_error():
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def deep(request):
        return Response('{"outputs": ' + "[" * 100_000 + "]" * 100_000 + "}", media_type="application/json")

    app = Starlette(routes=[Route("/v2/models/m/infer", deep, methods=["POST"])])
    with serving(server_config(app, "127.0.0.1", 0)) as (host, port):
        runner = HttpRunner(text_model(f"http://{host}:{port}/v2/models/m/infer"))
        with pytest.raises(ModelError, match="malformed JSON in the response: it nests too deeply"):
            runner.predict(["good"])
        runner.close()
