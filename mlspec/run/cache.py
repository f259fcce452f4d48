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
the scored one. SQLite in WAL mode with a busy timeout lets parallel CI jobs share a
directory; a lookup reads the whole table when it is not much larger than the request,
else goes in chunks of `IN (...)`; a store is one transaction. The key is known without
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
import importlib.metadata
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlspec.model import ModelInfo
from runners import ModelRunner, backends

DEFAULT_DIR = ".mlspec-cache"
ENV_VAR = "MLSPEC_CACHE_DIR"
FORMAT_VERSION = 1  # part of every model key: a new layout starts new files
LOOKUP_CHUNK = 500  # keys per `IN (...)`: below every SQLite build's variable limit
SCAN_RATIO = 4  # read the whole table when it holds at most this many rows per input looked up
BUSY_TIMEOUT = 60.0  # seconds to wait for another job's write


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
            return ModelView(self, key, self._devices[model.format], ids, input_keys(plan, model.table, ids), len(model.labels))
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
            for name in backends()[format].distributions:
                try:
                    self._versions[format] = f"{name} {importlib.metadata.version(name)}"
                    break
                except importlib.metadata.PackageNotFoundError:
                    continue
            else:
                self._versions[format] = "unknown"
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


class ModelView:
    """One model's cached rows for one run's inputs: fill what is known, save what was scored."""

    def __init__(self, cache: PredictionCache, key: str, device: str, ids: np.ndarray, keys: list[bytes], n_labels: int):
        self.cache, self.key, self.device, self.ids, self.keys, self.n_labels = cache, key, device, ids, keys, n_labels
        self.found = np.zeros(len(ids), dtype=bool)

    def fill(self, probs: np.ndarray) -> np.ndarray:
        """Copy the cached rows into `probs` (indexed by input id); the ids still to score."""
        try:
            rows = self._lookup()
        except (OSError, sqlite3.Error) as error:
            self.cache.fail(error, self.cache.path(self.key))
            return self.ids
        width = 4 * self.n_labels
        blobs = list(map(rows.get, self.keys))
        if blobs and None not in blobs and set(map(len, blobs)) == {width}:  # every input cached, as in a re-run
            positions, joined = np.arange(len(blobs)), b"".join(blobs)
        else:  # a row missing, or of another width (not ours: scored again)
            positions = [p for p, blob in enumerate(blobs) if blob is not None and len(blob) == width]
            blobs = [blobs[p] for p in positions]
            joined = b"".join(blobs)
        if blobs:
            values = np.frombuffer(joined, dtype="<f4").reshape(len(blobs), self.n_labels)
            good = np.isfinite(values).all(axis=1)
            positions = np.asarray(positions)[good]
            self.found[positions] = True
            probs[self.ids[positions]] = values[good]
        self.cache.inputs += len(self.ids)
        self.cache.hits += int(self.found.sum())
        return self.ids[~self.found]

    def _lookup(self) -> dict[bytes, bytes]:
        if not self.cache.path(self.key).exists():
            return {}
        connection = self.cache.connect(self.key)
        try:
            pages, page_size = (connection.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "page_size"))
            if pages * page_size / (48 + 4 * self.n_labels) <= SCAN_RATIO * len(self.keys):
                return dict(connection.execute("SELECT input, probs FROM probs"))
            rows: dict[bytes, bytes] = {}
            for start in range(0, len(self.keys), LOOKUP_CHUNK):
                chunk = self.keys[start : start + LOOKUP_CHUNK]
                rows.update(connection.execute(f"SELECT input, probs FROM probs WHERE input IN ({','.join('?' * len(chunk))})", chunk))
            return rows
        finally:
            connection.close()

    def save(self, probs: np.ndarray, failed: np.ndarray, runner: ModelRunner | None = None) -> None:
        """Store the rows scored in this run: those not found, not failed and finite. Nothing
        when the model ran on another device than its key says (a CUDA provider that fell
        back to the CPU)."""
        if self.cache.broken or (runner is not None and runner.device != self.device):
            return
        scored = np.flatnonzero(~self.found & ~failed[self.ids])
        values = np.ascontiguousarray(probs[self.ids[scored]], dtype="<f4")
        finite = np.isfinite(values).all(axis=1)
        scored, values = scored[finite], values[finite]
        if not len(scored):
            return
        data, width = values.tobytes(), 4 * self.n_labels
        entries = [(self.keys[p], data[i * width : (i + 1) * width]) for i, p in enumerate(scored)]
        try:
            connection = self.cache.connect(self.key)
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany("INSERT OR REPLACE INTO probs (input, probs) VALUES (?, ?)", entries)
                connection.execute("COMMIT")
            finally:
                connection.close()  # an open transaction is rolled back
        except (OSError, sqlite3.Error) as error:
            self.cache.fail(error, self.cache.path(self.key))


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
