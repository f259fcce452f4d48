"""pytest plugin: `pytest specs/` runs .mlspec files as pytest tests.

Each mlspec test becomes a pytest item with the test's id,
`<path>::<capability>::<title>` (with ` [model]` for a test on several models), so
teams that already run pytest get mlspec results in their usual output, `-k`, `-x`,
`--lf` and `--junitxml`. Registered as the `mlspec` plugin (entry point `pytest11`);
turn it off with `-p no:mlspec`.

- A spec runs once per file: the setup of the first of its items to run scores every
  input of the whole file in one batched `run_plan`; each item then reports its own
  result. PASS passes; FAIL fails (in the call phase) with the message and the first
  failing examples; ERROR (the test could not run: a broken model, a missing data file;
  or the whole spec could not run) raises in the setup phase, so pytest reports an
  error (`E`, `<error>` in JUnit) with a report starting `ERROR:`; SKIP skips with the reason.
- A failure's or error's one-line message (pytest's `reprcrash`: the `-r` summary line,
  JUnit's `message` attribute) is the first line of the test's message, as in
  `mlspec run --junit`; the report below it (the body in JUnit) is the whole text.
- JUnit XML (`--junitxml`) names a testcase as `mlspec run --junit` does: classname
  `<spec name>.<capability>`, name the test's title (with ` [model]`), so a dashboard
  keeps a test's history across the two (`--junitprefix` still prefixes the classname);
  a test's metrics are its `<properties>`. Each
  item's duration (`report.duration`, which JUnit's `time` and `--durations` add up) is
  its result's `seconds`, its own share of the spec's run, so the times add up to the
  run instead of all landing on the first item.
- Node ids depend only on the spec's text, so `pytest --lf` reruns exactly the failed
  items (their file still runs as one batch).
- A spec with errors is one failing item, `<path>::check`, whose report is the
  rendered diagnostics (file:line:col, source line, caret, hint), never a traceback.
- Files without tests (model cards: a lone `model` block) collect nothing.
- Options (group "mlspec"): `--mlspec-model NAME=PATH` (repeatable, as
  `mlspec run --model`; applies to each spec that declares NAME), `--mlspec-seed N`,
  `--mlspec-device auto|cpu|cuda`, `--mlspec-allow-python`.

Installed, the plugin loads itself; with PYTEST_DISABLE_PLUGIN_AUTOLOAD, or where a
configuration passes `-p no:mlspec`, pass `-p mlspec` (not `-p mlspec.pytest_plugin`,
which would register it twice).

Limits: deselecting items (`-k`, a node id, `--lf`) still runs every test of their file,
since the file runs as one batch, but reports only the selected items; under
pytest-xdist use `--dist loadfile`, or each worker holding a file's items runs that file
again. The spec is checked and compiled at collection time, so `--collect-only` reads
its data files but runs no model. The pipeline (which imports torch) is imported only
when a .mlspec file is collected. pytest's JUnit writer words an error's message
itself: `failed on setup with "<message>"`. Under pytest-xdist a failure report travels
as text, so there JUnit's `message` is pytest's cut of the whole report, not one line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

try:  # the key under which pytest keeps its JUnit writer (what `record_xml_attribute` uses)
    from _pytest.junitxml import xml_key
except ImportError:  # pragma: no cover - a pytest without it: testcases keep pytest's names
    xml_key = None

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
    config.pluginmanager.register(JunitNames(config), "mlspec-junit-names")


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".mlspec":
        return SpecFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """An mlspec item's report: its one-line message, its duration, its JUnit names."""
    report = yield
    if isinstance(item, MlspecItem):
        item.complete(report, call)
    return report


class JunitNames:
    """Gives each mlspec testcase in pytest's JUnit XML the classname and name of `mlspec run --junit`.

    pytest derives both from the node id (path, collectors, name); this sets them as
    testcase attributes through pytest's JUnit writer, as the `record_xml_attribute`
    fixture does, and pytest keeps such attributes over its own. The names travel with
    the report (`mlspec_junit`) and are applied when it is logged, where the XML is
    written: under pytest-xdist, on the controller."""

    def __init__(self, config: pytest.Config):
        self.config = config

    @pytest.hookimpl(tryfirst=True)  # before the JUnit writer opens the testcase
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        names = getattr(report, "mlspec_junit", None)
        xml = self.config.stash.get(xml_key, None) if xml_key is not None else None
        if names and xml is not None:
            testcase = xml.node_reporter(report)
            prefix = f"{xml.prefix}." if xml.prefix else ""  # `--junitprefix`, as pytest's own classnames
            testcase.add_attribute("classname", prefix + names["classname"])
            testcase.add_attribute("name", names["name"])


