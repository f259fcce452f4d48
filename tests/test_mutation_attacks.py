"""Attacks (mlspec.library.attacks) on the inputs the mutation run found untested
(docs/mutation.md): the message of each refused parameter; eval mode for a training model;
the L2 random start drawn from the generator; eps = 0 in L2 PGD; which inputs PGD's restarts
re-attack; the Square Attack's schedule and margin, and its every query compared with a
per-input port of the reference Square Attack drawing the same random numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mlspec.library.attacks import _margin, _p_selection, fgsm, pgd, square

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


# --------------------------------------------------------------------------- model mode


def _batchnorm_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_attacks_run_a_training_model_in_eval_mode(attack):
    """A model left in training mode is attacked as in eval mode: batch-norm uses (and does not
    update) its running statistics."""
    model = _batchnorm_model().train()
    reference = _batchnorm_model().eval()
    x = torch.tensor([[[[0.1, 0.9], [0.4, 0.3]]], [[[0.8, 0.2], [0.6, 0.7]]], [[[0.5, 0.5], [0.0, 1.0]]]])
    y = torch.tensor([0, 1, 1])
    bn = model[2]
    mean, var, tracked = bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()
    run = (lambda m: fgsm(m, x, y, eps=0.2, low=0.0, high=1.0)) if attack == "fgsm" else (
        lambda m: pgd(m, x, y, eps=0.2, step=0.05, steps=3, low=0.0, high=1.0))
    assert torch.equal(run(model), run(reference))
    assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)
    assert torch.equal(bn.num_batches_tracked, tracked)
    assert model.training and bn.training


# --------------------------------------------------------------------------- L2 PGD


def _flat_model(x):
    """Constant logits: the gradient is exactly zero, so PGD never moves from its start."""
    return torch.stack([torch.ones(len(x)), torch.zeros(len(x))], dim=1) + 0.0 * x.reshape(len(x), -1).sum(dim=1, keepdim=True)


def test_pgd_l2_random_start_draws_from_the_generator():
    """The start is x + delta * r / ||delta|| * eps, delta ~ N(0, 1) and r ~ U(0, 1) per input,
    both drawn from `generator` (in this order), whatever torch's global RNG state."""
    x = torch.tensor([[0.5, 0.5, 0.5], [0.2, 0.4, 0.6], [0.5, 0.3, 0.5]])
    y = torch.tensor([0, 0, 1])
    eps = 0.25
    gen = torch.Generator().manual_seed(11)
    delta = torch.empty(3, 3).normal_(generator=gen)
    r = torch.empty(3, 1).uniform_(0, 1, generator=gen)
    start = torch.clamp(x + delta * (r / delta.norm(dim=1, keepdim=True) * eps), 0.0, 1.0)
    moved = start - x
    expected = torch.clamp(x + moved * torch.min(eps / moved.norm(dim=1), torch.ones(3))[:, None], 0.0, 1.0)
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        ours = pgd(_flat_model, x, y, eps=eps, step=0.1, steps=1, norm="l2", random_start=True,
                   low=0.0, high=1.0, generator=torch.Generator().manual_seed(11))
        assert torch.equal(ours, expected)
    # the perturbation's norms are r * eps exactly as drawn (no clamp is active here)
    assert torch.allclose((ours - x).norm(dim=1), r[:, 0] * eps, atol=1e-6)
    assert torch.allclose((ours - x).norm(dim=1), torch.tensor([0.2177, 0.1808, 0.2091]), atol=5e-5)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_a_generator_draws_like_the_global_rng_whatever_the_memory_layout(norm):
    """A generator seeded s gives the random start that torch's global RNG seeded s gives (the
    torchattacks draw), also for channels-last images: both draw into a tensor laid out like
    the images."""
    torch.manual_seed(3)
    x = torch.rand(2, 3, 2, 2).to(memory_format=torch.channels_last)
    y = torch.tensor([0, 1])
    args = dict(eps=0.3, step=0.1, steps=1, norm=norm, random_start=True, low=0.0, high=1.0)
    torch.manual_seed(21)
    global_rng = pgd(_flat_model, x, y, **args)
    torch.manual_seed(0)
    generator = pgd(_flat_model, x, y, **args, generator=torch.Generator().manual_seed(21))
    assert torch.equal(generator, global_rng) and not torch.equal(global_rng, x)


