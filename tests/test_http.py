"""HTTP models: the HttpRunner client against `mlspec serve`'s app and a faulty server.

Every server here runs on 127.0.0.1 (tests/http_servers.py); every request loop is bounded
by a count and by the runner's timeout."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import shutil
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from mlspec.errors import ModelError, Span, UsageError
from mlspec.model import HttpInfo, ModelInfo
from mlspec.run.executor import run_plan
from mlspec.run.pipeline import plan_file
from mlspec.serve import _Server, app_for_spec, create_app, serve
from runners import load_runner
from runners.http_runner import HttpRunner, redact

sys.path.insert(0, str(Path(__file__).parent))
from http_servers import dead_port, faulty_app, self_signed_certificate, served  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SENTIMENT_SPEC = ROOT / "specs/sentiment/sentiment.mlspec"
DIGITS_SPEC = ROOT / "specs/digits/digits.mlspec"
INCOME_SPEC = ROOT / "specs/income/income.mlspec"
SECRET = "s3cr3t-token-123"
LABELS = ("negative", "positive")


def http_model(base: ModelInfo, url: str, protocol: str = "kserve_v2", **settings) -> ModelInfo:
    """`base`'s declaration, pointed at an endpoint."""
    output_kind = settings.pop("output_kind", "probabilities")  # `mlspec serve` answers probabilities
    info = dict(url=url, protocol=protocol, concurrency=4, timeout=10.0, retries=2, headers=(), request_field="instances", response_path="predictions")
    info.update(settings)
    return dataclasses.replace(base, format="http", path=None, output_kind=output_kind, http=HttpInfo(**info))


def text_model(url: str, protocol: str = "kserve_v2", **settings) -> ModelInfo:
    """A two-label text model at `url` (for the faulty servers)."""
    base = ModelInfo(
        name="remote", format="http", path=None, target=None, input_kind="text", output_kind="probabilities",
        labels=LABELS, batch=32, span=Span(file="remote.mlspec", line=1, col=1, end_line=3, end_col=2),
    )
    return http_model(base, url, protocol, **settings)


@pytest.fixture(scope="module")
def sentiment():
    model = plan_file(SENTIMENT_SPEC)[1].models["sentiment"]
    return model, load_runner(model, "cpu")


@pytest.fixture(scope="module")
def sentiment_url(sentiment):
    model, runner = sentiment
    with served(create_app(model, runner)) as base:
        yield base


@pytest.fixture(scope="module")
def texts():
    with open(ROOT / "specs/sentiment/data/reviews_test.csv", newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)][:200]


def error_of(runner: HttpRunner, inputs) -> ModelError:
    with pytest.raises(ModelError) as caught:
        runner.predict(inputs)
    return caught.value


# ---------------------------------------------------------------------- round trips


def test_v2_round_trip_matches_the_local_model(sentiment, sentiment_url, texts):
    model, local = sentiment
    with HttpRunner(http_model(model, f"{sentiment_url}/v2/models/sentiment/infer")) as remote:
        assert (remote.device, remote.gradients, remote.concurrency, remote.split_failed_batches) == ("remote", False, 4, False)
        assert remote.labels == model.labels
        got = remote.predict(texts)
    assert got.shape == (200, 2)
    np.testing.assert_allclose(got, local.predict(texts), atol=1e-6)


def test_json_round_trip_matches_the_local_model(sentiment, sentiment_url, texts):
    model, local = sentiment
    with HttpRunner(http_model(model, f"{sentiment_url}/predict", "json")) as remote:
        np.testing.assert_allclose(remote.predict(texts), local.predict(texts), atol=1e-6)


