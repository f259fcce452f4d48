"""Template expansion: `"The {thing} was {pos_adj}."` -> concrete sentences.

A template expands to the product of its placeholders' lexicons, in a fixed order (the
last placeholder varies fastest). `{a:x}` puts "a"/"an" before the value (`{A:x}`: "A"/"An"); `{x1}` and
`{x2}` are independent draws from lexicon `x` (they may take the same value). A `sample`
picks N cases of the whole product without building it, by drawing N distinct indices
and decoding them as mixed-radix numbers, so a huge product costs only what it keeps.
Each case is one `str.join` of pre-rendered pieces (a placeholder's value with the literal
text after it), done in C by `map`; a whole product is walked by `itertools.product`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from mlspec.language.checker import Placeholder
from mlspec.library.arrays import unique_ints
from mlspec.library.articles import indefinite_article


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
    radices = [len(lexicons[lexicon]) for lexicon in keys.values()]
    chosen = dict(zip(keys, _decode(indices, radices)))
    for key, value_index in fixed.items():
        chosen[key] = np.full(len(indices), value_index, dtype=np.int64)
    if not placeholders:
        return Expansion(np.full(len(indices), text, dtype=object), chosen)
    pieces = _pieces(text, placeholders, lexicons)
    if not fixed and len(keys) == len(placeholders) and _is_whole_product(indices, radices):
        joined = list(map("".join, itertools.product(*pieces)))  # the product's own order: last varies fastest
    else:
        joined = list(map("".join, zip(*(piece[chosen[p.key]] for piece, p in zip(pieces, placeholders)))))
    texts = np.empty(len(joined), dtype=object)
    texts[:] = joined
    return Expansion(texts, chosen)


def _pieces(text: str, placeholders: tuple[Placeholder, ...], lexicons) -> list[np.ndarray]:
    """Per placeholder, its rendered values with the literal text after it (and before, for the first).

    Joining one piece of each placeholder gives a whole text, so a case costs one `join`."""
    pieces = []
    for number, placeholder in enumerate(placeholders):
        before = text[: placeholder.start] if number == 0 else ""
        following = placeholders[number + 1].start if number + 1 < len(placeholders) else len(text)
        after = text[placeholder.end : following]
        values = _rendered_values(lexicons[placeholder.lexicon], placeholder.article)
        pieces.append(np.array([before + value + after for value in values], dtype=object))
    return pieces


def _is_whole_product(indices: np.ndarray, radices: list[int]) -> bool:
    total = math.prod(radices)  # exact (an int64 product of long lexicons wraps around)
    if len(indices) != total or total == 0:
        return len(indices) == total
    return bool(indices[0] == 0 and np.all(np.diff(indices) == 1))


def sample_indices(total: int, size: int | None, rng: np.random.Generator | None) -> np.ndarray:
    """All indices of a product, or `size` distinct ones drawn with `rng`, sorted."""
    if size is None or size >= total:
        return np.arange(total, dtype=np.int64)
    if total <= 4 * size or total < 1 << 20:
        return np.sort(rng.choice(total, size=size, replace=False)).astype(np.int64)
    picked = unique_ints(rng.integers(0, total, size=size + size // 4 + 16))
    while len(picked) < size:
        picked = unique_ints(np.concatenate([picked, rng.integers(0, total, size=size)]))
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
