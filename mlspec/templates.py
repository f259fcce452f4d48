"""Template expansion: `"The {thing} was {pos_adj}."` -> concrete sentences.

A template expands to the product of its placeholders' lexicons, in a fixed order (the
last placeholder varies fastest). `{a:x}` puts "a"/"an" before the value (`{A:x}`: "A"/"An"); `{x1}` and
`{x2}` are independent draws from lexicon `x` (they may take the same value). A `sample`
picks N cases of the whole product without building it, by drawing N distinct indices
and decoding them as mixed-radix numbers, so a huge product costs only what it keeps.
Strings are assembled column-wise with numpy object arrays rather than case by case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlspec.checker import Placeholder
from mlspec.perturbations import indefinite_article


@dataclass(frozen=True)
class Expansion:
    """The texts of one template, and the value each placeholder key took in each."""

    texts: np.ndarray  # object array of str, [n]
    choices: dict[str, np.ndarray]  # key -> index into its lexicon, [n]


def product_size(placeholders: tuple[Placeholder, ...], lexicons, fixed: frozenset[str] = frozenset()) -> int:
    """How many cases a template's product has, not counting `fixed` keys."""
    size = 1
    for key, lexicon in _keys(placeholders, fixed).items():
        size *= len(lexicons[lexicon])
    return size


def expand(
    text: str,
    placeholders: tuple[Placeholder, ...],
    lexicons,
    indices: np.ndarray,
    fixed: dict[str, int] | None = None,
) -> Expansion:
    """Texts for product `indices` of a template; `fixed` pins keys to one value index."""
    fixed = fixed or {}
    keys = _keys(placeholders, frozenset(fixed))
    choices = _decode(indices, [len(lexicons[lexicon]) for lexicon in keys.values()])
    chosen = dict(zip(keys, choices))
    for key, value_index in fixed.items():
        chosen[key] = np.full(len(indices), value_index, dtype=np.int64)
    texts = np.full(len(indices), "", dtype=object)
    position = 0
    for placeholder in placeholders:
        texts = texts + text[position : placeholder.start]
        values = _rendered_values(lexicons[placeholder.lexicon], placeholder.article)
        texts = texts + values[chosen[placeholder.key]]
        position = placeholder.end
    return Expansion(texts + text[position:], chosen)


def sample_indices(total: int, size: int | None, rng: np.random.Generator | None) -> np.ndarray:
    """All indices of a product, or `size` distinct ones drawn with `rng`, sorted."""
    if size is None or size >= total:
        return np.arange(total, dtype=np.int64)
    if total <= 4 * size or total < 1 << 20:
        return np.sort(rng.choice(total, size=size, replace=False)).astype(np.int64)
    picked = np.unique(rng.integers(0, total, size=size + size // 4 + 16))
    while len(picked) < size:
        picked = np.unique(np.concatenate([picked, rng.integers(0, total, size=size)]))
    return np.sort(rng.permutation(picked)[:size]).astype(np.int64)


def _keys(placeholders, fixed) -> dict[str, str]:
    """Distinct placeholder keys in order of first appearance -> their lexicon."""
    keys: dict[str, str] = {}
    for placeholder in placeholders:
        if placeholder.key not in fixed:
            keys.setdefault(placeholder.key, placeholder.lexicon)
    return keys


def _decode(indices: np.ndarray, radices: list[int]) -> list[np.ndarray]:
    """Mixed-radix digits of each index; the last radix varies fastest."""
    digits = []
    remaining = indices.astype(np.int64)
    for radix in reversed(radices):
        digits.append(remaining % radix)
        remaining = remaining // radix
    return digits[::-1]


def _rendered_values(values, article: str | None) -> np.ndarray:
    """The lexicon's values, each after "a"/"an" (capitalised for `{A:x}`) when asked."""
    if article is None:
        return np.array(list(values), dtype=object)
    articles = [indefinite_article(v) for v in values]
    if article == "A":
        articles = [a.capitalize() for a in articles]
    return np.array([f"{a} {v}" for a, v in zip(articles, values)], dtype=object)
