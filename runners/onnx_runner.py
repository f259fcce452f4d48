"""ONNX Runtime back end: text (a string input), token ids, images and table rows.

Uses the CUDA execution provider when onnxruntime has one and a GPU is present, else
the CPU provider. On the CPU each session call runs on one thread: the executor keeps one
call per core in flight (`concurrency`, with `predict(..., split=False)`), and a single
call of an attack or a server is split in one part per core. For the small batches that
text models are fastest at, that is about 1.9x the speed of ONNX Runtime's own intra-op
threads (benchmarks/checklist_suite.py), and as fast for a CNN. At load time the model
is checked against its declaration: one input
of the declared kind (string; int64 token ids [N, L]; float images [N, *shape]; for a
table, one input per declared column, named like it, as scikit-learn pipelines converted
with skl2onnx take them) and an
output of probabilities (or logits) with one column per declared label. Scores only:
no gradients, so white-box attacks are refused by the checker.

Loading a model runs no code from its file: ONNX Runtime parses the graph (protobuf, no
pickle) and runs its operators; no custom-operator library is ever registered. A model
file that is not there is reported at its path in the spec (`runners.base.model_file`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from mlspec.errors import ModelError, display_path, first_line
from mlspec.model import ModelInfo
from runners.base import check_scores, cuda_driver, model_file, no_gradients, softmax
from runners.hf_tokenizer import TOKEN_INPUTS, HfEncoder, score_by_length
from runners.registry import Backend, register
from runners.tokenizer import Encoder

# The smallest part of a batch scored on its own: back ends take other kernels for fewer
# rows, and a row's score must not depend on how its batch was split (as in the executor).
MIN_PART_ROWS = 16
PROBABILITY_OUTPUT_NAMES = ("probabilities", "probability", "probs", "output_probability", "scores")
VALUE_OUTPUT_NAMES = ("variable", "value", "values", "prediction", "predictions")  # skl2onnx names a regressor's output `variable`


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def cuda_available() -> bool:
    """Whether onnxruntime has a CUDA provider and a CUDA driver is loadable."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers() and cuda_driver()


def default_device() -> str:
    """What `--device auto` gives: cpu without a CUDA driver (decided without importing
    onnxruntime), else cuda when onnxruntime has a CUDA provider."""
    return "cuda" if cuda_driver() and cuda_available() else "cpu"


def providers_for(device: str) -> list[str]:
    if device == "cuda" and not cuda_available():
        raise ModelError("--device cuda was asked for, but ONNX Runtime finds no CUDA device")
    if device == "cuda" or (device == "auto" and cuda_available()):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


INPUT_TYPES = {"text": "tensor(string)", "tokens": "tensor(int64)", "image": "tensor(float)"}
TABLE_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64, "tensor(string)": object}
INPUT_FORMS = {
    "text": "one string tensor input of shape [N] or [N, 1]",
    "tokens": "one int64 input of token ids [N, length]",
    "image": "one float input [N, *shape]",
}


