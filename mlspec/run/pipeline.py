"""The stages in order, for one spec file: read -> parse -> check -> compile -> run.

The command line and tests call these; each stage stays usable on its own. Every file is
read through one `Sources` object (the disk unless one is given: a git revision, memory),
confined to the spec's project and the paths `allowed` names (`--allow-path`).

The front stages (parser, checker, compiler) are imported when a spec is compiled, so a
run whose plan comes from the plan cache never loads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mlspec.errors import Diagnostic, MlspecError, display_path
from mlspec.language.sources import DiskSources, Sources, read_spec

if TYPE_CHECKING:  # `check` and `plan` run nothing: the executor is imported by `run_file`
    from mlspec.compile.plan import Plan
    from mlspec.language.checker import CheckedSpec
    from mlspec.results import SpecResult
    from mlspec.run.executor import RunnerFactory


def check_file(
    path: str | Path,
    model_paths: dict[str, str] | None = None,
    seed: int | None = None,
    sources: Sources | None = None,
    allowed: Iterable[str | Path] = (),
) -> CheckedSpec:
    """Parse and check one spec file; raise the errors it has. Files are read through
    `sources` (the disk by default); the checked spec carries it, for its data files. The
    spec reads files inside its project and the `allowed` files and folders."""
    from mlspec.language.checker import check
    from mlspec.language.parser import parse

    sources = sources if sources is not None else DiskSources()
    sources.allow(path, *allowed)  # the spec named on the command line, and what the command line allows
    text = read_spec(path, sources)  # before display_path: a path it cannot read is a usage error
    return check(parse(text, display_path(path)), model_paths, seed, sources=sources)


def plan_file(
    path: str | Path,
    model_paths: dict[str, str] | None = None,
    seed: int | None = None,
    sources: Sources | None = None,
    allowed: Iterable[str | Path] = (),
    cache_dir: str | Path | None = None,
) -> tuple[CheckedSpec | None, Plan]:
    """Check and compile one spec file. With `cache_dir` (and the disk as `sources`), an
    unchanged spec's plan comes from the plan cache there (`mlspec.run.plan_cache`), with no
    checked spec (None); a plan compiled afresh is stored there."""
    if cache_dir is not None and sources is None:
        return None, cached_plan(path, model_paths, seed, allowed, cache_dir)[0]
    from mlspec.compile.compiler import compile_spec

    checked = check_file(path, model_paths, seed, sources, allowed)
    return checked, compile_spec(checked, display_path(path))


def cached_plan(path: str | Path, model_paths: dict[str, str] | None, seed: int | None, allowed: Iterable[str | Path], cache_dir: str | Path) -> tuple[Plan, bool]:
    """The plan of one spec file from the plan cache in `cache_dir` when nothing it was built
    from changed (and True), else compiled afresh and stored there (and False)."""
    from mlspec.run import plan_cache

    allowed = tuple(allowed)
    key = plan_cache.plan_key(path, model_paths, seed, allowed)
    plan = plan_cache.load_plan(cache_dir, key, plan_cache.confined_sources(path, allowed, model_paths))
    if plan is not None:
        return plan, True
    sources = DiskSources()
    _, plan = plan_file(path, model_paths, seed, sources, allowed)
    plan_cache.store_plan(cache_dir, key, plan, sources)
    return plan, False


def run_file(
    path: str | Path,
    model_paths: dict[str, str] | None = None,
    seed: int | None = None,
    load: RunnerFactory | None = None,
    sources: Sources | None = None,
    allowed: Iterable[str | Path] = (),
) -> SpecResult:
    """Check, compile and run one spec file."""
    from mlspec.run.executor import run_plan

    _, plan = plan_file(path, model_paths, seed, sources, allowed)
    return run_plan(plan, load)


def diagnostics_of(error: Exception) -> list[Diagnostic]:
    if isinstance(error, MlspecError):
        return error.diagnostics
    raise error
