"""The execution plan: what the compiler produces and the runner executes.

A plan holds one table of unique model inputs per spec file and, per test, integer
arrays that index into it: the cases (MFT, fairness), or originals and their variants
(INV, DIR, laid out flat with the case each variant belongs to). Expectations are
lowered to small records that name labels, so the same plan runs on any model with
those labels. A plan prints as a review-friendly summary and serialises to JSON.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field

import numpy as np

from mlspec.errors import Diagnostic
from mlspec.library.arrays import unique_ints
from mlspec.model import FIXED_BATCH, MIN_TUNED_ROWS, ModelInfo

LABEL_SET = "|"  # an expected label `neutral|positive` is met by either


@dataclass(frozen=True)
class Subject:
    """`prob(label)`, `margin(label, minus)` = prob(label) - prob(minus), `confidence` (the
    probability of the original's predicted class), or a regression model's `value` (of
    output `label`, or of its first)."""

    label: str | None = None
    minus: str | None = None
    value: bool = False

    def __str__(self) -> str:
        if self.value:
            return f"value({self.label})" if self.label else "value"
        if self.minus:
            return f"margin({self.label}, {self.minus})"
        return f"prob({self.label})" if self.label else "confidence"


@dataclass(frozen=True)
class LabelCheck:
    op: str  # == != in "not in"
    labels: tuple[str, ...] = ()
    expected: bool = False  # compare with each case's expected label

    def __str__(self) -> str:
        if self.expected:
            return f"label {self.op} expected"
        if self.op in ("in", "not in"):
            return f"label {self.op} [{', '.join(self.labels)}]"
        return f"label {self.op} {self.labels[0]}"


@dataclass(frozen=True)
class ScoreCheck:
    subject: Subject
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.subject} {self.op} {self.value:g}"


@dataclass(frozen=True)
class UnchangedCheck:
    tolerance: float | None
    subject: Subject | None = None  # `value unchanged`: a regression output (None: the predicted label)
    relative: bool = False  # a tolerance in percent: of the original's value

    def __str__(self) -> str:
        head = f"{self.subject} unchanged" if self.subject else "unchanged"
        return head + (f" tolerance {_amount(self.tolerance, self.relative)}" if self.tolerance is not None else "")


@dataclass(frozen=True)
class WithinCheck:
    """`value within 5 of expected` (absolute) or `within 10% of expected` (of the expected value)."""

    subject: Subject
    tolerance: float
    relative: bool = False

    def __str__(self) -> str:
        return f"{self.subject} within {_amount(self.tolerance, self.relative)} of expected"


def _amount(value: float, relative: bool) -> str:
    return f"{value * 100:g}%" if relative else f"{value:g}"


@dataclass(frozen=True)
class MonotonicCheck:
    subject: Subject
    direction: str  # increasing | decreasing
    negated: bool
    tolerance: float
    relative: bool = False  # a tolerance in percent: of the original's value

    def __str__(self) -> str:
        words = [str(self.subject)] + (["not"] if self.negated else []) + [self.direction]
        return " ".join(words) + (f" tolerance {_amount(self.tolerance, self.relative)}" if self.tolerance else "")


@dataclass(frozen=True)
class MetricCheck:
    """A figure of a whole test against a threshold: fairness spreads, attack accuracies."""

    metric: str  # max_gap | min_ratio | robust_accuracy | attack_success_rate | clean_accuracy
    op: str
    value: float
    at: float | None = None  # the eps of an attack sweep this holds at (None: every eps)
    written: str | None = None  # the threshold as the spec writes it (`50ms`, `0%`)
    argument: str | None = None  # `recall(">50K")`, `psi(age)`: a label, a column or a dataset

    @property
    def figure(self) -> str:
        """The figure's name as results key it: `accuracy`, `recall(>50K)`, `psi(age)`."""
        return f"{self.metric}({self.argument})" if self.argument is not None else self.metric

    def __str__(self) -> str:
        where = f" at eps {self.at:g}" if self.at is not None else ""
        return f"{self.figure} {self.op} {self.written or f'{self.value:g}'}{where}"


@dataclass(frozen=True)
class ColumnCheck:
    """A data check of one column: `column age: integer`, `age between 17 and 90`, `sex in [...]`."""

    kind: str  # column | between | in
    column: str
    type: str | None = None  # column: number | integer | text (None: present)
    low: float | None = None
    high: float | None = None
    values: tuple[str, ...] = ()  # in: the allowed values, as text

    def __str__(self) -> str:
        if self.kind == "column":
            return f"column {self.column}" + (f": {self.type}" if self.type else "")
        if self.kind == "between":
            return f"{self.column} between {self.low:g} and {self.high:g}"
        return f"{self.column} in [{', '.join(self.values)}]"


Check = LabelCheck | ScoreCheck | UnchangedCheck | WithinCheck | MonotonicCheck | MetricCheck | ColumnCheck


class Payload:
    """What a test kind adds to its TestPlan beyond the cases (an attack's method, a load
    test's request count, fairness groups), and how a plan shows it. Kinds subclass it."""

    scores_inputs = True  # the model scores the test's inputs in the batched pass (a load test sends its own)

    def summary(self) -> str | None:
        """Shown after the case counts on the test's line of a plan summary."""
        return None

    def json_fields(self) -> dict:
        """Fields of the test's entry in the plan's JSON."""
        return {}

    def case_fields(self, index: int) -> dict:
        """Fields of case `index` in the plan's JSON."""
        return {}


@dataclass(frozen=True)
class TestPlan:
    __test__ = False  # not a pytest test class

    id: str
    title: str
    capability: str
    kind: str
    models: tuple[str, ...]
    file: str
    line: int
    checks: tuple[Check, ...] = ()
    where: tuple[LabelCheck | ScoreCheck, ...] = ()
    max_fail_rate: float = 0.0
    inputs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per case (original for INV/DIR)
    variants: np.ndarray | None = None  # INV/DIR: input id of each variant
    variant_case: np.ndarray | None = None  # INV/DIR: case index of each variant
    expected: np.ndarray | None = None  # per case: index into expected_labels, -1 for none
    expected_labels: tuple[str, ...] = ()
    expected_values: np.ndarray | None = None  # per case: a regression model's true value (float64, NaN for none)
    slices: tuple[str, ...] = ()  # the `where` slices that chose the dataset rows, as written
    payload: Payload | None = None  # what the test's kind adds (mlspec.kinds)
    input_table: str = "text"  # which table `inputs`/`variants` index: text, image or row
    dropped: int = 0  # cases a perturbation did not apply to
    error: str | None = None  # why the test could not be compiled (e.g. a broken data file), rendered
    diagnostic: Diagnostic | None = None  # the same, as data
    warnings: tuple[Diagnostic, ...] = ()  # suspicious but legal: no cases, an oversized sample

    @property
    def n_cases(self) -> int:
        return len(self.inputs)

    @property
    def n_examples(self) -> int:
        return len(self.inputs) + (len(self.variants) if self.variants is not None else 0)

    def input_ids(self) -> np.ndarray:
        """The inputs the model scores in the batched pass (a load test sends its own requests)."""
        if self.payload is not None and not self.payload.scores_inputs:
            return np.zeros(0, np.int64)
        return self.inputs if self.variants is None else np.concatenate([self.inputs, self.variants])


class RowNames:
    """Where each table row of a plan came from, `adult[17]` or `adult[17] ~ flip(sex)`: kept
    as runs of rows (a dataset, the source row of each, a suffix), named when asked."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.runs: list[tuple[str, np.ndarray, str, np.ndarray | None]] = []
        self.count = 0

    def extend(self, dataset: str, origins: np.ndarray, suffix: str, original_ids: np.ndarray | None = None) -> None:
        """Rows from rows `origins` of `dataset`; a perturbed row names its `suffix` and the
        id of the row it was made from."""
        self.starts.append(self.count)
        self.runs.append((dataset, np.asarray(origins, dtype=np.int64), suffix, original_ids))
        self.count += len(origins)

    def original(self, index: int) -> int | None:
        """The id of the row a perturbed row was made from (None for a dataset's own row)."""
        run = bisect.bisect_right(self.starts, index) - 1
        ids = self.runs[run][3]
        return None if ids is None else int(ids[index - self.starts[run]])

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.count:
            raise IndexError(index)
        run = bisect.bisect_right(self.starts, index) - 1
        dataset, origins, suffix, _ = self.runs[run]
        return f"{dataset}[{origins[index - self.starts[run]]}]{suffix}"


@dataclass(frozen=True)
class Plan:
    spec_name: str
    spec_path: str
    seed: int
    inputs: list[str]  # the text table: every distinct text input
    models: dict[str, ModelInfo]
    tests: list[TestPlan]
    images: np.ndarray | None = None  # the image table, float32 [n, *shape]
    image_names: list[str] = field(default_factory=list)  # where each image came from, for reports
    rows: np.ndarray | None = None  # the table-row table: str [n, len(row_columns)]
    row_columns: tuple[str, ...] = ()
    row_names: RowNames | list[str] = field(default_factory=list)

    def table(self, name: str):
        """An input table: `text` (list of str), `image` (array) or `row` (array of str)."""
        return {"image": self.images, "row": self.rows}.get(name, self.inputs)

    def describe(self, table: str, input_id: int) -> str:
        """An input as reports show it: the text itself, an image's origin, or a row's values."""
        if table == "image":
            return self.image_names[input_id]
        if table == "row":
            original = self.row_names.original(input_id) if isinstance(self.row_names, RowNames) else None
            cells = zip(self.row_columns, self.rows[input_id], self.rows[original] if original is not None else self.rows[input_id])
            if original is not None:  # a perturbed row: the cells it changed
                return f"{self.row_names[input_id]}: " + ", ".join(f"{c}={v} (was {w})" for c, v, w in cells if v != w)
            return f"{self.row_names[input_id]}: " + ", ".join(f"{c}={v}" for c, v, _ in cells)
        return self.inputs[input_id]

    def model_inputs(self, model: str) -> np.ndarray:
        """Sorted unique input ids that `model` must score, over all its tests."""
        ids = [t.input_ids() for t in self.tests if model in t.models and t.error is None]
        return unique_ints(np.concatenate(ids)) if ids else np.zeros(0, np.int64)

    @property
    def warnings(self) -> list[Diagnostic]:
        return [w for t in self.tests for w in t.warnings]

    @property
    def unique_inputs(self) -> int:
        return len(self.inputs) + len(self.image_names) + len(self.row_names)

    def summary(self) -> str:
        """A plain-text outline: models, then each test's cases, examples and checks."""
        lines = [f"spec {self.spec_name} ({self.spec_path}), seed {self.seed}"]
        for name, model in self.models.items():
            band = f" (neutral between {model.neutral_band.text})" if model.neutral_band else ""
            lines.append(f"model {name}: {model.format} {model.short_source}, labels [{', '.join(model.exposed_labels)}]{band}, batch {'measured' if model.batch_tuned else model.batch}")
        capability = None
        for test in self.tests:
            if test.capability != capability:
                capability = test.capability
                lines.append(f"\n{capability}")
            lines.append(_test_line(test))
        total = sum(t.n_examples for t in self.tests)
        cases = sum(t.n_cases for t in self.tests)
        lines.append(f"\n{_count(len(self.tests), 'test')}, {_count(cases, 'case')}, {_count(total, 'example')}, {_count(self.unique_inputs, 'unique input')}")
        for name, model in self.models.items():
            count = len(self.model_inputs(name))
            if model.batch_tuned and count >= MIN_TUNED_ROWS:
                lines.append(f"model calls: {name} scores {_count(count, 'input')} in batches of a size measured on the first")
                continue
            size = FIXED_BATCH if model.batch_tuned else model.batch
            lines.append(f"model calls: {name} scores {_count(count, 'input')} in {_count(-(-count // size), 'batch', 'batches')} of up to {size}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        """The plan as data: every test with its cases as text."""
        return {
            "spec": self.spec_name,
            "path": self.spec_path,
            "seed": self.seed,
            "models": {n: _model_json(m) for n, m in self.models.items()},
            "tests": [_test_json(t, self) for t in self.tests],
            "unique_inputs": self.unique_inputs,
            "model_calls": {n: len(self.model_inputs(n)) for n in self.models},
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, ensure_ascii=False)


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _test_line(test: TestPlan) -> str:
    head = f"  {test.kind:<9}{test.title}"
    if test.error:
        return f"{head}\n             error: {test.error}"
    on = f" on {', '.join(test.models)}" if len(test.models) > 1 else ""
    figures = f"{_count(test.n_cases, 'case')}, {_count(test.n_examples, 'example')}" + (f", {test.dropped} not applicable" if test.dropped else "")
    checks = "; ".join(str(c) for c in test.checks)
    if test.slices:
        figures += " | " + "; ".join(test.slices)
    summary = test.payload.summary() if test.payload else None
    method = f" | {summary}" if summary else ""
    return f"{head}{on}\n             {figures}{method} | expect {checks}"


def _model_json(model: ModelInfo) -> dict:
    key = {"python": "target", "http": "url"}.get(model.format, "file")
    source = {key: model.short_source}
    band = {"neutral_band": [model.neutral_band.low, model.neutral_band.high]} if model.neutral_band else {}
    return {"format": model.format, **source, "labels": list(model.exposed_labels), **band, "batch": "measured" if model.batch_tuned else model.batch}


def _test_json(test: TestPlan, plan: Plan) -> dict:
    data = {
        "id": test.id,
        "title": test.title,
        "capability": test.capability,
        "kind": test.kind,
        "models": list(test.models),
        "line": test.line,
        "checks": [str(c) for c in test.checks],
        "where": [str(c) for c in test.where],
        "slices": list(test.slices),
        "max_fail_rate": test.max_fail_rate,
        "cases": test.n_cases,
        "examples": test.n_examples,
        "dropped": test.dropped,
    }
    if test.error:
        return data | {"error": test.error}
    data["metric"] = None
    if test.payload:
        data.update(test.payload.json_fields())
    bounds = np.searchsorted(test.variant_case, np.arange(test.n_cases + 1)) if test.variants is not None else None
    data["case_list"] = [_case_json(test, index, plan, bounds) for index in range(test.n_cases)]
    return data


def _case_json(test: TestPlan, index: int, plan: Plan, bounds: np.ndarray | None) -> dict:
    def shown(input_id):
        return plan.describe(test.input_table, input_id)

    case: dict = {"input": shown(test.inputs[index])}
    if test.expected is not None and test.expected[index] >= 0:
        case["expected"] = test.expected_labels[test.expected[index]]
    if test.expected_values is not None and not np.isnan(test.expected_values[index]):
        case["expected"] = float(test.expected_values[index])
    if test.payload:
        case.update(test.payload.case_fields(index))
    if bounds is not None:
        case["variants"] = [shown(i) for i in test.variants[bounds[index] : bounds[index + 1]]]
    return case
