"""The Open Inference Protocol v2 (KServe v2) as mlspec speaks it: one codec for the
`http` back end (the client) and `mlspec serve` (the server).

A model's inputs are tensors `{"name", "shape", "datatype", "data"}`:

- texts (also of `input tokens` models: the server tokenizes): one BYTES input `text` of
  shape [n, 1] (or [n], for a server whose metadata gives its input rank 1);
- images: one FP32 input `input` of shape [n, *shape];
- table rows: one input per column, named like it, of shape [n, 1]: INT64 or FP64 when
  every value of the column is a number, else BYTES.

The answer's scores are one output `probabilities` [n, labels] (FP32); a client takes
the output named probabilities/probs/logits/scores, else the first of shape
[n, labels]. Whatever does not fit raises `V2Error` with a one-line reason.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from mlspec.model import ModelInfo

TEXT_INPUT = "text"
IMAGE_INPUT = "input"
OUTPUT = "probabilities"
SCORE_OUTPUT_NAMES = ("probabilities", "probability", "probs", "output_probability", "logits", "scores")
FLOAT_TYPES = ("FP16", "FP32", "FP64")
NUMBER_TYPES = (*FLOAT_TYPES, "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
ERROR_EXCERPT = 200  # characters of a server's `error` quoted in a message


class V2Error(ValueError):
    """A v2 request or answer that does not fit the model: the message says why."""


def input_name(model: ModelInfo) -> str:
    """The name of a text or image model's one input (table models: one per column)."""
    return IMAGE_INPUT if model.input_kind == "image" else TEXT_INPUT


# ---------------------------------------------------------------------- metadata


def input_metadata(model: ModelInfo) -> list[dict]:
    """The model metadata's `inputs`: names, datatypes and shapes (-1: any batch)."""
    if model.input_kind == "image":
        return [{"name": IMAGE_INPUT, "datatype": "FP32", "shape": [-1, *model.image.shape]}]
    if model.input_kind == "table":
        return [{"name": column, "datatype": "BYTES", "shape": [-1, 1]} for column in model.columns]
    return [{"name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1, 1]}]


def output_metadata(model: ModelInfo) -> list[dict]:
    return [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, len(model.labels)]}]


def metadata_input(metadata) -> tuple[str, int | None] | None:
    """The name and rank of a server's one input, from its model metadata (a parsed JSON
    answer); None when the metadata does not list exactly one named input."""
    inputs = metadata.get("inputs") if isinstance(metadata, dict) else None
    if isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], dict) and isinstance(inputs[0].get("name"), str):
        shape = inputs[0].get("shape")
        return inputs[0]["name"], len(shape) if isinstance(shape, list) else None
    return None


# ---------------------------------------------------------------------- requests: the client


def request_tensors(model: ModelInfo, inputs: Sequence, name: str | None = None, rank: int | None = None) -> list[dict]:
    """A batch of inputs as the request's `inputs`. `name` and `rank`: those of the
    server's one input, when its metadata gave them (text and image models)."""
    if model.input_kind == "table":
        rows = table_rows(inputs, len(model.columns))
        return [column_tensor(column, [row[i] for row in rows]) for i, column in enumerate(model.columns)]
    if model.input_kind == "image":
        images = np.asarray(inputs, dtype=np.float32)
        return [{"name": name or IMAGE_INPUT, "shape": list(images.shape), "datatype": "FP32", "data": images.ravel().tolist()}]
    n = len(inputs)
    return [{"name": name or TEXT_INPUT, "shape": [n, 1] if rank != 1 else [n], "datatype": "BYTES", "data": [str(text) for text in inputs]}]


def table_rows(inputs, width: int) -> list[list]:
    """Table rows as lists, each of `width` values (ValueError otherwise)."""
    rows = [list(row) for row in inputs]
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a table row has {len(row)} values for {width} columns")
    return rows


