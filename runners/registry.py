"""The registry of model back ends: one `Backend` descriptor per `model` format.

Each runner module registers its descriptor when it is imported (`runners/__init__.py`
imports them all), so the checker, the prediction cache, the executor and `load_runner`
learn what a format is and can do from here, not from lists of their own. Registering
imports no machine-learning library: a descriptor's `load` and `default_device` import
theirs when called.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

from mlspec.model import ModelInfo
from runners.base import ModelRunner


@dataclass(frozen=True, kw_only=True)
class Backend:
    """What a back end is: the keyword it is declared with and what it can do."""

    format: str  # the spec keyword: `onnx "file"`, `torch "file"`, ...
    suffixes: tuple[str, ...]  # model-file suffixes `--model NAME=FILE` maps to this format (lower case, with the dot)
    gradients: bool  # gives input gradients (`tensor`, `forward`): white-box attacks
    local: bool  # scores a model file in-process: the executor pads short batches to MIN_ROWS and measures a batch size
    devices: tuple[str, ...]  # where it scores: ("cpu", "cuda"), or ("remote",) for an endpoint
    cacheable: bool  # its scores go into the prediction cache (its model file and version say what they are)
    distributions: tuple[str, ...]  # packages whose version is part of a cache key: the first installed one
    load: Callable[[ModelInfo, str, bool], ModelRunner]  # (model, device auto|cpu|cuda, allow_python) -> runner
    default_device: Callable[[], str]  # the device `--device auto` gives; imports no back end without a CUDA driver

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.format):
            problems.append("the format is a lower-case keyword")
        if any(not re.fullmatch(r"\.[a-z0-9_]+", suffix) for suffix in self.suffixes):
            problems.append("suffixes are lower case and begin with a dot")
        if not self.devices:
            problems.append("it runs on some device")
        if self.cacheable and not self.distributions:
            problems.append("a cached back end names the distributions whose version keys its scores")
        if not callable(self.load) or not callable(self.default_device):
            problems.append("`load` and `default_device` are callables")
        if problems:
            raise ValueError(f"back end `{self.format}`: " + "; ".join(problems))


_BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add a back end; its format and suffixes must not be another's."""
    known = _BACKENDS.get(backend.format)
    if known is not None and known != backend:
        raise ValueError(f"a back end for model format `{backend.format}` is already registered")
    for other in _BACKENDS.values():
        shared = set(other.suffixes) & set(backend.suffixes)
        if other.format != backend.format and shared:
            raise ValueError(f"back ends `{other.format}` and `{backend.format}` both claim {', '.join(sorted(shared))}")
    _BACKENDS[backend.format] = backend
    return backend


def unregister(format: str) -> None:
    """Remove a back end (tests that register one of their own)."""
    _BACKENDS.pop(format, None)


def backends() -> Mapping[str, Backend]:
    """Every registered back end, by format, in the order they were registered (read-only)."""
    return MappingProxyType(_BACKENDS)


def backend(format: str) -> Backend:
    """The back end of a format; ValueError when none is registered."""
    try:
        return _BACKENDS[format]
    except KeyError:
        raise ValueError(f"no back end for model format {format!r}") from None


def format_for_suffix(suffix: str) -> str | None:
    """The format a model file with this suffix (".onnx", ".pt") is loaded as; None when no back end claims it."""
    suffix = suffix.lower()
    return next((b.format for b in _BACKENDS.values() if suffix in b.suffixes), None)


def installed_version(distribution: str) -> str | None:
    """The version of an installed distribution, None when it is not installed.

    As pip installs a package, the name of its `NAME-VERSION.dist-info` folder on `sys.path`
    says its version: that is read when exactly one such folder matches, in the first folder
    of `sys.path` holding one, and nothing is installed when no folder holds one. Other
    layouts (`.egg-info`, a zipped egg on `sys.path`) are left to `importlib.metadata`. That
    module, and the email parser it reads metadata with, take some 20 ms to import: more than
    a run whose predictions all come from its cache spends on anything but its reports."""
    wanted = _normalized(distribution)
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except FileNotFoundError:
            continue
        except OSError:  # a zip file, or a folder that cannot be listed
            return _metadata_version(distribution)
        found = [name for name in names if name.endswith((".dist-info", ".egg-info")) and _normalized(name.partition("-")[0]) == wanted]
        pip_installed = _DIST_INFO.fullmatch(found[0]) if len(found) == 1 else None
        if pip_installed:
            return pip_installed["version"]
        if found:
            return _metadata_version(distribution)
    return None


_DIST_INFO = re.compile(r"[^-]+-(?P<version>[^-]+)\.dist-info")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata_version(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
