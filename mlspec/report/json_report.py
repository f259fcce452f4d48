"""JSON reporter: the whole RunResult as JSON, with a `summary` of counts on top.

The document is `{"summary": {"tests", "passed", "failed", "errors", "skipped", "regressed"},
**result.model_dump(mode="json")}` (`regressed`: tests worse than their baseline), indented
by one space, non-ASCII kept as is. Floats that JSON cannot carry (NaN, infinities) are
written as null, the way pydantic's own JSON serialiser does, so the file is strict
JSON; a lone surrogate in a text is written as its `\\uXXXX` escape.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from mlspec.results import RunResult

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def summary(result: RunResult) -> dict[str, int]:
    return {
        "tests": len(result.tests),
        "passed": result.count("PASS"),
        "failed": result.count("FAIL"),
        "errors": result.count("ERROR"),
        "skipped": result.count("SKIP"),
        "regressed": result.regressed,
    }


def json_report(result: RunResult) -> str:
    """The JSON text of the report, ending in a newline."""
    document = {"summary": summary(result), **_finite(result.model_dump(mode="json"))}
    text = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False)
    # A lone surrogate (possible in a model input) cannot be encoded as UTF-8; JSON's
    # own \uXXXX escape carries it, and json.load gives back the same string.
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def write_json(result: RunResult, path: str | Path) -> None:
    """Write `json_report(result)` to `path` (UTF-8), creating its folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_report(result), encoding="utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
