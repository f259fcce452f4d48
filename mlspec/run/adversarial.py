"""Running an attack test on one model: the model-dependent step of the run stage.

For each eps of the test's sweep, the attack (`mlspec.library.attacks`) perturbs the test's
images in batches, the model scores the adversarial images, and the figures follow:

- clean_accuracy: share of inputs classified correctly without attack;
- robust_accuracy: share of ALL inputs still classified correctly after the attack
  (an input the model already gets wrong counts as not robust);
- attack_success_rate: share of the clean-correct inputs the attack fools;
- mean_perturbation / max_perturbation: the attack's norm (linf, or l2 for `norm: l2`)
  of adversarial minus original, over the clean-correct inputs;
- mean_queries: model queries per input, for the black-box `square` attack.

With one eps the figures are named as above; in a sweep each carries `@eps=E`. An
expectation `at eps E` holds at that point; without `at` it must hold at every eps.
"""

from __future__ import annotations

import numpy as np

from mlspec.compile.plan import AttackPlan, MetricCheck, TestPlan
from mlspec.errors import first_line
from mlspec.library import attacks
from mlspec.library.seeds import seeded_rng
from mlspec.model import ModelInfo
from mlspec.results import Example, Prediction, TestResult
from mlspec.run.expectations import COMPARE, figure_against

MAX_EXAMPLES = 10


def attack_result(base: dict, test: TestPlan, model: ModelInfo, runner, images: np.ndarray, clean_probs: np.ndarray, describe) -> TestResult:
    """The result of `test` (an attack) on `model`, as a TestResult."""
    index = {label: i for i, label in enumerate(model.labels)}
    truth = np.array([index[test.expected_labels[e]] for e in test.expected], dtype=np.int64)
    clean_correct = clean_probs.argmax(axis=1) == truth
    try:
        sweep = {eps: _attack_once(test.attack, eps, model, runner, images, truth, clean_correct, test.id) for eps in test.attack.eps}
    except Exception as error:  # an attack that breaks on this model is this test's error, not the run's
        return TestResult(**base, status="ERROR", message=f"attack {test.attack.method} failed on model `{model.name}`: {first_line(error)}")
    metrics = _metrics(sweep, clean_correct, len(test.attack.eps) > 1)
    verdicts = [_verdict(check, sweep, clean_correct) for check in test.checks]
    failed_eps = next((eps for ok, eps, _ in verdicts if not ok), max(sweep))
    message = " ".join(figure_against(_at(check, eps, sweep), value, ok) for check, (ok, eps, value) in zip(test.checks, verdicts))
    examples = _examples(test, sweep[failed_eps], failed_eps, clean_probs, clean_correct, truth, model.labels, describe)
    status = "PASS" if all(ok for ok, _, _ in verdicts) else "FAIL"
    return TestResult(**base, status=status, message=message, metrics=metrics, examples=examples)


def _at(check: MetricCheck, eps: float, sweep: dict) -> MetricCheck:
    """The check as judged: in a sweep, at the eps where it failed (or the last one)."""
    if check.at is not None or len(sweep) == 1 or check.metric == "clean_accuracy":
        return check
    return MetricCheck(check.metric, check.op, check.value, at=eps)


def _attack_once(plan: AttackPlan, eps: float, model: ModelInfo, runner, images, truth, clean_correct, test_id: str) -> dict:
    """Adversarial images at one eps, the model's scores on them and the per-input figures."""
    params = dict(plan.params)
    low, high = model.image.low, model.image.high
    seed_rng = seeded_rng(plan.seed, test_id, f"{plan.method} {eps!r}")
    adversarial = np.empty_like(images)
    queries = np.zeros(len(images), dtype=np.int64) if plan.method == "square" else None
    for start in range(0, len(images), model.batch):
        part = slice(start, start + model.batch)
        if plan.method == "square":
            found = attacks.square(runner.predict, images[part], truth[part], eps=eps, queries=params["queries"], low=low, high=high, rng=seed_rng, p_init=params["p_init"])
            adversarial[part], queries[part] = found.adversarial, found.queries
        else:
            adversarial[part] = _white_box(plan.method, params, eps, model, runner, images[part], truth[part], seed_rng)
    adversarial_probs = np.concatenate([runner.predict(adversarial[s : s + model.batch]) for s in range(0, len(images), model.batch)])
    if not np.isfinite(adversarial_probs).all():
        bad = int((~np.isfinite(adversarial_probs).all(axis=1)).sum())
        raise ValueError(f"the model returned NaN or infinite scores for {bad} adversarial image{'s' if bad != 1 else ''} at eps {eps:g}")
    norm = params.get("norm", "linf")
    delta = (adversarial - images).reshape(len(images), -1).astype(np.float64)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta**2).sum(axis=1))
    robust = clean_correct & (adversarial_probs.argmax(axis=1) == truth)
    return {"robust": robust, "probs": adversarial_probs, "size": size, "queries": queries, "norm": norm}


