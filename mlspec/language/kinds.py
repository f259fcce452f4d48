"""Test kinds: the registry from a test's keyword (`mft`, `attack`, ...) to what it is.

A kind declares in one place everything the stages need to know about it: the statements
it takes, its checks, its compile step, how a run evaluates it, its shard cost and the
figures a report shows for it. Each stage calls those hooks through this registry and
knows no kind by name. The kinds themselves live in `mlspec.kinds`, one module each, and
register with `register(...)` when their module is imported; `kind()` and `all_kinds()`
import them on first use, the way plugins are loaded, so the registry stays below every
stage while the kinds may use every stage.

Adding a kind: a module in `mlspec/kinds/`, its name in `mlspec.kinds.MODULES`, and its
keyword in the grammar's `test_kind` rule (plus new statements, if it has any, in the
grammar and the AST).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the hooks' argument types, named for readers and type checkers only
    from mlspec.compile.compiler import TestCompiler
    from mlspec.compile.plan import TestPlan
    from mlspec.language.checker import TestChecker
    from mlspec.results import TestResult

ALL_TABLES = ("text", "image", "row")

_REGISTRY: dict[str, TestKind] = {}
_IMPLEMENTATIONS = "mlspec.kinds"


class TestKind:
    """The base of every kind: the hooks with their defaults. Subclasses set `keyword` and
    `statements` and override the hooks that differ."""

    __test__ = False  # not a pytest test class

    keyword: str = ""
    article: str = "a"  # "an mft test", "a dir test": how messages name the kind
    statements: frozenset[str] = frozenset()  # TestDecl fields the kind takes (besides the title and `on`)
    tables: tuple[str, ...] = ALL_TABLES  # the input tables (text, image, row) of models it can test
    needs_cases: bool = True  # templates or `from` are required (attacks and load tests say so themselves)
    calls_model: bool = False  # it calls the model itself during its evaluation (attacks, load tests)
    rated: bool = False  # a per-case failure rate: its cases and failures count in its capability's line

    # ---- check: the checked test's kind-specific rules; report problems with `checker.error`
    def uses_models(self, test) -> bool:
        """Whether the test runs on models (a data check does not; a drift test only to
        compare their predictions)."""
        return True

    def table_problem(self, table: str, takes: str) -> tuple[str, str | None] | None:
        """(message, hint) when the test's models take inputs the kind cannot test."""
        return None

    def check(self, checker: TestChecker, placeholders) -> None:
        """Kind-specific checks of one test (statements, expectations, numbers)."""

    # ---- compile
    def default_checks(self) -> tuple:
        """What a test of this kind checks when it has no `expect`."""
        return ()

    def cases(self, compiler: TestCompiler) -> dict:
        """The TestPlan fields of a test's cases (inputs, variants, expected labels, payload)."""
        raise NotImplementedError(f"kind `{self.keyword}` has no compile step")

    # ---- run
    def evaluate(self, run: Any) -> TestResult:
        """The result of one test on one model (`run` is a `mlspec.run.executor.TestRun`)."""
        raise NotImplementedError(f"kind `{self.keyword}` has no evaluation")

    def shard_cost(self, test: TestPlan) -> int:
        """A rough measure of a test's run time on one model, in inputs scored."""
        return test.n_examples

    # ---- report
    def figures(self, result: TestResult) -> str:
        """The figures a report shows on the test's line (its result's `digest`)."""
        return ""


def register(kind: TestKind) -> TestKind:
    """Register a kind under its keyword (a module of `mlspec.kinds` calls this once)."""
    if not kind.keyword:
        raise ValueError(f"{type(kind).__name__} has no keyword")
    if kind.keyword in _REGISTRY and type(_REGISTRY[kind.keyword]) is not type(kind):
        raise ValueError(f"test kind `{kind.keyword}` is registered twice")
    _REGISTRY[kind.keyword] = kind
    return kind


def unregister(keyword: str) -> None:
    """Remove a kind (for tests that register one of their own)."""
    _REGISTRY.pop(keyword, None)


def kind(keyword: str) -> TestKind:
    """The kind registered under `keyword` (every kind module is imported if none has registered it yet)."""
    if keyword not in _REGISTRY:
        _load()
    return _REGISTRY[keyword]


def all_kinds() -> dict[str, TestKind]:
    """Every registered kind, by keyword, in the order `mlspec.kinds.MODULES` lists their modules."""
    _load()
    return dict(_REGISTRY)


def kind_module(keyword: str) -> str:
    """The module defining the kind registered under `keyword` (importing it registers the kind)."""
    return type(kind(keyword)).__module__


def load_kind_modules(modules: list[str]) -> None:
    """Import these modules of `mlspec.kinds` (a cached plan's kinds), and nothing else:
    ValueError for a name that is not one of them."""
    package = importlib.import_module(_IMPLEMENTATIONS)
    known = {f"{_IMPLEMENTATIONS}.{name}" for name in package.MODULES}
    for module in modules:
        if module not in known:
            raise ValueError(f"not a module of test kinds: {module!r}")
        importlib.import_module(module)


_LOADED: list[bool] = []


def _load() -> None:
    """Import every kind module (once), then order the registry as the package lists them
    (some may have been imported on their own before, by a run from a cached plan)."""
    if _LOADED:
        return
    package = importlib.import_module(_IMPLEMENTATIONS)
    for name in package.MODULES:
        importlib.import_module(f"{_IMPLEMENTATIONS}.{name}")
    rank = {f"{_IMPLEMENTATIONS}.{name}": index for index, name in enumerate(package.MODULES)}
    ordered = sorted(_REGISTRY.items(), key=lambda item: rank.get(type(item[1]).__module__, len(rank)))
    _REGISTRY.clear()
    _REGISTRY.update(ordered)
    _LOADED.append(True)


def deferred(module: str) -> Any:
    """The module `module`, imported when one of its names is first read. The kinds read the
    AST's node types in their check and compile hooks only, so a run from a cached plan,
    which calls neither, never imports the parser's stage (lark, the AST's pydantic classes)."""
    return _Deferred(module)


class _Deferred:
    def __init__(self, module: str):
        self._module = module

    def __getattr__(self, name: str):
        return getattr(importlib.import_module(self._module), name)

    def __repr__(self) -> str:
        return f"<module {self._module}, imported on first use>"
