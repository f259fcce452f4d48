"""The compiled-plan cache: a suite whose inputs did not change skips parse, check and compile.

An entry is one file, `<cache dir>/plans/<key>.plan`, named by a sha256 over what a plan is
built from besides the files: the spec's path (as given and resolved), the current folder
(plans show paths relative to it), `--model` paths, `--seed`, the folders reads may go to
(`--allow-path`, $MLSPEC_ALLOW_PATH, the spec's project), mlspec's version, the size and
time of each of its source files, and `FORMAT_VERSION`. After `MAGIC` and the sizes of its
three sections, an entry holds:

- meta (JSON): the modules of the plan's test kinds (imported before the plan is
  decoded: they define its payloads' classes), the record of every path the check and compile asked about
  (`Sources.record`): each file whose content was read, with its sha256 and its signature
  (size, times, inode), and each path only looked at, with its kind; and the table of the
  arrays (dtype, shape, offset);
- the plan (JSON);
- the arrays' bytes, read in one call and used in place.

An entry is used only when each of those paths still holds the same; else, or when it
cannot be read or decoded, the spec is compiled afresh and the entry replaced. A file
whose signature is as recorded is not hashed again (`_unchanged` says when that is safe),
so an unchanged suite is read back without reading its data files. The newest
`KEPT_ENTRIES` entries are kept.

Nothing in an entry can run code: no pickles, no object arrays, and the plan's objects are
rebuilt from JSON, of plain values, tuples, dicts, paths, arrays (numeric and fixed-width
text in the data section, object arrays of text as JSON lists) and instances of mlspec's
own dataclasses and pydantic records (classes of modules already imported, looked up by
name, filled in field by field without calling their code). A plan holding anything else
is not stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import stat
import struct
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

import mlspec
from mlspec.compile.plan import Plan, RowNames
from mlspec.language.kinds import kind_module, load_kind_modules
from mlspec.language.sources import DiskSources, Sources

FORMAT_VERSION = 2
MAGIC = b"mlspec plan cache\n"
SUFFIX = ".plan"
FOLDER = "plans"
KEPT_ENTRIES = 16  # the newest entries kept; older ones (other options, older code) are removed
ALIGN = 64  # each array of an entry starts at a multiple of this many bytes
RACY_NS = 2_000_000_000  # a file changed this recently is hashed: a write in the same clock tick may keep its signature
PACKAGES = ("mlspec", "runners")  # their source files are part of every key


class Unsupported(TypeError):
    """A value the cache cannot store as data (the plan is then not stored)."""


# ------------------------------------------------------------------ keys


def plan_key(path: str | Path, model_paths: dict[str, str] | None, seed: int | None, allowed: Iterable[str | Path]) -> str:
    """The sha256 naming the entry of a spec compiled with these options, here and now."""
    scratch = confined_sources(path, allowed, model_paths)
    material = {
        "format": FORMAT_VERSION,
        "mlspec": mlspec.__version__,
        "code": _code_fingerprint(),
        "spec": [str(path), str(scratch.absolute(path))],
        "cwd": os.getcwd(),
        "models": sorted((model_paths or {}).items()),
        "seed": seed,
        "roots": [str(root) for root in scratch.roots or ()],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode("utf-8", "surrogateescape")).hexdigest()


def confined_sources(path: str | Path, allowed: Iterable[str | Path], model_paths: dict[str, str] | None = None) -> DiskSources:
    """The disk, confined as checking the spec at `path` with `--model` `model_paths` confines it."""
    sources = DiskSources()
    sources.allow(path, *allowed)
    sources.confine(path)
    sources.allow_model_cards(model_paths)
    return sources


_FINGERPRINT: list[str] = []


def _code_fingerprint() -> str:
    """A digest of the name, size and modification time of every source file of mlspec and its back ends."""
    if not _FINGERPRINT:
        whole = hashlib.sha256()
        for package in PACKAGES:  # found, not imported: the digest must not depend on what was imported first
            spec = importlib.util.find_spec(package)
            for folder in (spec.submodule_search_locations or ()) if spec else ():
                for root, folders, files in os.walk(folder):
                    folders[:] = sorted(f for f in folders if f != "__pycache__")
                    for name in sorted(f for f in files if f.endswith((".py", ".lark"))):
                        status = os.stat(os.path.join(root, name))
                        whole.update(f"{root}/{name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        _FINGERPRINT.append(whole.hexdigest())
    return _FINGERPRINT[0]


# ------------------------------------------------------------------ entries


def entry_path(directory: str | Path, key: str) -> Path:
    return Path(directory) / FOLDER / f"{key}{SUFFIX}"


def load_plan(directory: str | Path, key: str, sources: Sources) -> Plan | None:
    """The cached plan under `key`, when every file it was built from still holds the same; else None."""
    path = entry_path(directory, key)
    try:
        with open(path, "rb") as file:
            meta_bytes, plan_size, data_size = _read_head(file)
            meta = json.loads(meta_bytes)
            if meta.get("format") != FORMAT_VERSION:
                return None
            load_kind_modules(meta["modules"])  # they define the classes of the plan's payloads
            inputs, refreshed = _unchanged(meta["inputs"], sources)
            if inputs is None:
                return None
            plan_bytes = file.read(plan_size)
            data = bytearray(data_size)  # writable: a plan's arrays are as np.load gave them
            if len(plan_bytes) != plan_size or file.readinto(data) != data_size:
                return None
        plan = decode(json.loads(plan_bytes), _arrays(meta["arrays"], data))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, EOFError, RecursionError):
        return None  # no entry, or a broken one: compile afresh
    if not isinstance(plan, Plan):
        return None
    if refreshed:  # files hashed this time that a signature now vouches for
        _write(path, _entry({**meta, "inputs": inputs}, plan_bytes, data))
    return plan


def _read_head(file) -> tuple[bytes, int, int]:
    """The entry's meta section, and the sizes of the plan and data sections after it."""
    head = file.read(len(MAGIC) + 24)
    if head[: len(MAGIC)] != MAGIC or len(head) != len(MAGIC) + 24:
        raise ValueError("not a plan cache entry")
    meta_size, plan_size, data_size = struct.unpack("<QQQ", head[len(MAGIC) :])
    if len(head) + meta_size + plan_size + data_size != os.fstat(file.fileno()).st_size:
        raise ValueError("an entry whose sections do not add up to its size")
    meta = file.read(meta_size)
    if len(meta) != meta_size:
        raise ValueError("a truncated entry")
    return meta, plan_size, data_size


