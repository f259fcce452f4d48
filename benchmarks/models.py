"""The models of the CheckList-suite benchmark, and how each side calls them.

Two ONNX models, both taking a string tensor:

- `demo`: the committed demo sentiment model (specs/sentiment/model/sentiment.onnx), a
  binary classifier ([negative, positive]). CheckList's suite wants three classes, so its
  P(positive) goes through the neutral-band wrapper of CheckList's README (`neutral_band`),
  in float64; mlspec gets the same with `neutral between 1/3 and 2/3` in its model card.
- `constant`: a near-free model built here with the `onnx` package: every row gets the
  same probabilities [0.2, 0.3, 0.5] (Shape -> Concat -> Expand, no per-row work), so a
  benchmark on it measures the harness, not the model.

`BenchModel` gives each side what it needs: an ONNX Runtime session, the three-class
probabilities CheckList scores (`probs3`), and the mlspec model card text (`card`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from runners.onnx_runner import PROBABILITY_OUTPUT_NAMES  # after the path fix

DEMO_ONNX = REPO / "specs" / "sentiment" / "model" / "sentiment.onnx"
CONSTANT_PROBS = (0.2, 0.3, 0.5)
MARGIN_NEUTRAL = 1 / 3


def session(path: str | Path, threads: int = 0) -> ort.InferenceSession:
    """A CPU session; `threads` is intra_op_num_threads (0: ONNX Runtime's default)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def probability_output(sess: ort.InferenceSession) -> str:
    """The probability output's name, found the way runners/onnx_runner.py finds it."""
    for output in sess.get_outputs():
        if output.name.lower() in PROBABILITY_OUTPUT_NAMES:
            return output.name
    raise ValueError(f"no probability output among {[o.name for o in sess.get_outputs()]}")


def text_batch(sess: ort.InferenceSession, texts) -> np.ndarray:
    """Strings as the session's string input wants them: [N] or [N, 1] of objects."""
    batch = np.asarray(list(texts), dtype=object)
    return batch.reshape(-1, 1) if len(sess.get_inputs()[0].shape) == 2 else batch


def neutral_band(p_positive: np.ndarray) -> np.ndarray:
    """CheckList README's wrapper of a binary model, in float64: [n] P(positive) ->
    [n, 3] probabilities of [negative, neutral, positive]. Below 1/3 or above 2/3:
    [1 - p, 0, p]; inside, neutral = 1 - 3|p - 0.5| and the rest goes to the side of 0.5
    that p is on. (At exactly 1/3 or 2/3 the README's code leaves a row of zeros; kept.)"""
    p = np.asarray(p_positive, dtype=np.float64)
    half = MARGIN_NEUTRAL / 2.0
    neutral = 1 - np.abs(p - 0.5) / MARGIN_NEUTRAL
    outside = (p < 0.5 - half) | (p > 0.5 + half)
    upper = (p >= 0.5) & (p < 0.5 + half)
    lower = (p < 0.5) & (p > 0.5 - half)
    return np.stack(
        [
            np.select([outside, lower], [1 - p, 1 - neutral], 0.0),
            np.select([upper | lower], [neutral], 0.0),
            np.select([outside, upper], [p, 1 - neutral], 0.0),
        ],
        axis=1,
    )


def build_constant_model(path: str | Path, probs=CONSTANT_PROBS) -> Path:
    """Write the constant model: input `text` string [N], output `probabilities`
    float32 [N, len(probs)], every row `probs`. Returns the path."""
    import onnx
    from onnx import TensorProto, helper

    row = np.asarray([probs], dtype=np.float32)
    nodes = [
        helper.make_node("Shape", ["text"], ["n"]),
        helper.make_node("Concat", ["n", "width"], ["shape"], axis=0),
        helper.make_node("Expand", ["row", "shape"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant_probabilities",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", row.shape[1]])],
        initializer=[
            helper.make_tensor("width", TensorProto.INT64, [1], [row.shape[1]]),
            helper.make_tensor("row", TensorProto.FLOAT, list(row.shape), row.ravel().tolist()),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="mlspec-benchmarks",
    )
    model.ir_version = 8  # readable by any onnxruntime >= 1.10
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    onnx.save(model, str(path))
    return path


@dataclass
class BenchModel:
    """A benchmark model: its ONNX file, its labels and whether it gets the neutral band."""

    name: str
    path: Path
    labels: tuple[str, ...]
    band: bool
    max_batch: int | None = None  # largest batch worth trying in one call (memory)

    def probs3(self, sess: ort.InferenceSession, texts, batch: int | None = None) -> np.ndarray:
        """[N, 3] probabilities of [negative, neutral, positive] for CheckList, scored
        `batch` texts a call (None: all in one call)."""
        texts = list(texts)
        size = batch or max(len(texts), 1)
        output, name = probability_output(sess), sess.get_inputs()[0].name
        chunks = [sess.run([output], {name: text_batch(sess, texts[i : i + size])})[0] for i in range(0, len(texts), size)]
        scores = np.concatenate(chunks) if chunks else np.zeros((0, len(self.labels)), np.float32)
        return neutral_band(scores[:, 1]) if self.band else scores

    def card(self) -> str:
        """The mlspec model card (`--model sentiment=CARD`) declaring this model."""
        lines = [
            "model sentiment {",
            f'  onnx "{self.path.resolve()}"',
            "  input text",
            f"  output probabilities labels [{', '.join(self.labels)}]",
        ]
        if self.band:
            lines.append("  neutral between 1/3 and 2/3")
        return "\n".join(lines + ["}", ""])


def bench_model(name: str, workdir: str | Path) -> BenchModel:
    """`demo` or `constant`; the constant model is built into `workdir`."""
    if name == "demo":
        # TF-IDF over 28,058 n-grams, dense: ~112 KB a row in each intermediate tensor,
        # so all 164,771 inputs in one call would need ~18 GB per tensor.
        return BenchModel("demo", DEMO_ONNX, ("negative", "positive"), band=True, max_batch=8192)
    if name == "constant":
        path = build_constant_model(Path(workdir) / "constant.onnx")
        return BenchModel("constant", path, ("negative", "neutral", "positive"), band=False)
    raise ValueError(f"unknown model {name!r}: demo or constant")
