"""The abstract syntax tree of a spec file: what was written, with where it was written.

Nodes are immutable pydantic models built by the parser. They hold no resolved
references: names stay names until the checker resolves them. Every node keeps the
span of its source so later stages can point at it.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict

from mlspec.errors import Span


class Node(BaseModel):
    model_config = ConfigDict(frozen=True)

    span: Span


class Name(Node):
    """An identifier reference (model, dataset, lexicon, label, column)."""

    value: str


class Quantity(Node):
    """A number as written; `percent` marks `5%` (value already divided by 100) and
    `duration` marks `50ms` / `2s` (value in seconds)."""

    value: float  # inf when the number is too large for a float (`1e999`): the checker reports it
    percent: bool = False
    duration: bool = False
    text: str

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)

    def whole(self) -> int | None:
        """The whole number written, exactly (read from the text, not through a float), when it
        is a plain number (no `%`, no unit) that is whole and of at most 2^63 in size; else None.
        Never raises, whatever the text (`1e999`, a hundred thousand digits)."""
        if self.percent or self.duration:
            return None
        try:
            exact = Decimal(self.text)  # exact, whatever the length; an exponent past 10^18 raises
        except (InvalidOperation, ValueError):
            return None
        if exact.is_zero():
            return 0
        if not exact.is_finite() or exact.adjusted() > 19 or exact != exact.to_integral_value():
            return None
        number = int(exact)
        return number if -(2**63) <= number <= 2**63 else None

    @property
    def shown(self) -> str:
        """The number as messages quote it: as written, or its start when it is very long."""
        return shorten_number(self.text)


def shorten_number(text: str, limit: int = 24) -> str:
    """A number's text for a message: as written, or its first digits and its length."""
    return text if len(text) <= limit else f"{text[:12]}... ({len(text):,} characters)"


class TokenizerDecl(Node):
    """`input tokens vocabulary "v.txt" lowercase unknown "<unk>" padding "<pad>" max_length 60`."""

    vocabulary: str | None = None
    vocabulary_span: Span | None = None
    lowercase: bool = False
    unknown: str | None = None
    padding: str | None = None
    max_length: Quantity | None = None


class HfTokenizerDecl(Node):
    """`input tokenizer "tokenizer.json" max_length 128`: a Hugging Face `tokenizers` file."""

    path: str
    path_span: Span
    max_length: Quantity | None = None


class ImageInputDecl(Node):
    """`input image shape [1, 28, 28] range [0, 1]`."""

    shape: list[Quantity]
    low: Quantity
    high: Quantity


class Header(Node):
    """`header "Name" "value"` or `header "Name" env "VARIABLE"` (a secret: read at run time, never shown)."""

    name: str
    value: str | None = None
    env: str | None = None


class Bound(Node):
    """A bound of a neutral band as written: a decimal (`0.4`) or a fraction (`1/3`)."""

    numerator: Quantity
    denominator: Quantity | None = None

    @property
    def text(self) -> str:
        return self.numerator.text + (f"/{self.denominator.text}" if self.denominator else "")


class NeutralBandDecl(Node):
    """`neutral between 1/3 and 2/3`: CheckList's neutral band over P(second label) of a binary model."""

    low: Bound
    high: Bound


class ModelDecl(Node):
    name: Name
    format: str | None = None  # a back end's keyword (runners.registry): onnx, torch, python, http
    path: str | None = None  # a file for onnx/torch, `module:function` for python, a URL for http
    path_span: Span | None = None
    input_kind: Literal["text", "tokens", "tokenizer", "image", "table"] | None = None
    tokenizer: TokenizerDecl | None = None
    hf_tokenizer: HfTokenizerDecl | None = None
    image: ImageInputDecl | None = None
    columns: list[Name] = []  # `input table columns [...]`
    output_kind: Literal["probabilities", "logits", "value"] | None = None
    labels: list[Name] = []  # a classifier's labels; a regression model's output names (`value` for `output value`)
    batch: Quantity | None = None
    protocol: Name | None = None  # http: kserve_v2 (the default) or json
    concurrency: Quantity | None = None
    timeout: Quantity | None = None
    retries: Quantity | None = None
    headers: list[Header] = []
    request_field: str | None = None  # json protocol: the request's key holding the inputs
    response_path: str | None = None  # json protocol: dotted path to the scores in the response
    neutral_band: NeutralBandDecl | None = None  # a binary model exposes [first, neutral, second]


class DatasetDecl(Node):
    name: Name
    format: Literal["csv", "jsonl", "npz"]
    path: str
    path_span: Span
    fields: dict[str, Name] = {}  # field (text, label) -> the column it reads
    field_spans: dict[str, Span] = {}  # field -> where its name was written


class LexiconDecl(Node):
    name: Name
    values: list[str] | None = None
    file: str | None = None
    file_span: Span | None = None


class Template(Node):
    text: str
    text_span: Span
    raw: str  # the string as written between its quotes, escapes included
    label: Name | None = None


class Sample(Node):
    size: Quantity
    seed: Quantity | None = None


class Argument(Node):
    name: str | None
    value: "Value"


class Call(Node):
    """A perturbation with its arguments: `typos(count: 1)`."""

    name: Name
    args: list[Argument] = []


class ListValue(Node):
    items: list["Value"]


