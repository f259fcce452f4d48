"""Combining the JSON results of several runs into one (`mlspec merge`).

Shard jobs (`mlspec run --shard I/N --json shard-I.json`) each report every spec file
of the run, with only their own tests. Merging reads each file back into a `RunResult`
(the models of `mlspec.results`, so nothing a reporter shows is lost), joins the
results of the same spec file (same path; its name and seed must agree), orders each
spec's tests by their line in the spec, as a run does (a test on several models keeps
its models' order), and refuses a test id that appears twice. Specs keep the order in
which they first appear. A spec's time is the sum of its shards' times; the run's time
is the longest of the runs' times (the wall time of parallel jobs).
"""

from __future__ import annotations

import json
from pathlib import Path

from mlspec.errors import UsageError
from mlspec.results import RunResult, SpecResult


def load_result(path: str | Path, option: str | None = None) -> RunResult:
    """A results file written by `mlspec run --json` (or `mlspec merge --json`); `option`
    names the command-line option that gave it, for messages."""
    where = f"{option}: " if option else ""
    try:
        return RunResult.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UsageError(f"{where}no such results file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{where}{path} is a directory; name a results file written by `mlspec run --json`") from None
    except OSError as error:
        raise UsageError(f"{where}cannot read {path}: {error.strerror or error}") from None
    except (ValueError, RecursionError) as error:  # JSON, UTF-8, NUL in the path and pydantic's ValidationError
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise UsageError(f"{where}{path} is not a results file written by `mlspec run --json` ({reason})") from None


def merge_results(results: list[RunResult], names: list[str] | None = None) -> RunResult:
    """One result holding every spec and test of `results` (`names`: their files, for messages)."""
    names = names or [f"result {number}" for number in range(1, len(results) + 1)]
    specs: dict[str, list[tuple[SpecResult, str]]] = {}
    for result, name in zip(results, names, strict=True):
        for spec in result.specs:
            specs.setdefault(spec.path, []).append((spec, name))
    _refuse_duplicates(specs)
    merged = [_merge_spec(parts) for parts in specs.values()]
    return RunResult(specs=merged, seconds=max((r.seconds for r in results), default=0.0))


def _merge_spec(parts: list[tuple[SpecResult, str]]) -> SpecResult:
    first, first_name = parts[0]
    for spec, name in parts[1:]:
        if (spec.spec, spec.seed) != (first.spec, first.seed):
            raise UsageError(
                f"{first.path}: {first_name} holds spec {first.spec!r} seed {first.seed}, "
                f"but {name} holds spec {spec.spec!r} seed {spec.seed}; merge the results of one run"
            )
    tests = [test for spec, _ in parts for test in spec.tests]
    ordered = [test for _, test in sorted(enumerate(tests), key=lambda pair: (pair[1].line, pair[0]))]
    return first.model_copy(update={"tests": ordered, "seconds": sum(spec.seconds for spec, _ in parts)})


def _refuse_duplicates(specs: dict[str, list[tuple[SpecResult, str]]]) -> None:
    seen: dict[tuple[str, str], list[str]] = {}
    for path, parts in specs.items():
        for spec, name in parts:
            for test in spec.tests:
                seen.setdefault((path, test.id), []).append(name)
    twice = [f"`{test_id}` ({', '.join(names)})" for (_, test_id), names in seen.items() if len(names) > 1]
    if twice:
        raise UsageError(f"{'a test appears' if len(twice) == 1 else 'tests appear'} more than once: {'; '.join(twice)}")
