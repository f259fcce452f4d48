"""`attack`: adversarial robustness of an image model (FGSM, PGD, square) or of a text
model (DeepWordBug, TextFooler's word substitutions: `deepwordbug`, `textfooler`).

Images: for each eps of the test's sweep, the attack (`mlspec.library.attacks`) perturbs
the test's images in batches, the model scores the adversarial images, and the figures
follow:

- clean_accuracy: share of inputs classified correctly without attack;
- robust_accuracy: share of ALL inputs still classified correctly after the attack
  (an input the model already gets wrong counts as not robust);
- attack_success_rate: share of the clean-correct inputs the attack fools;
- mean_perturbation / max_perturbation: the attack's norm (linf, or l2 for `norm: l2`)
  of adversarial minus original, over the clean-correct inputs;
- mean_queries: model queries per input, for the black-box `square` attack.

With one eps the figures are named as above; in a sweep each carries `@eps=E`. An
expectation `at eps E` holds at that point; without `at` it must hold at every eps.

Texts (`input text` or `input tokens` models; cases `from` a dataset with labels, or
templates with `-> LABEL`): the black-box attacks of `mlspec.library.text_attacks` run
on the cases the model gets right, moving each away from its true label within a budget
of words and queries per case; the adversarial texts are scored again, in model
batches, and that score decides. Figures: clean_accuracy, robust_accuracy and
attack_success_rate as above (so robust_accuracy = clean_accuracy x (1 -
attack_success_rate)); mean_words_changed, over the successful attacks; mean_queries,
texts scored per attacked case (its first query, of the text itself, included). The
failing examples show each original and its adversarial text, and the details mark the
changed words as a word diff (`[-old-]{+new+}`). `textfooler(synonyms: LEXICON)` takes
its candidates from a lexicon, inline or a file (`lexicon syn = file "synonyms.txt"`, one
value a line): each value is a group of interchangeable words separated by commas
(`good, great, fine`); a lexicon whose values hold no comma is one group.

The image attacks (`mlspec.library.attacks`) import torch, so this module imports them
only when an attack runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlspec.compile.plan import LABEL_SET, MetricCheck, Payload, TestPlan
from mlspec.errors import CompileError, did_you_mean, first_line, quoted
from mlspec.language.kinds import TestKind, deferred, register
from mlspec.library import text_attacks
from mlspec.library.perturbations import Param
from mlspec.library.seeds import seeded_rng
from mlspec.model import ModelInfo
from mlspec.results import Example, Prediction, TestResult, format_figure
from mlspec.run.expectations import COMPARE, figure_against

ast = deferred("mlspec.language.ast")  # the check and compile hooks' node types: a run from a cached plan needs none

if TYPE_CHECKING:  # the hooks' arguments
    from mlspec.compile.compiler import TestCompiler
    from mlspec.language.checker import TestChecker

MAX_EXAMPLES = 10

METRICS = ("robust_accuracy", "attack_success_rate", "clean_accuracy")
# Attack methods: their parameters (eps may be a list: a sweep) and whether they need gradients.
METHODS = {
    "fgsm": ((Param("eps", "eps"),), True),
    "pgd": (
        (
            Param("eps", "eps"),
            Param("step", "float", 0.01, 0),
            Param("steps", "int", 10, 1, 10_000),
            Param("norm", "choice:linf,l2", "linf"),
            Param("random_start", "choice:false,true", "false"),
            Param("restarts", "int", 1, 1, 100),
        ),
        True,
    ),
    "square": ((Param("eps", "eps"), Param("queries", "int", 1000, 1, 1_000_000), Param("p_init", "float", 0.05, 0, 1)), False),
}
# Text attack methods (black-box): their parameters. `synonyms` names a lexicon of groups,
# checked here (`_check_synonyms`), not by the checker's `lexicon` rule (one group of two
# words is a lexicon of one value).
TEXT_METHODS = {
    "deepwordbug": ((Param("words", "int", 5, 1, 1_000), Param("queries", "int", 1000, 1, 1_000_000)), False),
    "textfooler": (
        (Param("synonyms", "lexicon of synonym groups"), Param("words", "int", 5, 1, 1_000), Param("queries", "int", 1000, 1, 1_000_000)),
        False,
    ),
}
TEXT_USAGE = "deepwordbug(words: 3, queries: 300) or textfooler(synonyms: LEXICON, words: 3, queries: 300)"
# A rough count of model calls per input, for sharding: a text attack ranks about 20 words,
# then tries 4 edits (deepwordbug) or a few synonyms (textfooler) a word.
CALLS_PER_INPUT = {
    "fgsm": lambda p: 2,
    "pgd": lambda p: 2 * int(p.get("steps", 10)) * int(p.get("restarts", 1)),
    "square": lambda p: int(p.get("queries", 1000)),
    "deepwordbug": lambda p: min(int(p.get("queries", 1000)), 21 + 4 * int(p.get("words", 5))),
    "textfooler": lambda p: min(int(p.get("queries", 1000)), 21 + 8 * int(p.get("words", 5))),
}


@dataclass(frozen=True)
class AttackPlan(Payload):
    """An adversarial attack to run on each model of the test, once per eps of the sweep
    (a text attack: once)."""

    method: str  # fgsm | pgd | square | deepwordbug | textfooler
    eps: tuple[float, ...]  # () for a text attack
    params: tuple[tuple[str, object], ...]  # the other parameters, by name (`synonyms`: the lexicon's name)
    seed: int = 0  # random starts and black-box searches draw from this seed and the test's id
    synonyms: tuple[tuple[str, ...], ...] = ()  # textfooler: the groups of the lexicon `synonyms` names

    def __str__(self) -> str:
        eps = [f"eps: {list(self.eps) if len(self.eps) > 1 else self.eps[0]}"] if self.eps else []
        args = ", ".join(eps + [f"{k}: {v}" for k, v in self.params])
        return f"{self.method}({args})"

    def summary(self) -> str:
        if self.method == "textfooler":  # the groups too: a plan diff then sees a changed synonyms file
            words = sum(len(group) for group in self.synonyms)
            return f"{self} over {len(self.synonyms)} synonym groups of {words} words"
        return str(self)

    def json_fields(self) -> dict:
        fields = {"attack": str(self)}
        if self.method == "textfooler":
            fields["synonym_groups"] = len(self.synonyms)
        return fields


class Attack(TestKind):
    keyword = "attack"
    article = "an"
    statements = frozenset({"source", "templates", "sample", "method", "expects"})
    needs_cases = False  # it says itself that it needs images `from` a dataset, or labelled texts
    calls_model = True

    def table_problem(self, table: str, takes: str):
        if table == "row":
            return f"attacks perturb images or texts; this test's models take {takes}", "for table robustness use `inv` with `perturb noise(COLUMN, std: ...)` and the like"
        return None

    def check(self, checker: TestChecker, placeholders) -> None:
        if checker.table == "text":
            _check_text(checker)
            return
        if checker.table != "image":
            return  # reported by `table_problem`
        test = checker.test
        if not test.source:
            checker.error(f"attack test {quoted(test.title)} needs images `from` a dataset", test.title_span)
        method = test.method
        if method is None:
            checker.error(f"attack test {quoted(test.title)} needs a `method`", test.title_span, "fgsm(eps: 0.1), pgd(eps: 0.1, step: 0.01, steps: 20) or square(eps: 0.1, queries: 500)")
            return
        if method.name.value in TEXT_METHODS:
            checker.error(f"`{method.name.value}` attacks text; this test's models take images", method.name.span, "image methods are " + ", ".join(METHODS))
            return
        if method.name.value not in METHODS:
            hint = did_you_mean(method.name.value, METHODS) or "methods are " + ", ".join(METHODS)
            checker.error(f"unknown attack method `{method.name.value}`", method.name.span, hint)
            return
        params, white_box = METHODS[method.name.value]
        checker.bind_arguments(method, params)
        _check_band(checker)
        _check_classifier(checker)
        _check_access(checker, method, white_box)
        _check_expectations(checker, method)

    def cases(self, compiler: TestCompiler) -> dict:
        from mlspec.compile.compiler import expected_labels
        if compiler.input_table == "text":
            return _text_cases(compiler)
        inputs = compiler.image_inputs()
        if not inputs.labelled:
            dataset = compiler.checked.datasets[compiler.decl.source.value]
            raise CompileError(f"dataset `{dataset.name}` has no labels; an attack needs the true class of each image", dataset.span)
        return dict(inputs=inputs.ids, payload=_attack_plan(compiler), **expected_labels(inputs.labels))

    def evaluate(self, run) -> TestResult:
        if run.test.input_table == "text":
            texts = [run.plan.inputs[i] for i in run.test.inputs]
            return text_attack_result(run.base, run.test, run.model, run.runner, texts, run.probs[run.test.inputs])
        images = run.plan.images[run.test.inputs]
        return attack_result(run.base, run.test, run.model, run.runner, images, run.probs[run.test.inputs], run.describe)

    def shard_cost(self, test: TestPlan) -> int:
        plan: AttackPlan = test.payload
        calls = CALLS_PER_INPUT.get(plan.method, lambda p: 1)(dict(plan.params))
        return test.n_cases * (1 + max(len(plan.eps), 1) * calls)  # a text attack: one run, no eps

    def figures(self, result: TestResult) -> str:
        """`clean 0.972, robust 0.908 at eps 0.05, 0.742 at 0.1`: the headline figures of an attack."""
        if result.status == "ERROR":
            return ""
        metrics = result.metrics
        text = f"clean {format_figure(metrics.get('clean_accuracy'))}, robust "
        if "mean_words_changed" in metrics:  # a text attack
            words, queries = metrics.get("mean_words_changed"), metrics.get("mean_queries")
            cost = [f"{words:.1f} words a success" if words is not None else "", f"{queries:.0f} queries a case" if queries is not None else ""]
            cost = ", ".join(c for c in cost if c)
            return text + format_figure(metrics.get("robust_accuracy")) + (f" ({cost})" if cost else "")
        if "robust_accuracy" in metrics:
            return text + f"{format_figure(metrics['robust_accuracy'])} at eps {metrics.get('eps', 0):g}"
        points = [(name.split("@eps=")[1], value) for name, value in metrics.items() if name.startswith("robust_accuracy@eps=")]
        return text + ", ".join(f"{format_figure(value)} at {'eps ' if i == 0 else ''}{eps}" for i, (eps, value) in enumerate(points))


def _check_text(checker: TestChecker) -> None:
    """An attack on a text model: a text method, labelled cases, expectations without `at`."""
    test = checker.test
    if not test.source and not test.templates:
        checker.error(f"attack test {quoted(test.title)} needs labelled texts", test.title_span, "take them `from` a dataset with labels, or from templates with `-> LABEL`")
    for template in test.templates:
        if template.label is None:
            checker.error("an attack moves each text away from its true label; this template gives none", template.span, f'add `-> LABEL`: `template "{template.text}" -> LABEL`')
    method = test.method
    if method is None:
        checker.error(f"attack test {quoted(test.title)} needs a `method`", test.title_span, TEXT_USAGE)
    elif method.name.value in METHODS:
        checker.error(f"`{method.name.value}` attacks images; this test's models take text", method.name.span, "text methods are " + ", ".join(TEXT_METHODS))
    elif method.name.value not in TEXT_METHODS:
        hint = did_you_mean(method.name.value, TEXT_METHODS) or "methods for text models are " + ", ".join(TEXT_METHODS)
        checker.error(f"unknown attack method `{method.name.value}`", method.name.span, hint)
    else:
        params, _ = TEXT_METHODS[method.name.value]
        checker.bind_arguments(method, params)
        if method.name.value == "textfooler":
            _check_synonyms(checker, method, params)
    _check_band(checker)
    _check_classifier(checker)
    for expect in _figure_expects(checker):
        if expect.at_name is not None:
            checker.error("`at` names a point of an eps sweep; a text attack has none", expect.at_name.span, "drop the `at ...`")


def _argument(method: ast.Call, params: tuple[Param, ...], name: str) -> ast.Argument | None:
    """The argument given for parameter `name`, by name or by position."""
    for index, argument in enumerate(method.args):
        if argument.name == name or (argument.name is None and index < len(params) and params[index].name == name):
            return argument
    return None


def _check_synonyms(checker: TestChecker, method: ast.Call, params: tuple[Param, ...]) -> None:
    """`synonyms: LEXICON`: a lexicon whose values are groups of words (`good, great, fine`),
    or whose values, holding no comma, are one group."""
    argument = _argument(method, params, "synonyms")
    if argument is None:
        return  # `needs synonyms`: reported by bind_arguments
    value = argument.value
    usage = 'for example `lexicon synonyms = ["good, great, fine", "bad, awful, poor"]` or `lexicon synonyms = file "synonyms.txt"` (a group a line), then `synonyms: synonyms`'
    if not isinstance(value, ast.Name):
        hint = "names are written without quotes" if isinstance(value, ast.StringValue) else usage
        checker.error("`textfooler` parameter `synonyms` takes a lexicon name", value.span, hint)
        return
    if value.value not in checker.lexicons:
        checker.error(f"unknown lexicon `{value.value}`", value.span, did_you_mean(value.value, checker.lexicons) or usage)
        return
    values = checker.lexicons[value.value]
    if any("," in v for v in values):
        single = next((v for v in values if len([w for w in v.split(",") if w.strip()]) < 2), None)
        if single is not None:
            checker.error(f"lexicon `{value.value}` is a lexicon of synonym groups, but its value {single.strip()!r} is a group of fewer than two words", value.span, "write each group on one line, its words separated by commas: `good, great, fine`")
            return
    if not text_attacks.synonym_groups(values):
        checker.error(f"lexicon `{value.value}` gives no group of two or more synonyms", value.span, usage)


def _check_classifier(checker: TestChecker) -> None:
    """Attacks move a classifier's label; a regression model has none."""
    if checker.regression:
        model = checker.test_models[0]
        checker.error(f"attacks move a classifier's label; model `{model}` outputs values", checker.test.title_span, "attack a model with `output probabilities` or `output logits`")


