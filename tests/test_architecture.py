"""The one-way architecture: import contracts (import-linter) and the registries.

`pyproject.toml` states the contracts: stages import downwards only (faces -> kinds ->
run -> compile -> language -> back ends -> library -> model / results / errors), reports
read results only, back ends know only the model records and the errors. A test kind is
one module of `mlspec.kinds` plus its grammar keyword.
"""

import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from mlspec.language import parser
from mlspec.language.kinds import TestKind, all_kinds, kind, register, unregister

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is a test dependency (pip install -e '.[test]')"
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_contracts_cover_every_package():
    """A new package under mlspec/ must be placed in the layers, or nothing checks it."""
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    layers = config.split("layers = [", 1)[1].split("]", 1)[0]
    named = set(re.findall(r"mlspec\.\w+|runners", layers))
    packages = {f"mlspec.{p.name}" for p in (ROOT / "mlspec").iterdir() if (p / "__init__.py").is_file()}
    modules = {f"mlspec.{p.stem}" for p in (ROOT / "mlspec").glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= named


def grammar_test_kinds() -> set[str]:
    grammar = resources.files("grammar").joinpath("mlspec.lark").read_text(encoding="utf-8")
    rule = grammar.split("test_kind:", 1)[1].split("\non_clause", 1)[0]
    return set(re.findall(r'"(\w+)"', rule))


def test_every_grammar_kind_is_registered_and_every_registered_kind_is_in_the_grammar():
    assert grammar_test_kinds() == set(all_kinds())


def test_every_kind_names_statements_the_ast_has():
    from mlspec.language.ast import STATEMENT_KEYWORDS

    for name, registered in all_kinds().items():
        assert registered.keyword == name
        assert registered.statements <= set(STATEMENT_KEYWORDS), name
        assert registered.article in ("a", "an")


def test_the_checker_asks_the_registry(monkeypatch):
    """A kind's statements come from its module: taking one away is felt by the checker."""
    from mlspec.language.checker import check

    spec = parser.parse(
        'model m { onnx "m.onnx" input text output probabilities labels [a, b] }\n'
        'capability "C" { mft "t" { template "x" -> a max_fail_rate 0.1 } }\n',
        "x.mlspec",
    )
    mft = kind("mft")

    class Narrow(type(mft)):
        statements = mft.statements - {"max_fail_rate"}

    saved = all_kinds()
    unregister("mft")
    register(Narrow())
    try:
        with pytest.raises(Exception) as info:
            check(spec)
        assert "`max_fail_rate` is not allowed in an mft test" in str(info.value)
    finally:
        for keyword in saved:
            unregister(keyword)
        for registered in saved.values():  # in their order: hints list kinds in it
            register(registered)


def test_registering_a_second_kind_under_a_used_keyword_is_refused():
    class Impostor(TestKind):
        keyword = "mft"

    with pytest.raises(ValueError):
        register(Impostor())
