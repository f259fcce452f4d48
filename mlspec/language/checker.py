"""Stage 2: AST -> checked spec (`check`).

Resolves every name (models, datasets, lexicons, labels, perturbations, template
placeholders), checks that each test kind holds the statements it needs and no others,
and that every threshold is in range. Paths are resolved relative to the spec file.
The check reads nothing itself: the loading step (mlspec/language/loading.py) reads the
imports, lexicon files (templates need them), vocabularies and model cards through a
`Sources` object first; model and data files are opened later (data files through the
same `Sources`), so a broken one turns only the tests that use it into errors. Every problem in the file is
collected and raised together, each pointing at its source.
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mlspec.errors import Diagnostic, MlspecError, Span, did_you_mean, display_path, quoted
from mlspec.language import ast
from mlspec.language.ast import STATEMENT_KEYWORDS
from mlspec.language.kinds import all_kinds, kind
from mlspec.language.loading import LoadedFile, LoadedSpec, load_spec
from mlspec.language.models import check_model, replace_model_file
from mlspec.language.sources import DiskSources, Sources, path_problem
from mlspec.language.table_calls import bind_table_call, table_usage
from mlspec.library.image_perturbations import IMAGE_PERTURBATIONS
from mlspec.library.lexicons import builtin_lexicons, lexicon_values
from mlspec.library.perturbations import PERTURBATIONS, Param
from mlspec.library.table_perturbations import TABLE_PERTURBATIONS
from mlspec.model import ModelInfo

DEFAULT_SEED = 0
# The largest whole number a spec may write (seeds, sizes, counts): numpy's and the plan's int64.
MAX_INTEGER = 2**63 - 1
# What a spec may ask for (the compiler holds its steps to the same): cases a test keeps, and
# draws of a randomized perturbation per case.
MAX_SAMPLE = 10_000_000
MAX_VARIANTS = 1_000
MAX_SWEEP = 100  # points of an eps sweep
MAX_HINTED = 1_000  # "did you mean" looks among at most this many names
# Fields a dataset maps, by format: columns of a CSV or JSON Lines file, arrays of an
# NPZ archive; `pixel_max` says an image file's pixel values run from 0 to that number.
# `missing` names the text a file writes for a missing cell (`missing: "?"`), besides an empty one.
DATASET_FIELDS = {"csv": ("text", "label", "pixel_max", "missing"), "jsonl": ("text", "label", "variants", "missing"), "npz": ("input", "label", "pixel_max")}
OPTIONAL_FIELDS = ("pixel_max", "variants", "missing")  # fields with no column of their own unless mapped
PLACEHOLDER = re.compile(r"\{(?:(a|an|A|An):)?([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    format: str
    path: Path
    columns: dict[str, str]  # field (text, label) -> column in the file
    span: Span
    label_mapped: bool = False  # the spec names the label column, so the file must have it
    sources: Sources = field(default_factory=DiskSources, compare=False, repr=False)  # what reads the file


@dataclass(frozen=True)
class Placeholder:
    """A `{...}` in a template: which lexicon it draws from, and where it is."""

    key: str  # the text between braces without article, e.g. `first_name1`
    lexicon: str  # the lexicon it draws from, e.g. `first_name`
    article: str | None  # "a" for `{a:x}`, "A" for `{A:x}` (capitalised), None for `{x}`
    start: int
    end: int


@dataclass(frozen=True)
class CheckedTest:
    id: str
    title: str
    capability: str
    kind: str
    models: tuple[str, ...]
    decl: ast.TestDecl
    placeholders: tuple[tuple[Placeholder, ...], ...]  # one tuple per template


@dataclass(frozen=True)
class CheckedSpec:
    spec: ast.SpecFile
    path: Path
    stem: str
    seed: int
    models: dict[str, ModelInfo]
    datasets: dict[str, DatasetInfo]
    lexicons: dict[str, tuple[str, ...]]
    tests: list[CheckedTest]
    sources: Sources = field(default_factory=DiskSources, compare=False, repr=False)  # what read its files


def check(spec: ast.SpecFile, model_paths: dict[str, str] | None = None, seed: int | None = None, sources: Sources | None = None) -> CheckedSpec:
    """Resolve and validate a parsed spec; `model_paths` replaces model files by name. The
    files it names are read through `sources` (the disk by default)."""
    sources = sources if sources is not None else DiskSources()
    return _Checker(load_spec(spec, sources, model_paths), model_paths or {}, seed).run()


def template_placeholders(text: str, lexicons) -> list[tuple[str, str | None, str | None, int, int]]:
    """(key, lexicon or None, article, start, end) for every `{...}` in a template."""
    found = []
    for match in PLACEHOLDER.finditer(text):
        key = match.group(2)
        lexicon = key if key in lexicons else re.sub(r"\d+$", "", key)
        article = {"a": "a", "an": "a", "A": "A", "An": "A"}.get(match.group(1))
        found.append((key, lexicon if lexicon in lexicons else None, article, *match.span()))
    return found


class _Checker:
    def __init__(self, loaded: LoadedSpec, model_paths: dict[str, str], seed: int | None):
        self.loaded = loaded
        self.sources = loaded.sources
        self.spec = loaded.spec
        self.base = Path(self.spec.path).parent
        self.model_paths = model_paths
        self.seed_override = seed
        self.problems: list[Diagnostic] = []
        self.shared_label_sets: dict[tuple[str, ...], frozenset[str] | None] = {}  # by a test's models

    def error(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.problems.append(Diagnostic(message, span, hint))

    def run(self) -> CheckedSpec:
        seed = self.resolve_seed()
        models = self.check_models()
        datasets = self.check_datasets()
        lexicons = self.check_lexicons()
        tests = self.check_tests(models, datasets, lexicons)
        if self.problems:
            raise MlspecError.collected(sorted(self.problems, key=_source_order))
        return CheckedSpec(
            spec=self.spec,
            path=Path(self.spec.path),
            stem=Path(self.spec.path).stem,
            seed=seed,
            models=models,
            datasets=datasets,
            lexicons=lexicons,
            tests=tests,
            sources=self.sources,
        )

    def resolve_seed(self) -> int:
        if self.seed_override is not None:
            return self.seed_override
        if self.spec.seed is not None:
            return self.integer(self.spec.seed, "seed", minimum=0) or 0
        return DEFAULT_SEED

    # ------------------------------------------------------------ numbers

    def integer(self, quantity: ast.Quantity, what: str, minimum: int, maximum: int = MAX_INTEGER) -> int | None:
        """The whole number `quantity` holds, from `minimum` to `maximum`; else reported, and None.
        Read exactly from its text, so `1e999` or a hundred thousand digits are reported too."""
        value = quantity.whole()
        if value is not None and minimum <= value <= maximum:
            return value
        too_large = not quantity.finite or quantity.value > maximum or (value is not None and value > maximum)
        if too_large or quantity.value < -MAX_INTEGER:
            self.error(f"{what} must be a whole number from {minimum:,} to {shown_limit(maximum)}, not {quantity.shown}", quantity.span)
        else:
            self.error(f"{what} must be a whole number >= {minimum}, not {quantity.shown}", quantity.span)
        return None

    def fraction(self, quantity: ast.Quantity, what: str) -> float | None:
        if not 0 <= quantity.value <= 1:  # NaN and the infinities too
            value = quantity.value
            looks_like_percent = not quantity.percent and quantity.finite and value.is_integer() and 1 < value <= 100
            hint = f"write {value / 100:g} or {quantity.text}%" if looks_like_percent else None
            self.error(f"{what} must be between 0 and 1 (or 0% and 100%), not {quantity.shown}", quantity.span, hint)
            return None
        return quantity.value

    def finite(self, quantity: ast.Quantity, what: str) -> float | None:
        """A number that only has to be one a float can hold: not `1e999`."""
        if not quantity.finite:
            self.error(f"{what} must be a number of at most about 1.8e308 in size, not {quantity.shown}", quantity.span)
            return None
        return quantity.value

    # ------------------------------------------------------------ declarations

    def unique(self, names: list[ast.Name], what: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name.value in seen:
                self.error(f"{what} `{name.value}` is declared twice", name.span, "give each a different name")
            seen.add(name.value)

    def resolve(self, relative: str) -> Path:
        """A path named in the spec, relative to the spec file."""
        return self.sources.resolve(relative, self.spec.path)

    def readable(self, relative: str, path: Path, span: Span, what: str) -> bool:
        """Whether the spec may read the file it names at `path`: reported when the path holds
        a NUL character or lies outside the project (and the paths `--allow-path` allows)."""
        refused = path_problem(self.sources, relative, path, what, span)
        if refused is not None:
            self.problems.append(refused)
        return refused is None

    def existing_file(self, relative: str, span: Span, what: str) -> LoadedFile | None:
        """A file the loading step read, reported (and None) when it is not a readable file."""
        path = self.resolve(relative)
        if not self.readable(relative, path, span, what):
            return None
        loaded = self.loaded.files[path]
        problem = loaded.problem()
        if loaded.error is not None and not isinstance(loaded.error, UnicodeDecodeError):  # a loop of links, a FIFO, ...
            self.error(f"{what} file {relative} {problem}", span)
            return None
        if loaded.error is None and problem is not None:
            self.error(f"{what} file {problem}: {relative}", span, f"paths are relative to the spec file; this one is {display_path(loaded.path)}")
            return None
        return loaded

    def check_models(self) -> dict[str, ModelInfo]:
        self.unique([m.name for m in self.spec.models], "model")
        declared = sorted({m.name.value for m in self.spec.models})
        for name in self.model_paths:
            if name not in declared:
                hint = did_you_mean(name, declared) or ("this spec declares " + ", ".join(f"`{d}`" for d in declared) if declared else "this spec declares no model")
                self.error(f"--model names `{name}`, which this spec does not declare", None, hint)
        models = {}
        for model in self.spec.models:
            info = check_model(model, self.base, self.error, self.integer, self.loaded.files)
            override = self.model_paths.get(model.name.value)
            if info and override:
                info = self.overridden(info, override)
            if info:
                models[info.name] = info
        table_models = [m for m in models.values() if m.columns]
        if len({m.columns for m in table_models}) > 1:
            other = next(m for m in table_models if m.columns != table_models[0].columns)
            self.error(
                f"table models of one spec take the same columns; `{other.name}` and `{table_models[0].name}` differ",
                other.span,
                "put models of other columns in a spec of their own (`import` shares datasets between specs)",
            )
        image_models = [m for m in models.values() if m.image]
        shapes = {m.image.shape for m in image_models}
        if len(shapes) > 1:
            shown = " and ".join(str(list(s)) for s in sorted(shapes))
            other = next(m for m in image_models if m.image.shape != image_models[0].image.shape)
            self.error(f"image models of one spec take one image shape, not {shown}", other.span, "put models of other shapes in a spec of their own")
        return models

    def overridden(self, info: ModelInfo, path: str) -> ModelInfo | None:
        """`--model NAME=FILE`: another model file, or the model block of a model card."""
        if Path(path).suffix != ".mlspec":
            return replace_model_file(info, path)
        card = self.loaded.cards[path].spec()  # read and parsed by the loading step; raises what that raised
        if len(card.models) != 1:
            self.error(f"model card {display_path(path)} must declare exactly one model, not {len(card.models)}", None, None)
            return None
        replacement = check_model(card.models[0], self.sources.absolute(path).parent, self.error, self.integer, self.loaded.files)
        return replacement and ModelInfo(**{**replacement.__dict__, "name": info.name})

    def check_datasets(self) -> dict[str, DatasetInfo]:
        self.unique([d.name for d in self.spec.datasets], "dataset")
        datasets = {}
        for dataset in self.spec.datasets:
            fields = DATASET_FIELDS[dataset.format]
            for key in dataset.fields:
                if key not in fields:
                    hint = did_you_mean(key, fields) or "fields are " + ", ".join(fields)
                    self.error(f"unknown dataset field `{key}`", dataset.field_spans[key], hint)
            columns = {key: key for key in fields if key not in OPTIONAL_FIELDS} | {k: v.value for k, v in dataset.fields.items()}
            if "pixel_max" in dataset.fields:
                self.check_pixel_max(dataset.fields["pixel_max"])
            path = self.resolve(dataset.path)
            self.readable(dataset.path, path, dataset.path_span, "dataset")
            datasets[dataset.name.value] = DatasetInfo(
                dataset.name.value, dataset.format, path, columns, dataset.span, label_mapped="label" in dataset.fields, sources=self.sources
            )
        return datasets

    def read_lexicon(self, lexicon: ast.LexiconDecl) -> list[str] | None:
        loaded = self.existing_file(lexicon.file, lexicon.file_span, "lexicon")
        if loaded is None:
            return None
        if isinstance(loaded.error, UnicodeDecodeError):
            self.error(f"lexicon file {lexicon.file} is not UTF-8 text (byte {loaded.error.start})", lexicon.file_span)
            return None
        return lexicon_values(loaded.text)

    def check_pixel_max(self, value: ast.Name) -> None:
        try:
            number = float(value.value)
            valid = math.isfinite(number) and number > 0  # not `inf`, `1e999` or `nan`
        except ValueError:
            valid = False
        if not valid:
            self.error(f"pixel_max takes a number above 0, not {ast.shorten_number(value.value)}", value.span, "for 8-bit images: `pixel_max: 255`")

    def check_lexicons(self) -> dict[str, tuple[str, ...]]:
        self.unique([lex.name for lex in self.spec.lexicons], "lexicon")
        lexicons = dict(builtin_lexicons())
        for lexicon in self.spec.lexicons:
            values = lexicon.values
            if lexicon.file is not None:
                values = self.read_lexicon(lexicon)
            if values is not None and not values:
                self.error(f"lexicon `{lexicon.name.value}` is empty", lexicon.span)
            if values is not None and len(set(values)) != len(values):
                self.error(f"lexicon `{lexicon.name.value}` repeats a value", lexicon.span, "each value once")
            lexicons[lexicon.name.value] = tuple(values or ())
        return lexicons

    # ------------------------------------------------------------ tests

    def check_tests(self, models, datasets, lexicons) -> list[CheckedTest]:
        stem = Path(self.spec.path).stem
        self.unique([ast.Name(value=c.title, span=c.span) for c in self.spec.capabilities], "capability")
        titles: set[str] = set()
        tests = []
        for capability in self.spec.capabilities:
            for test in capability.tests:
                if test.title in titles:
                    self.error(f"test title {quoted(test.title)} is used twice", test.title_span, "titles name tests in reports; make it unique")
                titles.add(test.title)
                checked = TestChecker(self, test, models, datasets, lexicons).run()
                tests.append(
                    CheckedTest(
                        id=f"{stem}.{capability.title}.{test.title}",
                        title=test.title,
                        capability=capability.title,
                        kind=test.kind,
                        models=checked[0],
                        decl=test,
                        placeholders=checked[1],
                    )
                )
        return tests


class TestChecker:
    """Checks one test against the declarations of its spec; its kind's `check` hook adds its own rules."""

    __test__ = False  # not a pytest test class

    def __init__(self, owner: _Checker, test: ast.TestDecl, models, datasets, lexicons):
        self.owner = owner
        self.test = test
        self.models = models
        self.datasets = datasets
        self.lexicons = lexicons
        self.error = owner.error
        self.integer = owner.integer
        self.fraction = owner.fraction
        self.finite = owner.finite
        self.kind = kind(test.kind)

    def run(self) -> tuple[tuple[str, ...], tuple[tuple[Placeholder, ...], ...]]:
        test = self.test
        self.check_allowed_statements()
        model_names = self.resolve_models() if self.kind.uses_models(test) else ()
        self.test_models = model_names
        self.table = self.input_table(model_names)
        self.regression = self.output_type(model_names)
        labels = self.shared_labels(model_names)
        placeholders = tuple(self.check_template(t) for t in test.templates)
        self.check_source()
        self.check_labels(labels)
        self.check_outputs()
        self.check_numbers()
        self.check_slices(labels)
        if test.perturb:
            self.check_perturb(test.perturb)
        if test.swap:
            self.check_swap(test.swap, placeholders)
        self.kind.check(self, placeholders)
        return model_names, placeholders

    def check_allowed_statements(self) -> None:
        for name, span in self.test.statement_spans.items():
            if name not in self.kind.statements:
                keyword = STATEMENT_KEYWORDS[name]
                hint = _kind_hint(keyword)
                if name == "where" and "slices" in self.kind.statements:  # `where original.label == X` in an mft, say
                    hint += "; to keep the dataset rows of a label, write `where expected == LABEL`"
                self.error(f"`{keyword}` is not allowed in {self.kind.article} {self.kind.keyword} test", span, hint)

    def resolve_models(self) -> tuple[str, ...]:
        if self.test.on:
            resolved = []
            for name in self.test.on:
                if name.value in self.models:
                    resolved.append(name.value)
                elif name.value not in {m.name.value for m in self.owner.spec.models}:
                    self.error(f"unknown model `{name.value}`", name.span, did_you_mean(name.value, self.models))
            return tuple(resolved)
        if len(self.owner.spec.models) == 1:
            return tuple(self.models)
        if not self.owner.spec.models:
            self.error("this spec declares no model to test", self.test.title_span, "add a `model NAME { ... }` block")
        else:
            names = ", ".join(dict.fromkeys(m.name.value for m in self.owner.spec.models))
            self.error(f"this spec declares several models ({names}); say which this test runs on", self.test.title_span, f"add `on {names}` after the title")
        return ()

    def input_table(self, model_names) -> str:
        """What the test's models take: texts (text or tokens), images or table rows; they must agree."""
        tables = {self.models[name].table for name in model_names}
        if len(tables) > 1:
            self.error("a test runs on models that take the same kind of input", self.test.on[0].span, "split it: one test for each kind of model")
        table = tables.pop() if len(tables) == 1 else "text"
        takes = {"image": "images", "row": "table rows", "text": "text"}[table]
        test = self.test
        if table != "text" and test.templates:
            self.error(f"templates make text; this test's models take {takes}", test.templates[0].span, "take the cases `from` a dataset")
        problem = self.kind.table_problem(table, takes)
        if problem:
            self.error(problem[0], test.title_span, problem[1])
        return table

    def output_type(self, model_names) -> bool | None:
        """Whether the test's models output values (regression) rather than labels; they must
        agree (None: no model)."""
        kinds = {self.models[name].regression for name in model_names}
        if len(kinds) > 1:
            self.error("a test runs on models that all output labels or all output values", self.test.on[0].span, "split it: one test for classifiers, one for regression models")
        return kinds.pop() if len(kinds) == 1 else None

    def shared_labels(self, model_names) -> frozenset[str] | None:
        """The labels the test's models share; worked out once for each set of models, as many tests share theirs."""
        key = tuple(model_names)
        if key not in self.owner.shared_label_sets:
            # A model without labels (`labels []`) is reported at its declaration; it adds nothing here.
            label_sets = [set(self.models[name].exposed_labels) for name in model_names if self.models[name].exposed_labels]
            self.owner.shared_label_sets[key] = frozenset(set.intersection(*label_sets)) if label_sets else None
        shared = self.owner.shared_label_sets[key]
        if shared is not None and not shared:
            span = self.test.on[0].span if self.test.on else self.test.title_span
            self.error("the models of this test share no label", span, "a test runs on models with the same labels")
        return shared

    def check_label(self, label: ast.Name, labels: set[str] | None) -> None:
        if labels and label.value not in labels:
            # Both look through every label: for a hint, only among a model's usual few.
            hint = (did_you_mean(label.value, labels) if len(labels) <= MAX_HINTED else None) or "labels are " + _label_listing(labels)
            self.error(f"unknown label `{label.value}`", label.span, hint)

    def all_label_references(self):
        if self.regression:  # a regression model's outputs, named by `value(NAME)`; other subjects are reported as such
            yield from (s.label for s in self.subjects() if s.kind == "value" and s.label is not None)
            return
        test = self.test
        for template in test.templates:
            if template.label:
                yield template.label
        for item in [*test.expects, *test.where]:
            yield from getattr(item, "labels", [])
            subject = getattr(item, "subject", None)
            if subject and subject.label:
                yield subject.label
            if subject and subject.minus:
                yield subject.minus
        if test.metric and test.metric.subject and test.metric.subject.label:
            yield test.metric.subject.label
        if test.positive:
            yield test.positive

    def check_labels(self, labels) -> None:
        for label in self.all_label_references():
            self.check_label(label, labels)

    def subjects(self):
        """Every subject the test's expectations, conditions and metric look at."""
        test = self.test
        for item in [*test.expects, *test.where]:
            if getattr(item, "subject", None) is not None:
                yield item.subject
        if test.metric and test.metric.subject:
            yield test.metric.subject

    def check_outputs(self) -> None:
        """A regression model's tests look at values, a classifier's at labels and probabilities."""
        if self.regression is None:
            return
        model = self.test_models[0]
        for subject in self.subjects():
            if self.regression and subject.kind != "value":
                self.error(f"model `{model}` outputs values, not probabilities", subject.span, "expect `value ...` of a regression model")
            elif not self.regression and subject.kind == "value":
                self.error(f"`value` is the output of a regression model (`output value`); model `{model}` outputs probabilities", subject.span, "for a classifier, expect `label ...` or `prob(LABEL) ...`")
        if self.regression:
            for item in [*self.test.expects, *self.test.where]:
                if isinstance(item, ast.LabelCondition):
                    self.error(f"model `{model}` outputs values, not labels", item.span, "expect `value within 5 of expected`, `value > 0`, ...")
        for expect in self.test.expects:
            if isinstance(expect, ast.WithinExpect) and not self.regression:
                self.error(f"`within ... of expected` compares a regression model's value; model `{model}` outputs probabilities", expect.span, "for a classifier, expect `label == expected`")

    def check_slices(self, labels) -> None:
        """`where COLUMN == V` and `where expected == X` slice the rows of a dataset."""
        for condition in self.test.slices:
            if not self.test.source:
                self.error("`where` slices the rows of a dataset; this test has none", condition.span, "take the cases `from` a dataset")
            if condition.op == "in" and not condition.values:
                self.error("`in []` keeps no row", condition.span, "list the values to keep")
            for value in condition.values:
                if isinstance(value, ast.ListValue):
                    self.error("a slice compares with a value, not a list", value.span)
                elif isinstance(value, ast.Quantity):
                    self.finite(value, "a slice's value")
                elif condition.op not in ("==", "!=", "in"):
                    self.error(f"`{condition.op}` compares numbers, not text", value.span)
                if condition.column is None and labels and not self.regression and isinstance(value, (ast.Name, ast.StringValue)):
                    self.check_label(ast.Name(value=value.value, span=value.span), labels)

    def check_template(self, template: ast.Template) -> tuple[Placeholder, ...]:
        found = []
        for key, lexicon, article, start, end in template_placeholders(template.text, self.lexicons):
            if lexicon is None:
                span = _inside(template, start, end)
                hint = did_you_mean(key, self.lexicons) or "declare it with `lexicon NAME = [...]`"
                self.error(f"template placeholder `{{{key}}}` names no lexicon", span, hint)
                continue
            found.append(Placeholder(key, lexicon, article, start, end))
        return tuple(found)

    def check_source(self) -> None:
        test = self.test
        if test.against:
            self.check_dataset_name(test.against)
        if test.source:
            self.check_dataset_name(test.source)
        if test.source and test.templates:
            self.error("a test takes its cases from templates or from a dataset, not both", test.source.span, "split it into two tests")
        if not test.source and not test.templates and self.kind.needs_cases:
            self.error(f"{test.kind} test {quoted(test.title)} has no cases", test.title_span, "add a `template \"...\"` or `from DATASET`")

    def check_dataset_name(self, name: ast.Name) -> None:
        if name.value not in self.datasets and name.value not in {d.name.value for d in self.owner.spec.datasets}:
            self.error(f"unknown dataset `{name.value}`", name.span, did_you_mean(name.value, self.datasets))

    def check_numbers(self) -> None:
        test = self.test
        if test.sample:
            self.integer(test.sample.size, "sample size", minimum=1, maximum=MAX_SAMPLE)
            if test.sample.seed:
                self.integer(test.sample.seed, "seed", minimum=0)
        if test.max_fail_rate:
            self.fraction(test.max_fail_rate, "max_fail_rate")
        for item in [*test.expects, *test.where]:
            of_value = getattr(getattr(item, "subject", None), "kind", None) == "value"
            if isinstance(item, ast.ScoreCondition):
                (self.finite if of_value else self.fraction)(item.value, "a value" if of_value else "a probability")
            tolerance = getattr(item, "tolerance", None)
            if tolerance and of_value:
                self.non_negative(tolerance, "tolerance")
            elif tolerance:
                self.fraction(tolerance, "tolerance")

    def non_negative(self, quantity: ast.Quantity, what: str) -> float | None:
        value = self.finite(quantity, what)
        if value is not None and value < 0:
            self.error(f"{what} must be >= 0, not {quantity.shown}", quantity.span)
            return None
        return value

    def check_perturb(self, perturb: ast.Perturb) -> None:
        if perturb.variants:
            self.integer(perturb.variants, "variants", minimum=1, maximum=MAX_VARIANTS)
        if self.table == "row":
            for call in perturb.chain:
                self.check_table_call(call)
            return
        registry, other = (IMAGE_PERTURBATIONS, PERTURBATIONS) if self.table == "image" else (PERTURBATIONS, IMAGE_PERTURBATIONS)
        for call in perturb.chain:
            info = registry.get(call.name.value)
            if info is None:
                kind = "an image" if self.table == "image" else "a text"
                if call.name.value in other:
                    message = f"`{call.name.value}` does not apply here: this test's models take {'images' if self.table == 'image' else 'text'}"
                else:
                    message = f"unknown perturbation `{call.name.value}`"
                hint = did_you_mean(call.name.value, registry) or f"{kind} model's perturbations are " + ", ".join(registry)
                self.error(message, call.name.span, hint)
                continue
            self.bind_arguments(call, info.params)

    def check_table_call(self, call: ast.Call) -> None:
        """A perturbation of table rows: a known one, of a column the test's models take, with
        the value it needs (`set(sex: "Female")`, `shift(age: 1)`, `flip(sex)`, `noise(age, std: 0.1)`)."""
        info = TABLE_PERTURBATIONS.get(call.name.value)
        if info is None:
            other = " (a text perturbation: this test's models take table rows)" if call.name.value in PERTURBATIONS or call.name.value in IMAGE_PERTURBATIONS else ""
            hint = did_you_mean(call.name.value, TABLE_PERTURBATIONS) or "table perturbations are " + ", ".join(TABLE_PERTURBATIONS)
            self.error(f"unknown table perturbation `{call.name.value}`{other}", call.name.span, hint)
            return
        step = bind_table_call(call)
        if step.problem:
            self.error(step.problem, step.span, table_usage(info))
            return
        columns = self.models[self.test_models[0]].columns if self.test_models else ()
        if step.column.value not in columns:
            hint = did_you_mean(step.column.value, columns) or "the model's columns are " + listing(columns)
            self.error(f"`{call.name.value}` changes column `{step.column.value}`, which the model does not take", step.column.span, hint)
        if step.value is not None and isinstance(step.value, ast.Quantity):
            number = self.finite(step.value, f"`{call.name.value}`'s value")
            if number is not None and info.name == "noise" and number <= 0:
                self.error(f"`noise` takes a std above 0, not {step.value.shown}", step.value.span, table_usage(info))
        elif step.value is not None and info.numeric_only:
            self.error(f"`{call.name.value}` takes a number", step.value.span, table_usage(info))

    def bind_arguments(self, call: ast.Call, params: tuple[Param, ...]) -> None:
        by_name = {p.name: p for p in params}
        bound: set[str] = set()
        for index, argument in enumerate(call.args):
            if argument.name is None and index >= len(params):
                count = {0: "no arguments", 1: "one argument"}.get(len(params), f"{len(params)} arguments")
                self.error(f"`{call.name.value}` takes {count}", argument.span, _signature(call.name.value, params))
                continue
            param = params[index] if argument.name is None else by_name.get(argument.name)
            if param is None:
                hint = did_you_mean(argument.name, by_name) or _signature(call.name.value, params)
                self.error(f"`{call.name.value}` has no parameter `{argument.name}`", argument.span, hint)
                continue
            if param.name in bound:
                self.error(f"parameter `{param.name}` is given twice", argument.span)
            bound.add(param.name)
            self.check_argument(call, param, argument.value, _signature(call.name.value, params))
        for param in params:
            if param.default is None and param.name not in bound:
                self.error(f"`{call.name.value}` needs `{param.name}`", call.span, _signature(call.name.value, params))

    def check_argument(self, call: ast.Call, param: Param, value, usage: str) -> None:
        name = f"`{call.name.value}` parameter `{param.name}`"
        if param.kind == "eps":
            values = value.items if isinstance(value, ast.ListValue) else [value]
            if not values or not all(isinstance(v, ast.Quantity) for v in values):
                self.error(f"{name} takes a number or a list of numbers (a sweep)", value.span, usage)
            elif len(values) > MAX_SWEEP:
                self.error(f"{name} takes a sweep of at most {MAX_SWEEP} numbers, not {len(values):,}", value.span)
            for item in values:
                if isinstance(item, ast.Quantity) and self.finite(item, name) is not None and item.value < 0:
                    self.error(f"{name} must be >= 0, not {item.shown}", item.span)
        elif param.kind.startswith("choice:"):
            choices = param.kind.removeprefix("choice:").split(",")
            if not isinstance(value, ast.Name) or value.value not in choices:
                self.error(f"{name} is one of " + ", ".join(choices), value.span, usage)
        elif param.kind == "int":
            if not isinstance(value, ast.Quantity):
                self.error(f"{name} takes a whole number", value.span, usage)
            else:
                self.integer(value, name, minimum=int(param.minimum or 0), maximum=MAX_INTEGER if param.maximum is None else int(param.maximum))
        elif param.kind == "float":
            if not isinstance(value, ast.Quantity):
                self.error(f"{name} takes a number", value.span, usage)
            elif self.finite(value, name) is None:
                pass
            elif param.minimum is not None and value.value <= param.minimum:
                self.error(f"{name} must be > {param.minimum:g}, not {value.shown}", value.span, usage)
            elif param.maximum is not None and value.value > param.maximum:
                self.error(f"{name} must be at most {param.maximum:g}, not {value.shown}", value.span, usage)
        elif param.kind == "strings":
            if not (isinstance(value, ast.ListValue) and value.items and all(isinstance(i, ast.StringValue) for i in value.items)):
                self.error(f"{name} takes a non-empty list of strings", value.span, 'for example ["I loved it.", "Great."]')
        elif param.kind == "lexicon":
            if not isinstance(value, ast.Name):
                hint = "names are written without quotes" if isinstance(value, ast.StringValue) else usage
                self.error(f"{name} takes a lexicon name", value.span, hint)
            elif value.value not in self.lexicons:
                self.error(f"unknown lexicon `{value.value}`", value.span, did_you_mean(value.value, self.lexicons))
            elif len(self.lexicons[value.value]) < 2:
                self.error(f"`{call.name.value}({value.value})` needs a lexicon of at least two values", value.span)

    def check_swap(self, swap: ast.Name, placeholders) -> None:
        if swap.value not in self.lexicons:
            self.error(f"unknown lexicon `{swap.value}`", swap.span, did_you_mean(swap.value, self.lexicons))
            return
        if self.test.source:
            self.error("`swap` works on templates", swap.span, f"for dataset texts write `perturb swap({swap.value})`")
            return
        if len(self.lexicons[swap.value]) < 2:
            self.error(f"`swap {swap.value}` needs a lexicon of at least two values", swap.span)
        if self.test.perturb:
            self.error("a test makes its variants with `swap` or with `perturb`, not both", swap.span, "split it into two tests")
        for template, found in zip(self.test.templates, placeholders):
            if not any(p.key == swap.value for p in found):
                self.error(f"template has no `{{{swap.value}}}` to swap", template.text_span)


