"""Results of a run, as data: what the runner produces and every reporter reads.

Each test ends PASS, FAIL, ERROR or SKIP with its measured figures (`metrics`), a
one-line `message` stating the figure against its threshold, and a capped,
deterministic list of failing examples. Times are the only fields that differ between
two runs of the same spec, model and seed.

The records are plain dataclasses (`Record`), so that a run, which builds them, imports
no validation library: a run from a cached plan starts in a fraction of the time. Each
record normalises its fields when built, as a reader of the JSON expects them: lists for
sequences, Python numbers for numpy's, and a figure a whole `int` only when it is one.
`model_copy`, `model_dump` and `model_validate` keep the names of pydantic's methods,
which these records used to be.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal, NamedTuple

Status = Literal["PASS", "FAIL", "ERROR", "SKIP"]
STATUSES = ("PASS", "FAIL", "ERROR", "SKIP")


class Record:
    """A result record: copied with changes, dumped to plain data and read back from it."""

    def model_copy(self, update: dict | None = None, deep: bool = False):
        """A copy with the fields in `update` changed (`deep`: nothing shared with this one)."""
        return dataclasses.replace(copy.deepcopy(self) if deep else self, **(update or {}))

    def model_dump(self, mode: str = "python", exclude: set[str] | None = None) -> dict:
        """The record as dicts, lists and plain values (`mode` is accepted for pydantic's
        signature: both modes give what JSON can hold, NaN and infinities aside)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if not exclude or f.name not in exclude}

    def model_dump_json(self) -> str:
        return json.dumps(self.model_dump(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def model_validate(cls, data):
        """The record `data` (a dict, as `model_dump` or the JSON report writes it) holds;
        ValueError when it is not one. Keys that are not fields are ignored."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected an object, not {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{key: value for key, value in data.items() if key in names})
        except (TypeError, AttributeError) as error:
            raise ValueError(f"{cls.__name__}: {error}") from None

    @classmethod
    def model_validate_json(cls, text: str | bytes):
        return cls.model_validate(json.loads(text))


def _plain(value):
    if isinstance(value, Record):
        return value.model_dump()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _set(record: Record, name: str, value) -> None:
    object.__setattr__(record, name, value)  # frozen records are normalised in __post_init__ too


def _figure(value):
    """A figure as a reader gets it: a whole Python int stays one; other numbers (numpy's,
    bools) become floats; None is kept."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise ValueError(f"a figure must be a number, not {value!r}")
    return float(value)


def _records(kind: type[Record], items) -> list:
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"expected a list of {kind.__name__}, not {type(items).__name__}")
    return [kind.model_validate(item) for item in items]


def _text(record: Record, *names: str) -> None:
    for name in names:
        value = getattr(record, name)
        if not isinstance(value, str):
            raise ValueError(f"{type(record).__name__}.{name} must be text, not {value!r}")


@dataclass(frozen=True)
class Prediction(Record):
    """One model input and what the model said about it."""

    text: str
    label: str
    probs: dict[str, float]

    def __post_init__(self):
        _text(self, "text", "label")
        _set(self, "probs", {key: float(value) for key, value in self.probs.items()})

    @classmethod
    def of(cls, text: str, row, labels, values: bool = False) -> "Prediction":
        """From a row of probabilities: the argmax label and each label's probability. With
        `values`, a regression model's outputs: `label` shows them (`value=151.2`)."""
        scores = {label: round(float(p), 6) for label, p in zip(labels, row)}
        if values:
            shown = f"{float(row[0]):.6g}" if len(labels) == 1 else ", ".join(f"{label}={float(v):.6g}" for label, v in zip(labels, row))
            return cls(text=text, label=shown, probs=scores)
        return cls(text=text, label=labels[int(row.argmax())], probs=scores)


@dataclass(frozen=True)
class Example(Record):
    """A failing case: the input (a variant for INV/DIR) and, for INV/DIR, its original."""

    prediction: Prediction
    original: Prediction | None = None
    expected: str | None = None

    def __post_init__(self):
        _set(self, "prediction", Prediction.model_validate(self.prediction))
        if self.original is not None:
            _set(self, "original", Prediction.model_validate(self.original))


@dataclass(frozen=True)
class GroupFigure(Record):
    """A fairness group's size and metric value (None when the group is empty); over a
    dataset the value is its selection rate, `figures` hold its other rates, and groups
    below `min_group_size` are reported with `scored` False."""

    group: str
    count: int
    value: float | None
    figures: dict[str, float | None] = field(default_factory=dict)
    scored: bool = True

    def __post_init__(self):
        _text(self, "group")
        _set(self, "count", int(self.count))
        _set(self, "value", None if self.value is None else float(self.value))
        _set(self, "figures", {key: None if value is None else float(value) for key, value in self.figures.items()})
        _set(self, "scored", bool(self.scored))


@dataclass(frozen=True)
class ConfusionMatrix(Record):
    """Counts of a classifier's predictions: `counts[true][predicted]`, in `labels` order."""

    labels: list[str]
    counts: list[list[int]]

    def __post_init__(self):
        _set(self, "labels", [str(label) for label in self.labels])
        _set(self, "counts", [[int(count) for count in row] for row in self.counts])


@dataclass
class TestResult(Record):
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
    checks: list[str] = field(default_factory=list)
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    groups: list[GroupFigure] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # a kind's own table, as lines: a confusion matrix, offending rows, drift by column
    baseline: dict[str, float | int | str | None] | None = None  # the same test in a saved run: status and metrics
    regression: str | None = None  # why the test is worse than its baseline (`--fail-on-regression`), on one line
    confusion: ConfusionMatrix | None = None  # a metrics test's confusion matrix, for reports that draw it
    digest: str = ""  # the figures a report shows on the test's line, as its kind writes them
    rated: bool = False  # judged by a failure rate over cases: they count in its capability's line
    seconds: float = 0.0

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"a test's status is one of {', '.join(STATUSES)}, not {self.status!r}")
        _text(self, "id", "title", "capability", "kind", "model", "file", "message", "digest")
        self.line = int(self.line)
        self.checks = list(self.checks)
        self.details = list(self.details)
        self.metrics = {key: _figure(value) for key, value in self.metrics.items()}
        self.examples = _records(Example, self.examples)
        self.groups = _records(GroupFigure, self.groups)
        if self.baseline is not None:
            self.baseline = {key: value if value is None or isinstance(value, str) else _figure(value) for key, value in self.baseline.items()}
        if self.confusion is not None:
            self.confusion = ConfusionMatrix.model_validate(self.confusion)
        self.rated = bool(self.rated)
        self.seconds = float(self.seconds)


