"""The prediction cache: a model's probabilities for inputs it has scored before.

Re-running a suite whose model and inputs did not change scores nothing; a changed test
scores only its new inputs. Entries are keyed by

- the model: sha256 of the model file's bytes and of the declaration parts that change
  its outputs (format, input kind, tokenizer, image shape and range, table columns,
  output kind, labels), the device it runs on (cpu or cuda: scores differ in their last
  bits) and the back end's version (of the first of its descriptor's `distributions`
  that is installed, `runners.registry`);
- the input: sha256 of its bytes (a text's UTF-8, an image's float32 values and shape,
  a table row's column names and values).

Each model key has one SQLite database, `<cache dir>/<model key>.sqlite`, of rows
(input hash, float32 probabilities as stored bytes), so a cached row is bit-identical to
the scored one; of whole requests (a digest of all a run's inputs of the model, in order,
and all their probabilities: a re-run of an unchanged suite reads one row, and hashes its
inputs in one pass, `request_digest`; the latest `REQUESTS_KEPT`); and of the model's
costs. SQLite in WAL mode with a busy timeout lets parallel CI jobs share a directory; a
lookup by input reads the whole table when it is not much larger than the request, else
goes in chunks of `IN (...)`; a store is one transaction.

The cache stands aside for a model that costs less than its lookups: each run records the
model's load time and scoring time per input and the lookup's time per input (before the
first lookup: hashing a sample of the inputs, plus `ROW_SECONDS`), and when loading and
scoring a run's inputs would cost less than looking them up, nothing is looked up or
stored (the run's notes say so: `cache: skipped for model ...`). Results are the same
either way. The key is known without
loading the model (the device `auto` resolves without importing a back end on a machine
with no CUDA driver), so a run whose inputs are all cached need not load it at all.

Never cached: models whose back end is not `cacheable`, `python` (their code may change
without the file) and `http` (the server may change), and rows that failed or are not
finite. A cache that cannot be
read or written (a corrupt file, a read-only folder) is reported once on stderr and the
run goes on without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlspec.model import ModelInfo
from runners import ModelRunner, backends
from runners.registry import installed_version

DEFAULT_DIR = ".mlspec-cache"
ENV_VAR = "MLSPEC_CACHE_DIR"
FORMAT_VERSION = 1  # part of every model key: a new layout starts new files
LOOKUP_CHUNK = 500  # keys per `IN (...)`: below every SQLite build's variable limit
SCAN_RATIO = 4  # read the whole table when it holds at most this many rows per input looked up
BUSY_TIMEOUT = 60.0  # seconds to wait for another job's write
REQUESTS_KEPT = 8  # whole requests kept per model (the latest stored)
MIN_MEASURED_INPUTS = 1000  # a model's cost per input is measured on at least this many
HASH_SAMPLE = 512  # inputs hashed to estimate a lookup's cost before the first one
SETTLED = 1.5  # measured costs within this factor of the stored ones are not stored again
ROW_SECONDS = 2e-6  # reading and matching one cached row (SQLite rows into a dict: ~2 µs each on 2 cores)


def cache_directory(option: str | None = None) -> Path:
    """`--cache-dir`, else $MLSPEC_CACHE_DIR, else `.mlspec-cache` in the current directory."""
    return Path(option or os.environ.get(ENV_VAR) or DEFAULT_DIR)


class PredictionCache:
    """The cache of one run: opens a database per model and counts what it found."""

    def __init__(self, directory: str | Path, device: str = "auto", warn: Callable[[str], None] | None = None):
        self.directory = Path(directory)
        self.device = device  # as asked for: auto, cpu or cuda
        self.inputs = 0  # inputs looked up
        self.hits = 0  # of those, found
        self.broken: str | None = None  # why the cache is off for the rest of the run
        self._warn = warn or (lambda message: print(message, file=sys.stderr))
        self._file_hashes: dict[tuple, str] = {}
        self._devices: dict[str, str] = {}
        self._versions: dict[str, str] = {}

    def view(self, model: ModelInfo, plan, ids: np.ndarray) -> ModelView | None:
        """The cache's rows for inputs `ids` of `plan` on `model`; None when the model is
        not cached or the cache is off."""
        if self.broken or len(ids) == 0:
            return None
        try:
            key = self.model_key(model)
            if key is None:
                return None
            return ModelView(self, key, self._devices[model.format], plan, model, ids)
        except (OSError, sqlite3.Error, ValueError) as error:
            self.fail(error)
            return None

    def model_key(self, model: ModelInfo) -> str | None:
        """The hex key of a model's outputs, or None for a model that is never cached."""
        back_end = backends().get(model.format)
        if back_end is None or not back_end.cacheable or model.http is not None or model.path is None or not Path(model.path).is_file():
            return None
        parts = {
            "cache": FORMAT_VERSION,
            "file": self._file_hash(Path(model.path)),
            "format": model.format,
            "input": model.input_kind,
            "tokenizer": _tokenizer_part(model),
            "hf_tokenizer": [hashlib.sha256(model.hf_tokenizer.json.encode()).hexdigest(), model.hf_tokenizer.max_length] if model.hf_tokenizer else None,
            "image": [list(model.image.shape), model.image.low, model.image.high] if model.image else None,
            "columns": list(model.columns),
            "output": model.output_kind,
            "labels": list(model.labels),
            "device": self._device(model.format),
            "backend": self._version(model.format),
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def _file_hash(self, path: Path) -> str:
        stat = path.stat()
        memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if memo not in self._file_hashes:
            with path.open("rb") as file:
                self._file_hashes[memo] = hashlib.file_digest(file, "sha256").hexdigest()
        return self._file_hashes[memo]

    def _device(self, format: str) -> str:
        """The device a model of `format` runs on, as its back end will choose it."""
        if format not in self._devices:
            self._devices[format] = self.device if self.device != "auto" else _auto_device(format)
        return self._devices[format]

    def _version(self, format: str) -> str:
        if format not in self._versions:
            installed = ((name, installed_version(name)) for name in backends()[format].distributions)
            self._versions[format] = next((f"{name} {version}" for name, version in installed if version), "unknown")
        return self._versions[format]

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.sqlite"

    def connect(self, key: str) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path(key), timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("CREATE TABLE IF NOT EXISTS probs (input BLOB PRIMARY KEY, probs BLOB NOT NULL) WITHOUT ROWID")
            connection.execute("CREATE TABLE IF NOT EXISTS requests (digest BLOB PRIMARY KEY, probs BLOB NOT NULL, stored REAL NOT NULL)")
            connection.execute("CREATE TABLE IF NOT EXISTS costs (name TEXT PRIMARY KEY, value REAL NOT NULL)")
        except BaseException:
            connection.close()
            raise
        return connection

    def fail(self, error: Exception, path: Path | None = None) -> None:
        """Turn the cache off for the rest of the run, saying why once."""
        if self.broken is None:
            self.broken = f"{type(error).__name__}: {error}"
            where = f"{path} (delete it to start it afresh)" if path else f"in {self.directory}"
            self._warn(f"mlspec: warning: prediction cache {where} cannot be used ({self.broken}); running without it")

    def summary(self) -> str | None:
        """`cache: 18970 of 18970 inputs from .mlspec-cache`, once anything was looked up."""
        if not self.inputs:
            return None
        return f"cache: {self.hits} of {self.inputs} inputs from {self.directory}"


@dataclass
class Costs:
    """What a model costs against its cache, as measured in earlier runs (None: not known)."""

    load: float | None = None  # seconds to load the model
    score: float | None = None  # seconds per input scored (in the executor, batches and all)
    lookup: float | None = None  # seconds per input looked up (hashing, reading, matching)

    def stand_aside(self, inputs: int) -> bool:
        """Whether loading the model and scoring `inputs` costs less than looking them up."""
        if self.score is None or self.lookup is None or inputs == 0:
            return False
        return (self.load or 0.0) + self.score * inputs < self.lookup * inputs

    def settled(self, stored: Costs) -> bool:
        """Whether the costs `stored` say about the same (each known, within SETTLED): no need to store these."""
        pairs = [(getattr(self, name), getattr(stored, name)) for name in ("load", "score", "lookup")]
        return all(new is None or (old is not None and old / SETTLED <= new <= old * SETTLED) for new, old in pairs)

    def describe(self, model: str) -> str:
        costs = f"loading {self.load or 0.0:.3f} s + scoring {self.score * 1e6:.2f} µs/input < lookup {self.lookup * 1e6:.2f} µs/input"
        return f"cache: skipped for model `{model}` ({costs})"


class ModelView:
    """One model's cached rows for one run's inputs: fill what is known, save what was scored.

    A re-run of the same inputs reads them back in one piece (`requests`: the whole request's
    probabilities under one digest of all its inputs); other runs look inputs up one by one.
    The cache stands aside (`skipped`) for a model that scores faster than it looks up."""

    def __init__(self, cache: PredictionCache, key: str, device: str, plan, model: ModelInfo, ids: np.ndarray):
        self.cache, self.key, self.device, self.plan, self.model, self.ids = cache, key, device, plan, model, ids
        self.n_labels = len(model.labels)
        self.found = np.zeros(len(ids), dtype=bool)
        self.keys: list[bytes] | None = None
        self.request: bytes | None = None
        self.request_hit = False
        self.costs = Costs()
        self.measured_lookup: float | None = None
        self.skipped: str | None = None  # why the cache stood aside for this model

    def fill(self, probs: np.ndarray) -> np.ndarray:
        """Copy the cached rows into `probs` (indexed by input id); the ids still to score."""
        if not self.cache.path(self.key).exists():
            self.cache.inputs += len(self.ids)
            return self.ids
        started = time.perf_counter()
        try:
            with closing(self.cache.connect(self.key)) as connection:
                self.costs = _read_costs(connection)
                if self.costs.stand_aside(len(self.ids)):
                    self.skipped = self.costs.describe(self.model.name)
                    return self.ids
                self._lookup(connection, probs)
        except (OSError, sqlite3.Error) as error:
            self.cache.fail(error, self.cache.path(self.key))
            return self.ids
        self.measured_lookup = (time.perf_counter() - started) / len(self.ids)
        self.cache.inputs += len(self.ids)
        self.cache.hits += int(self.found.sum())
        return self.ids[~self.found]

    def _lookup(self, connection: sqlite3.Connection, probs: np.ndarray) -> None:
        """The whole request's row if it was stored, else each input's."""
        self.request = request_digest(self.plan, self.model.table, self.ids)
        row = connection.execute("SELECT probs FROM requests WHERE digest = ?", (self.request,)).fetchone()
        if row is not None and len(row[0]) == 4 * self.n_labels * len(self.ids):
            self.request_hit = True
            self._take(probs, np.arange(len(self.ids)), [row[0]])
            return
        self.keys = input_keys(self.plan, self.model.table, self.ids)
        rows = self._rows(connection)
        blobs = list(map(rows.get, self.keys))
        width = 4 * self.n_labels
        positions = [p for p, blob in enumerate(blobs) if blob is not None and len(blob) == width]  # a row of another width is not ours
        self._take(probs, np.asarray(positions, dtype=np.int64), [blobs[p] for p in positions] if len(positions) < len(blobs) else blobs)

    def _take(self, probs: np.ndarray, positions: np.ndarray, blobs: list[bytes]) -> None:
        """Copy the finite rows of `blobs` (of inputs at `positions` of the request) into `probs`."""
        if not len(positions):
            return
        values = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(positions), self.n_labels)
        good = np.isfinite(values).all(axis=1)
        self.found[positions[good]] = True
        probs[self.ids[positions[good]]] = values[good]

    def _rows(self, connection: sqlite3.Connection) -> dict[bytes, bytes]:
        pages, page_size = (connection.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "page_size"))
        if pages * page_size / (48 + 4 * self.n_labels) <= SCAN_RATIO * len(self.keys):
            return dict(connection.execute("SELECT input, probs FROM probs"))
        rows: dict[bytes, bytes] = {}
        for start in range(0, len(self.keys), LOOKUP_CHUNK):
            chunk = self.keys[start : start + LOOKUP_CHUNK]
            rows.update(connection.execute(f"SELECT input, probs FROM probs WHERE input IN ({','.join('?' * len(chunk))})", chunk))
        return rows

    def save(self, probs: np.ndarray, failed: np.ndarray, runner: ModelRunner | None = None, cost: tuple[float | None, float, int] | None = None) -> None:
        """Store the rows scored in this run (those not found, not failed and finite), the
        whole request when every row is known, and what the model and the lookups cost
        (`cost`: the load's seconds or None, the scoring's seconds and inputs). Only the costs
        when the cache does not pay for this model; nothing when the model ran on another
        device than its key says (a CUDA provider that fell back to the CPU)."""
        if self.cache.broken or self.skipped or (runner is not None and runner.device != self.device):
            return
        scored = np.flatnonzero(~self.found & ~failed[self.ids])
        values = np.ascontiguousarray(probs[self.ids[scored]], dtype="<f4")
        finite = np.isfinite(values).all(axis=1)
        scored, values = scored[finite], values[finite]
        costs = self._costs(cost)
        if costs.stand_aside(len(self.ids)):
            self.skipped = costs.describe(self.model.name)
            scored = scored[:0]
        whole = not self.request_hit and not self.skipped and bool(np.isfinite(probs[self.ids]).all()) and not failed[self.ids].any()
        if not len(scored) and not whole and costs.settled(self.costs):
            return
        try:
            self._store(scored, values, probs, whole, costs)
        except (OSError, sqlite3.Error) as error:
            self.cache.fail(error, self.cache.path(self.key))

    def _costs(self, cost: tuple[float | None, float, int] | None) -> Costs:
        """The costs known before this run, updated with what it measured."""
        costs = Costs(self.costs.load, self.costs.score, self.measured_lookup or self.costs.lookup)
        if cost is not None:
            load, seconds, inputs = cost
            costs.load = load if load is not None else costs.load
            costs.score = seconds / inputs if inputs >= MIN_MEASURED_INPUTS else costs.score
        if costs.lookup is None and costs.score is not None:
            costs.lookup = self._estimated_lookup()
        return costs

    def _estimated_lookup(self) -> float:
        """Seconds per input of a lookup, before any: hashing a sample of the inputs, and reading a row."""
        sample = self.ids[:: max(1, len(self.ids) // HASH_SAMPLE)][:HASH_SAMPLE]
        started = time.perf_counter()
        input_keys(self.plan, self.model.table, sample)
        return (time.perf_counter() - started) / max(1, len(sample)) + ROW_SECONDS

    def _store(self, scored: np.ndarray, values: np.ndarray, probs: np.ndarray, whole: bool, costs: Costs) -> None:
        """One transaction: the scored rows, the whole request (`whole`), the costs."""
        width = 4 * self.n_labels
        with closing(self.cache.connect(self.key)) as connection:
            if len(scored):
                keys = input_keys(self.plan, self.model.table, self.ids[scored]) if self.keys is None else [self.keys[p] for p in scored]
                data = values.tobytes()
                entries = [(key, data[i * width : (i + 1) * width]) for i, key in enumerate(keys)]
            connection.execute("BEGIN IMMEDIATE")
            if len(scored):
                connection.executemany("INSERT OR REPLACE INTO probs (input, probs) VALUES (?, ?)", entries)
            if whole:
                request = self.request or request_digest(self.plan, self.model.table, self.ids)
                whole_probs = np.ascontiguousarray(probs[self.ids], dtype="<f4").tobytes()
                connection.execute("INSERT OR REPLACE INTO requests (digest, probs, stored) VALUES (?, ?, ?)", (request, whole_probs, time.time()))
                connection.execute("DELETE FROM requests WHERE digest NOT IN (SELECT digest FROM requests ORDER BY stored DESC LIMIT ?)", (REQUESTS_KEPT,))
            connection.executemany("INSERT OR REPLACE INTO costs (name, value) VALUES (?, ?)", [(n, v) for n, v in vars(costs).items() if v is not None])
            connection.execute("COMMIT")


def _read_costs(connection: sqlite3.Connection) -> Costs:
    return Costs(**dict(connection.execute("SELECT name, value FROM costs")))


def request_digest(plan, table: str, ids: np.ndarray) -> bytes:
    """sha256 of all the inputs `ids`, in order, in one pass: for texts, their lengths then
    their concatenated UTF-8 (so the framing is unambiguous; built in C, about 3x faster than
    hashing each one); otherwise the inputs' own keys (`input_keys`)."""
    if table != "text":
        return hashlib.sha256(b"".join(input_keys(plan, table, ids))).digest()
    values = plan.table(table)
    texts = [values[i] for i in ids]
    digest = hashlib.sha256(b"T")
    digest.update(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)).tobytes())
    digest.update("".join(texts).encode("utf-8", "surrogatepass"))  # a lone surrogate is a text too
    return digest.digest()


