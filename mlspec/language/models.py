"""Checking `model` declarations (part of the check stage).

Turns a `model` block into a `ModelInfo`: which back end loads it (a format of the
back-end registry, `runners.registry`: `onnx`, `torch`, `python`, `http`; the record
copies what that back end can do: `gradients`, `local`), what it takes (`text`,
`tokens` through a word-level tokenizer, or `image` of a shape and value range), what
it returns (probabilities or logits, one per label) and its batch size.
A tokenizer's vocabulary file (read by the loading step,
mlspec/language/loading.py) is validated here, so a missing or malformed one is reported
at the spec line that names it. `--model NAME=FILE` replaces a declared model by another
file of a kind told by its extension, or by the `model` block of a model card (`.mlspec`
file).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mlspec.errors import Span, display_path
from mlspec.language import ast
from mlspec.language.ast import shorten_number
from mlspec.language.sources import describe, path_problem, resolved
from mlspec.model import (
    DEFAULT_BATCH,
    HTTP_PROTOCOLS,
    HTTP_SETTINGS,
    MAX_CONCURRENCY,
    NEUTRAL,
    PYTHON_TARGET,
    HfTokenizerInfo,
    HttpInfo,
    ImageInfo,
    ModelInfo,
    NeutralBand,
    TokenizerInfo,
)
from runners import backends, format_for_suffix

if TYPE_CHECKING:
    from mlspec.language.loading import LoadedFile, LoadedFiles

Report = Callable[[str, Span | None, str | None], None]

# The most a model declaration may ask for (larger numbers are reported at the line that wrote them).
MAX_BATCH = 1_000_000  # inputs a call
MAX_TOKENS = 1_000_000  # a tokenizer's max_length
MAX_RETRIES = 100
MAX_TIMEOUT = 3600  # seconds a request may take
MAX_IMAGE_SIDE = 100_000  # an image dimension
MAX_IMAGE_VALUES = 100_000_000  # values an image holds (the product of its shape)


def check_model(model: ast.ModelDecl, base: Path, report: Report, integer, files: LoadedFiles) -> ModelInfo | None:
    """Validate one `model` block; paths are relative to `base`, and its vocabulary file is
    taken from `files` (read by the loading step). Problems go to `report`."""
    name = model.name.value
    missing = [
        what
        for what, present in (
            ('a model (`onnx "file"`, `torch "file"`, `python "module:function"` or `http "URL"`)', model.path),
            ("an `input`", model.input_kind or model.format == "huggingface"),  # a folder has its tokenizer
            ("an `output ... labels [...]` (or `output value` for a regression model)", model.output_kind),
        )
        if not present
    ]
    if missing:
        report(f"model `{name}` needs " + " and ".join(missing), model.name.span, None)
        return None
    back_end = backends().get(model.format)  # what the format's back end can do (runners.registry)
    if back_end is None:
        report(f"model `{name}`: no back end for model format `{model.format}`", model.path_span or model.span, "formats are " + ", ".join(sorted(backends())))
        return None
    _check_labels(model, report)
    hf_tokenizer = model.hf_tokenizer or _folder_tokenizer(model)
    band = _neutral_band(model, report) if model.neutral_band and model.output_kind != "value" else None
    if model.format == "python" and not PYTHON_TARGET.match(model.path):
        report(f"`python` takes \"package.module:function\", not {model.path!r}", model.path_span, None)
    batch = integer(model.batch, "batch", minimum=1, maximum=MAX_BATCH) if model.batch else DEFAULT_BATCH
    local = back_end.local
    path = _model_file(model, base, report, files) if local else None
    return ModelInfo(
        name=name,
        format=model.format,
        path=path,
        target=model.path if model.format == "python" else None,
        input_kind=model.input_kind or "tokenizer",
        output_kind=model.output_kind,
        labels=tuple(label.value for label in model.labels),
        batch=batch or DEFAULT_BATCH,
        batch_tuned=local and not model.batch and not (model.tokenizer and model.tokenizer.max_length is None),
        span=model.span,
        tokenizer=_tokenizer(model, base, report, integer, files) if model.tokenizer else None,
        hf_tokenizer=_hf_tokenizer(hf_tokenizer, base, report, integer, files) if hf_tokenizer else None,
        image=_image(model.image, report, integer) if model.image else None,
        columns=_columns(model, report),
        http=_http(model, report, integer),
        neutral_band=band,
        gradients=back_end.gradients,
        local=local,
        path_span=model.path_span if local else None,
    )


def _model_file(model: ast.ModelDecl, base: Path, report: Report, files: LoadedFiles) -> Path | None:
    """The model file a block names (relative to `base`); None, reported, when the spec may
    not read it (outside the project and the allowed paths, or a NUL in its path)."""
    refused = path_problem(files.sources, model.path, files.sources.absolute(base / model.path), "model", model.path_span)
    if refused is not None:
        report(refused.message, refused.span, refused.hint)
        return None
    return resolved(base / model.path)


def replace_model_file(info: ModelInfo, path: str) -> ModelInfo:
    """The same declaration with another model file (its kind follows the file's extension),
    or with an endpoint: an http(s) URL speaking the Open Inference Protocol v2."""
    if re.match(r"^https?://", path):
        endpoint = HttpInfo(path, "kserve_v2", 4, 10.0, 2, (), "instances", "predictions")
        return ModelInfo(**{**info.__dict__, **_capabilities("http"), "path": None, "format": "http", "target": None, "http": endpoint, "batch_tuned": False, "path_span": None})
    format = format_for_suffix(Path(path).suffix) or info.format
    return ModelInfo(**{**info.__dict__, **_capabilities(format), "path": Path(path).resolve(), "format": format, "target": None, "http": None, "path_span": None})


def _capabilities(format: str) -> dict:
    """The ModelInfo fields that follow from a format's back end."""
    back_end = backends()[format]
    return {"gradients": back_end.gradients, "local": back_end.local}


def _check_labels(model: ast.ModelDecl, report: Report) -> None:
    seen: set[str] = set()
    for label in model.labels:
        if label.value in seen:
            report(f"model `{model.name.value}`: label `{label.value}` is declared twice", label.span, "give each a different name")
        seen.add(label.value)
    if model.output_kind == "value":
        if not model.labels:
            report(f"model `{model.name.value}` declares `output values []`", model.name.span, "name its outputs, or write `output value` for one")
        if model.neutral_band:
            report("a neutral band splits a classifier's probabilities; this model outputs values", model.neutral_band.span, "drop `neutral between`")
    elif len(model.labels) < 2:
        report(f"model `{model.name.value}` needs at least two labels", model.name.span, None)


def _neutral_band(model: ast.ModelDecl, report: Report) -> NeutralBand | None:
    """`neutral between LOW and HIGH`: only on a model of two labels, neither called `neutral`,
    with 0 < LOW < HIGH < 1."""
    decl, name = model.neutral_band, model.name.value
    example = "for example `neutral between 1/3 and 2/3` (CheckList's band)"
    if len(model.labels) != 2:
        shown = ", ".join(label.value for label in model.labels)
        report(
            f"model `{name}`: a neutral band splits a binary model's two labels, but it declares {len(model.labels)} ([{shown}])",
            decl.span,
            "declare the two labels the model outputs, e.g. `labels [negative, positive]`, or drop `neutral between` from a model with a neutral class of its own",
        )
        return None
    taken = next((label for label in model.labels if label.value == NEUTRAL), None)
    if taken is not None:
        report(
            f"model `{name}` already has a label `{NEUTRAL}` (line {taken.span.line}); the neutral band adds one",
            decl.span,
            "rename that label, or drop `neutral between`",
        )
        return None
    low, high = _bound_value(decl.low, report), _bound_value(decl.high, report)
    second = model.labels[1].value
    in_range = True
    for bound, value, end in ((decl.low, low, "low"), (decl.high, high, "high")):
        if value is not None and not 0 < value < 1:
            report(f"the neutral band's {end} end must be between 0 and 1 (exclusive), not {shorten_number(bound.text, 40)}", bound.span, f"the bounds are probabilities of `{second}`; {example}")
            in_range = False
    text = f"{decl.low.text} and {decl.high.text}"
    if low is not None and high is not None and in_range and low >= high:
        shown = f"{shorten_number(decl.low.text, 40)} and {shorten_number(decl.high.text, 40)}"
        report(f"the neutral band's low end must be below its high end, not {shown}", decl.span, f"write the lower bound first; {example}")
        in_range = False
    if low is None or high is None or not in_range:
        # Reported, so the spec will not run; the model keeps its `neutral` label, so that the
        # tests naming it do not add an error each.
        return NeutralBand(math.nan, math.nan, text)
    return NeutralBand(low, high, text)


def _bound_value(bound: ast.Bound, report: Report) -> float | None:
    """A decimal as it is; a fraction `a/b` of whole numbers, b > 0, as a / b."""
    if bound.denominator is None:
        return bound.numerator.value
    whole = re.fullmatch(r"-?\d+", bound.numerator.text) and re.fullmatch(r"\d+", bound.denominator.text)
    if not whole:
        report(f"a fraction is written with whole numbers (1/3), not {shorten_number(bound.text, 40)}", bound.span, "write a decimal (0.35) or a fraction of whole numbers (1/3)")
        return None
    numerator, denominator = bound.numerator.whole(), bound.denominator.whole()  # exact; None past 2^63
    if numerator is None or denominator is None:
        shown = shorten_number(bound.text, 40)
        report(f"a fraction is written with whole numbers of at most 2^63, not {shown}", bound.span, "write a decimal (0.35) or a fraction of whole numbers (1/3)")
        return None
    if denominator == 0:
        report(f"{shorten_number(bound.text, 40)} divides by zero", bound.denominator.span, "write a decimal (0.35) or a fraction of whole numbers (1/3)")
        return None
    return numerator / denominator


def _http(model: ast.ModelDecl, report: Report, integer) -> HttpInfo | None:
    """The endpoint settings of an `http` model; on another model they are errors."""
    if model.format != "http":
        for setting in HTTP_SETTINGS:
            value = getattr(model, setting)
            if value:
                first = value[0] if isinstance(value, list) else value
                span = getattr(first, "span", model.span)
                report(f"`{setting.split('_')[0]}` is a setting of `http` models", span, None)
        return None
    if not re.match(r"^https?://[^\s/]+", model.path):
        report(f"`http` takes an http:// or https:// URL, not {model.path!r}", model.path_span, None)
    protocol = model.protocol.value if model.protocol else "kserve_v2"
    if protocol not in HTTP_PROTOCOLS:
        report(f"unknown protocol `{protocol}`", model.protocol.span, "protocols are " + ", ".join(HTTP_PROTOCOLS))
    timeout = 10.0
    if model.timeout:
        if not model.timeout.duration or not 0 < model.timeout.value <= MAX_TIMEOUT:
            report(f"`timeout` takes a duration up to {MAX_TIMEOUT}s such as 2s or 500ms, not {model.timeout.shown}", model.timeout.span, None)
        else:
            timeout = model.timeout.value
    return HttpInfo(
        url=model.path,
        protocol=protocol,
        concurrency=(integer(model.concurrency, "concurrency", minimum=1, maximum=MAX_CONCURRENCY) if model.concurrency else 4) or 4,
        timeout=timeout,
        retries=(integer(model.retries, "retries", minimum=0, maximum=MAX_RETRIES) if model.retries else 2) or 0,
        headers=tuple((h.name, h.value, h.env) for h in model.headers),
        request_field=model.request_field or "instances",
        response_path=model.response_path or "predictions",
    )


def _columns(model: ast.ModelDecl, report: Report) -> tuple[str, ...]:
    if model.input_kind != "table":
        return ()
    if not model.columns:
        report(f"model `{model.name.value}` takes a table with no columns", model.name.span, "list them: `input table columns [age, sex, ...]`")
    seen: set[str] = set()
    for column in model.columns:
        if column.value in seen:
            report(f"column `{column.value}` is listed twice", column.span, None)
        seen.add(column.value)
    return tuple(c.value for c in model.columns)


def _image(image: ast.ImageInputDecl, report: Report, integer) -> ImageInfo | None:
    shape = [integer(size, "an image dimension", minimum=1, maximum=MAX_IMAGE_SIDE) for size in image.shape]
    if not 2 <= len(shape) <= 3:
        report("an image shape is [height, width] or [channels, height, width]", image.span, None)
        return None
    for end in (image.low, image.high):
        if not end.finite:
            report(f"an image's range takes numbers of at most about 1.8e308 in size, not {end.shown}", end.span, None)
            return None
    if image.low.value >= image.high.value:
        report(f"the range's low end must be below its high end, not [{image.low.shown}, {image.high.shown}]", image.low.span, None)
    if None in shape:
        return None
    if math.prod(shape) > MAX_IMAGE_VALUES:
        report(f"an image holds at most {MAX_IMAGE_VALUES:,} values, not {math.prod(shape):,}", image.span, None)
        return None
    return ImageInfo(tuple(shape), float(image.low.value), float(image.high.value))


def _tokenizer(model: ast.ModelDecl, base: Path, report: Report, integer, files: LoadedFiles) -> TokenizerInfo | None:
    decl = model.tokenizer
    if decl.vocabulary is None:
        report("`input tokens` needs a `vocabulary \"file\"` (one token a line; line i is id i)", decl.span, None)
        return None
    refused = path_problem(files.sources, decl.vocabulary, files.sources.absolute(base / decl.vocabulary), "vocabulary", decl.vocabulary_span)
    if refused is not None:
        report(refused.message, refused.span, refused.hint)
        return None
    vocabulary = _read_vocabulary(files[base / decl.vocabulary], decl, report)
    max_length = integer(decl.max_length, "max_length", minimum=1, maximum=MAX_TOKENS) if decl.max_length else None
    if vocabulary is None:
        return None
    ids = {token: i for i, token in enumerate(vocabulary)}
    special = {}
    for option, token in (("unknown", decl.unknown or "<unk>"), ("padding", decl.padding or "<pad>")):
        if token not in ids:
            hint = f"the vocabulary has no {token!r}; name the token it uses: `{option} \"...\"`"
            report(f"tokenizer {option} token {token!r} is not in {decl.vocabulary}", decl.vocabulary_span, hint)
            return None
        special[option] = ids[token]
    return TokenizerInfo(tuple(vocabulary), decl.lowercase, special["unknown"], special["padding"], max_length)


def _folder_tokenizer(model: ast.ModelDecl) -> ast.HfTokenizerDecl | None:
    """A `huggingface` folder's own tokenizer.json, when the block names no other."""
    if model.format != "huggingface" or model.path is None:
        return None
    return ast.HfTokenizerDecl(span=model.span, path=f"{model.path}/tokenizer.json", path_span=model.path_span or model.span)


def _hf_tokenizer(decl: ast.HfTokenizerDecl, base: Path, report: Report, integer, files: LoadedFiles) -> HfTokenizerInfo | None:
    """`input tokenizer "tokenizer.json"`: a file of the `tokenizers` library (JSON: read as
    data, no code), as the loading step read it."""
    path = base / decl.path
    refused = path_problem(files.sources, decl.path, files.sources.absolute(path), "tokenizer", decl.path_span)
    if refused is not None:
        report(refused.message, refused.span, refused.hint)
        return None
    max_length = integer(decl.max_length, "max_length", minimum=1, maximum=MAX_TOKENS) if decl.max_length else None
    loaded = files[path]
    problem = loaded.problem()
    if loaded.error is not None or problem is not None:
        report(f"tokenizer file {decl.path} {problem}", decl.path_span, "the tokenizer.json a Hugging Face tokenizer saves (`tokenizer.save(path)`)")
        return None
    try:
        content = json.loads(loaded.text)
    except (json.JSONDecodeError, RecursionError) as error:
        report(f"tokenizer file {decl.path} is not JSON ({getattr(error, 'msg', 'nested too deeply')})", decl.path_span, None)
        return None
    if not isinstance(content, dict) or not isinstance(content.get("model"), dict):
        report(f"tokenizer file {decl.path} is not a `tokenizers` file (no \"model\" object)", decl.path_span, "the tokenizer.json a Hugging Face tokenizer saves")
        return None
    return HfTokenizerInfo(resolved(path), loaded.text, max_length)


def _read_vocabulary(loaded: LoadedFile, decl: ast.TokenizerDecl, report: Report) -> list[str] | None:
    """The tokens of a vocabulary file (as the loading step read it), or None when it is reported."""
    where = decl.vocabulary_span
    if loaded.kind is None and loaded.error is None:
        report(f"vocabulary file not found: {decl.vocabulary}", where, f"paths are relative to the spec file; this one is {display_path(loaded.path)}")
        return None
    error = loaded.error if loaded.kind != "directory" else IsADirectoryError()
    if isinstance(error, (UnicodeDecodeError, IsADirectoryError)):
        report(f"vocabulary file {decl.vocabulary} cannot be read: {type(error).__name__}", where, "one token a line, UTF-8")
        return None
    if error is not None:  # a loop of links, a path below a file, a name too long, ...
        report(f"vocabulary file {decl.vocabulary} {describe(error)}", where, None)
        return None
    lines = loaded.text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    problem = _vocabulary_problem(lines)
    if problem:
        report(f"vocabulary file {decl.vocabulary}: {problem}", where, "one token a line, UTF-8; line i (from 0) is token id i")
        return None
    return lines


def _vocabulary_problem(lines: list[str]) -> str | None:
    if not lines:
        return "it is empty"
    seen: dict[str, int] = {}
    for number, token in enumerate(lines, start=1):
        if not token or token != token.strip() or any(c.isspace() for c in token):
            return f"line {number}: {token!r} is not a token (empty or with spaces)"
        if token in seen:
            return f"line {number}: {token!r} repeats line {seen[token]}"
        seen[token] = number
    return None
