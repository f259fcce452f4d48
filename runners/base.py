"""The protocol every model back end implements, and helpers they share."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class ModelRunner(Protocol):
    """Scores a batch of inputs (texts, or an array of images): probabilities, one row per
    input, one column per label. Back ends with `gradients` also offer `tensor(inputs)` and a
    differentiable `forward(tensor)` for white-box attacks."""

    labels: tuple[str, ...]
    device: str
    gradients: bool

    def predict(self, inputs: Sequence) -> np.ndarray: ...


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class ScoresShapeError(ValueError):
    """The model returned scores of the wrong shape: a fault of the model, not of some inputs."""


def check_scores(scores: np.ndarray, batch_size: int, labels: tuple[str, ...], model: str) -> np.ndarray:
    """Validate a batch of scores: shape [batch, len(labels)], numbers; raise ScoresShapeError otherwise."""
    if scores.ndim != 2 or scores.shape[0] != batch_size:
        raise ScoresShapeError(f"model `{model}` returned scores of shape {list(scores.shape)} for {batch_size} inputs")
    if scores.shape[1] != len(labels):
        raise ScoresShapeError(
            f"model `{model}` returns {scores.shape[1]} scores per input, but the spec declares "
            f"{len(labels)} labels ({', '.join(labels)})"
        )
    return scores