def test_pgd_l2_with_zero_eps_returns_the_inputs():
    """eps = 0: the projection keeps a zero perturbation at zero (torchattacks gives NaN), also
    when the step is so small that the perturbation's norm underflows to 0."""
    x = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.3, 0.6, 0.1, 0.9]])
    y = torch.tensor([0, 1])
    flat = pgd(_flat_model, x, y, eps=0.0, step=0.1, steps=2, norm="l2", low=0.0, high=1.0)
    assert torch.equal(flat, x)
    linear = torch.nn.Linear(4, 2)
    tiny = pgd(linear, x, y, eps=0.0, step=1e-40, steps=2, norm="l2", low=0.0, high=1.0)
    assert torch.equal(tiny, x)
    assert torch.equal(pgd(linear, x, y, eps=0.0, step=0.1, steps=2, norm="l2", low=0.0, high=1.0), x)


# --------------------------------------------------------------------------- PGD restarts


class _Threshold:
    """Class 1 when the first feature exceeds 0.5 (else 0); records the batch size of every
    call (with gradients: an attack step; without: the restart loop's check)."""

    def __init__(self):
        self.calls = []

    def __call__(self, x):
        self.calls.append((len(x), torch.is_grad_enabled()))
        z = 40.0 * (x[:, 0] - 0.5)
        return torch.stack([torch.zeros_like(z), z], dim=1)


def _restart_reference(x, y, restarts, seed, **options):
    """The documented restart rule, one restart at a time with restarts=1 on the inputs left."""
    gen = torch.Generator().manual_seed(seed)
    result, todo, left = x.clone(), torch.arange(len(x)), []
    for attempt in range(restarts):
        adv = pgd(_Threshold(), x[todo], y[todo], generator=gen, random_start=True, **options)
        result[todo] = adv
        wrong = (adv[:, 0] > 0.5) != (y[todo] == 1)
        todo = todo[~wrong]
        left.append(len(todo))
        if len(todo) == 0:
            break
    return result, left


RESTART = dict(eps=0.3, step=1e-4, steps=1, low=0.0, high=1.0)
X_RESTART = torch.tensor([[0.25, 0.5], [0.3, 0.5], [0.35, 0.5], [0.25, 0.1], [0.3, 0.9], [0.22, 0.5]])
X_EASY = torch.tensor([[0.45, 0.5], [0.4, 0.5], [0.48, 0.1]])


@pytest.mark.parametrize(
    "x, restarts, seed, left",
    [
        (X_RESTART, 2, 1, [6, 5]),  # the second attempt fools an input the first did not
        (X_RESTART, 3, 7, [6, 4, 2]),
        (X_RESTART, 8, 4, [5, 3, 2, 1, 1, 1, 1, 1]),  # one input left, still re-attacked
        (X_EASY, 6, 4, [3, 2, 0]),  # all fooled before the last attempt
        (X_EASY, 6, 3, [3, 2, 2, 1, 1, 0]),  # the last one fooled by the last attempt
    ],
)
def test_pgd_restarts_reattack_only_the_inputs_left(x, restarts, seed, left):
    y = torch.zeros(len(x), dtype=torch.long)
    model = _Threshold()
    ours = pgd(model, x, y, random_start=True, restarts=restarts, generator=torch.Generator().manual_seed(seed), **RESTART)
    expected, expected_left = _restart_reference(x, y, restarts, seed, **RESTART)
    assert expected_left == left
    assert torch.equal(ours, expected)
    assert int((ours[:, 0] > 0.5).sum()) == len(x) - left[-1]
    # per attempt: one gradient call on the inputs still left, then (but after the last
    # attempt) one check of which of them are fooled
    sizes, want = [len(x)] + left, []
    for attempt in range(len(left)):
        want.append((sizes[attempt], True))
        if attempt < restarts - 1:
            want.append((sizes[attempt], False))
    assert model.calls == want


# --------------------------------------------------------------------------- Square Attack: schedule and margin