def test_image_round_trips_match_the_local_model():
    model = plan_file(DIGITS_SPEC)[1].models["digits_onnx"]  # logits: the server soft-maxes
    local = load_runner(model, "cpu")
    images = np.load(ROOT / "specs/digits/data/digits_test.npz")["x"][:50]
    expected = local.predict(images)
    with served(create_app(model, local)) as base:
        for url, protocol in ((f"{base}/v2/models/digits_onnx/infer", "kserve_v2"), (f"{base}/predict", "json")):
            with HttpRunner(http_model(model, url, protocol)) as remote:
                np.testing.assert_allclose(remote.predict(images), expected, atol=1e-6)


def test_token_model_is_sent_text_and_tokenized_by_the_server(texts):
    model = plan_file(ROOT / "specs/sentiment/model/lstm.mlspec")[1].models["lstm"]
    local = load_runner(model, "cpu")
    with served(create_app(model, local)) as base:
        with HttpRunner(http_model(model, f"{base}/v2/models/lstm/infer")) as remote:
            np.testing.assert_allclose(remote.predict(texts[:40]), local.predict(texts[:40]), atol=1e-6)


def test_table_round_trips_match_the_local_model():
    plan = plan_file(INCOME_SPEC)[1]
    model = plan.models["income"]
    local = load_runner(model, "cpu")
    rows = plan.rows[:100]
    expected = local.predict(rows)
    with served(create_app(model, local)) as base:
        for url, protocol in ((f"{base}/v2/models/income/infer", "kserve_v2"), (f"{base}/predict", "json")):
            with HttpRunner(http_model(model, url, protocol)) as remote:
                np.testing.assert_allclose(remote.predict(rows), expected, atol=1e-6)


def test_predicting_from_eight_threads_at_once(sentiment, sentiment_url, texts):
    model, local = sentiment
    expected = local.predict(texts)
    chunks = [range(start, start + 25) for start in range(0, 200, 25)]
    with HttpRunner(http_model(model, f"{sentiment_url}/v2/models/sentiment/infer", concurrency=8)) as remote:
        barrier = threading.Barrier(8, timeout=10)

        def score(chunk):
            barrier.wait()
            return remote.predict([texts[i] for i in chunk])

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(score, chunks))
    for chunk, got in zip(chunks, results):
        np.testing.assert_allclose(got, expected[chunk.start : chunk.stop], atol=1e-6)


def test_a_spec_with_an_http_model_runs_like_the_local_one(tmp_path, sentiment_url):
    tests = """
lexicon adj = ["good", "great", "bad", "awful", "boring"]
lexicon thing = ["film", "movie", "plot"]
capability "Vocabulary" {
  mft "adjectives" {
    template "The {thing} was {adj}." -> positive
    max_fail_rate 50%
  }
  inv "punctuation keeps the label" {
    template "The {thing} was {adj}"
    perturb punctuation
  }
}
"""
    shutil.copy(ROOT / "specs/sentiment/model/sentiment.onnx", tmp_path / "sentiment.onnx")  # a spec reads files of its own project
    local = tmp_path / "local.mlspec"
    local.write_text(f'spec "s"\nmodel m {{\n  onnx "sentiment.onnx"\n  input text\n  output probabilities labels [negative, positive]\n}}\n{tests}')
    remote = tmp_path / "remote.mlspec"
    remote.write_text(
        f'spec "s"\nmodel m {{\n  http "{sentiment_url}/v2/models/sentiment/infer" protocol kserve_v2\n  input text\n'
        f"  output probabilities labels [negative, positive]\n  batch 4\n  timeout 5s\n  retries 1\n}}\n{tests}"
    )
    expected = run_plan(plan_file(local)[1])
    got = run_plan(plan_file(remote)[1], load=HttpRunner)
    assert [(t.status, t.message) for t in got.tests] == [(t.status, t.message) for t in expected.tests]
    assert all(t.status in ("PASS", "FAIL") for t in got.tests)
    with dead_port() as port:  # the server is down: the tests are errors with the reason
        remote.write_text(remote.read_text().replace(sentiment_url, f"http://127.0.0.1:{port}"))
        down = run_plan(plan_file(remote)[1], load=HttpRunner)
    assert [t.status for t in down.tests] == ["ERROR", "ERROR"]
    assert f"connection refused: http://127.0.0.1:{port}/v2/models/sentiment/infer (2 tries)" in down.tests[0].message


