"""pytest plugin: `pytest specs/` runs .mlspec files as pytest tests.

Each mlspec test becomes a pytest item with the test's id,
`<path>::<capability>::<title>` (with ` [model]` for a test on several models), so
teams that already run pytest get mlspec results in their usual output, `-k`, `-x`
and `--junitxml` (a test's metrics are its `<properties>`). Registered as the `mlspec`
plugin (entry point `pytest11`); turn it off with `-p no:mlspec`.

- A spec runs once per file: the first of its items to run scores every input of the
  whole file in one batched `run_plan`; each item then reports its own result. PASS
  passes, FAIL fails with the message and the first failing examples, ERROR fails with
  a report starting `ERROR:`, SKIP skips with the reason.
- A spec with errors is one failing item, `<path>::check`, whose report is the
  rendered diagnostics (file:line:col, source line, caret, hint), never a traceback.
- Files without tests (model cards: a lone `model` block) collect nothing.
- Options (group "mlspec"): `--mlspec-model NAME=PATH` (repeatable, as
  `mlspec run --model`; applies to each spec that declares NAME), `--mlspec-seed N`,
  `--mlspec-device auto|cpu|cuda`, `--mlspec-allow-python`.

Installed, the plugin loads itself; with PYTEST_DISABLE_PLUGIN_AUTOLOAD, or where a
configuration passes `-p no:mlspec`, pass `-p mlspec` (not `-p mlspec.pytest_plugin`,
which would register it twice).

Limits: deselecting items (`-k`, a node id) still runs every test of their file, since
the file runs as one batch; under pytest-xdist use `--dist loadfile`, or each worker
holding a file's items runs that file again. The spec is checked and compiled at
collection time, so `--collect-only` reads its data files but runs no model. The
pipeline (which imports torch) is imported only when a .mlspec file is collected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Options:
    model_paths: dict[str, str]
    seed: int | None
    device: str
    allow_python: bool


OPTIONS = pytest.StashKey[Options]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlspec", "mlspec behavioural tests (.mlspec files)")
    group.addoption(
        "--mlspec-model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="use another model for NAME in each spec that declares it: a model file or a model card",
    )
    group.addoption("--mlspec-seed", type=int, metavar="N", help="seed for random choices a spec leaves unseeded")
    group.addoption("--mlspec-device", choices=["auto", "cpu", "cuda"], default="auto", help="where models run (default: auto)")
    group.addoption("--mlspec-allow-python", action="store_true", help="allow `python` models, which import and run code")


def pytest_configure(config: pytest.Config) -> None:
    paths = {}
    for pair in config.getoption("mlspec_model"):
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise pytest.UsageError(f"--mlspec-model takes NAME=PATH, not {pair!r}")
        full = config.invocation_params.dir / path
        if not full.exists():
            raise pytest.UsageError(f"--mlspec-model {name}: no such file: {path}")
        paths[name] = str(full)
    config.stash[OPTIONS] = Options(
        paths, config.getoption("mlspec_seed"), config.getoption("mlspec_device"), config.getoption("mlspec_allow_python")
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".mlspec":
        return SpecFile.from_parent(parent, path=file_path)
    return None


class SpecFailure(Exception):
    """A failing item's report, already formatted."""


class SpecFile(pytest.File):
    """One .mlspec file: its tests grouped by capability; runs the whole spec once."""

    plan = None
    _outcome: tuple | None = None  # (results by test id, None) or (None, the error every item raises)

    def collect(self):
        from mlspec.compile.compiler import compile_spec
        from mlspec.errors import MlspecError, display_path, render
        from mlspec.language.checker import check
        from mlspec.language.parser import parse
        from mlspec.language.sources import read_spec

        options = self.config.stash[OPTIONS]
        shown = display_path(self.path)
        try:
            spec = parse(read_spec(self.path), shown)
            if not any(capability.tests for capability in spec.capabilities):
                return []  # a model card, or a spec without tests
            declared = {model.name.value for model in spec.models}
            paths = {name: path for name, path in options.model_paths.items() if name in declared}
            self.plan = compile_spec(check(spec, paths, options.seed), shown)
        except MlspecError as error:
            diagnostics = error.diagnostics
            span = diagnostics[0].span
            report = "\n".join(render(d) for d in diagnostics)
            return [SpecErrorItem.from_parent(self, name="check", report=report, line=span.line if span else 1)]
        capabilities: dict[str, list[dict]] = {}
        for test in self.plan.tests:
            for model in test.models:
                suffix = f" [{model}]" if len(test.models) > 1 else ""  # as TestResult.id and .title
                item = dict(name=test.title + suffix, test_id=test.id + suffix, line=test.line)
                capabilities.setdefault(test.capability, []).append(item)
        return [Capability.from_parent(self, name=name, tests=tests) for name, tests in capabilities.items()]

    def results(self) -> dict:
        """Every test's result by id, from one run of the whole spec (cached)."""
        if self._outcome is None:
            from mlspec.errors import MlspecError, render
            from mlspec.run.executor import run_plan
            from runners import load_runner

            options = self.config.stash[OPTIONS]
            load = lambda model: load_runner(model, options.device, options.allow_python)  # noqa: E731
            try:
                self._outcome = ({t.id: t for t in run_plan(self.plan, load).tests}, None)
            except MlspecError as error:
                self._outcome = (None, SpecFailure("ERROR: " + "\n".join(render(d) for d in error.diagnostics)))
            except Exception as error:  # a bug: every item reports it, but the spec is not run again
                self._outcome = (None, error)
        results, error = self._outcome
        if error is not None:
            raise error
        return results


class Capability(pytest.Collector):
    """A `capability "..."` block: its tests' items."""

    def __init__(self, *, tests: list[dict], **kwargs):
        super().__init__(**kwargs)
        self.tests = tests

    def collect(self):
        return [MlspecItem.from_parent(self, **test) for test in self.tests]


class MlspecItem(pytest.Item):
    """One mlspec test (on one model); passes, fails or skips as its result says."""

    def __init__(self, *, test_id: str, line: int, **kwargs):
        super().__init__(**kwargs)
        self.test_id = test_id
        self.line = line

    def runtest(self) -> None:
        result = self.getparent(SpecFile).results()[self.test_id]
        self.user_properties.extend(result.metrics.items())
        if result.status == "SKIP":
            skip = pytest.skip.Exception(result.message)
            skip._use_item_location = True  # report the spec line, not this file's
            raise skip
        if result.status in ("FAIL", "ERROR"):
            raise SpecFailure(failure_report(result))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SpecFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.line - 1, self.test_id


class SpecErrorItem(pytest.Item):
    """A spec that does not check: fails with its diagnostics."""

    def __init__(self, *, report: str, line: int, **kwargs):
        super().__init__(**kwargs)
        self.report = report
        self.line = line

    def runtest(self) -> None:
        raise SpecFailure(self.report)

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, self.line - 1, f"{self.path.name}: spec errors"


def failure_report(result) -> str:
    """Like the console reporter's lines under a test: message, group extremes, examples."""
    from mlspec.report import failure_text

    return failure_text(result, MAX_EXAMPLES)