def plain(value):
    """A JSON-ready Python value for a table cell (non-finite numbers: None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def column_tensor(column: str, values: list) -> dict:
    """One table column as a v2 input: INT64 or FP64 when every value is a number, else BYTES."""
    values = [plain(v) for v in values]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values):
        integral = all(isinstance(v, int) for v in values)
        return {"name": column, "shape": [len(values), 1], "datatype": "INT64" if integral else "FP64", "data": values}
    return {"name": column, "shape": [len(values), 1], "datatype": "BYTES", "data": ["" if v is None else str(v) for v in values]}


# ---------------------------------------------------------------------- requests: the server


def read_inputs(model: ModelInfo, body: dict):
    """The inputs of a request body (a parsed JSON object): texts (a list of str), images
    (float32 [n, *shape]) or table rows (an object array [n, columns])."""
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors or not all(isinstance(t, dict) for t in tensors):
        raise V2Error('the request needs an `inputs` list of tensors ({"name", "shape", "datatype", "data"})')
    if model.input_kind == "table":
        return _read_table(model, tensors)
    expected = input_name(model)
    if len(tensors) != 1:
        raise V2Error(f"model `{model.name}` takes one input, `{expected}`, not {len(tensors)}")
    tensor = tensors[0]
    if tensor.get("name") != expected:
        raise V2Error(f"unknown input `{tensor.get('name')}`; model `{model.name}` takes `{expected}`")
    shape, datatype, data = _tensor_parts(tensor)
    if model.input_kind == "image":
        if datatype not in FLOAT_TYPES:
            raise V2Error(f"input `input` must be FP32, not {datatype}")
        wanted = list(model.image.shape)
        if len(shape) != len(wanted) + 1 or shape[1:] != wanted:
            raise V2Error(f"input `input` has shape {shape}; model `{model.name}` takes [n, {', '.join(map(str, wanted))}]")
        return _numbers(data, shape, "input").astype(np.float32).reshape(shape)
    if datatype != "BYTES":
        raise V2Error(f"input `text` must be BYTES, not {datatype}")
    n = _batch_of(shape, "text")
    values = _flat(data)
    if len(values) != n:
        raise V2Error(f"input `text` has shape {shape} but {len(values)} values")
    if not all(isinstance(v, str) for v in values):
        raise V2Error("input `text` holds values that are not strings")
    return values


def _read_table(model: ModelInfo, tensors: list[dict]) -> np.ndarray:
    by_name = {t.get("name"): t for t in tensors}
    missing = [c for c in model.columns if c not in by_name]
    extra = [str(n) for n in by_name if n not in model.columns]
    if missing or extra:
        detail = "; ".join(p for p in (f"no input {', '.join(missing)}" if missing else "", f"unknown input {', '.join(extra)}" if extra else "") if p)
        raise V2Error(f"model `{model.name}` takes one input per column ({', '.join(model.columns)}): {detail}")
    columns = []
    for column in model.columns:
        shape, datatype, data = _tensor_parts(by_name[column])
        n = _batch_of(shape, column)
        values = _flat(data)
        if len(values) != n:
            raise V2Error(f"input `{column}` has shape {shape} but {len(values)} values")
        if datatype == "BYTES":
            if not all(isinstance(v, str) for v in values):
                raise V2Error(f"input `{column}` is BYTES but holds values that are not strings")
        elif datatype in NUMBER_TYPES:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise V2Error(f"input `{column}` is {datatype} but holds values that are not numbers")
        else:
            raise V2Error(f"input `{column}` has datatype {datatype}; columns are BYTES or numbers")
        columns.append(values)
    if len({len(c) for c in columns}) != 1:
        raise V2Error("the column inputs have different batch sizes")
    return table_of(columns)


def table_of(columns: list[list]) -> np.ndarray:
    """Table rows (an object array [n, columns]) from the values of each column."""
    rows = np.empty((len(columns[0]), len(columns)), dtype=object)
    for i, values in enumerate(columns):
        rows[:, i] = values
    return rows


def _tensor_parts(tensor: dict) -> tuple[list[int], str, list]:
    name, shape, datatype, data = tensor.get("name"), tensor.get("shape"), tensor.get("datatype"), tensor.get("data")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise V2Error(f"input `{name}` needs a `shape`: a list of sizes")
    if not isinstance(datatype, str):
        raise V2Error(f"input `{name}` needs a `datatype`")
    if not isinstance(data, list):
        raise V2Error(f"input `{name}` needs its values as a `data` list")
    return shape, datatype.upper(), data


def _batch_of(shape: list[int], name: str) -> int:
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
        return shape[0]
    raise V2Error(f"input `{name}` has shape {shape}; it takes [n] or [n, 1]")


def _flat(data: list) -> list:
    out = []
    for value in data:
        out.extend(_flat(value) if isinstance(value, list) else [value])
    return out


def _numbers(data: list, shape: list[int], name: str) -> np.ndarray:
    try:
        values = np.asarray(_flat(data), dtype=np.float64)
    except (TypeError, ValueError):
        raise V2Error(f"input `{name}` holds values that are not numbers") from None
    if values.size != math.prod(shape):
        raise V2Error(f"input `{name}` has shape {shape} but {values.size} values")
    return values


# ---------------------------------------------------------------------- answers


def output_tensor(probs: np.ndarray) -> dict:
    """The answer's scores: one FP32 output `probabilities` [n, labels]."""
    return {"name": OUTPUT, "shape": list(probs.shape), "datatype": "FP32", "data": probs.astype(np.float32).ravel().tolist()}


