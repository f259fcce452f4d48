"""The compiled-plan cache: a suite whose inputs did not change skips parse, check and compile.

An entry is one `.npz` archive, `<cache dir>/plans/<key>.npz`, named by a sha256 over what
a plan is built from besides the files: the spec's path (as given and resolved), the
current folder (plans show paths relative to it), `--model` paths, `--seed`, the folders
reads may go to (`--allow-path`, $MLSPEC_ALLOW_PATH, the spec's project), mlspec's version,
the size and time of each of its source files, and `FORMAT_VERSION`. The archive holds the
plan as JSON (member `plan`) with its arrays beside it, and the record of every file the
check and compile asked about (`Sources.record`): each file whose content was read, with
its sha256, and each path only looked at, with its kind. An entry is used only when each of
those paths still holds the same; else, or when it cannot be read or decoded, the spec is
compiled afresh and the entry replaced. The newest `KEPT_ENTRIES` entries are kept.

Nothing in an entry can run code: it is read with `allow_pickle=False`, and the plan's
objects are rebuilt from JSON, of plain values, tuples, dicts, paths, arrays (numeric and
fixed-width text in the archive, object arrays of text as JSON lists) and instances of
mlspec's own dataclasses and pydantic records (classes of modules already imported,
looked up by name, filled in field by field without calling their code). A plan holding
anything else is not stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

import mlspec
from mlspec.compile.plan import Plan, RowNames
from mlspec.language.sources import DiskSources, Sources

FORMAT_VERSION = 1
FOLDER = "plans"
KEPT_ENTRIES = 16  # the newest entries kept; older ones (other options, older code) are removed
PLAN_MEMBER = "plan"
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
        for package in PACKAGES:
            module = sys.modules.get(package)
            for folder in getattr(module, "__path__", ()):
                for root, folders, files in os.walk(folder):
                    folders[:] = sorted(f for f in folders if f != "__pycache__")
                    for name in sorted(f for f in files if f.endswith((".py", ".lark"))):
                        status = os.stat(os.path.join(root, name))
                        whole.update(f"{root}/{name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        _FINGERPRINT.append(whole.hexdigest())
    return _FINGERPRINT[0]


# ------------------------------------------------------------------ entries


def entry_path(directory: str | Path, key: str) -> Path:
    return Path(directory) / FOLDER / f"{key}.npz"


def load_plan(directory: str | Path, key: str, sources: Sources) -> Plan | None:
    """The cached plan under `key`, when every file it was built from still holds the same; else None."""
    try:
        with np.load(entry_path(directory, key), allow_pickle=False) as archive:
            document = json.loads(archive[PLAN_MEMBER].tobytes().decode("utf-8"))
            if document.get("format") != FORMAT_VERSION or not _unchanged(document["inputs"], sources):
                return None
            arrays = {name: archive[name] for name in archive.files if name != PLAN_MEMBER}
        plan = decode(document["plan"], arrays)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, zipfile.BadZipFile, EOFError, RecursionError):
        return None  # no entry, or a broken one: compile afresh
    return plan if isinstance(plan, Plan) else None


def _unchanged(inputs: list, sources: Sources) -> bool:
    return all(sources.state(path, content) == state for path, content, state in inputs)


def store_plan(directory: str | Path, key: str, plan: Plan, sources: Sources) -> bool:
    """Write the entry of `plan` (built from what `sources` read); False when it cannot be stored."""
    try:
        arrays: dict[str, np.ndarray] = {}
        document = {"format": FORMAT_VERSION, "inputs": sources.record(), "plan": encode(plan, arrays)}
    except (TypeError, ValueError, RecursionError):  # Unsupported among them
        return False
    text = json.dumps(document, separators=(",", ":")).encode("ascii")  # \u escapes: any text, lone surrogates too
    arrays[PLAN_MEMBER] = np.frombuffer(text, dtype=np.uint8)
    written = _write(entry_path(directory, key), arrays)
    _prune(entry_path(directory, key).parent)
    return written


def _prune(folder: Path, kept: int = KEPT_ENTRIES) -> None:
    """Remove all but the `kept` most recently written entries (another job may remove them too)."""
    try:
        entries = sorted(folder.glob("*.npz"), key=lambda entry: entry.stat().st_mtime, reverse=True)
        for entry in entries[kept:]:
            entry.unlink(missing_ok=True)
    except OSError:  # an entry removed meanwhile: pruning is best effort
        pass


def _write(target: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Write an archive whole, then move it into place (a reader never sees half of one)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **arrays)
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