def _check_band(checker: TestChecker) -> None:
    """Attacks work on a model's own scores, which a neutral band does not give."""
    for name in checker.test_models:
        band = checker.models[name].neutral_band
        if band is not None:
            checker.error(
                f"model `{name}` has a neutral band (`neutral between {band.text}`); attacks work on its own scores",
                checker.test.title_span,
                "attack a declaration of the model without `neutral between`",
            )


def _check_access(checker: TestChecker, method: ast.Call, white_box: bool) -> None:
    """A gradient attack needs a back end that gives gradients."""
    if not white_box:
        return
    for name in checker.test_models:
        model = checker.models[name]
        if not model.gradients:
            black_box = ", ".join(m for m, (_, needs) in METHODS.items() if not needs)
            checker.error(
                f"`{method.name.value}` needs gradients, which model `{name}` ({model.format}) cannot give",
                method.name.span,
                f"use a score-based black-box method on it: {black_box}; or a `torch` model",
            )


def _figure_expects(checker: TestChecker) -> list[ast.MetricExpect]:
    """The test's expectations of an attack figure, each threshold checked as a fraction; a
    test without one, and any other expectation, are errors."""
    test = checker.test
    if not test.expects:
        checker.error(f"attack test {quoted(test.title)} has no expectation", test.title_span, "for example `expect robust_accuracy >= 0.6`")
    found = []
    for expect in test.expects:
        if not isinstance(expect, ast.MetricExpect) or expect.metric.value not in METRICS:
            checker.error("an attack test expects " + ", ".join(f"`{m}`" for m in METRICS), expect.span, "for example `expect robust_accuracy >= 0.6`")
            continue
        checker.fraction(expect.value, expect.metric.value)
        found.append(expect)
    return found


