"""Comparing a run with a saved one (`mlspec run ... --baseline results.json`).

A model iteration is judged against the last accepted one: each test of the new run is
matched by id with the same test in a JSON results file written by `--json`, and gets
that test's status and figures as `baseline`. Reporters show both side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlspec.errors import UsageError
from mlspec.results import RunResult


def load_baseline(path: str | Path) -> dict[str, dict]:
    """Test id -> {"status": ..., **metrics} from a results file written by `--json`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        tests = [test for spec in data["specs"] for test in spec["tests"]]
        return {test["id"]: {"status": test["status"], **test.get("metrics", {})} for test in tests}
    except FileNotFoundError:
        raise UsageError(f"--baseline: no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"--baseline: {path} is a directory; name a results file written by `mlspec run --json`") from None
    except OSError as error:
        raise UsageError(f"--baseline: cannot read {path}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError, RecursionError) as error:  # JSON, UTF-8 and NUL errors are ValueErrors
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise UsageError(f"--baseline: {path!s} is not a results file written by `mlspec run --json` ({reason})") from None


def with_baseline(result: RunResult, baseline: dict[str, dict]) -> RunResult:
    """A copy of `result` whose tests carry their baseline figures (tests new since then carry none)."""
    specs = [
        spec.model_copy(update={"tests": [test.model_copy(update={"baseline": baseline.get(test.id)}) for test in spec.tests]})
        for spec in result.specs
    ]
    return result.model_copy(update={"specs": specs})