def _paper_p(p_init, it, n_iters):
    """p_selection of the reference implementation (github.com/max-andr/square-attack),
    written out branch by branch."""
    it = int(it / n_iters * 10000)
    if 10 < it <= 50:
        return p_init / 2
    if 50 < it <= 200:
        return p_init / 4
    if 200 < it <= 500:
        return p_init / 8
    if 500 < it <= 1000:
        return p_init / 16
    if 1000 < it <= 2000:
        return p_init / 32
    if 2000 < it <= 4000:
        return p_init / 64
    if 4000 < it <= 6000:
        return p_init / 128
    if 6000 < it <= 8000:
        return p_init / 256
    if 8000 < it <= 10000:
        return p_init / 512
    return p_init


def test_p_selection_is_the_papers_schedule():
    for n_iters in (7, 100, 1000, 9999, 10000, 10001):
        for it in range(0, n_iters + 3):
            assert _p_selection(0.05, it, n_iters) == _paper_p(0.05, it, n_iters), (it, n_iters)
    # the steps, exactly (10000 iterations: `it` is the scaled iteration itself)
    assert [_p_selection(1.0, it, 10000) for it in (0, 10, 11, 50, 51, 200, 201, 8000, 8001, 10000, 10001)] == [
        1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 1 / 256, 1 / 512, 1 / 512, 1.0]
    assert _p_selection(0.8, 1, 30) == 0.1 and _p_selection(0.8, 2, 30) == 0.05


def test_margin_is_per_row():
    s = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0], [2.0, 2.0, 0.0]], dtype=np.float32)
    assert _margin(s, np.array([0, 1, 0])).tolist() == [1.0, 4.0, 0.0]
    assert _margin(s, np.array([2, 0, 2])).tolist() == [-1.0, -5.0, -2.0]


# --------------------------------------------------------------------------- Square Attack: reference port


def _reference_square(scores, images, labels, *, eps, queries, low, high, rng, p_init=0.05):
    """The Square Attack (Andriushchenko et al. 2020, L-inf, margin loss), one input at a time,
    with mlspec's documented conventions: per-input query budget (clean query first, then
    the stripes), stop when argmax != label, windows anywhere inside the image, improvement
    when the margin drops or the input is fooled, at most 100 sign draws per window. The
    random numbers are drawn from `rng` in the same order as mlspec draws them."""
    shape = images.shape
    x = np.asarray(images, dtype=np.float32).reshape(shape[0], -1, shape[-2], shape[-1])
    n, c, h, w = x.shape
    lo, hi, e = np.float32(low), np.float32(high), np.float32(eps)
    labels = [int(label) for label in labels]
    used = [0] * n

    def ask(batch, which):
        out = np.asarray(scores(np.stack(batch).reshape((len(batch),) + shape[1:])))
        margins, wrong = [], []
        for row, i in zip(out.astype(np.float64), which):
            used[i] += 1
            others = [v for j, v in enumerate(row) if j != labels[i]]
            margins.append(row[labels[i]] - max(others, default=-np.inf))
            wrong.append(int(np.argmax(row)) != labels[i])
        return margins, wrong

    best = [x[i].copy() for i in range(n)]
    margin, fooled = ask(best, range(n))
    todo = [i for i in range(n) if not fooled[i] and used[i] < queries]
    if todo and e != 0 and lo != hi:
        stripes = rng.integers(0, 2, size=(len(todo), c, 1, w)) * 2 - 1
        for k, i in enumerate(todo):
            best[i] = np.clip(x[i] + np.where(stripes[k] > 0, e, -e), lo, hi)
        m, f = ask([best[i] for i in todo], todo)
        for k, i in enumerate(todo):
            margin[i], fooled[i] = m[k], f[k]
        it = 0
        while True:
            todo = [i for i in range(n) if not fooled[i] and used[i] < queries]
            if not todo:
                break
            s = int(round(math.sqrt(_paper_p(p_init, it, queries) * h * w)))
            s = max(1, min(s, min(h, w) - 1))
            tops = rng.integers(0, h - s + 1, size=len(todo))
            lefts = rng.integers(0, w - s + 1, size=len(todo))
            deltas = [best[i] - x[i] for i in todo]
            pending = list(range(len(todo)))
            for _ in range(100):
                signs = rng.integers(0, 2, size=(len(pending), c, 1, 1)) * 2 - 1
                again = []
                for k, j in enumerate(pending):
                    i, t, left = todo[j], tops[j], lefts[j]
                    deltas[j][:, t:t + s, left:left + s] = np.where(signs[k] > 0, e, -e)
                    window = np.clip(x[i][:, t:t + s, left:left + s] + deltas[j][:, t:t + s, left:left + s], lo, hi)
                    if (np.abs(window - best[i][:, t:t + s, left:left + s]) < 1e-7).all():
                        again.append(j)
                pending = again
                if not pending:
                    break
            candidates = [np.clip(x[i] + deltas[j], lo, hi) for j, i in enumerate(todo)]
            m, f = ask(candidates, todo)
            for j, i in enumerate(todo):
                if m[j] < margin[i] or f[j]:
                    best[i], margin[i], fooled[i] = candidates[j], m[j], f[j]
            it += 1
    return np.stack(best).reshape(shape), np.array(used), np.array(fooled)