def _check_expectations(checker: TestChecker, method: ast.Call) -> None:
    eps = next((a.value for a in method.args if a.name == "eps" or (a.name is None and a is method.args[0])), None)
    sweep = {item.value for item in eps.items} if isinstance(eps, ast.ListValue) else None
    for expect in _figure_expects(checker):
        if expect.at_name is None:
            continue
        if expect.at_name.value != "eps":
            checker.error(f"`at` names a point of the eps sweep: `at eps X`, not `at {expect.at_name.value}`", expect.at_name.span)
        elif sweep is None and isinstance(eps, ast.Quantity) and expect.at_value.value == eps.value:
            continue  # `at` the one eps there is
        elif sweep is None or expect.at_value.value not in sweep:
            if sweep:
                shown = ", ".join(f"{v:g}" for v in sorted(sweep))
                checker.error(f"eps {expect.at_value.shown} is not in the sweep ({shown})", expect.at_value.span)
            else:
                checker.error(f"eps {expect.at_value.shown} is not the attack's eps", expect.at_value.span, "`at eps` names one eps of a sweep: `eps: [0.05, 0.1]`")


def _attack_plan(compiler: TestCompiler) -> AttackPlan:
    method = compiler.decl.method
    params, _ = (TEXT_METHODS if method.name.value in TEXT_METHODS else METHODS)[method.name.value]
    values = {p.name: p.default for p in params if p.default is not None}
    for index, argument in enumerate(method.args):
        param = next(p for p in params if p.name == argument.name) if argument.name else params[index]
        values[param.name] = _attack_value(param.kind, argument.value)
    if method.name.value in TEXT_METHODS:
        groups = text_attacks.synonym_groups(compiler.checked.lexicons[values["synonyms"]]) if "synonyms" in values else ()
        return AttackPlan(method=method.name.value, eps=(), params=tuple(values.items()), seed=compiler.checked.seed, synonyms=groups)
    eps = values.pop("eps")
    eps = tuple(eps if isinstance(eps, list) else [eps])
    return AttackPlan(method=method.name.value, eps=eps, params=tuple(values.items()), seed=compiler.checked.seed)


