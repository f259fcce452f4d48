"""mlspec's run of the imported CheckList sentiment suite equals CheckList 0.0.11's own run.

CheckList itself scores its released suite (specs/checklist/sentiment_suite.json.gz) with
the demo model behind the README's neutral band, driven by benchmarks/checklist_reference.py
(each test's expectation rebuilt with CheckList's Expect API). mlspec imports the suite and
runs it with the demo model card. Per test, the figures must be the same: cases, cases
after filtering, failing cases and examples (variants included).

CheckList is a test dependency (`make setup` installs it); the test skips where it is
missing, and fails instead when CI is set (tests/conftest.py, `require`).
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import pytest
from conftest import require

from mlspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "specs/checklist/sentiment_suite.json.gz"
CARD = ROOT / "specs/checklist/demo_model.mlspec"
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def checklist_figures() -> dict[str, tuple[int, int, int, int]]:
    """{test name: (cases, cases after filtering, failing cases, examples)} by CheckList."""
    require("checklist")
    import checklist_reference as reference
    import models

    model = models.bench_model("demo", ROOT)
    predictor = reference.softmax_predictor(partial(model.probs3, models.session(model.path), batch=model.max_batch))
    suite = reference.build_suite(reference.load_tests(SUITE))
    suite.run(predictor, overwrite=True, verbose=False)
    return {name: _checklist_counts(test) for name, test in suite.tests.items()}


def _checklist_counts(test) -> tuple[int, int, int, int]:
    stats = test.get_stats()
    examples = sum(len(case) if isinstance(case, list) else 1 for case in test.data)
    return stats.testcases, stats.get("after_filtering", stats.testcases), stats.get("fails", 0), examples


@pytest.fixture(scope="module")
def mlspec_figures(tmp_path_factory) -> dict[str, tuple[int, int, int, int]]:
    """The same figures from mlspec's JSON report of the imported suite."""
    out = tmp_path_factory.mktemp("checklist-reference")
    assert main(["import", "checklist", str(SUITE), "-o", str(out)]) == 0
    [spec] = out.glob("*.mlspec")
    report = out / "results.json"
    assert main(["run", str(spec), "--model", f"sentiment={CARD}", "--json", str(report), "--examples", "0"]) == 1  # the model fails some tests
    tests = json.loads(report.read_text(encoding="utf-8"))["specs"][0]["tests"]
    return {t["title"]: tuple(t["metrics"].get(key) for key in ("cases", "applicable", "failures", "examples")) for t in tests}


def test_every_test_has_checklists_counts(checklist_figures, mlspec_figures):
    assert len(checklist_figures) == 38
    assert sorted(mlspec_figures) == sorted(checklist_figures)
    mismatches = {name: (theirs, mlspec_figures[name]) for name, theirs in checklist_figures.items() if mlspec_figures[name] != theirs}
    assert not mismatches, f"(cases, after filtering, fails, examples) CheckList vs mlspec: {mismatches}"


def test_the_comparison_is_not_vacuous(checklist_figures):
    """The demo model fails cases in most tests, and filtering (DIR slices) drops some."""
    assert sum(fails > 0 for _, _, fails, _ in checklist_figures.values()) >= 20
    assert any(after < cases for cases, after, _, _ in checklist_figures.values())
    assert sum(examples for *_, examples in checklist_figures.values()) == 178_578


def test_a_missing_reference_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require("mlspec_no_such_reference_library")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="test dependency and CI is set"):
        require("mlspec_no_such_reference_library")
    assert require("json") is json
