"""Hugging Face back end: `huggingface "model/folder"`, a local `save_pretrained` folder.

The folder holds `config.json`, the weights as `model.safetensors` (a format of plain
tensors: loading it runs no code) and, unless the model block names another with `input
tokenizer`, the `tokenizer.json` its texts are encoded with (`runners.hf_tokenizer`). The
model is loaded with `transformers` on PyTorch, from the folder only: never from the
network (`local_files_only`), never with code the folder carries (`trust_remote_code` is
off) and never from pickled weights (`pytorch_model.bin` is refused). The labels the spec
declares must be the folder's `id2label`, in order. Scores are computed in groups of texts
of one token length (see `runners.hf_tokenizer`); PyTorch gives gradients, so the model
counts as a white-box model.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mlspec.errors import ModelError, display_path, first_line
from mlspec.model import ModelInfo
from runners.base import check_scores, softmax
from runners.hf_tokenizer import HfEncoder, score_by_length
from runners.registry import Backend, register
from runners.torch_runner import default_device, torch_device

WEIGHTS = "model.safetensors"
PICKLED_WEIGHTS = ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack")


class HuggingFaceRunner:
    gradients = True
    concurrency = 1  # PyTorch's own threads use the cores
    split_failed_batches = True

    def __init__(self, model: ModelInfo, device: str = "auto"):
        import torch

        self.torch = torch
        self.model = model
        self.labels = model.labels
        self.folder = _folder(model)
        self.torch_device = torch_device(device)
        self.device = self.torch_device.type
        self.network = self._load()
        self.encoder = HfEncoder(model)
        self.token_names = _token_names(self.network)

    def _load(self):
        model, folder = self.model, self.folder
        try:
            from transformers import AutoConfig, AutoModelForSequenceClassification
        except ImportError:
            raise ModelError(f"model `{model.name}`: a `huggingface` model needs the transformers package", model.span, "pip install -e '.[transformers]'") from None
        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
            _check_labels(model, config)
            network = AutoModelForSequenceClassification.from_pretrained(
                folder, config=config, local_files_only=True, trust_remote_code=False, use_safetensors=True
            )
        except ModelError:
            raise
        except Exception as error:  # transformers raises many types for a folder it cannot read
            raise ModelError(f"model `{model.name}`: {display_path(folder)} could not be loaded with transformers: {first_line(error)}", model.path_span or model.span) from None
        network.eval().to(self.torch_device)
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        return network

    def order(self, inputs: Sequence[str]) -> np.ndarray:
        """Texts by token length: batches of few lengths are scored in few groups."""
        return np.argsort(self.encoder.lengths(inputs), kind="stable")

    def predict(self, inputs: Sequence[str], split: bool = True) -> np.ndarray:
        scores = score_by_length(self.encoder, inputs, self.token_names, len(self.labels), self._logits)
        scores = check_scores(scores, len(inputs), self.labels, self.model.name)
        return softmax(scores) if self.model.output_kind == "logits" else scores

    def _logits(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            tensors = {name: torch.from_numpy(array).to(self.torch_device) for name, array in feeds.items()}
            return self.network(**tensors).logits.float().cpu().numpy()

    def tensor(self, inputs):
        raise ModelError(f"model `{self.model.name}`: gradient attacks take images; on texts use a black-box text attack", self.model.span)

    def forward(self, batch):
        raise ModelError(f"model `{self.model.name}`: gradient attacks take images; on texts use a black-box text attack", self.model.span)


def _folder(model: ModelInfo):
    """The model's folder, with its config and safetensors weights; a located error otherwise."""
    folder, where = model.path, model.path_span or model.span
    if folder is None or not folder.is_dir():
        shown = "no folder" if folder is None else f"no folder {folder.name} in {display_path(folder.parent)}"
        hint = "a local folder written by `save_pretrained`; mlspec never downloads a model (a hub id is not a folder)"
        raise ModelError(f"model `{model.name}`: {shown}", where, hint)
    for name in ("config.json", WEIGHTS):
        if not (folder / name).is_file():
            pickled = [p for p in PICKLED_WEIGHTS if (folder / p).exists()]
            hint = f"{pickled[0]} is pickled: mlspec does not load it; re-save with `save_pretrained(folder, safe_serialization=True)`" if pickled and name == WEIGHTS else None
            raise ModelError(f"model `{model.name}`: {display_path(folder)} has no {name}", where, hint)
    return folder


def _check_labels(model: ModelInfo, config) -> None:
    """The spec's labels are the folder's id2label, in order."""
    folder_labels = [config.id2label[i] for i in sorted(config.id2label)] if getattr(config, "id2label", None) else []
    if list(model.labels) != folder_labels:
        raise ModelError(
            f"model `{model.name}` declares labels [{', '.join(model.labels)}], but its config.json says [{', '.join(map(str, folder_labels))}]",
            model.span,
            "declare the folder's labels, in the order of its id2label",
        )


def _token_names(network) -> list[str]:
    """The tokenizer outputs the network's forward takes, by name."""
    import inspect

    parameters = inspect.signature(network.forward).parameters
    return [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in parameters]


register(
    Backend(
        format="huggingface",
        suffixes=(),
        gradients=True,
        local=True,
        devices=("cpu", "cuda"),
        cacheable=False,  # a folder, not a file: the prediction cache keys a model by its file
        distributions=(),
        load=lambda model, device, allow_python: HuggingFaceRunner(model, device),
        default_device=default_device,
    )
)