@pytest.mark.parametrize("concurrency", [8, 3])
def test_requests_in_flight_are_bounded_by_concurrency(concurrency):
    app = faulty_app("slow", LABELS, delay=0.3)
    with served(app) as base, HttpRunner(text_model(f"{base}/v2/models/m/infer", concurrency=concurrency)) as runner:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(runner.predict, [[f"text {i}"] for i in range(8)]))
    assert all(r.shape == (1, 2) for r in results)
    assert app.state.requests == 8
    assert min(concurrency, 3) <= app.state.max_in_flight <= concurrency  # the pool holds `concurrency` connections


# ---------------------------------------------------------------------- faults


def test_server_down_is_connection_refused():
    with dead_port() as port:
        url = f"http://127.0.0.1:{port}/v2/models/m/infer"
        started = time.monotonic()
        error = error_of(HttpRunner(text_model(url, retries=2)), ["a"])
    assert str(error) == f"connection refused: {url} (3 tries)"
    assert time.monotonic() - started < 3  # backoff 0.1 s + 0.2 s


def test_a_slow_server_times_out():
    app = faulty_app("slow", LABELS, delay=1.0)
    with served(app) as base:
        started = time.monotonic()
        error = error_of(HttpRunner(text_model(f"{base}/v2/models/m/infer", timeout=0.3, retries=1)), ["a", "b"])
        elapsed = time.monotonic() - started
    assert str(error) == "timed out after 0.3s (2 tries)"
    assert app.state.requests == 2
    assert 0.6 <= elapsed < 1.5


def test_5xx_is_retried_then_reported():
    app = faulty_app("error500", LABELS)
    with served(app) as base:
        url = f"{base}/v2/models/m/infer"
        error = error_of(HttpRunner(text_model(url, retries=2)), ["a"])
    assert app.state.requests == 3
    message = str(error)
    assert message.startswith(f"HTTP 500 from {url} (3 tries): internal error; request headers: ")
    assert "\n" not in message and len(message) < len(url) + 250


def test_a_5xx_that_passes_on_retry_succeeds():
    app = faulty_app("error500_then_ok", LABELS)
    with served(app) as base:
        runner = HttpRunner(text_model(f"{base}/v2/models/m/infer", retries=1))
        for batch in (["a", "b"], ["c"], ["d", "e", "f"]):
            np.testing.assert_allclose(runner.predict(batch), [[1 / 3, 2 / 3]] * len(batch))
    assert app.state.requests == 6  # each batch: one failure, one retry


def test_4xx_is_not_retried():
    app = faulty_app("error400", LABELS)
    with served(app) as base:
        url = f"{base}/predict"
        error = error_of(HttpRunner(text_model(url, "json", retries=3)), ["a"])
    assert app.state.requests == 1
    assert str(error).startswith(f"HTTP 400 from {url}: internal error; request headers:")


def test_malformed_json():
    with served(faulty_app("malformed", LABELS)) as base:
        error = error_of(HttpRunner(text_model(f"{base}/v2/models/m/infer")), ["a"])
    assert str(error).startswith("malformed JSON in the response: ")
    assert "{\"outputs\": [oops" in str(error)


@pytest.mark.parametrize("protocol,path", [("kserve_v2", "/v2/models/m/infer"), ("json", "/predict")])
def test_too_few_rows(protocol, path):
    with served(faulty_app("short", LABELS)) as base:
        error = error_of(HttpRunner(text_model(base + path, protocol)), ["a", "b", "c", "d"])
    assert str(error) == "response has 3 rows of scores for 4 inputs"
    with served(faulty_app("short", LABELS)) as base:
        assert str(error_of(HttpRunner(text_model(base + path, protocol)), ["a", "b"])) == "response has 1 row of scores for 2 inputs"