class _Recorded:
    """Scores of a fixed linear map (optionally quantised), recording every batch asked."""

    def __init__(self, weights, quantum=0.0):
        self.weights, self.quantum, self.batches = weights, quantum, []

    def __call__(self, z):
        self.batches.append(z.copy())
        out = z.reshape(len(z), -1).astype(np.float64) @ self.weights
        return np.round(out / self.quantum) * self.quantum if self.quantum else out


def _case(seed, n, image_shape, classes, *, binary=False, sparse=False):
    gen = np.random.default_rng(seed)
    x = gen.uniform(0, 1, size=(n, *image_shape)).astype(np.float32)
    if binary:
        x = np.round(x)  # pixels at the bounds: clipping decides the candidates
    weights = gen.normal(size=(int(np.prod(image_shape)), classes))
    if sparse:
        weights[1::2] = 0.0  # half the pixels do not matter: many candidates tie
    labels = (x.reshape(n, -1).astype(np.float64) @ weights).argmax(axis=1)
    labels[0] = (labels[0] + 1) % classes  # misclassified from the start
    return x, labels, weights


SQUARE_CASES = {
    # name: (case arguments, attack arguments)
    "rgb": (dict(seed=1, n=5, image_shape=(3, 5, 6), classes=4), dict(eps=0.2, queries=40, p_init=0.8)),
    "gray-binary": (dict(seed=2, n=6, image_shape=(1, 6, 6), classes=3, binary=True), dict(eps=0.3, queries=30, p_init=0.5)),
    "hw": (dict(seed=3, n=4, image_shape=(4, 7), classes=3), dict(eps=0.1, queries=25, p_init=1.0)),
    "two-rows": (dict(seed=4, n=4, image_shape=(2, 2, 5), classes=3), dict(eps=0.5, queries=20, p_init=1.0)),
    "square-p1": (dict(seed=5, n=4, image_shape=(1, 4, 4), classes=2), dict(eps=0.4, queries=20, p_init=1.0)),
    "ties": (dict(seed=6, n=5, image_shape=(1, 5, 5), classes=3, sparse=True), dict(eps=0.3, queries=30, p_init=0.1)),
    "small-p": (dict(seed=7, n=5, image_shape=(2, 8, 8), classes=5), dict(eps=0.05, queries=60, p_init=0.05)),
    "one": (dict(seed=8, n=2, image_shape=(1, 5, 5), classes=3), dict(eps=0.2, queries=25, p_init=0.3)),
}


def _compare(make_scores, x, labels, **attack):
    """square and the reference port on the same inputs and seed: the same batches asked,
    the same result."""
    ours_scores, theirs_scores = make_scores(), make_scores()
    ours = square(ours_scores, x, labels, rng=np.random.default_rng(42), **attack)
    adversarial, used, fooled = _reference_square(theirs_scores, x, labels, rng=np.random.default_rng(42), **attack)
    assert len(ours_scores.batches) == len(theirs_scores.batches)
    for asked, expected in zip(ours_scores.batches, theirs_scores.batches):
        assert np.array_equal(asked, expected)
    assert np.array_equal(ours.adversarial, adversarial) and ours.adversarial.dtype == np.float32
    assert ours.adversarial.shape == x.shape
    assert ours.queries.tolist() == used.tolist() and ours.fooled.tolist() == fooled.tolist()
    return ours


