"""Write the keyword lists of the TextMate grammars from the language's grammar.

    python editors/generate.py          # rewrite them in both copies of the TextMate grammar
    python editors/generate.py --check  # change nothing; exit 1 when a copy is out of date

The keywords are `grammar/mlspec.lark`'s (`mlspec.language.parser.keywords()`), in four
kinds that editors highlight differently:

- declarations: the first keyword of each top-level item (`spec`, `model`, `capability`, ...);
- test kinds: the alternatives of the `test_kind` rule (`mft`, `inv`, ..., `load`);
- model formats: the alternatives of the `model_format` rule (`onnx`, `torch`, `python`) and
  the first keyword of the model's other `*_source` statements (`http`);
- every other keyword (statements, options, `not`, `in`, ...).

Only the regexes that list keywords are rewritten (the `keywords` patterns, by scope name,
and the test kinds of the `title` rule), as JSON strings in place: the rest of each file is
kept byte for byte. `editors/vscode/syntaxes/mlspec.tmLanguage.json` is a copy of
`editors/mlspec.tmLanguage.json`. The Pygments lexer (`mlspec/pygments_lexer.py`) keeps
its lists as Python tuples; `tests/test_editors.py` checks both highlighters against
`keyword_kinds()` and the test-kind and back-end registries, and that this script has
nothing left to change.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRAMMARS = (ROOT / "editors" / "mlspec.tmLanguage.json", ROOT / "editors" / "vscode" / "syntaxes" / "mlspec.tmLanguage.json")

# The TextMate scope of each kind of keyword (the `keywords` patterns are found by these).
SCOPES = {
    "declarations": "storage.type.mlspec",
    "test_kinds": "keyword.control.test.mlspec",
    "model_formats": "keyword.other.model-format.mlspec",
    "others": "keyword.other.mlspec",
}
TITLED_DECLARATIONS = ("spec", "capability")  # declarations followed by a title string


@lru_cache(maxsize=1)
def keyword_kinds() -> dict[str, tuple[str, ...]]:
    """The grammar's keywords by kind (declarations, test_kinds, model_formats, others);
    the first three in the grammar's order, the others sorted."""
    sys.path.insert(0, str(ROOT))
    from mlspec.language.parser import _lark, keywords

    lark = _lark()
    values = {t.name: t.pattern.value for t in lark.terminals if t.pattern.type == "str"}
    rules: dict[str, list[list[str]]] = {}
    for rule in lark.rules:
        rules.setdefault(rule.origin.name, []).append([symbol.name for symbol in rule.expansion])

    def first_keyword(rule: str) -> str:
        return values[rules[rule][0][0]]

    declarations = tuple(first_keyword(item) for (item,) in rules["_item"])
    test_kinds = tuple(values[terminal] for (terminal,) in rules["test_kind"])
    file_formats = tuple(values[terminal] for (terminal,) in rules["model_format"])
    model_formats = file_formats + tuple(first_keyword(stmt) for (stmt,) in rules["_model_stmt"] if stmt.endswith("_source") and stmt != "model_source")
    special = {*declarations, *test_kinds, *model_formats}
    others = tuple(word for word in keywords() if word not in special)
    return {"declarations": declarations, "test_kinds": test_kinds, "model_formats": model_formats, "others": others}


def _alternatives(words) -> str:
    return "|".join(words)


def keyword_patterns() -> dict[str, str]:
    """The `match` regex of each `keywords` pattern, by its scope name."""
    kinds = keyword_kinds()
    return {SCOPES[kind]: r"\b(?:" + _alternatives(words) + r")\b" for kind, words in kinds.items()}


def title_rule() -> dict[str, str]:
    """The `title` rule's comment and begin regex: a titled declaration or a test kind before a string."""
    kinds = keyword_kinds()["test_kinds"]
    return {
        "comment": f'spec "name", capability "Title", {_alternatives(kinds)} "title"',
        "begin": r"\b(?:(" + _alternatives(TITLED_DECLARATIONS) + r")|(" + _alternatives(kinds) + r"))\b\s*(?=" + '")',
    }


def generated(text: str) -> str:
    """The TextMate grammar `text` with its keyword regexes rewritten."""
    data = json.loads(text)
    replacements: list[tuple[str, str]] = []
    wanted = keyword_patterns()
    patterns = data["repository"]["keywords"]["patterns"]
    scopes = [pattern["name"] for pattern in patterns]
    if sorted(scopes) != sorted(wanted):
        raise SystemExit(f"the `keywords` patterns have scopes {scopes}; expected one pattern each for {sorted(wanted)}")
    replacements += [(pattern["match"], wanted[pattern["name"]]) for pattern in patterns]
    title = data["repository"]["title"]
    replacements += [(title[key], value) for key, value in title_rule().items()]
    for old, new in replacements:
        old_json, new_json = json.dumps(old), json.dumps(new)
        if text.count(old_json) != 1:
            raise SystemExit(f"cannot find {old_json} exactly once")
        text = text.replace(old_json, new_json)
    return text


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    source = GRAMMARS[0].read_text(encoding="utf-8")
    wanted = generated(source)
    for path in GRAMMARS:
        if path.read_text(encoding="utf-8") != wanted:
            stale.append(path)
            if not check:
                path.write_text(wanted, encoding="utf-8")
    verb = "out of date" if check else "rewrote"
    for path in stale:
        print(f"{verb}: {path.relative_to(ROOT)}", file=sys.stderr)
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
