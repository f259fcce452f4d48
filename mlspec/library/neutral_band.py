"""CheckList's neutral band: a binary model's probabilities as three classes.

CheckList's sentiment suite (Ribeiro et al., *Beyond Accuracy*, ACL 2020) expects three
classes: negative, neutral, positive. Its authors ran binary models through a wrapper
(the prediction function for binary models in CheckList's README) that treats a positive
probability between 1/3 and 2/3 as neutral. With p = P(positive) and the band's width `margin_neutral`
= 1/3 around 0.5, it makes the probabilities [negative, neutral, positive]:

- p below the band or above it: [1 - p, 0, p];
- p inside the band, below 0.5: neutral = 1 - |p - 0.5| / margin_neutral, negative =
  1 - neutral, positive = 0;
- p inside the band, from 0.5 up: neutral as above, positive = 1 - neutral, negative = 0;

and predicts their argmax. `neutral between LOW and HIGH` on a model with two labels
[first, second] generalises it to any band: p = P(second), centre c = (LOW + HIGH) / 2,
width w = HIGH - LOW, and the model exposes the labels [first, neutral, second]. For the
band 1/3 .. 2/3 the values are CheckList's, computed the same way (`1 - (1 / w) * |p - c|`).
At the band's exact ends (p == LOW or p == HIGH, where CheckList's wrapper leaves a row of
zeros) p counts as outside the band.

The mapping is applied to the model's probabilities (after the softmax of a model that
outputs logits), in float64, and the result is returned in the dtype of the scores given.
The prediction cache keeps the model's own scores, so the mapping runs after it.
"""

from __future__ import annotations

import numpy as np

from mlspec.model import NEUTRAL  # noqa: F401 (the label the band adds, between the model's two)


def band_probabilities(p, low: float, high: float) -> np.ndarray:
    """[n] probabilities of the second label -> [n, 3] float64 probabilities of
    [first label, neutral, second label]. A p that is not a finite number gives a row of NaN."""
    p = np.asarray(p, dtype=np.float64)
    centre, width = (low + high) / 2, high - low
    neutral = 1 - (1 / width) * np.abs(p - centre)
    inside = (p > low) & (p < high)
    lower = inside & (p < centre)  # CheckList: p < 0.5
    upper = inside & (p >= centre)  # CheckList: p >= 0.5
    out = np.empty((len(p), 3), dtype=np.float64)
    out[:, 0] = np.where(inside, np.where(lower, 1 - neutral, 0.0), 1 - p)
    out[:, 1] = np.where(inside, neutral, 0.0)
    out[:, 2] = np.where(inside, np.where(upper, 1 - neutral, 0.0), p)
    out[~np.isfinite(p)] = np.nan
    return out


def expose(scores: np.ndarray, band) -> np.ndarray:
    """A model's probabilities [n, labels] as the labels a spec sees: unchanged when the model
    has no band (`band` None), else [n, 3] of [first, neutral, second] in the scores' dtype.
    `band` has `low` and `high` (a `mlspec.model.NeutralBand`)."""
    if band is None:
        return scores
    scores = np.asarray(scores)
    mapped = band_probabilities(scores[:, 1], band.low, band.high)
    mapped[~np.isfinite(scores).all(axis=1)] = np.nan
    dtype = scores.dtype if np.issubdtype(scores.dtype, np.floating) else np.float64
    return mapped.astype(dtype, copy=False)
