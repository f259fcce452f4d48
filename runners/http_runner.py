"""Models behind an HTTP endpoint: `http "URL" protocol kserve_v2|json`.

One `predict` call is one POST of the whole batch:

- `kserve_v2`, the Open Inference Protocol v2 (KServe, Triton, MLServer, TorchServe,
  `mlspec serve`; the codec is `runners.kserve_v2`, shared with `mlspec serve`):
  `{"inputs": [{"name", "shape", "datatype", "data"}]}`. Texts (and the
  texts of `input tokens` models: the server tokenizes) go as one BYTES input `text` of
  shape [n, 1]; images as one FP32 input `input` of shape [n, *shape]; table rows as one
  input per column, named like it, of shape [n, 1]. Before the first request the model's
  metadata (the URL without `/infer`) is asked for once: when it lists one input, its
  name is used (and a text input of rank 1 gets shape [n]). The scores are the output
  named probabilities/probs/logits/scores, else the first of shape [n, len(labels)].
- `json`: `{REQUEST_FIELD: [input, ...]}` (images as nested lists, table rows as objects
  keyed by column); the scores are the list at the dotted RESPONSE_PATH of the answer
  ("predictions", "outputs.0.scores"): one row of numbers per input (or one object keyed
  by label).

The `timeout` bounds each whole exchange, the metadata GET as each POST: connecting,
sending, and the answer's head and body, however slowly a server drips them. Connection
errors, timeouts, 5xx and 429 answers are retried `retries` times with exponential
backoff; other 4xx answers are not. A header value that is not ASCII (httpx sends them
as ASCII), or a header name that is not a token, is a ModelError of that model, which
does not show the value. Every failure raises a `ModelError` whose message is one line a
user can act on, and from which the value of every header read from the environment (a
secret) has been removed. The client is shared by all
threads (the executor calls `predict` from up to `concurrency` threads at once): its
connection pool holds `concurrency` connections. httpx is imported when a runner is
made, not with this module.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mlspec.errors import ModelError, first_line
from mlspec.model import ModelInfo
from mlspec.secrets import mask
from runners import kserve_v2
from runners.base import check_scores, no_gradients, softmax
from runners.registry import Backend, installed_version, register

if TYPE_CHECKING:  # httpx is imported when an endpoint's runner is made, not before
    import httpx

BACKOFF_START = 0.1  # seconds before the first retry; doubled for each next one
BACKOFF_CAP = 2.0
RETRY_AFTER_CAP = 5.0  # the most a server's Retry-After may make us wait
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
MAX_METADATA_BYTES = 1024 * 1024
BODY_EXCERPT = 200  # characters of an error response quoted in a message
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110's token


class HttpRunner:
    """Scores inputs on a model server; thread-safe."""

    gradients = False
    device = "remote"
    split_failed_batches = False  # halving a batch a server fails on only multiplies failing requests

    def __init__(self, model: ModelInfo, device: str = "auto"):
        import httpx

        if model.http is None:
            raise ModelError(f"model `{model.name}` has no `http` endpoint", model.span)
        self.model = model
        self.labels = model.labels
        self.info = model.http
        self.url = model.http.url
        self.concurrency = model.http.concurrency
        headers, self._secrets = _resolve_headers(model)
        self._input: tuple[str, int | None] | None = None  # the server's input name and rank, once asked
        self._metadata_lock = threading.Lock()
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        # trust_env: SSL_CERT_FILE / SSL_CERT_DIR and the proxy variables apply as everywhere;
        # a server on this machine is never reached through a proxy.
        try:
            self._client = httpx.Client(
                headers={"Content-Type": "application/json", "Accept": "application/json", "User-Agent": f"mlspec/{_version()}", **headers},
                timeout=httpx.Timeout(self.info.timeout, pool=None),
                limits=limits,
                follow_redirects=False,  # a redirect would carry the secret headers to another address
                trust_env=True,
                mounts={f"all://{host}": None for host in LOOPBACK},
            )
        except Exception as error:  # a setting httpx refuses: an error of this model only, without the secrets
            self._fail(f"model `{model.name}`: the HTTP client cannot be set up: {type(error).__name__}: {first_line(error)}")
        _bound_by_deadlines(self._client)

    # ------------------------------------------------------------------ scoring

    def predict(self, inputs: Sequence, split: bool = True) -> np.ndarray:
        """One request of the whole batch (`split` changes nothing)."""
        n = len(inputs)
        if n == 0:
            return np.zeros((0, len(self.labels)))
        body = self._request_body(inputs)
        answer = self._post(body)
        scores = self._v2_scores(answer, n) if self.info.protocol == "kserve_v2" else self._json_scores(answer, n)
        scores = check_scores(scores, n, self.labels, self.model.name)
        return softmax(scores) if self.model.output_kind == "logits" else scores

    def tensor(self, inputs):
        no_gradients(self.model)

    def forward(self, batch):
        no_gradients(self.model)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def _request_body(self, inputs: Sequence) -> bytes:
        kind = self.model.input_kind
        if self.info.protocol == "kserve_v2":
            name, rank = self._v2_input(kserve_v2.input_name(self.model)) if kind != "table" else (None, None)
            body = {"inputs": kserve_v2.request_tensors(self.model, inputs, name, rank)}
        else:
            if kind == "image":
                instances = np.asarray(inputs, dtype=np.float32).tolist()
            elif kind == "table":
                instances = [dict(zip(self.model.columns, map(kserve_v2.plain, row))) for row in kserve_v2.table_rows(inputs, len(self.model.columns))]
            else:
                instances = [str(text) for text in inputs]
            body = {self.info.request_field: instances}
        try:
            return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
        except ValueError:
            self._fail("the inputs hold NaN or infinite values, which JSON cannot carry")

    def _v2_input(self, default: str) -> tuple[str, int | None]:
        """The name (and rank) of the server's one input, from the model's v2 metadata
        (GET the URL without `/infer`) once; `default` when the server does not say."""
        import httpx

        with self._metadata_lock:
            if self._input is None:
                self._input = (default, None)
                if self.url.endswith("/infer") and "?" not in self.url:
                    try:  # within the timeout, as a POST: a server that drips its answer holds no one
                        status, content, _ = self._exchange("GET", self.url.removesuffix("/infer"), None, MAX_METADATA_BYTES)
                        found = kserve_v2.metadata_input(json.loads(content)) if status == 200 else None
                        if found is not None:
                            self._input = found
                    except (httpx.HTTPError, _Deadline, _TooLarge, ValueError, AttributeError, RecursionError):
                        pass  # no metadata: the protocol's usual names
            return self._input

    def _post(self, body: bytes) -> bytes:
        """POST the body, retrying what may pass on a second try; the answer's body, or ModelError."""
        import httpx

        tries = self.info.retries + 1
        delay = BACKOFF_START
        for attempt in range(1, tries + 1):
            wait = None
            try:
                status, content, headers = self._send(body)
            except (httpx.TimeoutException, _Deadline):
                failure = f"timed out after {self.info.timeout:g}s"
            except httpx.ConnectError as error:
                import ssl  # here, not at the top: every `mlspec check` imports this back end

                causes = _causes(error)
                if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes):
                    hint = "set SSL_CERT_FILE to a CA bundle that holds its issuer" if self.url.startswith("https") else ""
                    self._fail(f"the TLS certificate of {self.url} is not trusted: {first_line(error)}; {hint}".rstrip("; "))
                refused = any(isinstance(cause, ConnectionRefusedError) for cause in causes) or "refused" in str(error).lower()
                failure = f"connection refused: {self.url}" if refused else f"cannot connect to {self.url}: {first_line(error)}"
            except httpx.TransportError as error:
                failure = f"the connection to {self.url} failed: {type(error).__name__}: {first_line(error)}"
            else:
                if 200 <= status < 300:
                    return content
                failure = f"HTTP {status} from {self.url}"
                excerpt = self._excerpt(content)
                if 300 <= status < 400:
                    self._fail(f"{failure}: a redirect to {headers.get('location', '?')}; put the address it points to in the spec")
                if status < 500 and status != 429:  # the request itself is wrong: it would fail again
                    self._fail(f"{failure}: {excerpt}")
                failure = (failure, excerpt)
                wait = _seconds(headers.get("retry-after"))
            if attempt < tries:
                time.sleep(min(wait, RETRY_AFTER_CAP) if wait is not None else delay)
                delay = min(delay * 2, BACKOFF_CAP)
        counted = f"{tries} tries" if tries > 1 else "1 try"
        if isinstance(failure, tuple):
            self._fail(f"{failure[0]} ({counted}): {failure[1]}")
        self._fail(f"{failure} ({counted})")

    def _send(self, body: bytes) -> tuple[int, bytes, "httpx.Headers"]:
        """One POST of the batch, within the timeout."""
        try:
            return self._exchange("POST", self.url, body, MAX_RESPONSE_BYTES)
        except _TooLarge:
            self._fail(f"the response from {self.url} is larger than {MAX_RESPONSE_BYTES // 2**20} MiB")

    def _exchange(self, method: str, url: str, body: bytes | None, limit: int) -> tuple[int, bytes, "httpx.Headers"]:
        """One request and its whole answer, which must end within the timeout, not only each
        read: every read and write of the connection (connecting, the answer's head, its
        body) waits at most until the deadline (`_bound_by_deadlines`), and the body is
        checked between its chunks too. _Deadline or an httpx timeout when it does not end
        in time; _TooLarge for an answer of more than `limit` bytes."""
        deadline = time.monotonic() + self.info.timeout
        _deadline.at = deadline
        try:
            with self._client.stream(method, url, content=body) as response:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise _TooLarge()
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise _Deadline()
                return response.status_code, b"".join(chunks), response.headers
        finally:
            _deadline.at = None

    # ------------------------------------------------------------------ answers

    def _parse(self, content: bytes):
        try:
            return json.loads(content)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            reason = "it nests too deeply" if isinstance(error, RecursionError) else first_line(error)
            self._fail(f"malformed JSON in the response: {reason} (it begins {self._excerpt(content, 60)!r})")

    def _v2_scores(self, content: bytes, n: int) -> np.ndarray:
        try:
            scores = kserve_v2.read_scores(self._parse(content), n, len(self.labels))
        except kserve_v2.V2Error as error:
            self._fail(str(error))
        return self._checked(scores, n)

    def _json_scores(self, content: bytes, n: int) -> np.ndarray:
        node = self._parse(content)
        path = self.info.response_path
        parts = path.split(".")
        for depth, part in enumerate(parts):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and re.fullmatch(r"-?\d+", part) and -len(node) <= int(part) < len(node):
                node = node[int(part)]
            else:
                where = ".".join(parts[:depth]) or "the response"
                self._fail(f"the response has no `{path}`: {where} is {_shape_of(node)}")
        if not isinstance(node, list):
            self._fail(f"`{path}` in the response is {_shape_of(node)}, not a list of rows of scores")
        if len(node) != n:
            self._fail(f"response has {_rows_of(len(node))} of scores for {n} inputs")
        rows = [self._row(row, i, path) for i, row in enumerate(node)]
        widths = sorted({len(row) for row in rows})
        if widths and widths != [len(self.labels)]:
            have = f"{widths[0]}" if len(widths) == 1 else f"{widths[0]} to {widths[-1]}"
            self._width_error(have)
        try:
            return np.asarray(rows, dtype=np.float64).reshape(n, len(self.labels))
        except (TypeError, ValueError):
            self._fail(f"`{path}` in the response holds values that are not numbers")

    def _row(self, row, i: int, path: str) -> list:
        if isinstance(row, dict):  # {"negative": 0.2, "positive": 0.8}
            missing = [label for label in self.labels if label not in row]
            if missing:
                self._fail(f"row {i} of `{path}` in the response has no score for {', '.join(missing)}")
            return [row[label] for label in self.labels]
        if not isinstance(row, list):
            self._fail(f"row {i} of `{path}` in the response is {_shape_of(row)}, not a list of scores")
        return row

    def _checked(self, scores: np.ndarray, n: int) -> np.ndarray:
        if scores.shape[0] != n:
            self._fail(f"response has {_rows_of(scores.shape[0])} of scores for {n} inputs")
        if scores.shape[1] != len(self.labels):
            self._width_error(str(scores.shape[1]))
        return scores

    def _width_error(self, have: str) -> None:
        labels = len(self.labels)
        self._fail(f"response rows have {have} scores, the spec declares {labels} labels ({', '.join(self.labels)})")

    # ------------------------------------------------------------------ messages

    def redact(self, text: str) -> str:
        """`text` with every secret header value (and its common encodings) masked."""
        return redact(text, self._secrets)

    def _excerpt(self, content: bytes, limit: int = BODY_EXCERPT) -> str:
        """The start of a response body on one line, secrets masked before it is cut."""
        text = " ".join(self.redact(content.decode("utf-8", errors="replace")).split())
        if not text:
            return "(empty body)"
        return text[:limit] + ("..." if len(text) > limit else "")

    def _fail(self, message: str):
        raise ModelError(self.redact(" ".join(message.split())), self.model.span) from None


