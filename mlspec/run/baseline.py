"""Comparing a run with a saved one (`mlspec run ... --baseline results.json`).

A model iteration is judged against the last accepted one: each test of the new run is
matched by id with the same test in a JSON results file written by `--json`, and gets
that test's status and figures as `baseline`. Reporters show both side by side.
"""

from __future__ import annotations

from pathlib import Path

from mlspec.results import RunResult
from mlspec.run.merge import load_result


def load_baseline(path: str | Path) -> dict[str, dict]:
    """Test id -> {"status": ..., **metrics} from a results file written by `--json`."""
    return {test.id: {"status": test.status, **test.metrics} for test in load_result(path, "--baseline").tests}


def with_baseline(result: RunResult, baseline: dict[str, dict]) -> RunResult:
    """A copy of `result` whose tests carry their baseline figures (tests new since then carry none)."""
    specs = [
        spec.model_copy(update={"tests": [test.model_copy(update={"baseline": baseline.get(test.id)}) for test in spec.tests]})
        for spec in result.specs
    ]
    return result.model_copy(update={"specs": specs})
