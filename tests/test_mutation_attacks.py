"""Attacks (mlspec.library.attacks) on the inputs the mutation run found untested: the
message of each refused parameter, and the Square Attack on an empty batch
(docs/mutation.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlspec.library.attacks import fgsm, pgd, square

MODEL = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
X, Y = torch.full((2, 1, 2, 2), 0.5), torch.tensor([0, 1])
PGD = dict(eps=0.1, step=0.01, steps=2, low=0.0, high=1.0)


def _scores(x):
    return np.stack([x.reshape(len(x), -1).mean(axis=1), 1 - x.reshape(len(x), -1).mean(axis=1)], axis=1)


SQUARE = dict(eps=0.1, queries=5, low=0.0, high=1.0, rng=np.random.default_rng(0))


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(eps=-0.1), "eps must be >= 0, got -0.1"),
        (dict(eps="x"), "eps must be a number, got 'x'"),
        (dict(eps=True), "eps must be a number, got True"),
        (dict(eps=float("inf")), "eps must be finite, got inf"),
        (dict(low=1.0, high=0.0), "need low <= high, got low=1.0, high=0.0"),
        (dict(low="x"), "low must be a number, got 'x'"),
        (dict(high="x"), "high must be a number, got 'x'"),
        (dict(loss="margin"), "loss must be one of ('logits', 'probabilities'), got 'margin'"),
        (dict(step=0.0), "step must be > 0, got 0.0"),
        (dict(step=None), "step must be a number, got None"),
        (dict(steps=0), "steps must be an integer >= 1, got 0"),
        (dict(steps=True), "steps must be an integer >= 1, got True"),
        (dict(restarts=True), "restarts must be an integer >= 1, got True"),
        (dict(restarts=0), "restarts must be an integer >= 1, got 0"),
        (dict(norm="l1"), "norm must be one of ('linf', 'l2'), got 'l1'"),
        (dict(restarts=2), "restarts > 1 needs random_start=True (restarts would repeat the same attack)"),
    ],
)
def test_pgd_refusals_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError) as refused:
        pgd(MODEL, X, Y, **{**PGD, **bad})
    assert str(refused.value) == message


def test_one_step_of_pgd_is_fgsm():
    one_step = pgd(MODEL, X, Y, **{**PGD, "steps": 1, "step": 0.1})
    assert torch.equal(one_step, fgsm(MODEL, X, Y, eps=0.1, low=0.0, high=1.0))


def test_an_empty_range_or_flat_inputs_are_attacked():
    """low == high is a range of one value; images may be [n, features]."""
    assert (fgsm(MODEL, X, Y, eps=0.1, low=0.5, high=0.5) == 0.5).all()
    linear = torch.nn.Linear(4, 2)
    assert fgsm(linear, X.reshape(2, 4), Y, eps=0.1, low=0.0, high=1.0).shape == (2, 4)


def test_fgsm_refuses_integer_images_and_mismatched_labels():
    with pytest.raises(TypeError, match=r"^images must be a floating-point tensor, got torch.int64$"):
        fgsm(MODEL, torch.zeros((2, 1, 2, 2), dtype=torch.int64), Y, eps=0.1, low=0.0, high=1.0)
    with pytest.raises(ValueError, match=r"^need images \[n, \*shape\] and labels \[n\], got \(2, 1, 2, 2\) and \(3,\)$"):
        fgsm(MODEL, X, torch.tensor([0, 1, 1]), eps=0.1, low=0.0, high=1.0)
    with pytest.raises(ValueError, match=r"^need images \[n, \*shape\] and labels \[n\], got \(2, 1, 2, 2\) and \(2, 1\)$"):
        fgsm(MODEL, X, Y.reshape(2, 1), eps=0.1, low=0.0, high=1.0)
    with pytest.raises(TypeError, match=r"^images and labels must be torch tensors$"):
        fgsm(MODEL, X.numpy(), Y, eps=0.1, low=0.0, high=1.0)
    with pytest.raises(TypeError, match=r"^images and labels must be torch tensors$"):
        fgsm(MODEL, X, Y.numpy(), eps=0.1, low=0.0, high=1.0)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(queries=0), "queries must be an integer >= 1, got 0"),
        (dict(p_init=1.5), "p_init must be in (0, 1], got 1.5"),
    ],
)
def test_square_refusals_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError) as refused:
        square(_scores, X.numpy(), Y.numpy(), **{**SQUARE, **bad})
    assert str(refused.value) == message


def test_square_refuses_a_bad_shape_or_generator():
    with pytest.raises(ValueError, match=r"^images must be \[n, c, h, w\] or \[n, h, w\], got shape \(2, 4\)$"):
        square(_scores, np.zeros((2, 4)), Y.numpy(), **SQUARE)
    with pytest.raises(ValueError, match=r"^labels must have shape \[2\], got \(3,\)$"):
        square(_scores, X.numpy(), np.zeros(3), **SQUARE)
    with pytest.raises(TypeError, match=r"^rng must be a numpy.random.Generator$"):
        square(_scores, X.numpy(), Y.numpy(), **{**SQUARE, "rng": 0})


def test_square_on_an_empty_batch():
    result = square(_scores, np.zeros((0, 1, 2, 2), dtype=np.float32), np.zeros(0, dtype=np.int64), **SQUARE)
    assert result.adversarial.shape == (0, 1, 2, 2) and result.queries.shape == (0,)
    assert result.fooled.shape == (0,) and result.fooled.dtype == bool