def _arrays(table: dict, data: bytearray) -> dict[str, np.ndarray]:
    """The arrays the data section holds, as the meta section's table places them (no object arrays)."""
    arrays = {}
    for name, (descr, shape, offset) in table.items():
        dtype = np.dtype(descr)
        if dtype.hasobject:
            raise ValueError("an object array in an entry")
        count = math.prod(shape)
        arrays[name] = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
    return arrays


def _unchanged(inputs: list, sources: Sources) -> tuple[list | None, bool]:
    """Whether every recorded path still holds the same: the rows (signatures refreshed) and
    whether any was refreshed; (None, False) at the first change.

    A file read for its content is hashed, unless its signature (`_signature`: size,
    modification and change times, inode) is as recorded and its change time lies
    `RACY_NS` before the signature was taken: a later write would have changed it."""
    rows, refreshed = [], False
    for path, content, state, signature in inputs:
        if content and signature is not None and sources.permits(path) and _signature(path) == tuple(signature):
            rows.append([path, content, state, signature])
            continue
        before = _signature(path) if content else None
        if sources.state(path, content) != state:
            return None, False
        fresh = _vouching(path, before)
        refreshed |= fresh is not None
        rows.append([path, content, state, fresh])
    return rows, refreshed


def _signature(path: str) -> tuple[int, ...] | None:
    """What a file's metadata says of its content: size, modification and change times (ns),
    inode and device; None when it is not a regular file."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev)


def _vouching(path: str, before: tuple[int, ...] | None) -> list[int] | None:
    """`before`, the signature taken before the file at `path` was hashed, when the file still
    has it (so the hash was of this content) and last changed `RACY_NS` before now; else None
    (the file is hashed on each read)."""
    if before is None or time.time_ns() - before[2] < RACY_NS or _signature(path) != before:
        return None
    return list(before)


def _recorded(path: str, content: bool, state: str, sources: Sources) -> list:
    """A row of an entry's record: what compiling found at `path`, and the signature that
    vouches for it (a file hashed again now, between two signatures)."""
    if not content:
        return [path, content, state, None]
    before = _signature(path)
    return [path, content, state, _vouching(path, before) if sources.state(path) == state else None]


def store_plan(directory: str | Path, key: str, plan: Plan, sources: Sources) -> bool:
    """Write the entry of `plan` (built from what `sources` read); False when it cannot be stored."""
    try:
        arrays: dict[str, np.ndarray] = {}
        encoded = encode(plan, arrays)
    except (TypeError, ValueError, RecursionError):  # Unsupported among them
        return False
    inputs = [_recorded(path, content, state, sources) for path, content, state in sources.record()]
    table, data = _data_section(arrays)
    meta = {"format": FORMAT_VERSION, "modules": sorted({kind_module(test.kind) for test in plan.tests}), "inputs": inputs, "arrays": table}
    plan_bytes = json.dumps(encoded, separators=(",", ":")).encode("ascii")  # \u escapes: any text, lone surrogates too
    written = _write(entry_path(directory, key), _entry(meta, plan_bytes, data))
    _prune(entry_path(directory, key).parent)
    return written


def _data_section(arrays: dict[str, np.ndarray]) -> tuple[dict, bytes]:
    """The arrays' bytes one after the other (each at a multiple of ALIGN), and the table placing them."""
    table, parts, offset = {}, [], 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        table[name] = [array.dtype.str, list(array.shape), offset]
        padding = -array.nbytes % ALIGN
        parts += [array.tobytes(), bytes(padding)]
        offset += array.nbytes + padding
    return table, b"".join(parts)


