"""Golden files: each spec under tests/golden/specs (and the demo spec) -> its plan.

The stored plans (`tests/golden/plans/<name>.plan.json` and `.plan.txt`) are what
`tests/golden/regenerate.py` (`make golden`) writes. These tests recompute every plan and
compare it with the stored files exactly, so any change to what a spec compiles to shows
up as a reviewable diff. Also: compiling is deterministic, and `--seed` changes only the
random choices a spec leaves unseeded.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _load_regenerate():
    spec = importlib.util.spec_from_file_location("golden_regenerate", HERE / "golden" / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden = _load_regenerate()
SPECS = golden.golden_specs()
FIX = "if the change is intended, run `make golden` (python tests/golden/regenerate.py) and review `git diff tests/golden/plans`"


@lru_cache(maxsize=None)
def rendered(name: str) -> tuple[str, str]:
    return golden.render(SPECS[name])


def _diff(stored: str, fresh: str, path: Path, limit: int = 40) -> str:
    lines = list(difflib.unified_diff(stored.splitlines(), fresh.splitlines(), f"{path.name} (stored)", f"{path.name} (now)", lineterm="", n=1))
    shown = lines[:limit] + ([f"... {len(lines) - limit} more diff lines"] if len(lines) > limit else [])
    return "\n".join(shown)


def _compare(name: str, which: int) -> None:
    path = golden.golden_files(name)[which]
    fresh = rendered(name)[which]
    shown = path.relative_to(golden.ROOT)
    if not path.exists():
        pytest.fail(f"golden file {shown} is missing; run `make golden` and review the new file", pytrace=False)
    stored = path.read_text(encoding="utf-8")
    if stored != fresh:
        pytest.fail(f"the plan of {SPECS[name].relative_to(golden.ROOT)} differs from {shown};\n{FIX}\n{_diff(stored, fresh, path)}", pytrace=False)


def test_there_are_golden_specs():
    assert len(SPECS) >= 16 and "sentiment" in SPECS
    assert SPECS["sentiment"] == golden.ROOT / "specs" / "sentiment" / "sentiment.mlspec"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_plan_json_matches_golden(name):
    _compare(name, 0)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_plan_summary_matches_golden(name):
    _compare(name, 1)


def test_no_stale_golden_files():
    wanted = {path for name in SPECS for path in golden.golden_files(name)}
    stale = sorted(p.name for p in golden.PLANS.glob("*.plan.*") if p not in wanted)
    assert not stale, f"golden plans without a spec: {stale}; {FIX}"


def test_golden_paths_are_repo_relative(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the caller's directory does not matter
    data = json.loads(golden.plan_json(golden.compute_plan(SPECS["where"])))
    assert data["path"] == "tests/golden/specs/where.mlspec"
    assert rendered("where")[0] == golden.plan_json(golden.compute_plan(SPECS["where"]))


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", ["sentiment", "perturbations", "sampling", "swap_statement"])
def test_compiling_twice_gives_identical_json(name):
    first = golden.plan_json(golden.compute_plan(SPECS[name]))
    second = golden.plan_json(golden.compute_plan(SPECS[name]))
    assert first == second
    assert first == rendered(name)[0]


# ---------------------------------------------------------------- --seed


def _by_title(plan) -> dict[str, tuple]:
    out = {}
    for test in plan.tests:
        originals = [plan.inputs[i] for i in test.inputs]
        varied = [plan.inputs[i] for i in test.variants] if test.variants is not None else None
        out[test.title] = (originals, varied)
    return out


# Demo tests that make a random choice of their own: typos, change_numbers, or a
# `variants N` subsample of many candidates. Every `sample` in the demo has a seed.
DEMO_RANDOM_VARIANTS = {
    "one typo keeps the label",
    "two typos keep the label",
    "numbers do not matter",
    "typos after a harmless prefix",
    "names do not change sentiment",
    "cities do not change sentiment",
}


def test_seed_override_changes_only_unseeded_choices():
    demo = SPECS["sentiment"]
    base = golden.compute_plan(demo)
    same = golden.compute_plan(demo, seed=1)  # the demo's own `spec ... seed 1`
    other = golden.compute_plan(demo, seed=5)
    assert base.seed == 1 and other.seed == 5 and json.loads(golden.plan_json(other))["seed"] == 5
    assert golden.plan_json(same) == golden.plan_json(base)

    before, after = _by_title(base), _by_title(other)
    assert before.keys() == after.keys() and DEMO_RANDOM_VARIANTS <= before.keys()
    for title in before:
        originals, varied = before[title]
        new_originals, new_varied = after[title]
        # every sample in the demo is `sample N seed S` (or absent): the cases stay
        assert new_originals == originals, title
        if title in DEMO_RANDOM_VARIANTS:
            assert new_varied != varied, f"{title}: its random variants should follow the seed"
            assert len(new_varied) > 0
        else:
            assert new_varied == varied, f"{title}: has no unseeded random choice"

    # e.g. `from reviews sample 500 seed 7` + typos: same 500 originals, other typos
    originals, varied = before["one typo keeps the label"]
    assert len(originals) == 500 and after["one typo keeps the label"][0] == originals
    assert sum(a != b for a, b in zip(varied, after["one typo keeps the label"][1])) > len(varied) // 2


def test_seed_override_changes_unseeded_samples():
    base = golden.compute_plan(SPECS["sampling"])
    other = golden.compute_plan(SPECS["sampling"], seed=12)
    before, after = _by_title(base), _by_title(other)
    assert after["sample without a seed uses the spec seed"] != before["sample without a seed uses the spec seed"]
    for title in ("sample over one template", "sample across templates", "sample from a huge product",
                  "sample larger than the product keeps everything"):
        assert after[title] == before[title], title


def test_demo_golden_json_size():
    """The demo plan is the one big golden file; keep an eye on it (about 2.5 MB today)."""
    size = golden.golden_files("sentiment")[0].stat().st_size
    assert size < 5_000_000, f"tests/golden/plans/sentiment.plan.json is {size:,} bytes"
