"""The neutral band (mlspec.library.neutral_band) on the inputs the mutation run found
untested: float32 probabilities and integer scores (docs/mutation.md)."""

from __future__ import annotations

import numpy as np

from mlspec.library.neutral_band import band_probabilities, expose
from mlspec.model import NeutralBand


def _checklist(p: float, low: float, high: float) -> list[float]:
    """CheckList's wrapper, generalised to a band, in Python floats (float64)."""
    centre, width = (low + high) / 2, high - low
    if not low < p < high:
        return [1 - p, 0.0, p]
    neutral = 1 - (1 / width) * abs(p - centre)
    return [1 - neutral, neutral, 0.0] if p < centre else [0.0, neutral, 1 - neutral]


def test_float32_probabilities_are_mapped_in_float64():
    p = np.array([0.41, 0.6, 0.52], dtype=np.float32)
    mapped = band_probabilities(p, 1 / 3, 2 / 3)
    assert mapped.tolist() == [_checklist(float(v), 1 / 3, 2 / 3) for v in p]


def test_integer_scores_are_exposed_as_float64():
    scores = np.array([[1, 0], [0, 1]])
    exposed = expose(scores, NeutralBand(0.4, 0.6, "0.4 and 0.6"))
    assert exposed.dtype == np.float64
    assert exposed.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


def test_float32_scores_stay_float32():
    scores = np.array([[0.45, 0.55], [0.9, 0.1]], dtype=np.float32)
    exposed = expose(scores, NeutralBand(0.4, 0.6, "0.4 and 0.6"))
    assert exposed.dtype == np.float32
    expected = [_checklist(float(p), 0.4, 0.6) for p in scores[:, 1]]
    assert exposed.tolist() == np.array(expected, dtype=np.float64).astype(np.float32).tolist()