def _entry(meta: dict, plan_bytes: bytes, data: bytes | bytearray) -> list:
    """An entry's parts: MAGIC, the three sections' sizes, then the sections."""
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode("ascii")
    return [MAGIC, struct.pack("<QQQ", len(meta_bytes), len(plan_bytes), len(data)), meta_bytes, plan_bytes, data]


def _prune(folder: Path, kept: int = KEPT_ENTRIES) -> None:
    """Remove all but the `kept` most recently written entries, and those of older formats
    (another job may remove them too)."""
    try:
        for old in folder.glob("*.npz"):  # format 1
            old.unlink(missing_ok=True)
        entries = sorted(folder.glob(f"*{SUFFIX}"), key=lambda entry: entry.stat().st_mtime, reverse=True)
        for entry in entries[kept:]:
            entry.unlink(missing_ok=True)
    except OSError:  # an entry removed meanwhile: pruning is best effort
        pass


def _write(target: Path, parts: list) -> bool:
    """Write an entry whole, then move it into place (a reader never sees half of one)."""
    import tempfile  # here: a run that reads its plan writes none (tempfile imports shutil, random, ...)

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                for part in parts:
                    file.write(part)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError:
        return False
    return True


# ------------------------------------------------------------------ plans as data

# Each value that is not a JSON scalar or a list is a one-key object naming what it is.
TUPLE, DICT, ARRAY, TEXTS, PATH, OBJECT, SET, FROZENSET, ROW_NAMES, STRINGS = "t", "d", "a", "s", "p", "o", "set", "fset", "rows", "l"