def _text_cases(compiler: TestCompiler) -> dict:
    """Labelled texts, from a dataset or templates, and the attack to run on them."""
    from mlspec.compile.compiler import expected_labels
    ids, labels = compiler.labelled_inputs()
    missing = sum(label is None for label in labels)
    if missing:
        if compiler.decl.source:
            dataset = compiler.checked.datasets[compiler.decl.source.value]
            where = f"dataset `{dataset.name}` has no labels" if missing == len(labels) else f"{missing:,} case(s) of dataset `{dataset.name}` have no label"
            raise CompileError(f"{where}; an attack needs the true label of each text", dataset.span, "name the label column: `{ text: ..., label: COLUMN }`")
        raise CompileError("some templates give no `-> LABEL`; an attack needs the true label of each text", compiler.decl.title_span)
    several = next((label for label in labels if LABEL_SET in label), None)
    if several is not None:
        raise CompileError(f"a case's label `{several}` names several labels; an attack needs one true label per text", compiler.decl.title_span)
    return dict(inputs=ids, payload=_attack_plan(compiler), **expected_labels(labels))


def _attack_value(kind: str, value):
    """An attack parameter as the attack functions take it."""
    if kind == "eps":
        return [float(v.value) for v in value.items] if isinstance(value, ast.ListValue) else float(value.value)
    if kind == "int":
        return value.whole()  # checked: a whole number in the parameter's range
    if kind.startswith("choice:"):
        return {"true": True, "false": False}.get(value.value, value.value)
    if kind == TEXT_METHODS["textfooler"][0][0].kind:
        return value.value  # the lexicon's name; its groups go in the plan's `synonyms`
    return float(value.value)


