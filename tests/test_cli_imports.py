"""A fast start: `mlspec --version` imports nothing but the standard library, `mlspec fmt`
no machine-learning library (torch, onnxruntime), and `mlspec check --no-models` none either,
nor scipy. Each command runs in a fresh interpreter that reports the modules it imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "sentiment" / "sentiment.mlspec"
HEAVY = ("torch", "onnxruntime")

_REPORT = """
import json, sys
before = set(sys.modules)
from mlspec.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "before": sorted(before), "after": sorted(sys.modules)}))
"""


def imported_by(*argv: str) -> tuple[int, set[str], set[str]]:
    """The exit code of `mlspec ARGV...`, the modules it imported, and those loaded before it."""
    done = subprocess.run([sys.executable, "-c", _REPORT, *argv], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["code"], set(report["after"]) - set(report["before"]), set(report["before"])


def _packages(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_version_imports_only_the_standard_library():
    code, modules, _ = imported_by("--version")
    assert code == 0
    assert not _packages(modules) & set(HEAVY)
    outside = {m for m in modules if m.partition(".")[0] not in sys.stdlib_module_names and not m.startswith("_")}
    assert outside <= {"mlspec", "mlspec.cli"}, sorted(outside)


def test_fmt_check_imports_no_machine_learning_library():
    code, modules, _ = imported_by("fmt", "--check", str(SPEC))
    assert code == 0
    assert "mlspec.language.formatter" in modules
    assert not _packages(modules) & set(HEAVY), sorted(m for m in modules if m.partition(".")[0] in HEAVY)
    # Nor the stages the command line imports only for other commands.
    assert not {"mlspec.checklist_import", "mlspec.report", "mlspec.run.merge", "mlspec.run.baseline"} & modules


def test_check_without_models_imports_no_machine_learning_library():
    code, modules, _ = imported_by("check", "--no-models", str(SPEC))
    assert code == 0
    assert "mlspec.compile.compiler" in modules  # it compiled the spec
    heavy = set(HEAVY) | {"scipy"}
    assert not _packages(modules) & heavy, sorted(m for m in modules if m.partition(".")[0] in heavy)


def test_help_defaults_are_their_modules():
    """The command line keeps copies of defaults its --help shows, so as not to import their modules."""
    from mlspec import checklist_import, cli
    from mlspec.run import cache

    assert cli.DEFAULT_LABELS == checklist_import.DEFAULT_LABELS
    assert (cli.ENV_VAR, cli.DEFAULT_DIR) == (cache.ENV_VAR, cache.DEFAULT_DIR)


def test_run_of_an_onnx_spec_imports_onnxruntime_not_torch(tmp_path):
    """Torch is for torch models and image attacks: an ONNX model's run never imports it, its
    plan compiled afresh or read from the plan cache."""
    for run in range(2):
        code, modules, _ = imported_by("run", str(SPEC), "--cache-dir", str(tmp_path), "-q")
        assert code in (0, 1)  # passed or failed: it ran
        assert ("onnxruntime" in modules) == (run == 0)  # the second run's scores are all in the prediction cache
        assert "torch" not in _packages(modules), sorted(m for m in modules if m.startswith("torch"))
    assert list((tmp_path / "plans").glob("*.plan"))  # the second run read its plan from the cache


# The parser's and checker's stage: a run whose plan comes from the plan cache never needs it.
FRONT_STAGE = {"lark", "pydantic", "mlspec.language.ast", "mlspec.language.parser", "mlspec.language.checker", "mlspec.compile.compiler"}


def _front(modules: set[str]) -> list[str]:
    return sorted((modules | _packages(modules)) & FRONT_STAGE)


def test_a_run_from_the_plan_cache_imports_no_front_stage(tmp_path):
    """An unchanged spec's run reads its plan from the cache: no parser, checker, compiler,
    lark or pydantic is imported, and of the reporters only those of the reports asked for."""
    argv = ("run", str(SPEC), "--cache-dir", str(tmp_path), "-q", "--json", str(tmp_path / "results.json"))
    code, modules, _ = imported_by(*argv)
    assert code in (0, 1) and "mlspec.compile.compiler" in modules  # compiled afresh, and stored
    code, modules, _ = imported_by(*argv)
    assert code in (0, 1)
    assert not _front(modules), _front(modules)
    assert "mlspec.report.json_report" in modules
    assert not {"mlspec.report.junit", "junit_xml", "mlspec.report.html", "mlspec.report.markdown"} & modules
    # Of the kinds, only the modules of those the spec uses (mft, inv, dir, fairness, metrics).
    kinds = {m for m in modules if m.startswith("mlspec.kinds.")}
    assert {"mlspec.kinds.behavioural", "mlspec.kinds.fairness"} <= kinds
    assert not {"mlspec.kinds.attack", "mlspec.kinds.data", "mlspec.kinds.drift"} & kinds, sorted(kinds)


_LOAD_CACHED = """
import json, sys
from mlspec.run.pipeline import plan_file
before = set(sys.modules)
for spec in sys.argv[2:]:
    plan_file(spec, cache_dir=sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_every_shipped_spec_reads_its_plan_back_without_the_front_stage(tmp_path):
    """Every class a shipped spec's plan holds is defined where a run finds it without the
    front stage: a plan that could not be rebuilt would be compiled afresh, importing it."""
    from mlspec.run.pipeline import plan_file

    specs = [str(path) for path in sorted((ROOT / "specs").rglob("*.mlspec"))]
    for spec in specs:
        plan_file(spec, cache_dir=tmp_path)
    done = subprocess.run([sys.executable, "-c", _LOAD_CACHED, str(tmp_path), *specs], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    imported = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not _front(imported), _front(imported)
