"""The protocol every model back end implements, and helpers they share."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from mlspec.errors import ModelError, display_path
from mlspec.model import ModelInfo


@runtime_checkable
class ModelRunner(Protocol):
    """A loaded model: scores a batch of inputs (texts, an array of images, or table rows)
    as probabilities, one row per input, one column per label.

    Every member is implemented by every back end; the executor, the attacks, load tests
    and `mlspec serve` use nothing else. One more is optional: `order(inputs)`, the order
    that scores the inputs fastest (texts by token length); a back end without it, or with
    `order = None` (a model with no tokenizer), scores them in any order, and the executor
    then does not gather the inputs to ask.
    """

    labels: tuple[str, ...]  # the model's own outputs, one per score column
    device: str  # where scores are computed: cpu, cuda, or remote (an endpoint)
    gradients: bool  # `tensor` and a differentiable `forward` work: white-box attacks
    concurrency: int  # calls the executor may keep in flight at once (one per core, or an endpoint's requests)
    split_failed_batches: bool  # whether halving a failing batch to find the failing inputs is worthwhile

    def predict(self, inputs: Sequence, split: bool = True) -> np.ndarray:
        """Probabilities [len(inputs), len(labels)]. With `split`, a back end may score a
        large call in parts side by side (one per core); the executor, which keeps
        `concurrency` calls in flight itself, passes split=False. Scores are the same
        either way."""
        ...

    def tensor(self, inputs: Any) -> Any:
        """The inputs as the model's input tensor (gradient back ends only)."""
        ...

    def forward(self, batch: Any) -> Any:
        """The model's raw output for a tensor, differentiable (gradient back ends only)."""
        ...


def no_gradients(model: ModelInfo):
    """What `tensor` and `forward` of a back end without gradients do (the checker refuses
    white-box attacks on such models, so this is not reached from a spec)."""
    raise ModelError(f"model `{model.name}` ({model.format}) gives no gradients", model.span)


def model_file(model: ModelInfo) -> Path:
    """The model's file; a ModelError at the path in the spec (else at the model) when there
    is no such file, said without the back end's own message."""
    path = model.path
    where = model.path_span or model.span
    if path is None:
        raise ModelError(f"model `{model.name}` names no model file", where)
    if not path.exists():
        raise ModelError(
            f"file not found: {path.name} (looked in {display_path(path.parent)})",
            where,
            "a path in a spec is relative to the spec's folder" if model.path_span else None,
        )
    if path.is_dir():
        raise ModelError(f"{path.name} is a folder, not a model file (in {display_path(path.parent)})", where)
    return path


def cuda_driver() -> bool:
    """Whether a CUDA driver is loadable: decided without importing a back end."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class ScoresShapeError(ValueError):
    """The model returned scores of the wrong shape: a fault of the model, not of some inputs."""


def check_scores(scores: np.ndarray, batch_size: int, labels: tuple[str, ...], model: str) -> np.ndarray:
    """Validate a batch of scores: shape [batch, len(labels)], numbers; raise ScoresShapeError otherwise."""
    if scores.ndim == 1 and len(labels) == 1:  # a regression model's one value per row
        scores = scores.reshape(-1, 1)
    if scores.ndim != 2 or scores.shape[0] != batch_size:
        raise ScoresShapeError(f"model `{model}` returned scores of shape {list(scores.shape)} for {batch_size} inputs")
    if scores.shape[1] != len(labels):
        raise ScoresShapeError(
            f"model `{model}` returns {scores.shape[1]} scores per input, but the spec declares "
            f"{len(labels)} labels ({', '.join(labels)})"
        )
    return scores