class _Deadline(Exception):
    """The whole exchange took longer than the timeout."""


class _TooLarge(Exception):
    """The answer is larger than its limit."""


_deadline = threading.local()  # `at`: the time.monotonic() by which the calling thread's exchange must end


def _bound_by_deadlines(client: "httpx.Client") -> None:
    """Make each connection of `client` wait, in every read, write and connect, at most
    until the calling thread's deadline (`_deadline.at`): httpx's own timeouts bound each
    read only, so a server that drips its answer's head a byte at a time held a request
    forever. It wraps httpcore's network backend of each transport (httpx exposes no
    setting for it); where a transport has none, the body is still checked between chunks."""
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)


def _within(timeout: float | None, error: str) -> float | None:
    """`timeout`, shortened to what is left before the calling thread's deadline; the
    httpcore timeout `error` (ReadTimeout, ...) when nothing is left."""
    deadline = getattr(_deadline, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        import httpcore

        raise getattr(httpcore, error)("the exchange did not end within its timeout")
    return left if timeout is None else min(timeout, left)


class _DeadlineBackend:
    """An httpcore network backend whose connections keep to the calling thread's deadline."""

    def __init__(self, backend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(self._backend.connect_tcp(host, port, _within(timeout, "ConnectTimeout"), local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(self._backend.connect_unix_socket(path, _within(timeout, "ConnectTimeout"), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _DeadlineStream:
    """An httpcore network stream whose reads and writes keep to the calling thread's deadline."""

    def __init__(self, stream):
        self._stream = stream

    def read(self, max_bytes: int, timeout=None) -> bytes:
        return self._stream.read(max_bytes, _within(timeout, "ReadTimeout"))

    def write(self, buffer: bytes, timeout=None) -> None:
        self._stream.write(buffer, _within(timeout, "WriteTimeout"))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _within(timeout, "ConnectTimeout")))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


def _resolve_headers(model: ModelInfo) -> tuple[dict[str, str], tuple[str, ...]]:
    """The request headers, and the values read from the environment (secrets)."""
    headers, secrets = {}, []
    for name, value, variable in model.http.headers:
        if variable is not None:
            raw = os.environ.get(variable)
            if raw is None:
                raise ModelError(f"header `{name}` reads ${variable}, which is not set", model.span, f"set {variable} in the environment of the run")
            secrets.append(raw)
            value = raw.strip()
            if not value:
                raise ModelError(f"header `{name}` reads ${variable}, which is empty", model.span, f"set {variable} in the environment of the run")
            secrets.append(value)
        if not HEADER_NAME.fullmatch(name):
            raise ModelError(f"header {name!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)", model.span)
        what = f"the value of ${variable}" if variable else "its value"
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ModelError(f"header `{name}`: {what} holds a line break or another control character", model.span)
        if not value.isascii():  # httpx sends header values as ASCII; the character is not shown: it may be a secret's
            hint = f"check the value of {variable}: a token is ASCII" if variable else "a header value is ASCII"
            raise ModelError(f"header `{name}`: {what} holds a character that is not ASCII, which a header cannot carry", model.span, hint)
        headers[name] = value
    return headers, tuple(secrets)


def redact(text: str, secrets: Sequence[str]) -> str:
    """Mask each secret in `text`, in every spelling `mlspec.secrets` knows (as is, any case,
    URL- and JSON-escaped, base64, and each long word of it: the token of "Bearer <token>")."""
    return mask(text, secrets)


def _causes(error: BaseException) -> list[BaseException]:
    """The exception and those it was raised from, a few levels deep."""
    chain = []
    while error is not None and len(chain) < 8:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def _rows_of(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _seconds(retry_after: str | None) -> float | None:
    try:
        return max(0.0, float(retry_after)) if retry_after else None
    except ValueError:
        return None  # an HTTP date: use our own backoff


def _shape_of(node) -> str:
    if isinstance(node, dict):
        keys = list(node)[:10]
        return "an object with keys " + ", ".join(f"`{k}`" for k in keys) if keys else "an empty object"
    if isinstance(node, list):
        return f"a list of {len(node)}"
    return f"{type(node).__name__} {json.dumps(node)[:40]}" if node is not None else "null"


def _version() -> str:
    """mlspec's version, for the User-Agent header (runners import nothing of mlspec's front end)."""
    return installed_version("mlspec") or "0"


# Never cached: what the server answers may change without anything the cache could hash.
register(
    Backend(
        format="http",
        suffixes=(),
        gradients=False,
        local=False,
        devices=("remote",),
        cacheable=False,
        distributions=(),
        load=lambda model, device, allow_python: HttpRunner(model, device),
        default_device=lambda: "remote",
    )
)
