"""Model back ends: each turns a batch of inputs into class probabilities.

`load_runner(model)` picks the back end for a model's declared format. A back end
raises `ModelError` with a reason a user can act on when a model cannot be loaded, does
not fit its declaration, or fails on a batch.
"""

from __future__ import annotations

from mlspec.model import ModelInfo
from runners.base import ModelRunner, softmax


def load_runner(model: ModelInfo, device: str = "auto", allow_python: bool = False) -> ModelRunner:
    """Load the back end for `model` (`device`: auto, cpu or cuda)."""
    if model.format == "onnx":
        from runners.onnx_runner import OnnxRunner

        return OnnxRunner(model, device)
    if model.format == "torch":
        from runners.torch_runner import TorchRunner

        return TorchRunner(model, device)
    if model.format == "python":
        from runners.python_runner import PythonRunner

        return PythonRunner(model, allow_python)
    if model.format == "http":
        from runners.http_runner import HttpRunner

        return HttpRunner(model, device)
    raise ValueError(f"no back end for model format {model.format!r}")


__all__ = ["ModelRunner", "load_runner", "softmax"]