class StringValue(Node):
    value: str


Value = Union[Quantity, StringValue, Name, ListValue]


class Perturb(Node):
    chain: list[Call]
    variants: Quantity | None = None


class Subject(Node):
    """What a score expectation looks at: `prob(label)`, `margin(a, b)`, `confidence`, or a
    regression model's `value` (`value(name)` for one of several outputs)."""

    kind: Literal["prob", "confidence", "margin", "value"]
    label: Name | None = None
    minus: Name | None = None  # margin(label, minus)


class LabelCondition(Node):
    """`label == x`, `label != x`, `label in [..]`, `label not in [..]`, `label == expected`."""

    op: Literal["==", "!=", "in", "not in"]
    labels: list[Name] = []
    expected: bool = False


class ScoreCondition(Node):
    subject: Subject
    op: Literal["==", "!=", ">=", "<=", ">", "<"]
    value: Quantity


class UnchangedExpect(Node):
    """`unchanged [tolerance t]` (a label), or `value unchanged [tolerance t]` (a regression output)."""

    tolerance: Quantity | None = None
    subject: Subject | None = None


class WithinExpect(Node):
    """`value within 5 of expected`, `value within 10% of expected`."""

    subject: Subject
    tolerance: Quantity


class MonotonicExpect(Node):
    subject: Subject
    direction: Literal["increasing", "decreasing"]
    negated: bool = False
    tolerance: Quantity | None = None


class MetricExpect(Node):
    metric: Name
    argument: Name | None = None  # `recall(">50K")`, `psi(age)`: a label, column or dataset
    op: Literal["==", "!=", ">=", "<=", ">", "<"]
    value: Quantity
    at_name: Name | None = None  # `at eps 0.05`: which point of a sweep
    at_value: Quantity | None = None


class ColumnExpect(Node):
    """`column age` (present) or `column age: integer` (present, of a type)."""

    column: Name
    type: Name | None = None


class BetweenExpect(Node):
    """`age between 17 and 90`: a numeric column's present values lie in the range."""

    column: Name
    low: Quantity
    high: Quantity


class CategoriesExpect(Node):
    """`sex in ["Male", "Female"]`: a column's present values are among these."""

    column: Name
    values: list["Value"]


class SliceCondition(Node):
    """`where expected == film`, `where sex == "Female"`, `where age >= 40`, `where race in [..]`:
    the dataset rows a test keeps (`column` None: the expected label or value)."""

    column: Name | None
    op: Literal["==", "!=", ">=", "<=", ">", "<", "in"]
    values: list["Value"]


Expectation = Union[
    LabelCondition, ScoreCondition, UnchangedExpect, WithinExpect, MonotonicExpect, MetricExpect, ColumnExpect, BetweenExpect, CategoriesExpect
]


class Metric(Node):
    kind: Literal["mean", "positive_rate", "mae"]
    subject: Subject | None = None


class TestDecl(Node):
    kind: str  # a registered test kind's keyword (mlspec.language.kinds)
    title: str
    title_span: Span
    on: list[Name] = []
    templates: list[Template] = []
    source: Name | None = None
    against: Name | None = None  # drift: the current dataset
    sample: Sample | None = None
    perturb: Perturb | None = None
    swap: Name | None = None
    where: list[Union[LabelCondition, ScoreCondition]] = []  # `where original...`: of predictions
    slices: list[SliceCondition] = []  # `where COLUMN == V`, `where expected == X`: of dataset rows
    expects: list[Expectation] = []
    max_fail_rate: Quantity | None = None
    by: list[Name] = []
    metric: Metric | None = None
    positive: Name | None = None
    method: Call | None = None
    privileged: LabelCondition | None = None  # `privileged COLUMN == VALUE` (labels[0] holds the value)
    privileged_column: Name | None = None
    min_group_size: Quantity | None = None
    requests: Quantity | None = None  # load tests
    duration: Quantity | None = None
    concurrency: Quantity | None = None
    statement_spans: dict[str, Span] = {}  # field -> span of the statement that set it (first one)


# The keyword of the statement behind each TestDecl field, for messages.
STATEMENT_KEYWORDS = {
    "templates": "template",
    "source": "from",
    "against": "against",
    "sample": "sample",
    "perturb": "perturb",
    "swap": "swap",
    "where": "where original",
    "slices": "where",
    "expects": "expect",
    "max_fail_rate": "max_fail_rate",
    "by": "by",
    "metric": "metric",
    "positive": "positive",
    "method": "method",
    "privileged": "privileged",
    "min_group_size": "min_group_size",
    "requests": "requests",
    "duration": "duration",
    "concurrency": "concurrency",
}


class Capability(Node):
    title: str
    tests: list[TestDecl] = []


class Import(Node):
    """`import "common.mlspec"`: that file's models, datasets and lexicons, by name."""

    path: str
    path_span: Span


class SpecFile(Node):
    path: str
    name: str | None = None
    seed: Quantity | None = None
    imports: list[Import] = []
    models: list[ModelDecl] = []
    datasets: list[DatasetDecl] = []
    lexicons: list[LexiconDecl] = []
    capabilities: list[Capability] = []


Argument.model_rebuild()
ListValue.model_rebuild()
CategoriesExpect.model_rebuild()
SliceCondition.model_rebuild()
