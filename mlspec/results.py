"""Results of a run, as data: what the runner produces and every reporter reads.

Each test ends PASS, FAIL, ERROR or SKIP with its measured figures (`metrics`), a
one-line `message` stating the figure against its threshold, and a capped,
deterministic list of failing examples. Times are the only fields that differ between
two runs of the same spec, model and seed.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["PASS", "FAIL", "ERROR", "SKIP"]


class Prediction(BaseModel):
    """One model input and what the model said about it."""

    model_config = ConfigDict(frozen=True)

    text: str
    label: str
    probs: dict[str, float]

    @classmethod
    def of(cls, text: str, row, labels, values: bool = False) -> "Prediction":
        """From a row of probabilities: the argmax label and each label's probability. With
        `values`, a regression model's outputs: `label` shows them (`value=151.2`)."""
        scores = {label: round(float(p), 6) for label, p in zip(labels, row)}
        if values:
            shown = f"{float(row[0]):.6g}" if len(labels) == 1 else ", ".join(f"{label}={float(v):.6g}" for label, v in zip(labels, row))
            return cls(text=text, label=shown, probs=scores)
        return cls(text=text, label=labels[int(row.argmax())], probs=scores)


class Example(BaseModel):
    """A failing case: the input (a variant for INV/DIR) and, for INV/DIR, its original."""

    model_config = ConfigDict(frozen=True)

    prediction: Prediction
    original: Prediction | None = None
    expected: str | None = None


class GroupFigure(BaseModel):
    """A fairness group's size and metric value (None when the group is empty); over a
    dataset the value is its selection rate, `figures` hold its other rates, and groups
    below `min_group_size` are reported with `scored` False."""

    model_config = ConfigDict(frozen=True)

    group: str
    count: int
    value: float | None
    figures: dict[str, float | None] = {}
    scored: bool = True


class TestResult(BaseModel):
    __test__: ClassVar[bool] = False  # not a pytest test class

    id: str
    title: str
    capability: str
    kind: str
    model: str
    file: str
    line: int
    status: Status
    message: str
    checks: list[str] = []
    metrics: dict[str, float | int | None] = {}
    examples: list[Example] = []
    groups: list[GroupFigure] = []
    details: list[str] = []  # a kind's own table, as lines: a confusion matrix, offending rows, drift by column
    baseline: dict[str, float | int | str | None] | None = None  # the same test in a saved run: status and metrics
    digest: str = ""  # the figures a report shows on the test's line, as its kind writes them
    rated: bool = False  # judged by a failure rate over cases: they count in its capability's line
    seconds: float = 0.0


class SpecResult(BaseModel):
    spec: str
    path: str
    seed: int
    tests: list[TestResult]
    seconds: float = 0.0
    notes: list[str] = []  # how the models were run, e.g. the batch size chosen by measurement

    def count(self, status: Status) -> int:
        return sum(1 for t in self.tests if t.status == status)


def whole(value: float | int | None) -> int | None:
    """A figure as a whole number (None when it is missing or not finite)."""
    if value is None or not math.isfinite(value):
        return None
    return int(value)


def counted_cases(metrics: dict) -> int | None:
    """The cases a failure rate is over: those its `where` conditions apply to, else all."""
    applicable = whole(metrics.get("applicable"))
    return applicable if applicable is not None else whole(metrics.get("cases"))


def format_percent(rate: float) -> str:
    """A rate as reports write it: `12.5%`."""
    return f"{rate * 100:.1f}%"


def checked_figures(result: TestResult, first: tuple[str, ...] = ()) -> str:
    """`cases=120 accuracy=0.852`: the figures `first`, then those the result's checks name,
    each once, as far as its metrics hold them (a kind's `figures` line)."""
    names = dict.fromkeys([*first, *(check.split()[0] for check in result.checks)])
    return " ".join(f"{name}={format_figure(result.metrics[name])}" for name in names if name in result.metrics)


def format_figure(value: float | int | None) -> str:
    """A figure as reports write it: whole numbers as they are, others to three decimals."""
    if value is None:
        return "undefined"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


class RunResult(BaseModel):
    specs: list[SpecResult]
    seconds: float = 0.0

    @property
    def tests(self) -> list[TestResult]:
        return [t for spec in self.specs for t in spec.tests]

    def count(self, status: Status) -> int:
        return sum(spec.count(status) for spec in self.specs)

    def exit_code(self) -> int:
        """DESIGN.md's codes: 0 all passed, 1 a test failed, 3 a test could not run."""
        if self.count("ERROR"):
            return 3
        return 1 if self.count("FAIL") else 0
