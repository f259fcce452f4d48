"""What the rest of mlspec knows about a declared model, as data: `ModelInfo` and its parts.

Records only, built by the check stage (`mlspec.language.models`) and read by the
compiler, the executor and every back end in `runners/`. It imports nothing of mlspec
but `errors`, so back ends depend on it without pulling in the front end. What a model's
format can do (`gradients`, `local`) is the back end's (`runners.registry`): the checker
copies it into the record.

`neutral between LOW and HIGH` gives a binary model CheckList's neutral band
(`mlspec.library.neutral_band`): `labels` stay the model's own outputs, one per score
column (what back ends and the prediction cache see), and `exposed_labels` are the
labels specs use, [first, neutral, second].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mlspec.errors import Span, display_path

DEFAULT_BATCH = 512
MAX_CONCURRENCY = 1_000  # requests in flight to an endpoint (one thread each)
NEUTRAL = "neutral"  # the label a neutral band adds, between the model's two
FIXED_BATCH = 512  # a measured-batch model's batch before and without a measurement
MIN_TUNED_ROWS = 16 * 2048  # a model with fewer inputs to score is not measured: FIXED_BATCH
PYTHON_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")



@dataclass(frozen=True)
class TokenizerInfo:
    """A word-level tokenizer: lower-case (optionally), split, look up, pad or cut."""

    vocabulary: tuple[str, ...]
    lowercase: bool
    unknown_id: int
    padding_id: int
    max_length: int | None  # None: pad each batch to its longest text


@dataclass(frozen=True)
class HfTokenizerInfo:
    """A Hugging Face `tokenizers` file: texts -> input_ids, attention_mask, token_type_ids."""

    path: Path
    json: str = field(repr=False)  # the file's text, as the loading step read it
    max_length: int | None  # cut longer texts to this many tokens (None: the file's own truncation, if any)


@dataclass(frozen=True)
class ImageInfo:
    shape: tuple[int, ...]
    low: float
    high: float


@dataclass(frozen=True)
class HttpInfo:
    """A model behind an HTTP endpoint (`http "URL" protocol kserve_v2|json`)."""

    url: str
    protocol: str  # kserve_v2 (Open Inference Protocol v2) | json
    concurrency: int  # requests in flight at once
    timeout: float  # seconds per request
    retries: int  # further tries of a request that failed on the way (connection, timeout, 5xx)
    headers: tuple[tuple[str, str | None, str | None], ...]  # (name, value, environment variable): env values are secrets
    request_field: str  # json: the request body's key holding the inputs
    response_path: str  # json: dotted path to the rows of scores in the response


HTTP_PROTOCOLS = ("kserve_v2", "json")
HTTP_SETTINGS = ("protocol", "concurrency", "timeout", "retries", "headers", "request_field", "response_path")


@dataclass(frozen=True)
class NeutralBand:
    """`neutral between LOW and HIGH`: 0 < low < high < 1, over P(second label)."""

    low: float
    high: float
    text: str  # the bounds as written: "1/3 and 2/3"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    format: str  # a registered back end's keyword (runners.registry): onnx | torch | python | http
    path: Path | None  # the model file (None for python callables)
    target: str | None  # `module:function` for python callables
    input_kind: str  # text | tokens | tokenizer | image | table
    output_kind: str  # probabilities | logits | value (a regression model)
    labels: tuple[str, ...]  # the model's own outputs, one per score column (a regression model: its outputs' names)
    batch: int  # the declared batch size; with `batch_tuned`, the largest the executor uses elsewhere
    span: Span
    tokenizer: TokenizerInfo | None = None
    hf_tokenizer: HfTokenizerInfo | None = None
    image: ImageInfo | None = None
    columns: tuple[str, ...] = ()  # `input table columns [...]`, in the model's input order
    http: HttpInfo | None = None
    neutral_band: NeutralBand | None = None  # CheckList's neutral band over P(labels[1])
    batch_tuned: bool = False  # a local model without `batch`: the executor measures a size (`batch_tuning`)
    gradients: bool = False  # its back end gives gradients with respect to the input (white-box attacks)
    local: bool = False  # its back end scores a model file in-process: short batches are padded (executor.MIN_ROWS)
    path_span: Span | None = None  # where the spec names the model file (None: given on the command line)

    @property
    def exposed_labels(self) -> tuple[str, ...]:
        """The labels specs and reports use: the model's own, or [first, neutral, second] with a band."""
        if self.neutral_band is None:
            return self.labels
        return (self.labels[0], NEUTRAL, *self.labels[1:])

    @property
    def regression(self) -> bool:
        """It outputs numbers (`output value`), not a probability per label."""
        return self.output_kind == "value"

    @property
    def table(self) -> str:
        """Which input table of a plan this model reads: texts, images or table rows."""
        return {"image": "image", "table": "row"}.get(self.input_kind, "text")

    @property
    def short_source(self) -> str:
        """The model file's name, the endpoint's URL, or the Python target: for plans."""
        if self.http:
            return self.http.url
        return self.target if self.target is not None else self.path.name

    @property
    def source(self) -> str:
        if self.http:
            return self.http.url
        return self.target if self.target is not None else display_path(self.path)
