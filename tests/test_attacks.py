"""Tests of mlspec.library.attacks: FGSM/PGD against torchattacks 3.5.1 (bit-for-bit), bounds,
strength ordering, the Square Attack, parameter validation and model hygiene."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import require
from torch import nn

from mlspec.library.attacks import AttackResult, fgsm, pgd, square

ROOT = Path(__file__).resolve().parents[1]
DIGITS_MODEL = ROOT / "specs/digits/model/digits.pt"
DIGITS_DATA = ROOT / "specs/digits/data/digits_test.npz"

N_CLASSES = 3
SIDE = 8


class TinyCNN(nn.Module):
    def __init__(self, channels: int = 1, classes: int = N_CLASSES):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(channels, 6, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(6 * 3 * 3, 16), nn.ReLU(), nn.Linear(16, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def tiny_cnn(seed: int = 0, channels: int = 1) -> TinyCNN:
    torch.manual_seed(seed)
    return TinyCNN(channels).eval()


def synthetic(n: int, seed: int, channels: int = 1, low: float = 0.0, high: float = 1.0):
    """Separable images: class k has a bright horizontal band in rows 3k..3k+1, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, N_CLASSES, (n,), generator=gen)
    x = 0.25 * torch.rand(n, channels, SIDE, SIDE, generator=gen)
    for k in range(N_CLASSES):
        x[y == k, :, 3 * k : 3 * k + 2, :] += 0.6
    x = x.clamp(0, 1)
    return low + (high - low) * x, y


def random_images(n: int, seed: int, channels: int = 1, low: float = 0.0, high: float = 1.0):
    gen = torch.Generator().manual_seed(seed)
    x = low + (high - low) * torch.rand(n, channels, SIDE, SIDE, generator=gen)
    return x, torch.randint(0, N_CLASSES, (n,), generator=gen)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 60) -> nn.Module:
    torch.manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN trained on separable synthetic data, with held-out test data."""
    x, y = synthetic(300, seed=10)
    model = train(tiny_cnn(seed=2), x, y)
    xt, yt = synthetic(200, seed=11)
    with torch.no_grad():
        accuracy = (model(xt).argmax(1) == yt).float().mean().item()
    assert accuracy > 0.95
    return model, xt, yt


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def digits_or_skip(n: int = 64):
    if not (DIGITS_MODEL.exists() and DIGITS_DATA.exists()):
        pytest.skip("digits demo model or test data not present")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load is deprecated
        model = torch.jit.load(str(DIGITS_MODEL)).eval()
    data = np.load(DIGITS_DATA)
    return model, torch.from_numpy(data["x"][:n]), torch.from_numpy(data["y"][:n])


def equality_cases():
    """(model, images, labels) cases for the torchattacks comparisons."""
    model = tiny_cnn(seed=0)
    x, y = random_images(32, seed=5)
    return model, x, y


# --------------------------------------------------------------------------- torchattacks equality


@pytest.mark.parametrize("source", ["tiny", "digits"])
def test_fgsm_equals_torchattacks(source):
    torchattacks = require("torchattacks")
    model, x, y = equality_cases() if source == "tiny" else digits_or_skip()
    for eps in (8 / 255, 0.1):
        ours = fgsm(model, x, y, eps=eps, low=0, high=1)
        theirs = torchattacks.FGSM(model, eps=eps)(x, y)
        assert torch.equal(ours, theirs), eps
        assert not torch.equal(ours, x)


@pytest.mark.parametrize("source", ["tiny", "digits"])
def test_pgd_linf_equals_torchattacks(source):
    torchattacks = require("torchattacks")
    model, x, y = equality_cases() if source == "tiny" else digits_or_skip()
    for eps, alpha, steps in ((8 / 255, 2 / 255, 10), (0.1, 0.01, 7)):
        ours = pgd(model, x, y, eps=eps, step=alpha, steps=steps, low=0, high=1)
        theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
        assert torch.equal(ours, theirs), (eps, alpha, steps)


@pytest.mark.parametrize("source", ["tiny", "digits"])
def test_pgd_l2_equals_torchattacks(source):
    torchattacks = require("torchattacks")
    model, x, y = equality_cases() if source == "tiny" else digits_or_skip()
    for eps, alpha, steps in ((0.5, 0.1, 10), (1.5, 0.2, 6)):
        ours = pgd(model, x, y, eps=eps, step=alpha, steps=steps, norm="l2", low=0, high=1)
        theirs = torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
        assert torch.equal(ours, theirs), (eps, alpha, steps)


def test_pgd_random_start_global_rng_equals_torchattacks():
    """Without a generator, the random start uses torch's global RNG like torchattacks."""
    torchattacks = require("torchattacks")
    model, x, y = equality_cases()
    torch.manual_seed(123)
    ours = pgd(model, x, y, eps=0.1, step=0.02, steps=5, random_start=True, low=0, high=1)
    torch.manual_seed(123)
    theirs = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=5, random_start=True)(x, y)
    assert torch.equal(ours, theirs)
    torch.manual_seed(7)
    ours = pgd(model, x, y, eps=1.0, step=0.2, steps=5, norm="l2", random_start=True, low=0, high=1)
    torch.manual_seed(7)
    theirs = torchattacks.PGDL2(model, eps=1.0, alpha=0.2, steps=5, random_start=True)(x, y)
    assert torch.equal(ours, theirs)


