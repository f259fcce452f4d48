"""The stages in order, for one spec file: read -> parse -> check -> compile -> run.

The command line and tests call these; each stage stays usable on its own.
"""

from __future__ import annotations

from pathlib import Path

from mlspec.compile.compiler import compile_spec
from mlspec.compile.plan import Plan
from mlspec.errors import Diagnostic, MlspecError, UsageError, display_path
from mlspec.language.checker import CheckedSpec, check
from mlspec.language.parser import parse
from mlspec.results import SpecResult
from mlspec.run.executor import RunnerFactory, run_plan


def read_spec(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such spec file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory; name .mlspec files") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text (byte {error.start})") from None


def check_file(path: str | Path, model_paths: dict[str, str] | None = None, seed: int | None = None) -> CheckedSpec:
    """Parse and check one spec file; raise the errors it has."""
    shown = display_path(path)
    return check(parse(read_spec(path), shown), model_paths, seed)


def plan_file(path: str | Path, model_paths: dict[str, str] | None = None, seed: int | None = None) -> tuple[CheckedSpec, Plan]:
    checked = check_file(path, model_paths, seed)
    return checked, compile_spec(checked, display_path(path))


def run_file(
    path: str | Path, model_paths: dict[str, str] | None = None, seed: int | None = None, load: RunnerFactory | None = None
) -> SpecResult:
    """Check, compile and run one spec file."""
    _, plan = plan_file(path, model_paths, seed)
    return run_plan(plan, load)


def diagnostics_of(error: Exception) -> list[Diagnostic]:
    if isinstance(error, MlspecError):
        return error.diagnostics
    raise error
