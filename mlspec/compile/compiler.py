"""Stage 3: checked spec -> Plan (`compile`).

Expands templates and datasets into cases, applies perturbations to make INV/DIR
variants, lowers expectations to plan records, and interns every model input into one
table so identical inputs across all tests are scored once. Every random choice draws
from a generator seeded by the spec's seed and the test's id, so a test's cases do not
depend on the order of tests or on other tests. A test whose data cannot be read is
kept in the plan with its error, so the run reports it as ERROR and goes on.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from mlspec.compile.datasets import load_columns, load_dataset, load_images
from mlspec.compile.plan import (
    LABEL_SET,
    LabelCheck,
    MetricCheck,
    MonotonicCheck,
    Plan,
    ScoreCheck,
    Subject,
    TestPlan,
    UnchangedCheck,
)
from mlspec.compile.templates import expand, product_size, sample_indices
from mlspec.errors import CompileError, Diagnostic, MlspecError, render
from mlspec.language import ast
from mlspec.language.checker import MAX_SAMPLE, CheckedSpec, CheckedTest
from mlspec.language.kinds import kind
from mlspec.library.image_perturbations import IMAGE_PERTURBATIONS
from mlspec.library.perturbations import PERTURBATIONS, TooManyVariants
from mlspec.library.seeds import seeded_rng

MAX_PRODUCT = 1 << 62
MAX_UNSAMPLED = MAX_SAMPLE  # cases a test keeps without a `sample` (and `sample N` keeps at most as many)
# What a test's perturbations or swap may make: variants, and the values of its perturbed images.
MAX_GENERATED = 10_000_000
MAX_GENERATED_VALUES = 200_000_000  # 800 MB of float32 pixels


class ImageTable:
    """Collects images: a dataset row keeps one id across tests; perturbed images are new."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, int], int] = {}
        self.chunks: list[np.ndarray] = []
        self.names: list[str] = []

    def add(self, images: np.ndarray, names: list[str], keys: list[tuple[str, int]] | None = None) -> np.ndarray:
        out = np.empty(len(images), dtype=np.int64)
        fresh = []
        for position, name in enumerate(names):
            key = keys[position] if keys else None
            if key is not None and key in self.ids:
                out[position] = self.ids[key]
                continue
            out[position] = len(self.names)
            self.names.append(name)
            fresh.append(position)
            if key is not None:
                self.ids[key] = out[position]
        if fresh:
            self.chunks.append(images[fresh])
        return out

    def array(self) -> np.ndarray | None:
        return np.concatenate(self.chunks) if self.chunks else None


class RowTable:
    """Collects table rows (the model's columns, as text); a dataset row keeps one id across tests."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, int], int] = {}
        self.rows: list[tuple[str, ...]] = []
        self.names: list[str] = []

    def add(self, dataset: str, indices, rows: list[tuple[str, ...]]) -> np.ndarray:
        out = np.empty(len(rows), dtype=np.int64)
        for position, (index, row) in enumerate(zip(indices, rows)):
            key = (dataset, int(index))
            if key not in self.ids:
                self.ids[key] = len(self.rows)
                self.rows.append(row)
                self.names.append(f"{dataset}[{index}]")
            out[position] = self.ids[key]
        return out

    def array(self) -> np.ndarray | None:
        return np.array(self.rows, dtype=object) if self.rows else None


class InputTable:
    """Interns model inputs: each distinct text gets one id."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.texts: list[str] = []

    def intern(self, texts) -> np.ndarray:
        """Ids of `texts`, new texts numbered in order of first appearance (dict and map work in C)."""
        fresh = [text for text in dict.fromkeys(texts) if text not in self.ids]
        self.ids.update(zip(fresh, range(len(self.texts), len(self.texts) + len(fresh))))
        self.texts.extend(fresh)
        return np.fromiter(map(self.ids.__getitem__, texts), dtype=np.int64, count=len(texts))


