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
    assert list((tmp_path / "plans").glob("*.npz"))  # the second run read its plan from the cache