def _source_order(diagnostic: Diagnostic) -> tuple:
    span = diagnostic.span
    return (0, "", 0, 0) if span is None else (1, span.file, span.line, span.col)


def _inside(template: ast.Template, start: int, end: int) -> Span:
    """The span of characters start..end of a template's text, as written in its string."""
    span = template.text_span
    col = span.col + 1 + _raw_index(template.raw, start)
    end_col = span.col + 1 + _raw_index(template.raw, end)
    return Span(file=span.file, line=span.line, col=col, end_line=span.line, end_col=end_col)


def _raw_index(raw: str, index: int) -> int:
    """Where character `index` of the unescaped text stands in the raw string (escapes are 2 characters)."""
    position = 0
    for _ in range(index):
        position += 2 if raw[position] == "\\" else 1
    return position


def _signature(name: str, params: tuple[Param, ...]) -> str:
    def kind(param: Param) -> str:
        if param.kind.startswith("choice:"):
            return param.kind.removeprefix("choice:").replace(",", "|")
        return "number or [numbers]" if param.kind == "eps" else param.kind

    args = ", ".join(f"{p.name}: {kind(p)}" + ("" if p.default is None else f" = {p.default}") for p in params)
    return f"usage: {name}({args})"


def _kind_hint(keyword: str) -> str | None:
    kinds = [name for name, kind in all_kinds().items() if any(STATEMENT_KEYWORDS[s] == keyword for s in kind.statements)]
    return f"`{keyword}` belongs in " + " or ".join(f"{k}" for k in kinds) + " tests" if kinds else None


def listing(names, limit: int = 12) -> str:
    """Names for a hint, sorted: all of them, or the first `limit` and how many more."""
    first = heapq.nsmallest(limit, names)
    more = f" and {len(names) - limit:,} more" if len(names) > limit else ""
    return ", ".join(first) + more


@lru_cache(maxsize=16)
def _label_listing(labels: frozenset[str]) -> str:
    """A test's labels for a hint, listed once for each set of labels (a frozenset keeps its hash)."""
    return listing(labels)


def shown_limit(limit: int) -> str:
    """A limit as messages show it: 2^63-1, or 1,000,000."""
    return "2^63-1" if limit == MAX_INTEGER else f"{limit:,}"


