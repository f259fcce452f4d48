"""`mlspec serve SPEC --model NAME`: a spec's model as an HTTP model server.

Serves any model mlspec can load locally (ONNX, TorchScript, `torch.export`, Python
callables with `allow_python`) over the Open Inference Protocol v2, the protocol of
KServe, Triton, MLServer and TorchServe, so a spec's `http` model can point at it:

    GET  /v2/health/live, /v2/health/ready, /v2/models/NAME/ready   200 when up
    GET  /v2, /v2/models/NAME                                       server / model metadata
    POST /v2/models/NAME/infer                                      v2 inference
    POST /predict                                                   {"instances": [...]} -> {"predictions": [[...]]}

Inputs, per the model's `input`: texts (also for `input tokens` models: the server
tokenizes) as one BYTES input `text` of shape [n] or [n, 1]; images as one FP32 input
`input` of shape [n, *shape]; table rows as one input per column, named like it, of
shape [n] or [n, 1]. The answer is one FP32 output `probabilities` [n, labels]: logits
models are soft-maxed, so clients declare `output probabilities`. Every answer is
JSON, and every error {"error": "..."} with a message a client can act on: 400 for a
malformed request (not JSON, nested deeper than MAX_DEPTH, a lone surrogate, NaN or an
infinite number, the wrong tensors), 404 for an unknown model, 408 for a body that does
not arrive within `request_seconds`, 413 for more than MAX_REQUEST_BYTES or `max_inputs`
inputs, 503 for a request whose scoring takes longer than `request_seconds`, and 500 only
when the model itself fails (or returns NaN), logged without a traceback.

Requests are scored in chunks of the model's `batch` (at most CHUNK_ROWS), one chunk at
a time across requests: the back ends are not all thread-safe, and a large request does
not hold the model from the others. Between chunks the server stops scoring a request
whose client has gone. Connections that send no request within IDLE_SECONDS (of opening,
or of their last answer) are closed, and at most MAX_CONNECTIONS are served at once. The
v2 tensors are read and written by `runners.kserve_v2`, the codec of the `http` back end.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import anyio
import h11
import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from mlspec import __version__
from mlspec.errors import UsageError, did_you_mean, display_path, first_line
from mlspec.model import ModelInfo
from runners import ModelRunner, kserve_v2, load_runner

MAX_REQUEST_BYTES = 256 * 1024 * 1024
MAX_INPUTS = 16_384  # inputs one request may hold (413 beyond): a client sends more in several requests
MAX_DEPTH = 32  # how deeply a request's JSON may nest (a v2 image tensor's data nests 5 deep)
CHUNK_ROWS = 1024  # the most inputs scored in one call, between which other requests and disconnects are seen
REQUEST_SECONDS = 120.0  # the most a request's body may take to arrive, and its scoring to take
IDLE_SECONDS = 5  # a connection that sends no whole request head this long after opening (or its last answer) is closed
MAX_CONNECTIONS = 256  # connections served at once; a request beyond is answered 503 by uvicorn
MAX_MESSAGE = 300  # characters of an error message (which may quote the request)


class BadRequest(Exception):
    """A request the model cannot take: answered 400 with the message."""


def create_app(
    model: ModelInfo,
    runner: ModelRunner,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    max_inputs: int = MAX_INPUTS,
    request_seconds: float = REQUEST_SECONDS,
) -> Starlette:
    """An ASGI app serving `runner` (a loaded back end of `model`) over the v2 protocol."""
    if model.http is not None:
        raise UsageError(f"model `{model.name}` is itself served over HTTP ({model.http.url})", model.span)
    lock = asyncio.Lock()  # back ends are not all thread-safe: one chunk scored at a time
    labels = list(model.labels)
    chunk = max(1, min(model.batch, CHUNK_ROWS))

    async def body_of(request: Request):
        if int(request.headers.get("content-length") or 0) > max_request_bytes:
            return _error(413, f"the request is larger than {max_request_bytes} bytes")
        chunks, size = [], 0
        try:
            with anyio.fail_after(request_seconds):
                async for part in request.stream():
                    size += len(part)
                    if size > max_request_bytes:
                        return _error(413, f"the request is larger than {max_request_bytes} bytes")
                    chunks.append(part)
        except TimeoutError:
            return _error(408, f"the request's body did not arrive within {request_seconds:g}s")
        try:
            body = json.loads(b"".join(chunks))
        except RecursionError:
            return _error(400, f"the request's JSON nests deeper than {MAX_DEPTH} levels")
        except (ValueError, UnicodeDecodeError) as error:
            return _error(400, f"malformed JSON: {first_line(error)}")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        problem = _json_problem(body)
        if problem:
            return _error(400, problem)
        return body

    def check_name(request: Request) -> JSONResponse | None:
        name = request.path_params["name"]
        if name != model.name:
            return _error(404, f"unknown model `{name}`; this server serves `{model.name}`")
        return None

    async def run(request: Request, inputs) -> np.ndarray | JSONResponse:
        """The inputs' scores, chunk by chunk; an error answer when the request is too large,
        its client has gone, it takes too long, or the model fails."""
        n = len(inputs)
        if n > max_inputs:
            return _error(413, f"the request holds {n} inputs; this server takes at most {max_inputs} a request: send them in several")
        deadline = time.monotonic() + request_seconds
        parts = []
        for start in range(0, n, chunk):
            if await request.is_disconnected():
                return _error(499, "the client closed the connection")  # nobody reads it: scoring stops
            if time.monotonic() > deadline:
                return _error(503, f"scoring the request took longer than {request_seconds:g}s; send fewer inputs a request")
            async with lock:
                try:
                    part = await run_in_threadpool(runner.predict, inputs[start : start + chunk])
                except Exception as error:  # a back-end failure on these inputs: the client learns why
                    return _error(500, f"model `{model.name}` failed: {first_line(error)}")
            part = np.asarray(part, dtype=np.float64)
            rows = min(chunk, n - start)
            if part.shape != (rows, len(labels)):
                return _error(500, f"model `{model.name}` failed: it returned scores of shape {list(part.shape)} for {rows} inputs")
            if not np.isfinite(part).all():
                return _error(500, f"model `{model.name}` failed: it returned NaN or infinite scores")
            parts.append(part)
        return np.concatenate(parts) if parts else np.zeros((0, len(labels)))

    async def infer(request: Request):
        unknown = check_name(request)
        if unknown:
            return unknown
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            inputs = kserve_v2.read_inputs(model, body)
        except kserve_v2.V2Error as error:
            return _error(400, str(error))
        probs = await run(request, inputs)
        if isinstance(probs, JSONResponse):
            return probs
        answer = {
            "model_name": model.name,
            "outputs": [kserve_v2.output_tensor(probs)],
            "parameters": {"labels": labels},
        }
        if isinstance(body.get("id"), str):
            answer["id"] = body["id"]
        return _Json(answer)

    async def predict(request: Request):
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            inputs = _json_inputs(model, body)
        except BadRequest as error:
            return _error(400, str(error))
        probs = await run(request, inputs)
        if isinstance(probs, JSONResponse):
            return probs
        return _Json({"predictions": probs.astype(np.float32).tolist(), "labels": labels})

    async def metadata(request: Request):
        return check_name(request) or _Json(model_metadata(model))

    async def model_ready(request: Request):
        return check_name(request) or _Json({"name": model.name, "ready": True})

    async def server_metadata(request: Request):
        return _Json({"name": "mlspec", "version": __version__, "extensions": []})

    async def live(request: Request):
        return _Json({"live": True})

    async def ready(request: Request):
        return _Json({"ready": True})

    async def http_error(request: Request, error: HTTPException):
        return _error(error.status_code, str(error.detail))

    async def server_error(request: Request, error: Exception):
        return _error(500, f"internal error: {first_line(error)}")

    versioned = "/v2/models/{name}/versions/{version}"
    routes = [
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2/models/{name}", metadata, methods=["GET"]),
        Route(versioned, metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route(f"{versioned}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route(f"{versioned}/infer", infer, methods=["POST"]),
        Route("/predict", predict, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})


def model_metadata(model: ModelInfo) -> dict:
    """The v2 model metadata: inputs and outputs with datatypes and shapes (-1: any batch)."""
    return {
        "name": model.name,
        "versions": [],
        "platform": "mlspec",
        "inputs": kserve_v2.input_metadata(model),
        "outputs": kserve_v2.output_metadata(model),
        "parameters": {"labels": list(model.labels), "input": model.input_kind, "source": model.format},
    }


# ---------------------------------------------------------------------- reading `/predict` requests


def _json_inputs(model: ModelInfo, body: dict):
    instances = body.get("instances")
    if not isinstance(instances, list):
        raise BadRequest('the request needs an `instances` list: {"instances": [...]}')
    if model.input_kind == "image":
        shape = list(model.image.shape)
        try:
            images = np.asarray(instances, dtype=np.float32)
        except (TypeError, ValueError):
            raise BadRequest(f"`instances` must be images of shape {shape}: nested lists of numbers") from None
        if images.ndim < 1 or images.size != len(instances) * math.prod(shape):
            raise BadRequest(f"`instances` must be images of shape {shape}, not {list(images.shape[1:])}")
        return images.reshape([len(instances), *shape])
    if model.input_kind == "table":
        columns = [[] for _ in model.columns]
        for i, row in enumerate(instances):
            if isinstance(row, dict):
                missing = [c for c in model.columns if c not in row]
                if missing:
                    raise BadRequest(f"instance {i} has no {', '.join(missing)}")
                row = [row[c] for c in model.columns]
            if not isinstance(row, list) or len(row) != len(model.columns):
                raise BadRequest(f"instance {i} must be an object keyed by column or a list of {len(model.columns)} values")
            for values, value in zip(columns, row):
                if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    raise BadRequest(f"instance {i} holds a value that is neither a string nor a number")
                values.append(value)
        return kserve_v2.table_of(columns)
    if not all(isinstance(v, str) for v in instances):
        raise BadRequest("`instances` must be a list of strings")
    return instances


class _Json(JSONResponse):
    """A JSON answer in ASCII (a message may quote a request's text), with no NaN."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _error(status: int, message: str) -> JSONResponse:
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return _Json({"error": message}, status_code=status)


def _json_problem(body) -> str | None:
    """What makes a parsed request unfit for a model, before it is read: nesting deeper
    than MAX_DEPTH, a string with a lone surrogate (not a character), NaN or infinity."""
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                return f"the request's JSON nests deeper than {MAX_DEPTH} levels"
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if key is not None and not _is_text(key):
                    return "the request holds a key with a lone surrogate (U+D800 to U+DFFF), which is not a character"
                if isinstance(item, (dict, list)):
                    stack.append((item, depth + 1))
                elif isinstance(item, str):
                    if not _is_text(item):
                        return "the request holds a string with a lone surrogate (U+D800 to U+DFFF), which is not a character"
                elif isinstance(item, float) and not math.isfinite(item):
                    return "the request holds NaN or an infinite number, which a model cannot score"
    return None


def _is_text(text: str) -> bool:
    """Whether a string is characters only (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ---------------------------------------------------------------------- the command


def app_for_spec(spec_path: str, model_name: str, model_paths=None, allow_python: bool = False, device: str = "auto", allowed=()) -> tuple[ModelInfo, Starlette]:
    """The model `model_name` of a spec, loaded, and the app serving it (`allowed`: the
    files and folders outside its project the spec may read, as `--allow-path`)."""
    from mlspec.run.pipeline import plan_file

    _, plan = plan_file(spec_path, model_paths, allowed=allowed)
    model = plan.models.get(model_name)
    if model is None:
        names = ", ".join(f"`{m}`" for m in plan.models) or "none"
        raise UsageError(f"{display_path(spec_path)} has no model `{model_name}` (its models: {names})", None, did_you_mean(model_name, plan.models))
    if model.http is not None:
        raise UsageError(f"model `{model_name}` is itself served over HTTP ({model.http.url}); serve a local model", model.span)
    runner = load_runner(model, device, allow_python)
    return model, create_app(model, runner)


def infer_url(model: ModelInfo, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v2/models/{model.name}/infer"


class _Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection that has not sent a whole request
    head within `idle_seconds` of opening or of its last answer (uvicorn closes only those
    idle after an answer, so a connection that never sends a byte, or drips a head, stayed)."""

    idle_seconds: float = IDLE_SECONDS
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a request's head is in: the app takes it from here
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()

    def connection_lost(self, exc) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_timer = self.loop.call_later(self.idle_seconds, self._idle)

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _idle(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def server_config(app, host: str = "127.0.0.1", port: int = 8080, idle_seconds: float = IDLE_SECONDS, max_connections: int = MAX_CONNECTIONS, **settings) -> uvicorn.Config:
    """The uvicorn configuration `serve` runs `app` with: HTTP/1.1 that closes idle and
    half-open connections after `idle_seconds`, at most `max_connections` served at once."""
    protocol = type("Protocol", (_Protocol,), {"idle_seconds": idle_seconds})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=max(1, math.ceil(idle_seconds)),
        limit_concurrency=max_connections,
        **settings,
    )


def check_port(port: int) -> None:
    """A TCP port, or 0 for any free one; UsageError otherwise."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port takes a TCP port from 0 to 65535 (0: any free port), not {port}")


class _Server(uvicorn.Server):
    """uvicorn's server, printing one line once it listens."""

    def __init__(self, config: uvicorn.Config, announce):
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            port = self.servers[0].sockets[0].getsockname()[1] if self.servers and self.servers[0].sockets else self.config.port
            self._announce(port)


def serve(
    spec_path: str, model_name: str, host: str = "127.0.0.1", port: int = 8080, model_paths=None, allow_python: bool = False, device: str = "auto", allowed=()
) -> None:
    """Serve a spec's model until interrupted (Ctrl-C). Port 0 picks a free port."""
    check_port(port)
    model, app = app_for_spec(spec_path, model_name, model_paths, allow_python, device, allowed)

    def announce(bound_port: int) -> None:
        print(f"serving model `{model.name}` ({display_path(Path(spec_path))}) at {infer_url(model, host, bound_port)}", flush=True)

    server = _Server(server_config(app, host, port), announce)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    except SystemExit:  # uvicorn exits when it cannot listen; it has logged why
        raise UsageError(f"cannot serve at {host}:{port} (see the error above)") from None
    except (OSError, OverflowError, ValueError) as error:  # an address the system refuses
        raise UsageError(f"cannot serve at {host}:{port}: {first_line(error)}") from None
