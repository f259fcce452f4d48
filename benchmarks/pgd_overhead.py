"""How much mlspec's PGD costs beyond the gradient computations it cannot avoid.

PGD-k (k = 20, L-inf) needs k forward + backward passes (gradient of the loss with
respect to the input). Baseline, measured in the same process on the same batch:
k x (forward, mean cross-entropy, ``torch.autograd.grad`` w.r.t. the input). Also
FGSM against one such pass, and, when installed, torchattacks' PGD for reference.
Model: the digits demo CNN (``specs/digits/model/digits.pt``, TorchScript) on a batch
of 500 test images when present, else a tiny random CNN on random 1x28x28 images.
Prints medians (and minima, less sensitive to other load on the machine) of several
interleaved repetitions and their ratios (goal: PGD <= 1.1x baseline).
Run from the repository root:

    .venv/bin/python benchmarks/pgd_overhead.py [--repeat 5] [--batch 500] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mlspec.library.attacks import fgsm, pgd

MODEL = Path("specs/digits/model/digits.pt")
DATA = Path("specs/digits/data/digits_test.npz")
EPS, STEP = 0.1, 0.01


def load(batch: int):
    if MODEL.exists() and DATA.exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(MODEL)).eval()
        data = np.load(DATA)
        return "digits demo CNN (TorchScript)", model, torch.from_numpy(data["x"][:batch]), torch.from_numpy(data["y"][:batch])
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 64), nn.ReLU(), nn.Linear(64, 10),
    ).eval()
    gen = torch.Generator().manual_seed(0)
    return "tiny random CNN", model, torch.rand(batch, 1, 28, 28, generator=gen), torch.randint(0, 10, (batch,), generator=gen)


def forward_backward(model, x, y, times: int) -> None:
    for _ in range(times):
        xi = x.detach().requires_grad_()
        cost = nn.functional.cross_entropy(model(xi), y)
        torch.autograd.grad(cost, xi)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(cores)
    name, model, x, y = load(args.batch)
    k = args.steps
    try:
        import torchattacks
    except ImportError:
        torchattacks = None

    runs = {
        f"PGD-{k} (mlspec)": lambda: pgd(model, x, y, eps=EPS, step=STEP, steps=k, low=0, high=1),
        f"{k} x forward+backward": lambda: forward_backward(model, x, y, k),
        "FGSM (mlspec)": lambda: fgsm(model, x, y, eps=EPS, low=0, high=1),
        "1 x forward+backward": lambda: forward_backward(model, x, y, 1),
    }
    if torchattacks is not None:
        attack = torchattacks.PGD(model, eps=EPS, alpha=STEP, steps=k, random_start=False)
        runs[f"PGD-{k} (torchattacks)"] = lambda: attack(x, y)
    for fn in runs.values():  # warm-up (TorchScript profiling runs, allocator)
        fn()
        fn()
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(args.repeat):  # interleaved, so drift affects all alike
        for label, fn in runs.items():
            times[label].append(timed(fn))
    med = {label: statistics.median(t) for label, t in times.items()}
    low = {label: min(t) for label, t in times.items()}

    print(f"model: {name}; batch {len(x)} x {tuple(x.shape[1:])}; torch threads {torch.get_num_threads()}; "
          f"median (min) of {args.repeat}")
    for label, value in med.items():
        print(f"  {label:<26} {value * 1000:9.1f} ms  ({low[label] * 1000:.1f})")
    pgd_ratio = med[f"PGD-{k} (mlspec)"] / med[f"{k} x forward+backward"]
    fgsm_ratio = med["FGSM (mlspec)"] / med["1 x forward+backward"]
    print(f"PGD-{k} / ({k} x forward+backward) = {pgd_ratio:.3f}x  (goal <= 1.1x; "
          f"ratio of minima {low[f'PGD-{k} (mlspec)'] / low[f'{k} x forward+backward']:.3f}x)")
    print(f"FGSM / (1 x forward+backward)    = {fgsm_ratio:.3f}x")
    if torchattacks is not None:
        print(f"PGD-{k} mlspec / torchattacks     = {med[f'PGD-{k} (mlspec)'] / med[f'PGD-{k} (torchattacks)']:.3f}x")


if __name__ == "__main__":
    main()
