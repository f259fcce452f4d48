"""Test helpers: ASGI apps served on 127.0.0.1, a deliberately faulty model server, and a
port where nothing listens. Nothing here talks to anything but this machine."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import subprocess
import threading
import time
from typing import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

START_TIMEOUT = 10.0  # seconds
STOP_TIMEOUT = 10.0

FAULT_MODES = ("ok", "slow", "error500", "error500_then_ok", "error400", "malformed", "short", "wrong_width")


class _ThreadServer(uvicorn.Server):
    """uvicorn without signal handlers: it runs in a background thread, stopped by `should_exit`."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass

    def capture_signals(self):  # uvicorn >= 0.29
        return contextlib.nullcontext()


@contextlib.contextmanager
def served(app, graceful_shutdown: int = 2, certfile: str | None = None, keyfile: str | None = None) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 at a free port in a background thread; yields the base URL
    ("http://127.0.0.1:PORT", https with a certificate) and stops the server on exit."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=graceful_shutdown,
        ssl_certfile=certfile, ssl_keyfile=keyfile,
    )
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, name="test-http-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server stopped before it started")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start within {START_TIMEOUT:g}s")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"{'https' if certfile else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)


@contextlib.contextmanager
def dead_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens: bound (so no one else takes it) but not
    listening, so connecting is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()


def self_signed_certificate(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, made by the openssl command: (certfile, keyfile)."""
    cert, key = f"{folder}/cert.pem", f"{folder}/key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def faulty_app(mode: str, labels, delay: float = 1.0, response_path: str = "predictions") -> Starlette:
    """A model server that fails in one way. It answers both protocols: POST
    /v2/models/{name}/infer (v2) and POST /predict (JSON, scores at `response_path`).

    Modes: "ok" (constant probabilities), "slow" (answers after `delay` seconds),
    "error500" and "error400" (the body echoes the request headers), "error500_then_ok"
    (the first request with a given body fails, its repeats succeed), "malformed" (invalid
    JSON), "short" (one row fewer than inputs), "wrong_width" (len(labels) + 1 scores a row).

    `app.state.requests` counts the requests; `app.state.headers` holds each one's headers;
    `app.state.max_in_flight` is the most requests it was answering at once.
    """
    if mode not in FAULT_MODES:
        raise ValueError(f"unknown mode {mode!r}")
    width = len(labels)
    row = [(i + 1) / (width * (width + 1) / 2) for i in range(width)]  # 1/3, 2/3 for two labels
    lock = threading.Lock()

    async def handle(request: Request, protocol: str) -> Response:
        raw = await request.body()
        with lock:
            app.state.requests += 1
            app.state.headers.append(dict(request.headers))
            key = hashlib.sha256(raw).hexdigest()
            first_time = key not in app.state.seen
            app.state.seen.add(key)
            app.state.in_flight += 1
            app.state.max_in_flight = max(app.state.max_in_flight, app.state.in_flight)
        try:
            return await answer(request, raw, protocol, first_time)
        finally:
            with lock:
                app.state.in_flight -= 1

    async def answer(request: Request, raw: bytes, protocol: str, first_time: bool) -> Response:
        try:
            body = json.loads(raw)
            n = body["inputs"][0]["shape"][0] if protocol == "v2" else len(body["instances"])
        except (ValueError, KeyError, IndexError, TypeError):
            return JSONResponse({"error": "bad request"}, status_code=400)
        if mode in ("error500", "error400") or (mode == "error500_then_ok" and first_time):
            headers = dict(request.headers)
            first = {k: headers.pop(k) for k in ("authorization", "x-team") if k in headers}  # within the excerpt a client quotes
            echo = "internal error; request headers: " + json.dumps({**first, **headers})
            return Response(echo, status_code=400 if mode == "error400" else 500, media_type="text/plain")
        if mode == "malformed":
            return Response('{"outputs": [oops', media_type="application/json")
        if mode == "slow":  # answer after `delay` seconds, or stop when the client gives up
            end = time.monotonic() + delay
            while time.monotonic() < end:
                if await request.is_disconnected():
                    return Response(status_code=499)
                await asyncio.sleep(0.02)
        rows = n - 1 if mode == "short" else n
        scores = [row + [0.0]] * rows if mode == "wrong_width" else [row] * rows
        if protocol == "v2":
            data = [value for r in scores for value in r]
            shape = [rows, len(scores[0]) if scores else width]
            return JSONResponse({"model_name": "faulty", "outputs": [{"name": "probabilities", "shape": shape, "datatype": "FP32", "data": data}]})
        nested = scores
        for part in reversed(response_path.split(".")):
            nested = [nested] if part.isdigit() else {part: nested}
        return JSONResponse(nested)

    async def v2(request: Request) -> Response:
        return await handle(request, "v2")

    async def plain(request: Request) -> Response:
        return await handle(request, "json")

    app = Starlette(routes=[Route("/v2/models/{name}/infer", v2, methods=["POST"]), Route("/predict", plain, methods=["POST"])])
    app.state.requests = 0
    app.state.headers = []
    app.state.seen = set()
    app.state.in_flight = app.state.max_in_flight = 0
    return app