@pytest.mark.parametrize("name", sorted(SQUARE_CASES))
def test_square_equals_the_reference_port(name):
    case, attack = SQUARE_CASES[name]
    x, labels, weights = _case(**case)
    quantum = 0.5 if case.get("sparse") else 0.0
    ours = _compare(lambda: _Recorded(weights, quantum), x, labels, low=0.0, high=1.0, **attack)
    assert not ours.fooled[0] or ours.queries[0] == 1


@pytest.mark.parametrize("high, used", [(5e-8, [1, 6, 2]), (float(np.float32(1e-7)), [1, 4, 2])])
def test_square_in_a_range_narrower_than_the_tolerance(high, used):
    """A candidate within 1e-7 of the best input everywhere counts as unchanged: in a range
    narrower than that every draw is redrawn, 100 times at most; a change of exactly
    float32(1e-7) is a change."""
    x, labels, weights = _case(seed=9, n=3, image_shape=(1, 4, 4), classes=3)
    ours = _compare(lambda: _Recorded(weights), x * np.float32(high), labels, eps=1.0, queries=6, low=0.0, high=high,
                    p_init=0.3)
    assert ours.queries.tolist() == used


class _OneClass(_Recorded):
    def __call__(self, z):
        self.batches.append(z.copy())
        return np.zeros((len(z), 1))


def test_square_with_scores_of_one_class():
    """One class and label 0: the margin is +inf, never improved; nothing is ever fooled."""
    x, labels, _ = _case(seed=10, n=2, image_shape=(1, 3, 3), classes=2)
    ours = _compare(lambda: _OneClass(None), x, np.zeros(2, dtype=np.int64), eps=0.2, queries=5, low=0.0, high=1.0)
    assert ours.queries.tolist() == [5, 5] and ours.fooled.tolist() == [False, False]


@pytest.mark.parametrize(
    "scores, shape",
    [
        (lambda z: np.zeros(len(z)), "(2,)"),
        (lambda z: np.zeros((len(z) + 1, 3)), "(3, 3)"),
        (lambda z: np.zeros((len(z), 2)), "(2, 2)"),
    ],
)
def test_square_refuses_scores_of_the_wrong_shape(scores, shape):
    """Labels 0 and 2 need at least 3 classes, one row per input."""
    with pytest.raises(ValueError) as refused:
        square(scores, X.numpy(), np.array([0, 2]), **SQUARE)
    assert str(refused.value) == f"scores must return [2, classes], got shape {shape}"


@pytest.mark.parametrize("queries", [True, 2.5])
def test_square_refuses_queries_not_an_integer(queries):
    with pytest.raises(ValueError) as refused:
        square(_scores, X.numpy(), Y.numpy(), **{**SQUARE, "queries": queries})
    assert str(refused.value) == f"queries must be an integer >= 1, got {queries!r}"


def test_square_returns_images_of_the_shape_given():
    """[n, h, w] images come back [n, h, w], on every return path."""
    hw = np.full((2, 3, 3), 0.5, dtype=np.float32)
    labels = np.array([0, 1])  # _scores ties at 0.5: class 0; input 1 is misclassified
    empty = square(_scores, hw[:0], labels[:0], **SQUARE)
    assert empty.adversarial.shape == (0, 3, 3)
    for early in (dict(eps=0.0), dict(queries=1)):
        result = square(_scores, hw, labels, **{**SQUARE, **early})
        assert result.adversarial.shape == (2, 3, 3) and np.array_equal(result.adversarial, hw)
        assert result.fooled.tolist() == [False, True] and result.queries.tolist() == [1, 1]
    attacked = square(_scores, hw, labels, **{**SQUARE, "rng": np.random.default_rng(0)})
    assert attacked.adversarial.shape == (2, 3, 3)