@pytest.mark.parametrize("protocol,path", [("kserve_v2", "/v2/models/m/infer"), ("json", "/predict")])
def test_rows_of_the_wrong_width(protocol, path):
    with served(faulty_app("wrong_width", LABELS)) as base:
        error = error_of(HttpRunner(text_model(base + path, protocol)), ["a", "b"])
    assert str(error) == "response rows have 3 scores, the spec declares 2 labels (negative, positive)"


def test_json_response_path_and_logits():
    with served(faulty_app("ok", LABELS, response_path="outputs.0.scores")) as base:
        url = f"{base}/predict"
        probs = HttpRunner(text_model(url, "json", response_path="outputs.0.scores")).predict(["a", "b"])
        np.testing.assert_allclose(probs, [[1 / 3, 2 / 3]] * 2)
        logits = HttpRunner(text_model(url, "json", response_path="outputs.0.scores", output_kind="logits")).predict(["a"])
        np.testing.assert_allclose(logits, [np.exp([1 / 3, 2 / 3]) / np.exp([1 / 3, 2 / 3]).sum()])
        error = error_of(HttpRunner(text_model(url, "json")), ["a"])
    assert str(error) == "the response has no `predictions`: the response is an object with keys `outputs`"


# ---------------------------------------------------------------------- secrets


def test_secret_headers_are_sent_and_never_shown(monkeypatch):
    monkeypatch.setenv("MLSPEC_TEST_TOKEN", SECRET)
    headers = (("Authorization", None, "MLSPEC_TEST_TOKEN"), ("X-Team", "ml", None))
    for mode in ("error500", "error400"):
        app = faulty_app(mode, LABELS)
        with served(app) as base:
            runner = HttpRunner(text_model(f"{base}/v2/models/m/infer", headers=headers, retries=1))
            error = error_of(runner, ["a"])
        assert app.state.headers[0]["authorization"] == SECRET
        assert app.state.headers[0]["x-team"] == "ml"
        shown = [str(error), repr(error), error.diagnostic.message, "".join(traceback.format_exception(error))]
        assert all("s3cr3t" not in text for text in shown), shown
        assert '"authorization": "***"' in str(error) and '"x-team": "ml"' in str(error)


def test_redact_masks_encodings_and_the_token_of_a_scheme():
    text = f"Bearer {SECRET} | {SECRET.replace('-', '%2D')} | token={SECRET}"
    assert redact(text, ["Bearer " + SECRET]) == "*** | s3cr3t%2Dtoken%2D123 | token=***"
    assert "s3cr3t" not in redact("a=s3cr3t%2Ftoken", ["s3cr3t/token"])


def test_a_missing_or_empty_secret_is_a_model_error(monkeypatch):
    monkeypatch.delenv("MLSPEC_TEST_TOKEN", raising=False)
    model = text_model("http://127.0.0.1:9/v2/models/m/infer", headers=(("Authorization", None, "MLSPEC_TEST_TOKEN"),))
    with pytest.raises(ModelError) as caught:
        HttpRunner(model)
    assert str(caught.value) == "header `Authorization` reads $MLSPEC_TEST_TOKEN, which is not set"
    assert caught.value.diagnostic.span == model.span
    monkeypatch.setenv("MLSPEC_TEST_TOKEN", "  ")
    with pytest.raises(ModelError, match="which is empty"):
        HttpRunner(model)
    monkeypatch.setenv("MLSPEC_TEST_TOKEN", SECRET + "\nX-Evil: 1")
    with pytest.raises(ModelError) as caught:
        HttpRunner(model)
    assert "control character" in str(caught.value) and "s3cr3t" not in str(caught.value)


# ---------------------------------------------------------------------- mlspec serve


