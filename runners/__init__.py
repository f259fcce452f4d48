"""Model back ends: each turns a batch of inputs into class probabilities.

Each back end is a module that registers a `Backend` descriptor (`runners.registry`)
when imported; this package imports them all, so the registry is complete once
`runners` is imported. None of them imports its machine-learning library (onnxruntime,
torch, httpx) before a model is loaded. `load_runner(model)` loads a model with the
back end of its declared format. A back end raises `ModelError` with a reason a user can
act on when a model cannot be loaded, does not fit its declaration, or fails on a batch.
"""

from __future__ import annotations

from mlspec.model import ModelInfo
from runners import http_runner, huggingface_runner, onnx_runner, python_runner, torch_runner  # noqa: F401  (each registers its back end)
from runners.base import ModelRunner, softmax
from runners.registry import Backend, backend, backends, format_for_suffix, register, unregister


def load_runner(model: ModelInfo, device: str = "auto", allow_python: bool = False) -> ModelRunner:
    """Load the back end for `model` (`device`: auto, cpu or cuda)."""
    return backend(model.format).load(model, device, allow_python)


__all__ = ["Backend", "ModelRunner", "backend", "backends", "format_for_suffix", "load_runner", "register", "softmax", "unregister"]