def input_keys(plan, table: str, ids: np.ndarray) -> list[bytes]:
    """sha256 of each input's bytes: a text's UTF-8, an image's float32 values and shape,
    a table row's column names and values. The first byte tells the kinds apart."""
    values = plan.table(table)
    if table == "image":
        keys = []
        for i in ids:
            image = np.ascontiguousarray(values[i], dtype="<f4")
            shape = json.dumps(list(image.shape)).encode()
            keys.append(hashlib.sha256(b"i" + shape + b"\0" + image.tobytes()).digest())
        return keys
    if table == "row":
        names = [_framed(str(name)) for name in plan.row_columns]
        return [hashlib.sha256(b"r" + b"".join(n + _framed(str(v)) for n, v in zip(names, values[i]))).digest() for i in ids]
    return [hashlib.sha256(b"t" + values[i].encode("utf-8", "surrogatepass")).digest() for i in ids]


def _auto_device(format: str) -> str:
    """What `--device auto` gives a model of `format`: cpu without a CUDA driver (decided
    without importing a back end), else what the back end finds."""
    return backends()[format].default_device()


def _framed(text: str) -> bytes:
    """A length-prefixed field, so that no two sequences of values share their bytes."""
    data = text.encode("utf-8", "surrogatepass")
    return len(data).to_bytes(8, "little") + data


def _tokenizer_part(model: ModelInfo) -> list | None:
    tokenizer = model.tokenizer
    if tokenizer is None:
        return None
    vocabulary = hashlib.sha256("\n".join(tokenizer.vocabulary).encode("utf-8", "surrogatepass")).hexdigest()
    return [vocabulary, tokenizer.lowercase, tokenizer.unknown_id, tokenizer.padding_id, tokenizer.max_length]