class OnnxRunner:
    gradients = False
    split_failed_batches = True

    def __init__(self, model: ModelInfo, device: str = "auto"):
        import onnxruntime as ort

        self.model = model
        self.labels = model.labels
        path = model_file(model)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = providers_for(device)
        self.concurrency = 1 if "CUDAExecutionProvider" in providers else usable_cores()
        if self.concurrency > 1:  # one thread per call: calls run side by side, one per core
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="onnx") if self.concurrency > 1 else None
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types per failure
            reason = first_line(error).replace(str(path), display_path(path))  # ONNX Runtime names the absolute path
            raise ModelError(f"model `{model.name}`: {path.name} could not be loaded as an ONNX model: {reason}", model.span) from None
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        self.hf_encoder = None
        if model.input_kind == "table":
            self.column_types = self._table_inputs()
            self.input_name, self.input_shape = None, []
        elif model.input_kind == "tokenizer":
            self.token_names = self._token_inputs()
            self.input_name, self.input_shape = None, []
            self.hf_encoder = HfEncoder(model)
        else:
            self.input_name, self.input_shape = self._input()
        self.output_name = self._score_output()
        self.order = self._by_token_length if self.hf_encoder else None
        self.encode = None
        if model.tokenizer:
            length = self.input_shape[1] if len(self.input_shape) == 2 and isinstance(self.input_shape[1], int) else None
            if length and model.tokenizer.max_length not in (None, length):
                raise ModelError(
                    f"model `{model.name}` takes {length} token ids per input, but the spec says `max_length {model.tokenizer.max_length}`",
                    model.span,
                )
            self.encode = Encoder(model.tokenizer, length)

    def _input(self) -> tuple[str, list]:
        kind = self.model.input_kind
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].type != INPUT_TYPES[kind] or not self._shape_fits(inputs[0].shape or [None]):
            found = ", ".join(f"{i.name}: {i.type} {i.shape}" for i in inputs)
            raise ModelError(
                f"model `{self.model.name}` is declared `input {kind}`, but {self.model.path.name} takes {found}",
                self.model.span,
                f"{'an' if kind == 'image' else 'a'} {kind} model takes {INPUT_FORMS[kind]}",
            )
        return inputs[0].name, list(inputs[0].shape or [None])

    def _table_inputs(self) -> dict[str, str]:
        """The ONNX input type of each declared column; every column one input, and no others."""
        inputs = {i.name: i for i in self.session.get_inputs()}
        declared = list(self.model.columns)
        if set(inputs) != set(declared):
            missing = [c for c in declared if c not in inputs]
            extra = [n for n in inputs if n not in declared]
            detail = "; ".join(part for part in (f"it has no input {', '.join(missing)}" if missing else "", f"it also takes {', '.join(extra)}" if extra else "") if part)
            raise ModelError(
                f"model `{self.model.name}` declares columns its file does not match: {detail}",
                self.model.span,
                "a table model takes one input per column, named like the column: `input table columns [...]` lists them all",
            )
        for name, spec in inputs.items():
            if spec.type not in TABLE_TYPES or len(spec.shape or [None]) not in (1, 2):
                raise ModelError(f"model `{self.model.name}`: column input `{name}` is {spec.type} {spec.shape}", self.model.span, "columns are float, int64 or string inputs of shape [N, 1]")
        return {name: spec.type for name, spec in inputs.items()}

    def _token_inputs(self) -> list[str]:
        """The inputs of a model fed by a `tokenizers` file: input_ids, and any of
        attention_mask and token_type_ids, int64 [N, L]; no others."""
        inputs = self.session.get_inputs()
        names = [i.name for i in inputs]
        fits = "input_ids" in names and all(i.name in TOKEN_INPUTS and i.type == "tensor(int64)" and len(i.shape or []) == 2 for i in inputs)
        if not fits:
            found = ", ".join(f"{i.name}: {i.type} {i.shape}" for i in inputs)
            raise ModelError(
                f"model `{self.model.name}` is declared `input tokenizer`, but {self.model.path.name} takes {found}",
                self.model.span,
                "a tokenizer's model takes input_ids and any of attention_mask, token_type_ids: int64 [batch, length]",
            )
        return names

    def _by_token_length(self, inputs: Sequence) -> np.ndarray:
        """The order of the inputs that scores them fastest (`order`): by token length."""
        return np.argsort(self.hf_encoder.lengths(inputs), kind="stable")

    def _table_feeds(self, rows) -> dict[str, np.ndarray]:
        rows = np.asarray(rows, dtype=object)
        feeds = {}
        for position, column in enumerate(self.model.columns):
            values = rows[:, position]
            try:
                feeds[column] = values.astype(TABLE_TYPES[self.column_types[column]]).reshape(-1, 1)
            except ValueError as error:
                raise ValueError(f"column `{column}`: {error}") from None
        return feeds

    def _shape_fits(self, shape: list) -> bool:
        if self.model.input_kind == "image":
            declared = self.model.image.shape
            return len(shape) == len(declared) + 1 and all(not isinstance(d, int) or d == e for d, e in zip(shape[1:], declared))
        return len(shape) in ((1, 2) if self.model.input_kind == "text" else (2,))

    def _score_output(self) -> str:
        outputs = self.session.get_outputs()
        tensors = [o for o in outputs if o.type in ("tensor(float)", "tensor(double)", "tensor(float16)")]
        named = VALUE_OUTPUT_NAMES if self.model.output_kind == "value" else PROBABILITY_OUTPUT_NAMES
        for output in tensors:
            if output.name.lower() in named:
                return output.name
        fitting = [o for o in tensors if _fits(o.shape, len(self.labels))]
        if fitting:
            return fitting[0].name
        found = ", ".join(f"{o.name}: {o.type}" for o in outputs)
        if self.model.output_kind == "value":
            raise ModelError(f"model `{self.model.name}` declares {len(self.labels)} output value(s), but {self.model.path.name} outputs {found}", self.model.span)
        raise ModelError(
            f"model `{self.model.name}` declares {self.model.output_kind} for {len(self.labels)} labels, but {self.model.path.name} outputs {found}",
            self.model.span,
            "convert scikit-learn classifiers with options {'zipmap': False} so probabilities are a tensor",
        )

    def predict(self, inputs: Sequence, split: bool = True) -> np.ndarray:
        if self.hf_encoder is not None:
            run = lambda feeds: self.session.run([self.output_name], feeds)[0]  # noqa: E731
            scores = score_by_length(self.hf_encoder, inputs, self.token_names, len(self.labels), run, self.pool if split else None)
        else:
            scores = self._run(self._feeds(inputs), len(inputs), split)
        scores = check_scores(np.asarray(scores), len(inputs), self.labels, self.model.name)
        return softmax(scores) if self.model.output_kind == "logits" else scores

    def tensor(self, inputs):
        no_gradients(self.model)

    def forward(self, batch):
        no_gradients(self.model)

    def _run(self, feeds: dict[str, np.ndarray], rows: int, split: bool) -> np.ndarray:
        """Score the feeds. On the CPU a call with `split` (of an attack or a server; not of
        the executor, which keeps a call per core in flight itself) is split in one
        contiguous part per core, scored in parallel (ONNX Runtime releases the GIL)."""
        parts = min(self.concurrency, rows // MIN_PART_ROWS) if split else 1
        if parts < 2:
            return self.session.run([self.output_name], feeds)[0]
        return self._run_in_parts(feeds, rows, parts)

    def _run_in_parts(self, feeds: dict[str, np.ndarray], rows: int, parts: int) -> np.ndarray:
        bounds = np.linspace(0, rows, parts + 1).astype(int)
        pieces = [{name: feed[start:end] for name, feed in feeds.items()} for start, end in zip(bounds, bounds[1:])]
        scored = self.pool.map(lambda piece: self.session.run([self.output_name], piece)[0], pieces)
        return np.concatenate(list(scored))

    def _feeds(self, inputs: Sequence) -> dict[str, np.ndarray]:
        """The session's inputs for a batch of the declared kind."""
        if self.model.input_kind == "table":
            return self._table_feeds(inputs)
        if self.encode is not None:
            batch = self.encode(inputs)
        elif self.model.input_kind == "image":
            batch = np.ascontiguousarray(inputs, dtype=np.float32)
        else:
            batch = np.asarray(inputs if isinstance(inputs, list) else list(inputs), dtype=object)
            if len(self.input_shape) == 2:
                batch = batch.reshape(-1, 1)
        return {self.input_name: batch}


def _fits(shape, width: int) -> bool:
    """A [batch, width] output, the width fixed to `width` or left symbolic; [batch] for one value."""
    if shape and len(shape) == 1:
        return width == 1
    return bool(shape) and len(shape) == 2 and (shape[1] == width or not isinstance(shape[1], int))


register(
    Backend(
        format="onnx",
        suffixes=(".onnx",),
        gradients=False,
        local=True,
        devices=("cpu", "cuda"),
        cacheable=True,
        distributions=("onnxruntime", "onnxruntime-gpu"),
        load=lambda model, device, allow_python: OnnxRunner(model, device),
        default_device=default_device,
    )
)
