"""Word-level tokenization for models that take token ids (`input tokens ...`).

A text is lower-cased (when the spec says `lowercase`), split into words and single
punctuation marks (`\\w+|[^\\w\\s]`, Unicode), looked up in the vocabulary (unknown words
get the unknown token's id), cut to `max_length` and right-padded with the padding id.
This is the tokenization the demo LSTM was trained with (see specs/sentiment/DATA.md).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from mlspec.model import TokenizerInfo

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str, lowercase: bool) -> list[str]:
    return TOKEN_PATTERN.findall(text.lower() if lowercase else text)


class Encoder:
    """Texts -> int64 token ids [n, length]; `length` defaults to the tokenizer's max_length."""

    def __init__(self, tokenizer: TokenizerInfo, length: int | None = None):
        self.tokenizer = tokenizer
        self.ids = {token: i for i, token in enumerate(tokenizer.vocabulary)}
        self.length = length or tokenizer.max_length

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        rows = [self._ids(text) for text in texts]
        length = self.length or max((len(r) for r in rows), default=1) or 1
        out = np.full((len(rows), length), self.tokenizer.padding_id, dtype=np.int64)
        for i, row in enumerate(rows):
            row = row[:length]
            out[i, : len(row)] = row
        return out

    def _ids(self, text: str) -> list[int]:
        unknown = self.tokenizer.unknown_id
        return [self.ids.get(token, unknown) for token in tokenize(text, self.tokenizer.lowercase)]
