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

from mlspec.compile.datasets import load_dataset, load_images, load_table
from mlspec.compile.plan import (
    LABEL_SET,
    ColumnCheck,
    LabelCheck,
    MetricCheck,
    MonotonicCheck,
    Plan,
    RowNames,
    ScoreCheck,
    Subject,
    TestPlan,
    UnchangedCheck,
    WithinCheck,
)
from mlspec.compile.templates import expand, product_size, sample_indices
from mlspec.errors import CompileError, Diagnostic, MlspecError, did_you_mean, first_line, render
from mlspec.language import ast, printer
from mlspec.language.checker import MAX_SAMPLE, CheckedSpec, CheckedTest
from mlspec.language.kinds import kind
from mlspec.language.table_calls import bind_table_call
from mlspec.library.arrays import unique_ints
from mlspec.library.image_perturbations import IMAGE_PERTURBATIONS
from mlspec.library.perturbations import PERTURBATIONS, TooManyVariants
from mlspec.library.seeds import seeded_rng
from mlspec.library.table_perturbations import Step, perturb_table, step_problem
from mlspec.library.tables import Column, Table, text_column

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
    """Collects table rows (the model's columns, as text); a dataset row keeps one id across
    tests, a perturbed row is new. Whole arrays at a time: no step per row."""

    def __init__(self) -> None:
        self.ids: dict[str, np.ndarray] = {}  # dataset -> the id of each of its rows (-1: not added)
        self.chunks: list[np.ndarray] = []
        self.names = RowNames()

    def add(self, dataset: str, n_rows: int, indices: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Ids of rows `indices` (distinct) of a dataset of `n_rows` rows, whose cells are `rows`."""
        ids = self.ids.setdefault(dataset, np.full(n_rows, -1, dtype=np.int64))
        fresh = ids[indices] < 0
        ids[indices[fresh]] = self._append(rows[fresh], dataset, indices[fresh], "")
        return ids[indices]

    def add_variants(self, dataset: str, origins: np.ndarray, original_ids: np.ndarray, rows: np.ndarray, label: str) -> np.ndarray:
        """Ids of new rows made from rows `origins` of a dataset (ids `original_ids`) by a perturbation."""
        return self._append(rows, dataset, origins, f" ~ {label}", original_ids)

    def _append(self, rows: np.ndarray, dataset: str, origins: np.ndarray, suffix: str, original_ids: np.ndarray | None = None) -> np.ndarray:
        start = len(self.names)
        if len(rows):
            self.chunks.append(rows)
            self.names.extend(dataset, origins, suffix, original_ids)
        return np.arange(start, start + len(rows), dtype=np.int64)

    def array(self) -> np.ndarray | None:
        return np.concatenate(self.chunks) if self.chunks else None


class InputTable:
    """Interns model inputs: each distinct text gets one id."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.texts: list[str] = []

    def intern(self, texts) -> np.ndarray:
        """Ids of `texts`, new texts numbered in order of first appearance (dict and map work in C)."""
        fresh = list(itertools.filterfalse(self.ids.__contains__, dict.fromkeys(texts)))
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
class TableCases:
    """The cases of a test over table rows: their ids in the row table, labels, their rows
    (every column of the file), which rows of the dataset they are, and the whole dataset."""

    ids: np.ndarray
    labels: list[str | None]
    table: Table
    rows: np.ndarray
    dataset: Table


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
            slices=tuple(printer.slice_condition(c) for c in self.decl.slices),
        )
        try:
            cases = self.kind.cases(self)
            self.check_expected_labels(base["checks"], cases)
            self.warn_about(cases)
            return TestPlan(**base, **cases, warnings=tuple(self.warnings))
        except CompileError as error:
            return TestPlan(**base, error=render(error.diagnostic), diagnostic=error.diagnostic)
        except Exception as error:  # a fault of mlspec itself: this test is an error, the others compile
            problem = Diagnostic(f"mlspec failed compiling this test ({type(error).__name__}: {first_line(error)}); please report it", self.decl.title_span)
            return TestPlan(**base, error=render(problem), diagnostic=problem)

    def warn_about(self, cases: dict) -> None:
        """Suspicious but legal: a test with no cases (its perturbation applied to none, say)."""
        if len(cases["inputs"]) == 0:
            dropped = cases.get("dropped", 0)
            hint = f"the perturbation applies to none of its {dropped} cases" if dropped else None
            self.warn(f'{self.decl.kind} test "{self.decl.title}" has no cases', self.decl.title_span, hint)

    def check_expected_labels(self, checks, cases: dict) -> None:
        """`label == expected` (also the MFT default) needs a label on every case, `within ... of
        expected` a value."""
        if any(isinstance(c, WithinCheck) for c in checks):
            values = cases.get("expected_values")
            if values is not None and not np.isnan(values).any():
                return
            if self.decl.source and values is not None:
                dataset = self.checked.datasets[self.decl.source.value]
                empty = int(np.isnan(values).sum())
                message = f"{empty:,} case(s) of dataset `{dataset.name}` have no true value in column `{dataset.columns['label']}`"
                raise CompileError(message, self.decl.title_span, "fill the cells, or slice the rows that have one: `where COLUMN != \"\"`")
        elif not any(isinstance(c, LabelCheck) and c.expected for c in checks):
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
        chosen = self.chosen_rows(len(rows.texts), rows.labels)
        texts = [rows.texts[i] for i in chosen]
        return texts, self.case_labels([rows.labels[i] for i in chosen] if rows.labels else [None] * len(texts))

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
        if self.input_table == "row":
            cases = self.table_cases(extra)
            ids, labels = cases.ids, cases.labels
            columns = {name: tuple(cases.table.columns[name].text) for name in extra}
        else:
            rows = load_dataset(dataset)
            chosen = self.chosen_rows(len(rows.texts), rows.labels)
            ids = self.table.intern([rows.texts[i] for i in chosen])
            labels = [rows.labels[i] for i in chosen] if rows.labels else [None] * len(chosen)
            if extra:
                found = self.dataset_table(extra)
                columns = {name: tuple(found.columns[name].text[chosen]) for name in extra}
            else:
                columns = {}
        return ids, self.case_labels(labels), columns

    def dataset_texts(self, dataset) -> tuple[str, ...]:
        """The texts of a dataset of texts."""
        return load_dataset(dataset).texts

    def case_labels(self, labels: list[str | None]) -> list[str | None]:
        """A dataset's labels as the models' label names (checked); a regression model's as they are."""
        if self.regression:
            return labels
        picked = self.label_names(labels)
        self.check_dataset_labels(picked)
        return picked

    @property
    def regression(self) -> bool:
        return bool(self.models) and self.models[0].regression

    def dataset_table(self, needed=(), name: ast.Name | None = None) -> Table:
        """The test's dataset (or dataset `name`) as typed columns; a column in `needed` it lacks
        is a located error."""
        dataset = self.checked.datasets[(name or self.decl.source).value]
        table = load_table(dataset)
        for column in needed:
            column_name = column.value if isinstance(column, ast.Name) else column
            if column_name not in table.columns:
                span = column.span if isinstance(column, ast.Name) else dataset.span
                hint = did_you_mean(column_name, table.columns) or "columns are " + ", ".join(sorted(table.columns))
                raise CompileError(f"dataset `{dataset.name}` has no column `{column_name}`", span, hint)
        return table

    def table_cases(self, extra=()) -> TableCases:
        """The test's cases from a dataset of table rows: sliced, sampled, added to the row table."""
        dataset = self.checked.datasets[self.decl.source.value]
        model_columns = list(self.models[0].columns)
        label = dataset.columns["label"]
        table = self.dataset_table([*model_columns, *extra, *([label] if dataset.label_mapped else [])])
        labels = table.columns[label].text if label in table.columns else None
        chosen = self.chosen_rows(table.rows, labels, table)
        cells = np.empty((len(chosen), len(model_columns)), dtype=object)
        for position, column in enumerate(model_columns):
            cells[:, position] = table.columns[column].text[chosen]
        ids = self.rows.add(dataset.name, table.rows, chosen, cells)
        picked = list(labels[chosen]) if labels is not None else [None] * len(chosen)
        return TableCases(ids, self.case_labels(picked), table.take(chosen), chosen, table)

    def chosen_rows(self, n_rows: int, labels, table: Table | None = None, name: ast.Name | None = None) -> np.ndarray:
        """The rows of the test's dataset (or dataset `name`, whose `table` is given) the test
        keeps: those its `where` slices keep, then sampled."""
        kept = self.sliced(n_rows, labels, table, name or self.decl.source) if self.decl.slices else None
        if kept is None:
            return self.sampled(n_rows)
        return kept[self.sampled(len(kept))]

    def sliced(self, n_rows: int, labels, table: Table | None, name: ast.Name) -> np.ndarray:
        """Indices of the rows of dataset `name` that every `where` slice keeps."""
        dataset = self.checked.datasets[name.value]
        keep = np.ones(n_rows, dtype=bool)
        for condition in self.decl.slices:
            if condition.column is None:
                if labels is None:
                    raise CompileError(f"dataset `{dataset.name}` has no label column `{dataset.columns['label']}` to slice by", condition.span)
                column = text_column("expected", np.asarray(labels, dtype=object))
            else:
                table = table if table is not None else self.dataset_table(name=name)
                if condition.column.value not in table.columns:
                    hint = did_you_mean(condition.column.value, table.columns) or "columns are " + ", ".join(sorted(table.columns))
                    raise CompileError(f"dataset `{dataset.name}` has no column `{condition.column.value}`", condition.column.span, hint)
                column = table.columns[condition.column.value]
            keep &= slice_mask(column, condition)
        if not keep.any():
            self.warn("the `where` slices keep no row of the dataset", self.decl.slices[0].span)
        return np.flatnonzero(keep)

    def expectations_of(self, labels: list) -> dict:
        """The TestPlan fields of the cases' expected outcomes: labels, or a regression model's values."""
        if not self.regression:
            return expected_labels(labels)
        return expected_values(labels, self.decl, self.checked)

    def table_variants(self) -> dict:
        """INV/DIR over table rows: each case's perturbed rows (`mlspec.library.table_perturbations`)."""
        cases = self.table_cases()
        perturb = self.decl.perturb
        steps = [self.table_step(call, cases.dataset) for call in perturb.chain]
        draws = perturb.variants.whole() if perturb.variants else 1  # checked: 1 to MAX_VARIANTS
        rng = seeded_rng(self.checked.seed, self.test.id, "perturb")
        model_columns = list(self.models[0].columns)
        try:
            variants, variant_case = perturb_table(cases.table, steps, cases.dataset, rng, draws)
        except ValueError as error:  # too many variant rows, a step that cannot apply to these cells
            raise CompileError(str(error), perturb.span, "sample fewer cases or ask for fewer variants") from None
        if len(variant_case) > MAX_GENERATED:
            raise CompileError(f"the perturbations make {len(variant_case):,} rows, more than mlspec makes for a test", perturb.span, "sample fewer cases or ask for fewer variants")
        kept = unique_ints(variant_case)
        cells = np.empty((len(variant_case), len(model_columns)), dtype=object)
        for position, column in enumerate(model_columns):
            cells[:, position] = variants.columns[column].text
        label = " then ".join(printer.call(c) for c in perturb.chain)
        dataset = self.checked.datasets[self.decl.source.value].name
        variant_ids = self.rows.add_variants(dataset, cases.rows[variant_case], cases.ids[variant_case], cells, label)
        remap = np.full(len(cases.ids), -1, dtype=np.int64)
        remap[kept] = np.arange(len(kept))
        return dict(
            inputs=cases.ids[kept],
            variants=variant_ids,
            variant_case=remap[variant_case],
            dropped=len(cases.ids) - len(kept),
            **self.expectations_of([cases.labels[i] for i in kept]),
        )

    def table_step(self, call: ast.Call, dataset: Table) -> Step:
        """A perturbation call as a step of `perturb_table`, checked against the data."""
        bound = bind_table_call(call)
        value = bound.value
        if isinstance(value, ast.Quantity):
            value = value.value
        elif value is not None:
            value = value.value  # a string or a bare name: text
        step = Step(name=bound.name, column=bound.column.value, value=value)
        problem = step_problem(step, dataset.columns[step.column])
        if problem:
            raise CompileError(problem, call.span)
        return step

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
            cases = self.table_cases()
            return cases.ids, cases.labels
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