def compile_spec(checked: CheckedSpec, display_path: str | None = None) -> Plan:
    """Build the plan of a checked spec. Broken data marks tests as errors."""
    table, images, rows = InputTable(), ImageTable(), RowTable()
    tests = [TestCompiler(checked, test, table, images, rows, display_path).run() for test in checked.tests]
    row_columns = next((m.columns for m in checked.models.values() if m.columns), ())
    return Plan(
        spec_name=checked.spec.name or checked.stem,
        spec_path=display_path or str(checked.path),
        seed=checked.seed,
        inputs=table.texts,
        models=checked.models,
        tests=tests,
        images=images.array(),
        image_names=images.names,
        rows=rows.array(),
        row_columns=row_columns,
        row_names=rows.names,
    )


def compile_errors(plan: Plan) -> None:
    """Raise the compile errors of a plan's tests together (for `mlspec check`/`plan`)."""
    problems = list(dict.fromkeys(t.diagnostic for t in plan.tests if t.diagnostic))  # a broken file once
    if problems:
        raise MlspecError.collected(problems)


@dataclass(frozen=True)
class ImageInputs:
    """The sampled images of a test: ids in the image table, labels, pixels and names."""

    ids: np.ndarray
    labels: list[str | None]
    originals: np.ndarray
    names: list[str]
    labelled: bool  # the dataset has a label column


