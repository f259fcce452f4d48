"""Python callables as models: `python "package.module:function"`.

The function takes a list of inputs (texts) and returns one row of scores per input,
probabilities or logits as declared. Importing it runs the user's code, so the command
line refuses it unless the run passes `--allow-python`. The spec's folder is put on the
import path, so a module beside the spec can be named directly.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from mlspec.errors import ModelError, first_line
from mlspec.model import ModelInfo
from runners.base import check_scores, no_gradients, softmax
from runners.registry import Backend, register


class PythonRunner:
    gradients = False
    device = "cpu"
    concurrency = 1  # the user's function is not known to be thread-safe
    split_failed_batches = True

    def __init__(self, model: ModelInfo, allowed: bool):
        if not allowed:
            raise ModelError(
                f"model `{model.name}` is Python code ({model.target}); running it imports and runs that code",
                model.span,
                "pass --allow-python to allow it",
            )
        self.model = model
        self.labels = model.labels
        self.function = self._import()

    def _import(self):
        module_name, function_name = self.model.target.split(":")
        spec_dir = str(Path(self.model.span.file).resolve().parent)
        if spec_dir not in sys.path:
            sys.path.insert(0, spec_dir)
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # an import runs arbitrary code: any failure is the reason
            raise ModelError(f"model `{self.model.name}`: cannot import {module_name}: {first_line(error)}", self.model.span) from None
        function = getattr(module, function_name, None)
        if not callable(function):
            raise ModelError(f"model `{self.model.name}`: {module_name} has no function `{function_name}`", self.model.span)
        return function

    def predict(self, inputs: Sequence, split: bool = True) -> np.ndarray:
        """One call of the function with the whole batch (`split` changes nothing)."""
        scores = np.asarray(self.function(list(inputs)), dtype=np.float64)
        scores = check_scores(scores, len(inputs), self.labels, self.model.name)
        return softmax(scores) if self.model.output_kind == "logits" else scores

    def tensor(self, inputs):
        no_gradients(self.model)

    def forward(self, batch):
        no_gradients(self.model)


# Never cached: the code may change without any file the cache could hash.
register(
    Backend(
        format="python",
        suffixes=(),
        gradients=False,
        local=False,
        devices=("cpu",),
        cacheable=False,
        distributions=(),
        load=lambda model, device, allow_python: PythonRunner(model, allow_python),
        default_device=lambda: "cpu",
    )
)