@dataclass
class SpecResult(Record):
    spec: str
    path: str
    seed: int
    tests: list[TestResult]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # how the models were run, e.g. the batch size chosen by measurement

    def __post_init__(self):
        _text(self, "spec", "path")
        self.seed = int(self.seed)
        self.tests = _records(TestResult, self.tests)
        self.seconds = float(self.seconds)
        self.notes = list(self.notes)

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


class JudgedFigure(NamedTuple):
    """A figure a test is judged by: its key in `metrics`, whether a higher value is
    worse, and the unit its threshold is written in (`%`, `ms`, `s` or ""), for showing it."""

    name: str
    higher_is_worse: bool
    unit: str = ""


# `FIGURE OP THRESHOLD [at eps X]`: a check of one figure against a threshold (`max_gap <= 0.1`,
# `p95_latency <= 50ms`, `robust_accuracy >= 0.5 at eps 0.2`); `==` and `!=` give no direction.
_FIGURE_CHECK = re.compile(r"^(?P<figure>\S.*?) (?P<op><=|>=|<|>) (?P<threshold>\S+)(?: at eps (?P<eps>\S+))?$")


def judged_figures(test: TestResult) -> list[JudgedFigure]:
    """The figures `test` is judged by, as far as its metrics hold them: a rated test's
    `fail_rate` (higher is worse); otherwise each figure a check compares with `<=`/`<`
    (higher is worse) or `>=`/`>` (lower is worse). An attack check over an eps sweep
    names each eps's figure (`robust_accuracy@eps=0.1`), one `at eps` that eps's; a data
    count written in percent, its share (`duplicates_share`). Checks with `==`, `!=`,
    `in`, `within`, `between`, `unchanged` and label checks name no direction: not judged."""
    if test.rated:
        return [JudgedFigure("fail_rate", True, "%")] if "fail_rate" in test.metrics else []
    found: dict[str, JudgedFigure] = {}
    for check in test.checks:
        match = _FIGURE_CHECK.match(check)
        if match is None:
            continue
        unit = _unit(match["threshold"])
        for name in _figure_keys(match["figure"], match["eps"], unit, test.metrics):
            found.setdefault(name, JudgedFigure(name, match["op"] in ("<=", "<"), unit))
    return list(found.values())


def _figure_keys(figure: str, eps: str | None, unit: str, metrics: dict) -> list[str]:
    """The keys of `metrics` a check's figure stands for."""
    if eps is not None:  # one point of a sweep; an attack at a single eps keys its figures plainly
        candidates = [f"{figure}@eps={eps}", figure]
    elif unit == "%":  # a data count checked as a share of the rows
        candidates = [f"{figure}_share", figure]
    else:
        candidates = [figure]
    first = next((key for key in candidates if key in metrics), None)
    if first is not None:
        return [first]
    return [name for name in metrics if name.startswith(f"{figure}@eps=")] if eps is None else []  # every point of a sweep


def _unit(threshold: str) -> str:
    if threshold.endswith("ms"):
        return "ms"
    if threshold.endswith("%"):
        return "%"
    return "s" if re.fullmatch(r"[\d.]+s", threshold) else ""


def figure_label(name: str) -> str:
    """A figure's name as reports write it: `robust_accuracy(eps=0.1)` for `robust_accuracy@eps=0.1`."""
    head, at, eps = name.partition("@eps=")
    return f"{head}(eps={eps})" if at else name


def format_judged(value: float, unit: str = "") -> str:
    """A judged figure in the unit its threshold is written in: `12.0%`, `12.3ms`, `0.080`."""
    if unit == "%":
        return format_percent(value)
    if unit == "ms":
        return f"{value * 1000:.3g}ms"
    if unit == "s":
        return f"{value:.3g}s"
    return format_figure(value)


def figure_value(metrics: dict | None, name: str) -> float | int | None:
    """`metrics[name]` when it is a finite number, else None (missing, undefined, a status)."""
    value = (metrics or {}).get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


@dataclass
class RunResult(Record):
    specs: list[SpecResult]
    seconds: float = 0.0

    def __post_init__(self):
        self.specs = _records(SpecResult, self.specs)
        self.seconds = float(self.seconds)

    @property
    def tests(self) -> list[TestResult]:
        return [t for spec in self.specs for t in spec.tests]

    def count(self, status: Status) -> int:
        return sum(spec.count(status) for spec in self.specs)

    @property
    def regressed(self) -> int:
        """Tests worse than their baseline (`--fail-on-regression`)."""
        return sum(1 for t in self.tests if t.regression)

    def exit_code(self) -> int:
        """DESIGN.md's codes: 0 all passed, 1 a test failed or regressed, 3 a test could not run."""
        if self.count("ERROR"):
            return 3
        return 1 if self.count("FAIL") or self.regressed else 0