class TestCompiler:
    """Compiles one checked test: the building blocks its kind's `cases` hook puts together."""

    __test__ = False  # not a pytest test class

    def __init__(self, checked: CheckedSpec, test: CheckedTest, table: InputTable, images: ImageTable, rows: RowTable, display_path: str | None):
        self.checked = checked
        self.test = test
        self.decl: ast.TestDecl = test.decl
        self.kind = kind(test.kind)
        self.table = table
        self.images = images
        self.rows = rows
        self.models = [checked.models[name] for name in test.models]
        self.warnings: list[Diagnostic] = []
        self.input_table = self.models[0].table if self.models else "text"
        self.display_path = display_path or str(checked.path)

    def sample_rng(self) -> np.random.Generator:
        """An explicit `seed S` picks the same cases in every test of the same source;
        without one, the spec's seed and the test's id decide."""
        sample = self.decl.sample
        if sample and sample.seed:
            return seeded_rng(sample.seed.whole(), "", "sample")  # exact, as written (checked: 0 to 2^63-1)
        return seeded_rng(self.checked.seed, self.test.id, "sample")

    def run(self) -> TestPlan:
        base = dict(
            id=self.test.id,
            title=self.test.title,
            capability=self.test.capability,
            kind=self.test.kind,
            models=self.test.models,
            file=self.display_path,
            line=self.decl.span.line,
            checks=tuple(lower_check(c) for c in self.decl.expects) or self.kind.default_checks(),
            where=tuple(lower_check(c) for c in self.decl.where),
            max_fail_rate=self.decl.max_fail_rate.value if self.decl.max_fail_rate else 0.0,
            input_table=self.input_table,
        )
        try:
            cases = self.kind.cases(self)
            self.check_expected_labels(base["checks"], cases)
            self.warn_about(cases)
            return TestPlan(**base, **cases, warnings=tuple(self.warnings))
        except CompileError as error:
            return TestPlan(**base, error=render(error.diagnostic), diagnostic=error.diagnostic)

    def warn_about(self, cases: dict) -> None:
        """Suspicious but legal: a test with no cases (its perturbation applied to none, say)."""
        if len(cases["inputs"]) == 0:
            dropped = cases.get("dropped", 0)
            hint = f"the perturbation applies to none of its {dropped} cases" if dropped else None
            self.warn(f'{self.decl.kind} test "{self.decl.title}" has no cases', self.decl.title_span, hint)

    def check_expected_labels(self, checks, cases: dict) -> None:
        """`label == expected` (also the MFT default) needs a label on every case."""
        if not any(isinstance(c, LabelCheck) and c.expected for c in checks):
            return
        expected = cases.get("expected")
        if expected is not None and (expected >= 0).all():
            return
        if self.decl.source:
            dataset = self.checked.datasets[self.decl.source.value]
            message = f"dataset `{dataset.name}` has no label column `{dataset.columns['label']}`, so its cases have no expected label"
            hint = "name the label column (`{ text: ..., label: COLUMN }`) or say what to expect (`expect label == X`)"
        else:
            message, hint = "some templates give no `-> LABEL`", "add `-> LABEL` to every template or say what to expect"
        raise CompileError(message, self.decl.title_span, hint)

    # ---- sources

    def sampled(self, total: int) -> np.ndarray:
        sample = self.decl.sample
        if total > MAX_PRODUCT:
            raise CompileError(f"templates expand to {total} cases, more than mlspec can index (2^62)", self.decl.title_span, "use fewer placeholders or smaller lexicons")
        if sample is None and total > MAX_UNSAMPLED:
            raise CompileError(f"templates expand to {total:,} cases", self.decl.title_span, f"add `sample N` to keep N of them (at most {MAX_UNSAMPLED:,} without one)")
        size = sample.size.whole() if sample else None  # checked: from 1 to MAX_SAMPLE
        if size is not None and size > total:
            self.warn(f"`sample {size}` is larger than the {total} cases there are; all are used", sample.span)
        return sample_indices(total, size, self.sample_rng())

    def warn(self, message: str, span, hint: str | None = None) -> None:
        self.warnings.append(Diagnostic(message, span, hint, severity="warning"))

    def templated(self) -> tuple[list[str], list[str | None]]:
        """Texts and labels of all templates, as one product space (sampled together)."""
        texts: list[str] = []
        labels: list[str | None] = []
        for template, placeholders, indices in self.sampled_templates():
            texts.extend(expand(template.text, placeholders, self.checked.lexicons, indices).texts)
            labels.extend([template.label.value if template.label else None] * len(indices))
        return texts, labels

    def sampled_templates(self, fixed: frozenset[str] = frozenset()):
        """(template, placeholders, product indices) for each template, sampled as one space."""
        sizes = [product_size(p, self.checked.lexicons, fixed) for p in self.test.placeholders]
        chosen = self.sampled(sum(sizes))  # sorted; the sum is at most MAX_PRODUCT (2^62)
        offsets = np.fromiter(itertools.accumulate(sizes, initial=0), dtype=np.int64, count=len(sizes) + 1)
        bounds = np.searchsorted(chosen, offsets)  # each template's indices in one step, not a pass over all of them
        for number, (template, placeholders) in enumerate(zip(self.decl.templates, self.test.placeholders)):
            yield template, placeholders, chosen[bounds[number] : bounds[number + 1]] - offsets[number]

    def from_dataset(self) -> tuple[list[str], list[str | None]]:
        rows = load_dataset(self.checked.datasets[self.decl.source.value])
        chosen = self.sampled(len(rows.texts))
        texts = [rows.texts[i] for i in chosen]
        labels = self.label_names([rows.labels[i] for i in chosen] if rows.labels else [None] * len(texts))
        self.check_dataset_labels(labels)
        return texts, labels

    def label_names(self, values: list[str | None]) -> list[str | None]:
        """Dataset labels as the models' label names; whole numbers not among the names are label
        indices. A label set `a|b` is mapped part by part."""
        names = self.models[0].exposed_labels if self.models else ()
        parts = {part for v in values if v is not None for part in v.split(LABEL_SET)}
        if parts and not parts <= set(names) and all(p.isascii() and p.isdigit() and len(p) < 19 and int(p) < len(names) for p in parts):
            return [None if v is None else LABEL_SET.join(names[int(p)] for p in v.split(LABEL_SET)) for v in values]
        return values

    def check_dataset_labels(self, labels: list[str | None]) -> None:
        known = set.intersection(*(set(self.checked.models[m].exposed_labels) for m in self.test.models)) if self.test.models else set()
        unknown = sorted({part for label in labels if label is not None for part in label.split(LABEL_SET) if part not in known})
        if unknown and known:
            dataset = self.checked.datasets[self.decl.source.value]
            shown = ", ".join(repr(u) for u in unknown[:5])
            raise CompileError(
                f"dataset `{dataset.name}` has labels the model does not know: {shown}",
                dataset.span,
                "model labels are " + ", ".join(sorted(known)),
            )

    # ---- table rows and groups of a dataset

    def dataset_cases(self, extra: list[str]) -> tuple[np.ndarray, list[str | None], dict[str, tuple[str, ...]]]:
        """Model input ids, labels and `extra` columns of the sampled rows of the test's dataset."""
        dataset = self.checked.datasets[self.decl.source.value]
        label = dataset.columns["label"]
        if self.input_table == "row":
            model_columns = list(self.models[0].columns)
            optional = () if dataset.label_mapped else (label,)
            columns = load_columns(dataset, list(dict.fromkeys([*model_columns, *extra, label])), optional)
            chosen = self.sampled(len(columns[model_columns[0]]))
            ids = self.rows.add(dataset.name, chosen, [tuple(columns[c][i] for c in model_columns) for i in chosen])
            labels = columns.get(label)
        else:
            rows = load_dataset(dataset)
            columns = load_columns(dataset, extra) if extra else {}
            chosen = self.sampled(len(rows.texts))
            ids = self.table.intern([rows.texts[i] for i in chosen])
            labels = rows.labels
        picked = self.label_names([labels[i] for i in chosen] if labels else [None] * len(chosen))
        self.check_dataset_labels(picked)
        return ids, picked, {name: tuple(columns[name][i] for i in chosen) for name in extra}

    # ---- images

    def image_inputs(self) -> ImageInputs:
        """The sampled images of the test's dataset, added to the image table, with their labels."""
        dataset = self.checked.datasets[self.decl.source.value]
        data = load_images(dataset, self.models[0].image)
        chosen = self.sampled(len(data.images))
        labels = self.label_names([data.labels[i] for i in chosen] if data.labels else [None] * len(chosen))
        self.check_dataset_labels(labels)
        originals = data.images[chosen]
        names = [f"{dataset.name}[{i}]" for i in chosen]
        ids = self.images.add(originals, names, [(dataset.name, int(i)) for i in chosen])
        return ImageInputs(ids, labels, originals, names, data.labels is not None)

    def labelled_inputs(self) -> tuple[np.ndarray, list[str | None]]:
        """Input ids and expected labels of the test's cases, whatever its models take: images,
        table rows, or texts from templates or a dataset."""
        if self.input_table == "image":
            inputs = self.image_inputs()
            return inputs.ids, inputs.labels
        if self.input_table == "row":
            ids, labels, _ = self.dataset_cases([])
            return ids, labels
        texts, labels = self.templated() if self.decl.templates else self.from_dataset()
        return self.table.intern(texts), labels

    def image_variants(self) -> dict:
        """Images and their perturbed variants (INV/DIR over images)."""
        inputs = self.image_inputs()
        variants, variant_case, variant_names = self.perturbed_images(inputs.originals, inputs.names, self.models[0].image)
        return dict(
            inputs=inputs.ids,
            variants=self.images.add(variants, variant_names),
            variant_case=variant_case,
            **expected_labels(inputs.labels),
        )

    def perturbed_images(self, originals: np.ndarray, names: list[str], image) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """`variants N` draws of the perturbation chain over the whole batch; laid out case by case."""
        rng = seeded_rng(self.checked.seed, self.test.id, "perturb")
        perturb = self.decl.perturb
        chain = [(IMAGE_PERTURBATIONS[c.name.value], self.arguments(c, IMAGE_PERTURBATIONS)) for c in perturb.chain]
        randomized = any(info.randomized for info, _ in chain)
        draws = perturb.variants.whole() if perturb.variants and randomized else 1  # checked: 1 to MAX_VARIANTS
        made = len(originals) * draws
        most = min(MAX_GENERATED, MAX_GENERATED_VALUES // max(1, math.prod(originals.shape[1:])))  # images of this size
        if made > most:
            raise CompileError(
                f"`variants {draws}` of {len(originals):,} images make {made:,} images, more than mlspec makes for a test",
                perturb.span,
                f"a test makes at most {most:,} images of this size: sample fewer images or ask for fewer variants",
            )
        produced = []
        for _ in range(draws):
            batch = originals
            for info, params in chain:
                batch = info.fn(batch, rng, image.low, image.high, **params)
            produced.append(batch)
        variants = np.stack(produced, axis=1).reshape((-1, *originals.shape[1:]))
        label = " then ".join(c.name.value for c in perturb.chain)
        variant_names = [f"{name} ~ {label} #{d + 1}" for name in names for d in range(draws)]
        return variants, np.repeat(np.arange(len(originals), dtype=np.int64), draws), variant_names

    # ---- INV / DIR

    def given_variants(self) -> dict:
        """Cases whose variants the dataset lists (a CheckList suite's, say): the text is the original."""
        rows = load_dataset(self.checked.datasets[self.decl.source.value])
        chosen = self.sampled(len(rows.texts))
        labels = self.label_names([rows.labels[i] for i in chosen] if rows.labels else [None] * len(chosen))
        kept = [i for i in chosen if rows.variants[i]]
        variant_case = np.repeat(np.arange(len(kept), dtype=np.int64), [len(rows.variants[i]) for i in kept])
        return dict(
            inputs=self.table.intern([rows.texts[i] for i in kept]),
            variants=self.table.intern([v for i in kept for v in rows.variants[i]]),
            variant_case=variant_case,
            dropped=len(chosen) - len(kept),
            **expected_labels([label for i, label in zip(chosen, labels) if rows.variants[i]]),
        )

    def perturbed(self, texts: list[str], labels: list[str | None]) -> dict:
        rng = seeded_rng(self.checked.seed, self.test.id, "perturb")
        perturb = self.decl.perturb
        chain = [(PERTURBATIONS[c.name.value], self.arguments(c)) for c in perturb.chain]
        limit = perturb.variants.whole() if perturb.variants else None  # checked: 1 to MAX_VARIANTS
        drawn = len(texts) * _draws_per_case(chain, limit)
        if drawn > MAX_GENERATED:
            raise CompileError(
                f"perturbing {len(texts):,} cases takes {drawn:,} draws of the perturbations, more than mlspec makes for a test",
                perturb.span,
                f"at most {MAX_GENERATED:,}: sample fewer cases, ask for fewer variants or chain fewer randomized perturbations",
            )
        budget = [MAX_GENERATED]  # texts the perturbations may still make (swap, change_numbers: as many as the text holds)
        kept_texts, kept_labels, variant_texts, variant_case = [], [], [], []
        for text, label in zip(texts, labels):
            variants = _variants(text, chain, limit, rng, budget, perturb.span)
            if variants:
                variant_case.extend([len(kept_texts)] * len(variants))
                kept_texts.append(text)
                kept_labels.append(label)
                variant_texts.extend(variants)
        return dict(
            inputs=self.table.intern(kept_texts),
            variants=self.table.intern(variant_texts),
            variant_case=np.asarray(variant_case, dtype=np.int64),
            dropped=len(texts) - len(kept_texts),
            **expected_labels(kept_labels),
        )

    def arguments(self, call: ast.Call, registry=PERTURBATIONS) -> dict:
        info = registry[call.name.value]
        params = {p.name: p for p in info.params}
        values = {p.name: p.default for p in info.params if p.default is not None}
        for index, argument in enumerate(call.args):
            param = params[argument.name] if argument.name else info.params[index]
            values[param.name] = self.argument_value(param.kind, argument.value)
        return values

    def argument_value(self, kind: str, value):
        if kind == "int":
            return value.whole()  # checked: a whole number in the parameter's range
        if kind == "float":
            return float(value.value)
        if kind == "strings":
            return [item.value for item in value.items]
        return list(self.checked.lexicons[value.value])

    def swap_cases(self) -> dict:
        """Each case: the template with every value of the swapped lexicon; the first is the original."""
        key = self.decl.swap.value
        values = self.checked.lexicons[key]
        originals, labels, variants, variant_case = [], [], [], []
        sampled = list(self.sampled_templates(frozenset([key])))
        made = sum(len(indices) for _, _, indices in sampled) * len(values)
        if made > MAX_GENERATED:
            raise CompileError(
                f"swapping {len(values):,} values of `{key}` into every case makes {made:,} texts, more than mlspec makes for a test",
                self.decl.swap.span,
                f"at most {MAX_GENERATED:,}: sample fewer cases (`sample N`) or swap a smaller lexicon",
            )
        for template, placeholders, indices in sampled:
            per_value = [expand(template.text, placeholders, self.checked.lexicons, indices, {key: v}).texts for v in range(len(values))]
            for row in range(len(indices)):
                variant_case.extend([len(originals)] * (len(values) - 1))
                originals.append(per_value[0][row])
                variants.extend(per_value[v][row] for v in range(1, len(values)))
                labels.append(template.label.value if template.label else None)
        return dict(
            inputs=self.table.intern(originals),
            variants=self.table.intern(variants),
            variant_case=np.asarray(variant_case, dtype=np.int64),
            **expected_labels(labels),
        )

    # ---- fairness over templates

def _draws_per_case(chain, limit: int | None) -> int:
    """Calls of the perturbations one case costs when each step makes one text: a randomized
    step is drawn `limit` times for each text the steps before it made."""
    calls, texts = 0, 1
    for info, _ in chain:
        draws = (limit or 1) if info.randomized else 1
        calls += texts * draws
        texts *= draws
    return calls


def _variants(text: str, chain, limit: int | None, rng: np.random.Generator, budget: list[int] | None = None, span=None) -> list[str]:
    """Apply a perturbation chain; randomized steps are drawn `limit` times (once by default).
    `budget`: how many texts the chain may still make for the test (reduced here)."""
    candidates = [text]
    for info, params in chain:
        produced: list[str] = []
        for current in candidates:
            draws = (limit or 1) if info.randomized else 1
            for _ in range(draws):
                try:
                    produced.extend(info.fn(current, rng, **params))
                except TooManyVariants as error:
                    raise CompileError(f"`{info.name}` makes {error}", span, "perturb shorter texts, or with fewer values") from None
            if budget is not None and len(produced) > budget[0]:
                raise CompileError(
                    f"the perturbations make more than {MAX_GENERATED:,} texts for this test",
                    span,
                    "sample fewer cases, ask for fewer variants, or perturb with fewer values",
                )
        if budget is not None:
            budget[0] -= len(produced)
        candidates = [c for c in dict.fromkeys(produced) if c != text]
        if not candidates:
            return []
    if limit is not None and len(candidates) > limit:
        keep = np.sort(rng.choice(len(candidates), size=limit, replace=False))
        candidates = [candidates[i] for i in keep]
    return candidates


def expected_labels(labels: list[str | None]) -> dict:
    """Per-case expected label indices (or nothing when no case has a label)."""
    labels = labels if isinstance(labels, list) else list(labels)
    if labels.count(None) == len(labels):
        return {}
    names = tuple(sorted({label for label in labels if label is not None}))
    index = {name: i for i, name in enumerate(names)}
    expected = np.fromiter(map(index.get, labels, itertools.repeat(-1)), dtype=np.int64, count=len(labels))
    return dict(expected=expected, expected_labels=names)


def lower_subject(subject: ast.Subject) -> Subject:
    return Subject(label=subject.label.value if subject.label else None, minus=subject.minus.value if subject.minus else None)


def lower_check(node):
    if isinstance(node, ast.LabelCondition):
        return LabelCheck(op=node.op, labels=tuple(n.value for n in node.labels), expected=node.expected)
    if isinstance(node, ast.ScoreCondition):
        return ScoreCheck(subject=lower_subject(node.subject), op=node.op, value=node.value.value)
    if isinstance(node, ast.UnchangedExpect):
        return UnchangedCheck(tolerance=node.tolerance.value if node.tolerance else None)
    if isinstance(node, ast.MonotonicExpect):
        tolerance = node.tolerance.value if node.tolerance else 0.0
        return MonotonicCheck(subject=lower_subject(node.subject), direction=node.direction, negated=node.negated, tolerance=tolerance)
    at = node.at_value.value if node.at_value else None
    written = node.value.text if node.value.duration or node.value.percent else None
    return MetricCheck(metric=node.metric.value, op=node.op, value=node.value.value, at=at, written=written)