# --------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1.0, 1.0)])
def test_perturbation_bounds(low, high):
    model = tiny_cnn(seed=3)
    x, y = random_images(40, seed=6, low=low, high=high)
    eps = 0.05 * (high - low)
    gen = torch.Generator().manual_seed(0)
    linf_results = [
        fgsm(model, x, y, eps=eps, low=low, high=high),
        pgd(model, x, y, eps=eps, step=eps / 4, steps=10, low=low, high=high),
        pgd(model, x, y, eps=eps, step=eps / 4, steps=5, random_start=True, restarts=3,
            low=low, high=high, generator=gen),
    ]
    for adv in linf_results:
        assert (adv - x).abs().max().item() <= eps + 1e-6
        assert adv.min().item() >= low and adv.max().item() <= high
        assert (adv - x).abs().max().item() > eps / 2  # the attack did move
    l2_eps = 0.5
    for random_start in (False, True):
        adv = pgd(model, x, y, eps=l2_eps, step=0.1, steps=10, norm="l2", random_start=random_start,
                  low=low, high=high, generator=gen)
        assert (adv - x).flatten(1).norm(dim=1).max().item() <= l2_eps + 1e-5
        assert adv.min().item() >= low and adv.max().item() <= high
    result = square(lambda z: model(torch.from_numpy(z)).detach().numpy(), x.numpy(), y.numpy(),
                    eps=eps, queries=30, low=low, high=high, rng=np.random.default_rng(0))
    assert np.abs(result.adversarial - x.numpy()).max() <= eps + 1e-6
    assert result.adversarial.min() >= low and result.adversarial.max() <= high


def test_fgsm_and_pgd_zero_eps_return_inputs():
    model = tiny_cnn()
    x, y = random_images(8, seed=1)
    assert torch.equal(fgsm(model, x, y, eps=0.0, low=0, high=1), x)
    assert torch.equal(pgd(model, x, y, eps=0.0, step=0.1, steps=3, low=0, high=1), x)
    adv = pgd(model, x, y, eps=0.0, step=0.1, steps=3, norm="l2", low=0, high=1)
    assert torch.equal(adv, x)  # torchattacks.PGDL2 gives NaN here (0 / 0)


def test_any_rank_and_probability_models():
    torch.manual_seed(0)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, N_CLASSES))
    x, y = random_images(16, seed=2)
    x = x[:, 0]  # [n, h, w]
    for norm, eps in (("linf", 0.1), ("l2", 0.5)):
        adv = pgd(flat, x, y, eps=eps, step=eps / 4, steps=5, norm=norm, low=0, high=1)
        assert adv.shape == x.shape
    probs = nn.Sequential(flat, nn.Softmax(dim=1))
    a = fgsm(probs, x, y, eps=0.1, low=0, high=1, loss="probabilities")
    b = fgsm(flat, x, y, eps=0.1, low=0, high=1)
    # NLL of log-softmax == cross-entropy up to rounding: the signs nearly always agree
    assert (a == b).float().mean().item() > 0.95
    adv = pgd(probs, x, y, eps=0.1, step=0.02, steps=10, low=0, high=1, loss="probabilities")
    assert accuracy(probs, adv, y) <= accuracy(probs, x, y)


