"""ONNX Runtime back end for text classifiers with a string input.

Uses the CUDA execution provider when onnxruntime has one and a GPU is present, else
the CPU provider. At load time the model is checked against its declaration: one string
input, and an output of probabilities (or logits) with one column per declared label.
"""

from __future__ import annotations

import ctypes
from typing import Sequence

import numpy as np

from mlspec.checker import ModelInfo
from mlspec.errors import ModelError, first_line
from runners.base import check_scores, softmax

PROBABILITY_OUTPUT_NAMES = ("probabilities", "probability", "probs", "output_probability", "scores")


def cuda_available() -> bool:
    """Whether onnxruntime has a CUDA provider and a CUDA driver is loadable."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def providers_for(device: str) -> list[str]:
    if device == "cuda" or (device == "auto" and cuda_available()):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxRunner:
    def __init__(self, model: ModelInfo, device: str = "auto"):
        import onnxruntime as ort

        self.model = model
        self.labels = model.labels
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(model.path), options, providers=providers_for(device))
        except Exception as error:  # onnxruntime raises its own exception types per failure
            raise ModelError(f"model `{model.name}`: {model.path.name} could not be loaded as an ONNX model: {first_line(error)}", model.span) from None
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        self.input_name, self.input_rank = self._text_input()
        self.output_name = self._score_output()

    def _text_input(self) -> tuple[str, int]:
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(string)":
            found = ", ".join(f"{i.name}: {i.type} {i.shape}" for i in inputs)
            raise ModelError(
                f"model `{self.model.name}` is declared `input text`, but {self.model.path.name} takes {found}",
                self.model.span,
                "a text model takes one string tensor input of shape [N] or [N, 1]",
            )
        return inputs[0].name, len(inputs[0].shape or [None])

    def _score_output(self) -> str:
        outputs = self.session.get_outputs()
        tensors = [o for o in outputs if o.type in ("tensor(float)", "tensor(double)", "tensor(float16)")]
        for output in tensors:
            if output.name.lower() in PROBABILITY_OUTPUT_NAMES:
                return output.name
        fitting = [o for o in tensors if _fits(o.shape, len(self.labels))]
        if fitting:
            return fitting[0].name
        found = ", ".join(f"{o.name}: {o.type}" for o in outputs)
        raise ModelError(
            f"model `{self.model.name}` declares {self.model.output_kind} for {len(self.labels)} labels, but {self.model.path.name} outputs {found}",
            self.model.span,
            "convert scikit-learn classifiers with options {'zipmap': False} so probabilities are a tensor",
        )

    def predict(self, inputs: Sequence[str]) -> np.ndarray:
        batch = np.asarray(list(inputs), dtype=object)
        if self.input_rank == 2:
            batch = batch.reshape(-1, 1)
        (scores,) = self.session.run([self.output_name], {self.input_name: batch})
        scores = check_scores(np.asarray(scores), len(inputs), self.labels, self.model.name)
        return softmax(scores) if self.model.output_kind == "logits" else scores


def _fits(shape, width: int) -> bool:
    """A [batch, width] output, the width fixed to `width` or left symbolic."""
    return bool(shape) and len(shape) == 2 and (shape[1] == width or not isinstance(shape[1], int))