def attack_result(base: dict, test: TestPlan, model: ModelInfo, runner, images: np.ndarray, clean_probs: np.ndarray, describe) -> TestResult:
    """The result of `test` (an attack) on `model`, as a TestResult."""
    index = {label: i for i, label in enumerate(model.labels)}
    truth = np.array([index[test.expected_labels[e]] for e in test.expected], dtype=np.int64)
    clean_correct = clean_probs.argmax(axis=1) == truth
    try:
        sweep = {eps: _attack_once(test.payload, eps, model, runner, images, truth, clean_correct, test.id) for eps in test.payload.eps}
    except Exception as error:  # an attack that breaks on this model is this test's error, not the run's
        return TestResult(**base, status="ERROR", message=f"attack {test.payload.method} failed on model `{model.name}`: {first_line(error)}")
    metrics = _metrics(sweep, clean_correct, len(test.payload.eps) > 1)
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
            from mlspec.library import attacks  # torch: only when an attack runs

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

    from mlspec.library import attacks

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
            prediction=Prediction.of(f"{describe(test.inputs[i])} ~ {test.payload.method} eps {eps:g}", outcome["probs"][i], labels),
            expected=labels[truth[i]],
        )
        for i in fooled
    ]


# ------------------------------------------------------------------ text attacks