def test_server_endpoints_and_errors(sentiment_url):
    with httpx.Client(base_url=sentiment_url, timeout=10, trust_env=False) as client:
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2/health/ready").json() == {"ready": True}
        assert client.get("/v2/models/sentiment/ready").status_code == 200
        meta = client.get("/v2/models/sentiment").json()
        assert meta["name"] == "sentiment" and meta["platform"] == "mlspec"
        assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1, 1]}]
        assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}]
        assert meta["parameters"]["labels"] == ["negative", "positive"]

        unknown = client.get("/v2/models/nope")
        assert unknown.status_code == 404 and "unknown model `nope`" in unknown.json()["error"]
        assert client.post("/v2/models/nope/infer", json={}).status_code == 404

        def bad(body, path="/v2/models/sentiment/infer", **kwargs):
            answer = client.post(path, **({"content": body} if isinstance(body, (str, bytes)) else {"json": body}), **kwargs)
            assert answer.status_code == 400, answer.text
            return answer.json()["error"]

        text = {"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": ["good", "bad"]}
        assert bad("{not json").startswith("malformed JSON")
        assert "`inputs`" in bad({"instances": ["x"]})
        assert bad({"inputs": [{**text, "datatype": "FP32"}]}) == "input `text` must be BYTES, not FP32"
        assert bad({"inputs": [{**text, "shape": [3, 1]}]}) == "input `text` has shape [3, 1] but 2 values"
        assert bad({"inputs": [{**text, "shape": [2, 2]}]}).startswith("input `text` has shape [2, 2]")
        assert bad({"inputs": [{**text, "name": "words"}]}) == "unknown input `words`; model `sentiment` takes `text`"
        assert bad({"inputs": [{**text, "data": [1, 2]}]}) == "input `text` holds values that are not strings"
        assert "`instances`" in bad({"inputs": []}, "/predict")
        assert bad({"instances": [1]}, "/predict") == "`instances` must be a list of strings"

        answer = client.post("/v2/models/sentiment/infer", json={"id": "r1", "inputs": [text]}).json()
        assert answer["id"] == "r1" and answer["outputs"][0]["shape"] == [2, 2]
        assert client.post("/predict", json={"instances": []}).json()["predictions"] == []