class SpecFailure(Exception):
    """A failing item's report, already formatted, and its one-line message."""

    def __init__(self, report: str, message: str = ""):
        from mlspec.report import single_line_message

        super().__init__(report)
        self.report = report
        self.message = single_line_message(message) or single_line_message(report)


class SpecError(SpecFailure):
    """A test that could not run: raised in setup, so pytest reports an error, not a failure."""


@dataclass(frozen=True)
class Crash:
    """Where and why an item failed, on one line (pytest's `reprcrash`)."""

    path: str
    lineno: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}"


@dataclass(frozen=True)
class SpecRepr:
    """A failing item's longrepr: the whole report, and `reprcrash`, its one-line message."""

    text: str
    reprcrash: Crash

    def toterminal(self, tw) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


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
            self._outcome = self._run()
        results, error = self._outcome
        if error is not None:
            raise error
        return results

    def _run(self) -> tuple:
        from mlspec.errors import MlspecError, render
        from mlspec.run.executor import run_plan
        from runners import load_runner

        options = self.config.stash[OPTIONS]
        load = lambda model: load_runner(model, options.device, options.allow_python)  # noqa: E731
        try:
            return {t.id: t for t in run_plan(self.plan, load).tests}, None
        except MlspecError as error:
            report = "\n".join(render(d) for d in error.diagnostics)
            return None, SpecError("ERROR: " + report, report)
        except Exception as error:  # a bug: every item reports it, but the spec is not run again
            return None, error


class Capability(pytest.Collector):
    """A `capability "..."` block: its tests' items."""

    def __init__(self, *, tests: list[dict], **kwargs):
        super().__init__(**kwargs)
        self.tests = tests

    def collect(self):
        classname = f"{self.getparent(SpecFile).plan.spec_name}.{self.name}"  # as `mlspec run --junit`
        return [MlspecItem.from_parent(self, classname=classname, **test) for test in self.tests]


class MlspecItem(pytest.Item):
    """One mlspec test (on one model); passes, fails, errors or skips as its result says."""

    result = None  # the test's result, once its spec has run
    spec_seconds = 0.0  # the time this item's setup spent running the whole spec

    def __init__(self, *, test_id: str, line: int, classname: str, **kwargs):
        super().__init__(**kwargs)
        self.test_id = test_id
        self.line = line
        self.classname = classname

    def setup(self) -> None:
        started = time.perf_counter()
        results = self.getparent(SpecFile).results()
        self.spec_seconds = time.perf_counter() - started
        self.result = results[self.test_id]
        self.user_properties.extend(self.result.metrics.items())
        if self.result.status == "ERROR":
            raise SpecError(failure_report(self.result), self.result.message)

    def runtest(self) -> None:
        if self.result.status == "SKIP":
            skip = pytest.skip.Exception(self.result.message)
            skip._use_item_location = True  # report the spec line, not this file's
            raise skip
        if self.result.status == "FAIL":
            raise SpecFailure(failure_report(self.result), self.result.message)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SpecFailure):
            return spec_repr(self, excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.line - 1, self.test_id

    def complete(self, report: pytest.TestReport, call: pytest.CallInfo) -> None:
        """Give the report its one-line message, the test's own time and its JUnit names."""
        if call.excinfo is not None and isinstance(call.excinfo.value, SpecFailure):
            report.longrepr = spec_repr(self, call.excinfo.value)  # setup errors skip `repr_failure`
        report.mlspec_junit = {"classname": self.classname, "name": self.name}
        if self.result is not None:
            report.duration = self._duration(report)

    def _duration(self, report: pytest.TestReport) -> float:
        """The phase's time with the spec's run replaced by the test's share of it (`seconds`)."""
        if report.when == "call":
            return self.result.seconds
        if report.when == "setup":
            own = self.result.seconds if report.failed else 0.0  # an ERROR result has no call phase
            return max(report.duration - self.spec_seconds, 0.0) + own
        return report.duration


class SpecErrorItem(pytest.Item):
    """A spec that does not check: fails with its diagnostics."""

    def __init__(self, *, report: str, line: int, **kwargs):
        super().__init__(**kwargs)
        self.report = report
        self.line = line

    def runtest(self) -> None:
        raise SpecFailure(self.report)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SpecFailure):
            return spec_repr(self, excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.line - 1, f"{self.path.name}: spec errors"


def spec_repr(item: pytest.Item, failure: SpecFailure) -> SpecRepr:
    """The failure's report under its one-line message, located at the test's spec line."""
    return SpecRepr(failure.report, Crash(item.location[0], item.line, failure.message))


def failure_report(result) -> str:
    """Like the console reporter's lines under a test: message, group extremes, examples."""
    from mlspec.report import failure_text

    return failure_text(result, MAX_EXAMPLES)