def _white_box(method: str, params: dict, eps: float, model: ModelInfo, runner, images, truth, seed_rng) -> np.ndarray:
    import torch

    x = runner.tensor(images)
    y = torch.from_numpy(truth).to(x.device)
    loss = "logits" if model.output_kind == "logits" else "probabilities"
    if method == "fgsm":
        adversarial = attacks.fgsm(runner.forward, x, y, eps=eps, low=model.image.low, high=model.image.high, loss=loss)
    else:
        generator = torch.Generator(device=x.device).manual_seed(int(seed_rng.integers(2**62)))
        adversarial = attacks.pgd(
            runner.forward, x, y, eps=eps, step=params["step"], steps=params["steps"], norm=params["norm"],
            random_start=params["random_start"], restarts=params["restarts"], low=model.image.low, high=model.image.high,
            loss=loss, generator=generator,
        )
    return adversarial.detach().cpu().numpy()


def _figures(outcome: dict, clean_correct: np.ndarray) -> dict[str, float | None]:
    correct = int(clean_correct.sum())
    fooled = correct - int(outcome["robust"].sum())
    sizes = outcome["size"][clean_correct]
    figures = {
        "robust_accuracy": float(outcome["robust"].mean()) if len(clean_correct) else None,
        "attack_success_rate": fooled / correct if correct else None,
        "mean_perturbation": float(sizes.mean()) if correct else None,
        "max_perturbation": float(sizes.max()) if correct else None,
    }
    if outcome["queries"] is not None:
        figures["mean_queries"] = float(outcome["queries"].mean())
    return figures


def _metrics(sweep: dict, clean_correct: np.ndarray, is_sweep: bool) -> dict:
    metrics: dict = {"cases": len(clean_correct), "clean_accuracy": float(clean_correct.mean()) if len(clean_correct) else None}
    for eps, outcome in sweep.items():
        for name, value in _figures(outcome, clean_correct).items():
            metrics[f"{name}@eps={eps:g}" if is_sweep else name] = value
    if not is_sweep:
        metrics["eps"] = next(iter(sweep))
    return metrics


def _verdict(check: MetricCheck, sweep: dict, clean_correct: np.ndarray) -> tuple[bool, float, float | None]:
    """(holds, the eps it was judged at — the first failing one —, the figure there)."""
    points = [check.at] if check.at is not None else list(sweep)
    for eps in points:
        if check.metric == "clean_accuracy":
            value = float(clean_correct.mean()) if len(clean_correct) else None
        else:
            value = _figures(sweep[eps], clean_correct)[check.metric]
        if value is None or not COMPARE[check.op](value, check.value):
            return False, eps, value
    return True, points[-1], value


def _examples(test: TestPlan, outcome: dict, eps: float, clean_probs, clean_correct, truth, labels, describe) -> list[Example]:
    """Inputs the model got right that the attack fooled, at the eps that failed (or the largest)."""
    fooled = np.flatnonzero(clean_correct & ~outcome["robust"])[:MAX_EXAMPLES]

    return [
        Example(
            original=Prediction.of(describe(test.inputs[i]), clean_probs[i], labels),
            prediction=Prediction.of(f"{describe(test.inputs[i])} ~ {test.attack.method} eps {eps:g}", outcome["probs"][i], labels),
            expected=labels[truth[i]],
        )
        for i in fooled
    ]
