"""Texts -> the inputs a transformer takes, with a Hugging Face `tokenizers` file
(`input tokenizer "tokenizer.json"`).

The file is the JSON a `tokenizers.Tokenizer` (or a fast `transformers` tokenizer) saves:
read as data, with the `tokenizers` library itself, so a model sees exactly the tokens it
was trained on (WordPiece, BPE, Unigram, with their normalizers and special tokens). Each
text becomes `input_ids`, `attention_mask` and `token_type_ids`; a model is fed the ones it
takes, by name.

Scores must not depend on how texts are batched, and padding changes a transformer's
scores in their last bits. So a batch is scored in groups of texts of one token length,
none padded, each group of at least `MIN_GROUP_ROWS` rows (a short one is filled with
repeats of its last text, as the executor fills short batches): a text's score is the same
whatever it is scored beside. `order` gives the executor an order of its inputs by length,
so that its batches hold few lengths and few groups.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mlspec.errors import ModelError, first_line
from mlspec.model import ModelInfo

TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
PAD_TOKENS = ("[PAD]", "<pad>", "<PAD>")
MIN_GROUP_ROWS = 16


class HfEncoder:
    """A model's `tokenizers` file, loaded: encodes texts and lays them out by length."""

    def __init__(self, model: ModelInfo):
        from tokenizers import Tokenizer

        info = model.hf_tokenizer
        try:
            self.tokenizer = Tokenizer.from_str(info.json)
        except Exception as error:  # the library raises its own exception types
            raise ModelError(f"model `{model.name}`: tokenizer {info.path.name} cannot be loaded: {first_line(error)}", model.span) from None
        self.tokenizer.no_padding()  # each group is of one length: nothing to pad
        if info.max_length:
            self.tokenizer.enable_truncation(info.max_length)

    def encode(self, texts: Sequence[str]) -> list:
        return self.tokenizer.encode_batch(list(texts))

    def lengths(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.encode(texts)
        return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))

    def groups(self, encodings: list) -> list[np.ndarray]:
        """Positions of the encodings, one array for each token length."""
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        bounds = np.flatnonzero(np.diff(lengths[order])) + 1
        return np.split(order, bounds) if len(order) else []

    def feeds(self, encodings: list, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The named inputs of encodings of one length, at least MIN_GROUP_ROWS rows (repeats)."""
        rows = list(encodings) + [encodings[-1]] * max(0, MIN_GROUP_ROWS - len(encodings))
        fields = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
        return {name: np.array([getattr(e, fields[name]) for e in rows], dtype=np.int64) for name in names}


def score_by_length(encoder: HfEncoder, texts: Sequence[str], names: Sequence[str], width: int, run, pool=None) -> np.ndarray:
    """Scores of `texts` ([n, width]): `run(feeds)` on each group of one token length."""
    encodings = encoder.encode(texts)
    out = np.empty((len(texts), width), dtype=np.float64)
    groups = encoder.groups(encodings)

    def score(group: np.ndarray) -> None:
        scored = np.asarray(run(encoder.feeds([encodings[i] for i in group], names)))
        out[group] = scored[: len(group)]

    if pool is not None and len(groups) > 1:
        list(pool.map(score, groups))
    else:
        for group in groups:
            score(group)
    return out