# --------------------------------------------------------------------------- strength


def test_pgd_at_least_as_strong_as_fgsm(trained):
    model, x, y = trained
    eps = 0.25
    clean = accuracy(model, x, y)
    after_fgsm = accuracy(model, fgsm(model, x, y, eps=eps, low=0, high=1), y)
    after_pgd = accuracy(model, pgd(model, x, y, eps=eps, step=eps / 8, steps=40, low=0, high=1), y)
    assert after_fgsm < clean
    assert after_pgd <= after_fgsm
    gen = torch.Generator().manual_seed(0)
    after_restarts = accuracy(
        model,
        pgd(model, x, y, eps=eps, step=eps / 8, steps=40, random_start=True, restarts=3,
            low=0, high=1, generator=gen),
        y,
    )
    assert after_restarts <= after_fgsm


def test_restarts_keep_first_fooling_example(trained):
    model, x, y = trained
    eps = 0.2
    args = dict(eps=eps, step=eps / 4, steps=5, random_start=True, low=0, high=1)
    first = pgd(model, x, y, **args, generator=torch.Generator().manual_seed(4))
    multi = pgd(model, x, y, **args, restarts=4, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        fooled_first = model(first).argmax(1) != y
        fooled_multi = model(multi).argmax(1) != y
    # The first restart draws the same start as a single run on the whole batch.
    assert torch.equal(multi[fooled_first], first[fooled_first])
    assert bool(fooled_multi[fooled_first].all())
    assert fooled_multi.sum() >= fooled_first.sum()
    again = pgd(model, x, y, **args, restarts=4, generator=torch.Generator().manual_seed(4))
    assert torch.equal(multi, again)


# --------------------------------------------------------------------------- square


def scores_of(model):
    def scores(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(z)).numpy()

    return scores


def test_square_attack(trained):
    model, x, y = trained
    xs, ys = x.numpy(), y.numpy()
    calls = []

    def scores(z):
        calls.append(len(z))
        return scores_of(model)(z)

    budget = 150
    result = square(scores, xs, ys, eps=0.3, queries=budget, low=0, high=1, rng=np.random.default_rng(0))
    assert isinstance(result, AttackResult)
    assert result.adversarial.dtype == np.float32 and result.adversarial.shape == xs.shape
    assert result.queries.dtype == np.int64 and result.queries.shape == (len(xs),)
    assert result.queries.min() >= 1 and result.queries.max() <= budget
    assert result.queries.sum() == sum(calls)  # one query per input per evaluation
    assert np.abs(result.adversarial - xs).max() <= 0.3 + 1e-6
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1

    predicted = scores_of(model)(result.adversarial).argmax(1)
    assert np.array_equal(result.fooled, predicted != ys)
    # inputs stop when fooled: an unfooled input used its whole budget
    assert (result.queries[~result.fooled] == budget).all()
    clean_correct = scores_of(model)(xs).argmax(1) == ys
    assert (result.queries[~clean_correct] == 1).all()
    success = result.fooled[clean_correct].mean()
    assert success >= 0.3, success

    again = square(scores_of(model), xs, ys, eps=0.3, queries=budget, low=0, high=1, rng=np.random.default_rng(0))
    assert np.array_equal(result.adversarial, again.adversarial)
    assert np.array_equal(result.queries, again.queries)
    other = square(scores_of(model), xs, ys, eps=0.3, queries=budget, low=0, high=1, rng=np.random.default_rng(1))
    assert not np.array_equal(result.adversarial, other.adversarial)


def test_square_on_probabilities_three_channels_and_hw_images():
    model3 = tiny_cnn(seed=4, channels=3)
    x, y = random_images(20, seed=3, channels=3)
    probs = lambda z: torch.softmax(model3(torch.from_numpy(z)), 1).detach().numpy()  # noqa: E731
    result = square(probs, x.numpy(), y.numpy(), eps=0.1, queries=20, low=0, high=1, rng=np.random.default_rng(2))
    assert result.adversarial.shape == (20, 3, SIDE, SIDE)
    assert np.abs(result.adversarial - x.numpy()).max() <= 0.1 + 1e-6
    assert result.queries.max() <= 20

    model1 = tiny_cnn(seed=5)
    x, y = random_images(20, seed=4, low=-1, high=1)
    hw = lambda z: model1(torch.from_numpy(z)[:, None]).detach().numpy()  # noqa: E731
    result = square(hw, x[:, 0].numpy(), y.numpy(), eps=0.2, queries=25, low=-1, high=1,
                    rng=np.random.default_rng(3))
    assert result.adversarial.shape == (20, SIDE, SIDE)
    assert np.abs(result.adversarial - x[:, 0].numpy()).max() <= 0.2 + 1e-6
    assert result.adversarial.min() >= -1 and result.adversarial.max() <= 1
    assert np.array_equal(result.fooled, hw(result.adversarial).argmax(1) != y.numpy())


def test_square_budget_of_one_and_zero_eps(trained):
    model, x, y = trained
    xs, ys = x[:20].numpy(), y[:20].numpy()
    for kwargs in (dict(eps=0.3, queries=1), dict(eps=0.0, queries=50)):
        result = square(scores_of(model), xs, ys, low=0, high=1, rng=np.random.default_rng(0), **kwargs)
        assert (result.queries == 1).all()
        assert np.array_equal(result.adversarial, xs)


# --------------------------------------------------------------------------- validation


def test_parameter_validation():
    model = tiny_cnn()
    x, y = random_images(4, seed=0)
    common = dict(low=0, high=1)
    with pytest.raises(ValueError, match="eps"):
        fgsm(model, x, y, eps=-0.1, **common)
    with pytest.raises(ValueError, match="low"):
        fgsm(model, x, y, eps=0.1, low=1, high=0)
    with pytest.raises(ValueError, match="loss"):
        fgsm(model, x, y, eps=0.1, loss="softmax", **common)
    good = dict(eps=0.1, step=0.01, steps=3, **common)
    for bad in (dict(eps=-1.0), dict(eps=float("nan")), dict(step=0.0), dict(step=-0.1), dict(steps=0),
                dict(restarts=0), dict(norm="l1"), dict(restarts=2), dict(loss="margin")):
        with pytest.raises(ValueError):
            pgd(model, x, y, **{**good, **bad})
    pgd(model, x, y, **good, restarts=2, random_start=True)  # restarts need a random start
    scores = scores_of(model)
    sq = dict(eps=0.1, queries=10, low=0, high=1, rng=np.random.default_rng(0))
    for bad in (dict(eps=-0.1), dict(queries=0), dict(p_init=0.0), dict(p_init=1.5), dict(low=2.0)):
        with pytest.raises(ValueError):
            square(scores, x.numpy(), y.numpy(), **{**sq, **bad})
    with pytest.raises(ValueError):
        square(scores, x.numpy()[:, :, :, :, None], y.numpy(), **sq)


# --------------------------------------------------------------------------- model hygiene


def test_attacks_leave_model_untouched():
    model = tiny_cnn(seed=6)
    model.train()
    model.features.eval()  # mixed train/eval flags must come back as they were
    frozen = model.classifier[1].weight
    frozen.requires_grad_(False)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    modes = {name: m.training for name, m in model.named_modules()}
    x, y = random_images(8, seed=0)
    with torch.no_grad():  # attacks enable gradients themselves
        fgsm(model, x, y, eps=0.1, low=0, high=1)
        pgd(model, x, y, eps=0.1, step=0.02, steps=3, low=0, high=1)
        pgd(model, x, y, eps=0.5, step=0.1, steps=3, norm="l2", random_start=True, restarts=2, low=0, high=1)
    for name, p in model.named_parameters():
        assert p.grad is None, name
        assert p.requires_grad == flags[name], name
        assert torch.equal(p, before[name]), name
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert not x.requires_grad


def test_outputs_are_detached_and_inputs_unchanged():
    model = tiny_cnn()
    x, y = random_images(6, seed=9)
    x_copy = x.clone()
    for adv in (fgsm(model, x, y, eps=0.1, low=0, high=1),
                pgd(model, x, y, eps=0.1, step=0.05, steps=2, low=0, high=1)):
        assert not adv.requires_grad and adv.grad_fn is None
        assert adv.device == x.device and adv.dtype == x.dtype
    assert torch.equal(x, x_copy)
