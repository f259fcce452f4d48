"""Helpers tests share: writing test blocks, reading located diagnostics, comparing
results apart from their times."""

from __future__ import annotations


def block(kind: str, title: str, source: str, *lines: str) -> str:
    return f'  {kind} "{title}" {{\n    from {source}\n' + "".join(f"    {line}\n" for line in lines) + "  }\n"


def located(rendered: str, path: str, source: str, message: str, needle: str, after: str = "", hint: str | None = None) -> None:
    """`rendered` holds this diagnostic: `path:line:col: error: message` at `needle` (first
    occurrence at or after `after`), the source line, a caret under the needle, the hint."""
    start = source.index(after) if after else 0
    index = source.index(needle, start)
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    head = f"{path}:{line}:{col}: error: {message}"
    lines = rendered.splitlines()
    assert head in lines, f"no\n  {head}\nin\n{rendered}"
    at = lines.index(head)
    assert lines[at + 1] == f"{line:>5} | {source.split(chr(10))[line - 1].rstrip()}"
    assert lines[at + 2] == " " * 5 + " | " + " " * (col - 1) + "^" * len(needle)
    if hint is None:
        assert at + 3 == len(lines) or not lines[at + 3].startswith("hint:"), lines[at + 3]
    else:
        assert lines[at + 3] == f"hint: {hint}"
    assert "Traceback" not in rendered


def without_times(value):
    """Results as data (a `model_dump` or JSON) without their `seconds` fields and the note of
    where the plan came from (compiled, or read from the plan cache, and how fast): what two
    runs of the same spec, model and seed must agree on."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k != "seconds" and not (k == "notes" and isinstance(v, list))} | (
            {"notes": [note for note in value["notes"] if not str(note).startswith("plan: ")]} if isinstance(value.get("notes"), list) else {}
        )
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value