def read_scores(answer, n: int, width: int) -> np.ndarray:
    """The scores in an answer (a parsed JSON value) to a request of `n` inputs to a model
    of `width` labels: a 2-D array (its size is the caller's to check)."""
    outputs = answer.get("outputs") if isinstance(answer, dict) else None
    if not isinstance(outputs, list):
        if isinstance(answer, dict) and "error" in answer:
            raise V2Error(f"the server answered with an error: {str(answer['error'])[:ERROR_EXCERPT]}")
        raise V2Error('the response has no `outputs` list (an Open Inference Protocol v2 answer is {"outputs": [{"name", "shape", "datatype", "data"}]})')
    output = _score_output([o for o in outputs if isinstance(o, dict)], width)
    name = output.get("name", "?")
    if str(output.get("datatype", "FP32")).upper() == "BYTES":
        raise V2Error(f"output `{name}` of the response is BYTES, not numbers")
    try:
        values = np.asarray(output.get("data"), dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise V2Error(f"output `{name}` of the response holds values that are not numbers") from None
    shape = output.get("shape")
    if not (isinstance(shape, list) and shape and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        if values.size != n * width:
            raise V2Error(f"output `{name}` of the response has no shape and {values.size} values for {n} inputs and {width} labels")
        shape = [n, width]
    if math.prod(shape) != values.size:
        raise V2Error(f"output `{name}` of the response has shape {shape} but {values.size} values")
    if len(shape) > 2 and all(d == 1 for d in shape[1:-1]):  # [n, 1, k]
        shape = [shape[0], shape[-1]]
    if len(shape) != 2:
        raise V2Error(f"output `{name}` of the response has shape {shape}; scores are [inputs, labels]")
    return values.reshape(shape)


def _score_output(outputs: list[dict], width: int) -> dict:
    by_name = {str(o.get("name", "")).lower(): o for o in outputs}
    for name in SCORE_OUTPUT_NAMES:
        if name in by_name:
            return by_name[name]
    for output in outputs:
        shape = output.get("shape")
        if isinstance(shape, list) and len(shape) == 2 and shape[1] == width:
            return output
    if len(outputs) == 1:
        return outputs[0]
    found = ", ".join(f"`{o.get('name')}` {o.get('datatype')} {o.get('shape')}" for o in outputs) or "none"
    raise V2Error(f"no output of the response holds scores for {width} labels (outputs: {found})")