def text_attack_result(base: dict, test: TestPlan, model: ModelInfo, runner, texts: list[str], clean_probs: np.ndarray) -> TestResult:
    """The result of `test` (a text attack) on `model`, as a TestResult."""
    plan: AttackPlan = test.payload
    index = {label: i for i, label in enumerate(model.labels)}
    truth = np.array([index[test.expected_labels[e]] for e in test.expected], dtype=np.int64)
    clean_correct = clean_probs.argmax(axis=1) == truth if len(texts) else np.zeros(0, dtype=bool)
    try:
        outcome = _text_attack_once(plan, model, runner, texts, truth, clean_correct, test.id)
    except Exception as error:  # an attack that breaks on this model is this test's error, not the run's
        return TestResult(**base, status="ERROR", message=f"attack {plan.method} failed on model `{model.name}`: {first_line(error)}")
    figures = _text_figures(outcome, clean_correct)
    metrics: dict = {"cases": len(texts), **figures}
    verdicts = []
    for check in test.checks:
        value = figures.get(check.metric)
        verdicts.append((value is not None and bool(COMPARE[check.op](value, check.value)), value))
    message = " ".join(figure_against(check, value, ok) for check, (ok, value) in zip(test.checks, verdicts))
    fooled = np.flatnonzero(outcome["fooled"])[:MAX_EXAMPLES]
    labels = model.labels
    examples = [
        Example(
            original=Prediction.of(texts[i], clean_probs[i], labels),
            prediction=Prediction.of(outcome["adversarial"][i], outcome["probs"][i], labels),
            expected=labels[truth[i]],
        )
        for i in fooled
    ]
    details = [
        f"{n}. {plan.method}, {_count(len(outcome['changes'][i]), 'word')}, {_count(int(outcome['queries'][i]), 'query', 'queries')}: "
        + text_attacks.word_diff(texts[i], outcome["changes"][i])
        for n, i in enumerate(fooled, 1)
    ]
    status = "PASS" if all(ok for ok, _ in verdicts) else "FAIL"
    return TestResult(**base, status=status, message=message, metrics=metrics, examples=examples, details=details)


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _text_attack_once(plan: AttackPlan, model: ModelInfo, runner, texts: list[str], truth: np.ndarray, clean_correct: np.ndarray, test_id: str) -> dict:
    """Attack the texts the model gets right; score the adversarial texts again, which decides."""
    params = dict(plan.params)

    def score(batch: list[str]) -> np.ndarray:
        parts = [np.asarray(runner.predict(batch[s : s + model.batch])) for s in range(0, len(batch), model.batch)]
        probs = np.concatenate(parts) if parts else np.zeros((0, len(model.labels)))
        if probs.shape != (len(batch), len(model.labels)):
            raise ValueError(f"the model returned scores of shape {list(probs.shape)} for {len(batch)} texts")
        if not np.isfinite(probs).all():
            bad = int((~np.isfinite(probs).all(axis=1)).sum())
            raise ValueError(f"the model returned NaN or infinite scores for {bad} adversarial text{'s' if bad != 1 else ''}")
        return probs

    attacked = np.flatnonzero(clean_correct)
    chosen = [texts[i] for i in attacked]
    rng = seeded_rng(plan.seed, test_id, plan.method)
    budget = {"max_words": params["words"], "queries": params["queries"]}
    if plan.method == "deepwordbug":
        found = text_attacks.deepwordbug(score, chosen, truth[attacked], rng, **budget)
    else:
        found = text_attacks.textfooler(score, chosen, truth[attacked], rng, synonyms=plan.synonyms, **budget)
    n = len(texts)
    adversarial = list(texts)
    changes: list[tuple] = [()] * n
    queries = np.zeros(n, dtype=np.int64)
    for k, i in enumerate(attacked):
        adversarial[i], changes[i], queries[i] = found.adversarial[k], found.changes[k], found.queries[k]
    probs = np.full((n, len(model.labels)), np.nan)
    if len(attacked):
        probs[attacked] = score([adversarial[i] for i in attacked])  # these scores decide, as for images
    fooled = clean_correct.copy()
    fooled[attacked] = probs[attacked].argmax(axis=1) != truth[attacked]
    return {"adversarial": adversarial, "changes": changes, "queries": queries, "probs": probs, "fooled": fooled}


def _text_figures(outcome: dict, clean_correct: np.ndarray) -> dict[str, float | None]:
    n, correct = len(clean_correct), int(clean_correct.sum())
    fooled = outcome["fooled"]
    words = np.array([len(c) for c in outcome["changes"]], dtype=np.int64)
    return {
        "clean_accuracy": correct / n if n else None,
        "robust_accuracy": (correct - int(fooled.sum())) / n if n else None,
        "attack_success_rate": int(fooled.sum()) / correct if correct else None,
        "mean_words_changed": float(words[fooled].mean()) if fooled.any() else None,
        "mean_queries": float(outcome["queries"][clean_correct].mean()) if correct else None,
    }


register(Attack())