def test_image_server_rejects_wrong_shapes_and_types():
    model = plan_file(DIGITS_SPEC)[1].models["digits_onnx"]
    image = {"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [0.0] * 784}
    with served(create_app(model, load_runner(model, "cpu"))) as base, httpx.Client(base_url=base, timeout=10, trust_env=False) as client:
        url = "/v2/models/digits_onnx/infer"
        assert client.post(url, json={"inputs": [image]}).status_code == 200
        wrong_shape = client.post(url, json={"inputs": [{**image, "shape": [1, 28, 28]}]})
        assert wrong_shape.status_code == 400 and "takes [n, 1, 28, 28]" in wrong_shape.json()["error"]
        assert client.post(url, json={"inputs": [{**image, "datatype": "BYTES"}]}).json()["error"] == "input `input` must be FP32, not BYTES"
        assert client.post("/predict", json={"instances": [[0.0] * 10]}).status_code == 400
        assert client.get("/v2/models/digits_onnx").json()["inputs"][0]["shape"] == [-1, 1, 28, 28]


def test_serve_prints_where_it_serves_and_answers(monkeypatch, capsys, texts, sentiment):
    servers = []
    monkeypatch.setattr(_Server, "capture_signals", lambda self: contextlib.nullcontext())  # not the main thread
    original_init = _Server.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        servers.append(self)

    monkeypatch.setattr(_Server, "__init__", init)
    thread = threading.Thread(target=serve, args=(str(SENTIMENT_SPEC), "sentiment"), kwargs={"port": 0}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not (servers and servers[0].started) and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    try:
        assert servers and servers[0].started
        port = servers[0].servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/v2/models/sentiment/infer"
        line = capsys.readouterr().out.strip()
        while not line and time.monotonic() < deadline:  # the line follows `started` by a moment
            time.sleep(0.02)
            line = capsys.readouterr().out.strip()
        assert line.startswith("serving model `sentiment` (") and line.endswith(f"sentiment.mlspec) at {url}")
        model, local = sentiment
        with HttpRunner(http_model(model, url)) as remote:
            np.testing.assert_allclose(remote.predict(texts[:20]), local.predict(texts[:20]), atol=1e-6)
    finally:
        if servers:
            servers[0].should_exit = True
        thread.join(10)
    assert not thread.is_alive()


def test_serve_refuses_unknown_and_http_models(tmp_path):
    with pytest.raises(UsageError) as caught:
        app_for_spec(str(SENTIMENT_SPEC), "sentimnet")
    assert "has no model `sentimnet`" in str(caught.value) and caught.value.diagnostic.hint == "did you mean `sentiment`?"
    spec = tmp_path / "remote.mlspec"
    spec.write_text('model m {\n  http "http://127.0.0.1:9/infer"\n  input text\n  output probabilities labels [a, b]\n}\n')
    with pytest.raises(UsageError, match="itself served over HTTP"):
        app_for_spec(str(spec), "m")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_verifies_the_certificate_and_honours_ssl_cert_file(monkeypatch, tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    with served(faulty_app("ok", LABELS), certfile=cert, keyfile=key) as base:
        url = f"{base}/v2/models/m/infer"
        assert url.startswith("https://127.0.0.1:")
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # default trust store: not trusted, and not retried
        error = error_of(HttpRunner(text_model(url, retries=3)), ["a"])
        assert str(error).startswith(f"the TLS certificate of {url} is not trusted: ")
        monkeypatch.setenv("SSL_CERT_FILE", cert)
        with HttpRunner(text_model(url)) as runner:  # closed: an open TLS connection holds up the server's stop
            np.testing.assert_allclose(runner.predict(["a"]), [[1 / 3, 2 / 3]])


def test_v2_input_name_and_rank_come_from_the_model_metadata():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    seen = []

    async def metadata(request):
        return JSONResponse({"name": "m", "inputs": [{"name": "INPUT__0", "datatype": "BYTES", "shape": [-1]}], "outputs": []})

    async def infer(request):
        tensor = (await request.json())["inputs"][0]
        seen.append((tensor["name"], tensor["shape"]))
        n = tensor["shape"][0]
        return JSONResponse({"outputs": [{"name": "OUTPUT__0", "shape": [n, 2], "datatype": "FP32", "data": [0.25, 0.75] * n}]})

    app = Starlette(routes=[Route("/v2/models/m", metadata), Route("/v2/models/m/infer", infer, methods=["POST"])])
    with served(app) as base, HttpRunner(text_model(f"{base}/v2/models/m/infer")) as runner:
        for batch in (["a", "b"], ["c"]):
            np.testing.assert_allclose(runner.predict(batch), [[0.25, 0.75]] * len(batch))
    assert seen == [("INPUT__0", [2]), ("INPUT__0", [1])]


def test_redirects_are_not_followed_and_429_is_retried():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, RedirectResponse
    from starlette.routing import Route

    calls = []

    async def moved(request):
        calls.append("moved")
        return RedirectResponse("http://127.0.0.1:9/elsewhere", status_code=308)

    async def busy(request):
        calls.append("busy")
        if calls.count("busy") == 1:
            return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "0"})
        return JSONResponse({"predictions": [[0.5, 0.5]]})

    app = Starlette(routes=[Route("/moved", moved, methods=["POST"]), Route("/busy", busy, methods=["POST"])])
    with served(app) as base:
        error = error_of(HttpRunner(text_model(f"{base}/moved", "json")), ["a"])
        assert str(error) == f"HTTP 308 from {base}/moved: a redirect to http://127.0.0.1:9/elsewhere; put the address it points to in the spec"
        np.testing.assert_allclose(HttpRunner(text_model(f"{base}/busy", "json")).predict(["a"]), [[0.5, 0.5]])
    assert calls == ["moved", "busy", "busy"]
