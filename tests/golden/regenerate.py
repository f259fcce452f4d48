"""Regenerate the golden plans: every golden spec -> its plan as JSON and as text.

    python tests/golden/regenerate.py        (or `make golden`)

For each spec in `tests/golden/specs/*.mlspec`, and for the demo specs
`specs/sentiment/sentiment.mlspec` and `specs/digits/digits.mlspec`, this writes

    tests/golden/plans/<name>.plan.json   Plan.to_json(), indented, UTF-8
    tests/golden/plans/<name>.plan.txt    Plan.summary()

Plans are computed with the repository root as the current directory (whatever the
caller's is), so the paths inside them are repo-relative and the same on every machine.
`tests/test_golden.py` recomputes the plans and compares them with these files byte for
byte; after an intended change to the language or the compiler, run this and review the
diff (`git diff tests/golden/plans`) before committing it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SPECS = HERE / "specs"
PLANS = HERE / "plans"
DEMOS = [ROOT / "specs" / "sentiment" / "sentiment.mlspec", ROOT / "specs" / "digits" / "digits.mlspec"]

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def golden_specs() -> dict[str, Path]:
    """Golden name -> spec file (absolute), in a stable order."""
    specs = {path.stem: path for path in sorted(SPECS.glob("*.mlspec"))}
    for demo in DEMOS:
        if demo.stem in specs:
            raise SystemExit(f"golden spec name {demo.stem!r} clashes with a demo spec")
        specs[demo.stem] = demo
    return specs


@contextlib.contextmanager
def at_root():
    """Run with the repository root as the current directory, then restore it."""
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(previous)


def compute_plan(spec: Path, seed: int | None = None):
    """The Plan of a spec file, compiled from the repository root."""
    from mlspec.run.pipeline import plan_file

    with at_root():
        _, plan = plan_file(spec.relative_to(ROOT), seed=seed)
    return plan


def plan_json(plan) -> str:
    return json.dumps(plan.to_json(), indent=1, ensure_ascii=False) + "\n"


def plan_text(plan) -> str:
    return plan.summary() + "\n"


def golden_files(name: str) -> tuple[Path, Path]:
    return PLANS / f"{name}.plan.json", PLANS / f"{name}.plan.txt"


def render(spec: Path) -> tuple[str, str]:
    """(JSON text, summary text) of a spec's plan, exactly as the golden files hold them."""
    plan = compute_plan(spec)
    return plan_json(plan), plan_text(plan)


def main() -> int:
    PLANS.mkdir(exist_ok=True)
    specs = golden_specs()
    wanted: set[Path] = set()
    changed = 0
    for name, spec in specs.items():
        for path, text in zip(golden_files(name), render(spec)):
            wanted.add(path)
            old = path.read_text(encoding="utf-8") if path.exists() else None
            if old != text:
                path.write_text(text, encoding="utf-8")
                changed += 1
                print(f"{'updated' if old is not None else 'created'} {path.relative_to(ROOT)} ({len(text.encode()):,} bytes)")
    for stale in sorted(PLANS.glob("*.plan.*")):
        if stale not in wanted:
            stale.unlink()
            changed += 1
            print(f"removed {stale.relative_to(ROOT)} (its spec is gone)")
    print(f"{len(specs)} golden specs, {changed} file(s) changed" + ("; review with `git diff tests/golden/plans`" if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