def encode(value, arrays: dict[str, np.ndarray]):
    """`value` as JSON data; its arrays go into `arrays`, named by the position they are given."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if type(value) is list:
        if value and set(map(type, value)) == {str}:
            return {STRINGS: value}  # read back whole, not item by item
        return [encode(item, arrays) for item in value]
    if type(value) is tuple:
        return {TUPLE: [encode(item, arrays) for item in value]}
    if type(value) is dict:
        return {DICT: [[encode(k, arrays), encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, (np.ndarray, np.generic)):
        return _encode_array(np.asarray(value) if isinstance(value, np.generic) else value, arrays, isinstance(value, np.generic))
    if isinstance(value, Path):
        return {PATH: str(value)}
    if type(value) in (set, frozenset):
        return {SET if type(value) is set else FROZENSET: [encode(item, arrays) for item in value]}
    if type(value) is RowNames:
        return {ROW_NAMES: [value.starts, [encode(run, arrays) for run in value.runs], value.count]}
    return _encode_object(value, arrays)


def _encode_array(array: np.ndarray, arrays: dict[str, np.ndarray], scalar: bool):
    if array.dtype.hasobject:
        cells = array.ravel().tolist()
        if not all(type(cell) is str for cell in cells):
            raise Unsupported("an object array holding more than text")
        return {TEXTS: [cells, list(array.shape)]}
    name = f"a{len(arrays)}"
    arrays[name] = array
    return {ARRAY: [name, scalar]}


def _encode_object(value, arrays: dict[str, np.ndarray]):
    cls = type(value)
    if not cls.__module__.startswith("mlspec.") or not (dataclasses.is_dataclass(cls) or hasattr(cls, "model_fields")):
        raise Unsupported(f"{cls.__module__}.{cls.__qualname__}")
    state = dict(value) if hasattr(cls, "model_fields") else vars(value)
    return {OBJECT: [f"{cls.__module__}:{cls.__qualname__}", {name: encode(item, arrays) for name, item in state.items()}]}


def decode(data, arrays: dict[str, np.ndarray]):
    """The value `encode` wrote as `data`."""
    if type(data) is list:
        return [decode(item, arrays) for item in data]
    if type(data) is not dict:
        return data
    (tag, body), = data.items()
    if tag == STRINGS:
        if type(body) is not list or set(map(type, body)) != {str}:
            raise ValueError("a broken list of texts")
        return body
    if tag == TUPLE:
        return tuple(decode(item, arrays) for item in body)
    if tag == DICT:
        return {_hashable(decode(k, arrays)): decode(v, arrays) for k, v in body}
    if tag == ARRAY:
        name, scalar = body
        return arrays[name][()] if scalar else arrays[name]
    if tag == TEXTS:
        cells, shape = body
        texts = np.empty(len(cells), dtype=object)
        texts[:] = cells
        return texts.reshape(shape)
    if tag == PATH:
        return Path(body)
    if tag in (SET, FROZENSET):
        return (set if tag == SET else frozenset)(_hashable(decode(item, arrays)) for item in body)
    if tag == ROW_NAMES:
        return _row_names(body, arrays)
    if tag == OBJECT:
        return _decode_object(body, arrays)
    raise ValueError(f"unknown tag {tag!r}")


def _hashable(value):
    hash(value)  # a list or dict here is a broken entry: TypeError
    return value


def _row_names(body, arrays) -> RowNames:
    names = RowNames()
    names.starts, names.count = [int(start) for start in body[0]], int(body[2])
    names.runs = [decode(run, arrays) for run in body[1]]
    return names


def _decode_object(body, arrays):
    name, state = body
    cls = _known_class(name)
    fields = {key: decode(value, arrays) for key, value in state.items()}
    if hasattr(cls, "model_fields"):  # a pydantic record: validated, its fields only
        return cls(**fields)
    value = object.__new__(cls)
    for key, item in fields.items():
        object.__setattr__(value, key, item)
    return value


def _known_class(name: str) -> type:
    """A dataclass or pydantic record of a module of mlspec already imported (nothing is imported here)."""
    module_name, _, qualname = name.partition(":")
    module = sys.modules.get(module_name) if module_name.startswith("mlspec.") else None
    cls = module
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
    if not isinstance(cls, type) or cls.__module__ != module_name or not (dataclasses.is_dataclass(cls) or hasattr(cls, "model_fields")):
        raise ValueError(f"not a class a plan holds: {name}")
    return cls

