"""PyTorch back end: TorchScript (`.pt`) and `torch.export` programs (`.pt2`).

What loading a model file runs, and what it does not:

- TorchScript archives load with `torch.jit.load`: TorchScript's own unpickler (it builds
  tensors and the archive's TorchScript classes only, never Python objects) and the
  archive's TorchScript code, which runs in TorchScript's interpreter, not as Python.
- `torch.export` archives are checked first by `runners.pt2_archive` and refused, with a
  ModelError saying what they hold, when loading them would run code they carry: pickled
  weights, constants or sample inputs (`torch.export.load` unpickles those with
  `weights_only=False`), compiled AOTInductor libraries, guard code, shape expressions
  that are not plain sympy arithmetic, call targets outside torch's operators. The
  checked bytes (not the file again) then go to `torch.export.load`.
- Nothing here calls `torch.load` with `weights_only=False` or `pickle`.

A model's operators run when it scores, as with any model. Runs on CUDA when asked
(`--device cuda`) or when `auto` finds a GPU, else on the CPU. Scores batches without
autograd; attacks get the differentiable module through `forward`, which returns logits
(or the model's probabilities, as declared).
"""
from __future__ import annotations

import inspect
import io
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mlspec.errors import ModelError, first_line
from mlspec.model import ModelInfo
from runners.base import check_scores, cuda_driver, model_file, softmax
from runners.hf_tokenizer import TOKEN_INPUTS, HfEncoder, score_by_length
from runners.registry import Backend, register
from runners.tokenizer import Encoder

if TYPE_CHECKING:  # torch is imported when a PyTorch model is loaded, not before
    import torch


def torch_device(requested: str):
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for, but PyTorch sees no CUDA device")
    use_cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def default_device() -> str:
    """What `--device auto` gives: cpu without a CUDA driver (decided without importing
    torch), else cuda when PyTorch sees a CUDA device."""
    if not cuda_driver():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchRunner:
    gradients = True
    concurrency = 1  # one call at a time: PyTorch's own threads (or the GPU) use the cores
    split_failed_batches = True

    def __init__(self, model: ModelInfo, device: str = "auto"):
        import torch

        self.torch = torch
        self.model = model
        self.labels = model.labels
        self.path = model_file(model)
        self.torch_device = torch_device(device)
        self.device = self.torch_device.type
        self.module = self._load()
        self.encode = Encoder(model.tokenizer) if model.tokenizer else None
        self.hf_encoder = HfEncoder(model) if model.hf_tokenizer else None
        self.order = self._by_token_length if self.hf_encoder else None
        self.token_names = self._token_arguments() if self.hf_encoder else []
        if model.input_kind == "text":
            raise ModelError(
                f"model `{model.name}` is a PyTorch model declared `input text`; PyTorch models take tensors",
                model.span,
                "declare `input tokens vocabulary \"...\"` for a model over token ids, or `input image ...`",
            )
        self._probe()

    def _load(self):
        from runners.pt2_archive import UnsafeArchive, checked_archive  # zipfile and all: only for a torch model

        torch = self.torch
        path = self.path
        try:
            if path.suffix.lower() == ".pt2":
                module = torch.export.load(io.BytesIO(checked_archive(path))).module()
                module.to(self.torch_device)
            else:
                module = torch.jit.load(str(path), map_location=self.torch_device)
                module.eval()
        except UnsafeArchive as error:
            raise ModelError(
                f"model `{self.model.name}`: {path.name} is refused: {error}; mlspec does not unpickle model files or run code they carry",
                self.model.span,
                "re-save the model with torch.export.save from a module whose weights are plain tensors (they are then stored as raw bytes), or as TorchScript (.pt) or ONNX",
            ) from None
        except Exception as error:  # torch raises several types for unreadable archives
            raise ModelError(
                f"model `{self.model.name}`: {path.name} could not be loaded as a TorchScript or torch.export program: {first_line(error)}",
                self.model.span,
                "save models with torch.jit.save (.pt) or torch.export.save (.pt2)",
            ) from None
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        return module

    def _token_arguments(self) -> list[str]:
        """The tokenizer outputs the program's forward takes, by name: input_ids, and any of
        attention_mask and token_type_ids; no others."""
        try:
            names = [argument.name for argument in self.module.forward.schema.arguments[1:]]  # TorchScript
        except AttributeError:  # a torch.export program's module
            names = list(inspect.signature(self.module.forward).parameters)
        if "input_ids" not in names or any(name not in TOKEN_INPUTS for name in names):
            raise ModelError(
                f"model `{self.model.name}` is declared `input tokenizer`, but {self.path.name}'s forward takes ({', '.join(names)})",
                self.model.span,
                "a tokenizer's model takes input_ids and any of attention_mask, token_type_ids, by those names",
            )
        return names

    def _by_token_length(self, inputs: Sequence) -> np.ndarray:
        """Texts by token length, for a tokenizer's model (`order`): few lengths a batch."""
        return np.argsort(self.hf_encoder.lengths(inputs), kind="stable")

    def _token_scores(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        output = self.module(**{name: torch.from_numpy(array).to(self.torch_device) for name, array in feeds.items()})
        if isinstance(output, (tuple, list)):
            output = output[0]
        elif isinstance(output, dict):
            output = output["logits"]
        return output.float().cpu().numpy()

    def _probe(self) -> None:
        """Run one input of the declared kind, so a model that does not fit is reported at load time."""
        probe = np.full((1, *self.model.image.shape), self.model.image.low, dtype=np.float32) if self.model.image else [""]
        try:
            self.predict(probe)
        except Exception as error:  # the model's own error message is the reason
            raise ModelError(
                f"model `{self.model.name}` does not take its declared input ({self._declared_input()}): {first_line(error)}",
                self.model.span,
            ) from None

    def _declared_input(self) -> str:
        if self.model.image:
            return f"float32 images of shape [batch, {', '.join(map(str, self.model.image.shape))}]"
        if self.hf_encoder:
            return ", ".join(self.token_names) + ": int64 [batch, length]"
        return "int64 token ids [batch, length]"

    def tensor(self, inputs) -> "torch.Tensor":
        torch = self.torch
        if self.encode is not None:
            return torch.from_numpy(self.encode(inputs)).to(self.torch_device)
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.torch_device)

    def forward(self, batch: "torch.Tensor") -> "torch.Tensor":
        """The model's raw output (logits or probabilities), differentiable."""
        return self.module(batch)

    def predict(self, inputs: Sequence, split: bool = True) -> np.ndarray:
        """Scores of the batch, in one call (`split` changes nothing: PyTorch's own threads use the cores)."""
        with self.torch.inference_mode():
            if self.hf_encoder is not None:
                scores = score_by_length(self.hf_encoder, inputs, self.token_names, len(self.labels), self._token_scores)
            else:
                scores = self.module(self.tensor(inputs)).float().cpu().numpy()
        scores = check_scores(scores, len(inputs), self.labels, self.model.name)
        return softmax(scores) if self.model.output_kind == "logits" else scores


register(
    Backend(
        format="torch",
        suffixes=(".pt", ".pt2", ".ts"),
        gradients=True,
        local=True,
        devices=("cpu", "cuda"),
        cacheable=True,
        distributions=("torch",),
        load=lambda model, device, allow_python: TorchRunner(model, device),
        default_device=default_device,
    )
)