def slice_mask(column: Column, condition: ast.SliceCondition) -> np.ndarray:
    """The rows a `where` slice keeps: numbers compared as numbers on a numeric column, else
    the cells' text; a missing cell is kept by `!=` only."""
    values = condition.values
    numeric = column.numeric and all(isinstance(v, ast.Quantity) for v in values)
    if condition.op in ("==", "!=", "in"):
        if numeric:
            hit = np.isin(column.values, [v.value for v in values])
        else:
            hit = np.isin(column.text, [value_text(v) for v in values])
        return ~hit if condition.op == "!=" else hit
    if not (column.numeric and isinstance(values[0], ast.Quantity)):
        raise CompileError(f"`{condition.op}` compares numbers; column `{column.name}` holds text", condition.span)
    with np.errstate(invalid="ignore"):
        return COMPARE_OPS[condition.op](column.values, values[0].value) & ~column.missing


COMPARE_OPS = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less}


def expected_values(labels: list, decl: ast.TestDecl, checked: CheckedSpec) -> dict:
    """A regression model's expected value of each case (float64, NaN for none)."""
    column = text_column("label", np.asarray([label if label is not None else "" for label in labels], dtype=object))
    if len(labels) and not column.numeric and not column.missing.all():
        dataset = checked.datasets[decl.source.value] if decl.source else None
        first = next(cell for cell in column.text[~column.missing] if not _is_number(cell))
        where = f"dataset `{dataset.name}`'s label column `{dataset.columns['label']}`" if dataset else "the templates' labels"
        raise CompileError(f"{where} holds {first!r}; a regression model's expected values are numbers", dataset.span if dataset else decl.title_span)
    values = column.values if column.numeric else np.full(len(labels), np.nan)
    return dict(expected_values=values)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
    label = subject.label.value if subject.label else None
    return Subject(label=label, minus=subject.minus.value if subject.minus else None, value=subject.kind == "value")


