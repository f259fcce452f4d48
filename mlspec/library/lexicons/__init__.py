"""Word lists for templates and swaps: the built-in lexicons and lexicon files.

The built-in lists first_name, male, female (first names by gender), last_name, city,
country, nationality, religion, religion_adj and sexual_adj are CheckList's,
MIT-licensed: see `LICENSE-checklist` beside this file; race and gender (identity terms)
are mlspec's own. A spec's own `lexicon` of the same name wins.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def builtin_lexicons() -> dict[str, tuple[str, ...]]:
    """Every built-in lexicon by name."""
    raw = json.loads(resources.files(__name__).joinpath("builtin.json").read_text(encoding="utf-8"))
    # CheckList's lists repeat a few values ("Dominican" for two countries): keep each once.
    return {name: tuple(dict.fromkeys(values)) for name, values in raw.items() if not name.startswith("_")}


def lexicon_values(text: str) -> list[str]:
    """A lexicon file's values: one a line; blank lines and lines starting with `#` are skipped."""
    lines = text.splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
