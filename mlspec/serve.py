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
models are soft-maxed, so clients declare `output probabilities`. Malformed requests
get 400 and unknown model names 404, each with {"error": "..."}; a model that fails
gets 500. Requests are scored one at a time, in chunks of the model's `batch`. The v2
tensors are read and written by `runners.kserve_v2`, the codec of the `http` back end.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlspec import __version__
from mlspec.errors import UsageError, did_you_mean, display_path, first_line
from mlspec.model import ModelInfo
from runners import ModelRunner, kserve_v2, load_runner

MAX_REQUEST_BYTES = 256 * 1024 * 1024


class BadRequest(Exception):
    """A request the model cannot take: answered 400 with the message."""


def create_app(model: ModelInfo, runner: ModelRunner, max_request_bytes: int = MAX_REQUEST_BYTES) -> Starlette:
    """An ASGI app serving `runner` (a loaded back end of `model`) over the v2 protocol."""
    if model.http is not None:
        raise UsageError(f"model `{model.name}` is itself served over HTTP ({model.http.url})", model.span)
    lock = threading.Lock()  # back ends are not all thread-safe: score one request at a time
    labels = list(model.labels)

    def score(inputs) -> np.ndarray:
        with lock:
            parts = [np.asarray(runner.predict(inputs[i : i + model.batch]), dtype=np.float64) for i in range(0, len(inputs), model.batch)]
        probs = np.concatenate(parts) if parts else np.zeros((0, len(labels)))
        if probs.shape != (len(inputs), len(labels)):
            raise ValueError(f"the model returned scores of shape {list(probs.shape)} for {len(inputs)} inputs")
        return probs

    async def body_of(request: Request):
        if int(request.headers.get("content-length") or 0) > max_request_bytes:
            return _error(413, f"the request is larger than {max_request_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_request_bytes:
                return _error(413, f"the request is larger than {max_request_bytes} bytes")
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks))
        except (ValueError, UnicodeDecodeError) as error:
            return _error(400, f"malformed JSON: {first_line(error)}")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        return body

    def check_name(request: Request) -> JSONResponse | None:
        name = request.path_params["name"]
        if name != model.name:
            return _error(404, f"unknown model `{name}`; this server serves `{model.name}`")
        return None

    async def run(inputs) -> np.ndarray | JSONResponse:
        if len(inputs) == 0:
            return np.zeros((0, len(labels)))
        try:
            return await run_in_threadpool(score, inputs)
        except Exception as error:  # a back-end failure on these inputs: the client learns why
            return _error(500, f"model `{model.name}` failed: {first_line(error)}")

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
        probs = await run(inputs)
        if isinstance(probs, JSONResponse):
            return probs
        answer = {
            "model_name": model.name,
            "outputs": [kserve_v2.output_tensor(probs)],
            "parameters": {"labels": labels},
        }
        if isinstance(body.get("id"), str):
            answer["id"] = body["id"]
        return JSONResponse(answer)

    async def predict(request: Request):
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            inputs = _json_inputs(model, body)
        except BadRequest as error:
            return _error(400, str(error))
        probs = await run(inputs)
        if isinstance(probs, JSONResponse):
            return probs
        return JSONResponse({"predictions": probs.astype(np.float32).tolist(), "labels": labels})

    async def metadata(request: Request):
        return check_name(request) or JSONResponse(model_metadata(model))

    async def model_ready(request: Request):
        return check_name(request) or JSONResponse({"name": model.name, "ready": True})

    async def server_metadata(request: Request):
        return JSONResponse({"name": "mlspec", "version": __version__, "extensions": []})

    async def live(request: Request):
        return JSONResponse({"live": True})

    async def ready(request: Request):
        return JSONResponse({"ready": True})

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


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# ---------------------------------------------------------------------- the command


def app_for_spec(spec_path: str, model_name: str, model_paths=None, allow_python: bool = False, device: str = "auto") -> tuple[ModelInfo, Starlette]:
    """The model `model_name` of a spec, loaded, and the app serving it."""
    from mlspec.run.pipeline import plan_file

    _, plan = plan_file(spec_path, model_paths)
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


def serve(spec_path: str, model_name: str, host: str = "127.0.0.1", port: int = 8080, model_paths=None, allow_python: bool = False, device: str = "auto") -> None:
    """Serve a spec's model until interrupted (Ctrl-C). Port 0 picks a free port."""
    model, app = app_for_spec(spec_path, model_name, model_paths, allow_python, device)

    def announce(bound_port: int) -> None:
        print(f"serving model `{model.name}` ({display_path(Path(spec_path))}) at {infer_url(model, host, bound_port)}", flush=True)

    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"), announce)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    except SystemExit:  # uvicorn exits when it cannot listen; it has logged why
        raise UsageError(f"cannot serve at {host}:{port} (see the error above)") from None