def lower_check(node):
    if isinstance(node, ast.LabelCondition):
        return LabelCheck(op=node.op, labels=tuple(n.value for n in node.labels), expected=node.expected)
    if isinstance(node, ast.ScoreCondition):
        return ScoreCheck(subject=lower_subject(node.subject), op=node.op, value=node.value.value)
    if isinstance(node, ast.UnchangedExpect):
        subject = lower_subject(node.subject) if node.subject else None
        relative = bool(node.tolerance and node.tolerance.percent and subject)
        return UnchangedCheck(tolerance=node.tolerance.value if node.tolerance else None, subject=subject, relative=relative)
    if isinstance(node, ast.WithinExpect):
        return WithinCheck(subject=lower_subject(node.subject), tolerance=node.tolerance.value, relative=node.tolerance.percent)
    if isinstance(node, ast.MonotonicExpect):
        tolerance = node.tolerance.value if node.tolerance else 0.0
        relative = bool(node.tolerance and node.tolerance.percent and node.subject.kind == "value")
        return MonotonicCheck(subject=lower_subject(node.subject), direction=node.direction, negated=node.negated, tolerance=tolerance, relative=relative)
    if isinstance(node, ast.ColumnExpect):
        return ColumnCheck(kind="column", column=node.column.value, type=node.type.value if node.type else None)
    if isinstance(node, ast.BetweenExpect):
        return ColumnCheck(kind="between", column=node.column.value, low=node.low.value, high=node.high.value)
    if isinstance(node, ast.CategoriesExpect):
        return ColumnCheck(kind="in", column=node.column.value, values=tuple(value_text(v) for v in node.values))
    at = node.at_value.value if node.at_value else None
    written = node.value.text if node.value.duration or node.value.percent else None
    argument = node.argument.value if node.argument else None
    return MetricCheck(metric=node.metric.value, op=node.op, value=node.value.value, at=at, written=written, argument=argument)


def value_text(value: ast.Value) -> str:
    """A value as a table cell holds it: a name or string as it is, a number as written."""
    return value.text if isinstance(value, ast.Quantity) else value.value
