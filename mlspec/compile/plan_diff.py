"""What a spec change does to the suite: `mlspec plan FILE --against REV_OR_FILE`.

The spec is compiled twice — as it is now, and as it was at a git revision (or as
another file says) — and the two plans are compared test by test (tests are matched by
id, which does not depend on their order): tests added and removed, and for each test
present in both, cases added and removed and changes to what it checks. The old text is
compiled at the spec's own path, so relative paths resolve the same way; against a git
revision, every file it names (imports, lexicons, vocabularies, data files) is read at
that revision too (`GitSources`; one absent there is missing), against another file at
their current version. The text and JSON outputs are kept short enough for a PR comment
(a few example cases per test, and a cap on the whole).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlspec.compile.compiler import compile_spec
from mlspec.compile.plan import Plan, TestPlan
from mlspec.errors import UsageError, display_path
from mlspec.language.checker import check
from mlspec.language.parser import parse
from mlspec.language.sources import DiskSources, GitSources, Sources

EXAMPLES = 3
MAX_CHARS = 60_000


@dataclass
class TestChange:
    id: str
    status: str  # added | removed | changed
    cases_before: int = 0
    cases_after: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # checks, thresholds, errors that changed


def old_plan(path: str, against: str) -> Plan:
    """The plan of the spec as it was at a git revision (its files read at that revision
    too), or of another file compiled at the spec's path (its files read as they are now)."""
    text, sources = _old_text_and_sources(path, against)
    return plan_of_text(text, path, sources)


def old_text(path: str, against: str) -> str:
    """The spec's text at a git revision, or the text of another file."""
    return _old_text_and_sources(path, against)[0]


def _old_text_and_sources(path: str, against: str) -> tuple[str, Sources]:
    if Path(against).is_file():
        disk = DiskSources()
        return disk.read_text(against), disk
    spec = Path(path).resolve()
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=spec.parent, capture_output=True, text=True, check=True).stdout.strip()
        relative = spec.relative_to(Path(top).resolve()).as_posix()
        text = subprocess.run(["git", "show", f"{against}:{relative}"], cwd=top, capture_output=True, text=True, check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise UsageError(f"--against {against}: neither a file nor a git revision holding {display_path(path)} ({detail.strip()})") from None
    return text, GitSources(against, top)


def plan_of_text(text: str, path: str, sources: Sources | None = None) -> Plan:
    """The plan of spec `text` compiled at `path`, its files read through `sources` (the disk by default)."""
    shown = display_path(path)
    return compile_spec(check(parse(text, shown), sources=sources), shown)


def diff_plans(before: Plan, after: Plan) -> list[TestChange]:
    old = {t.id: t for t in before.tests}
    new = {t.id: t for t in after.tests}
    changes = [_added(t, after) for i, t in new.items() if i not in old]
    changes += [TestChange(t.id, "removed", cases_before=t.n_cases) for i, t in old.items() if i not in new]
    for test_id in new.keys() & old.keys():
        change = _compare(old[test_id], before, new[test_id], after)
        if change is not None:
            changes.append(change)
    order = {t.id: i for i, t in enumerate(after.tests)} | {t.id: len(after.tests) + i for i, t in enumerate(before.tests)}
    return sorted(changes, key=lambda c: order[c.id])


def _cases(test: TestPlan, plan: Plan) -> list[str]:
    """Each case as one line of text: its input, expected label and variants."""
    if test.error:
        return []
    lines = []
    bounds = None
    if test.variants is not None:
        bounds = np.searchsorted(test.variant_case, np.arange(test.n_cases + 1))
    for index in range(test.n_cases):
        line = plan.describe(test.input_table, test.inputs[index])
        if test.expected is not None and test.expected[index] >= 0:
            line += f"  -> {test.expected_labels[test.expected[index]]}"
        if bounds is not None:
            variants = [plan.describe(test.input_table, v) for v in test.variants[bounds[index] : bounds[index + 1]]]
            line += "  | " + " | ".join(variants)
        lines.append(line)
    return lines


def _added(test: TestPlan, plan: Plan) -> TestChange:
    return TestChange(test.id, "added", cases_after=test.n_cases, added=_cases(test, plan)[:EXAMPLES])


def _compare(old: TestPlan, before: Plan, new: TestPlan, after: Plan) -> TestChange | None:
    old_cases, new_cases = _cases(old, before), _cases(new, after)
    old_set, new_set = set(old_cases), set(new_cases)
    notes = []
    for what, a, b in (
        ("checks", [str(c) for c in old.checks], [str(c) for c in new.checks]),
        ("where", [str(c) for c in old.where], [str(c) for c in new.where]),
        ("max_fail_rate", old.max_fail_rate, new.max_fail_rate),
        ("models", list(old.models), list(new.models)),
        (new.kind, old.payload and old.payload.summary(), new.payload and new.payload.summary()),
        ("error", old.error, new.error),
    ):
        if a != b:
            notes.append(f"{what}: {a} -> {b}")
    added = [c for c in new_cases if c not in old_set]
    removed = [c for c in old_cases if c not in new_set]
    if not (added or removed or notes):
        return None
    change = TestChange(new.id, "changed", len(old_cases), len(new_cases), notes=notes)
    change.added, change.removed = added, removed
    return change


def render_text(changes: list[TestChange], path: str, against: str) -> str:
    if not changes:
        return f"{display_path(path)}: no change to the plan against {against}"
    counts = {s: sum(1 for c in changes if c.status == s) for s in ("added", "removed", "changed")}
    tests = "test" if counts["added"] == 1 else "tests"
    lines = [f"{display_path(path)} against {against}: {counts['added']} {tests} added, {counts['removed']} removed, {counts['changed']} changed"]
    for change in changes:
        lines.append(_change_line(change))
        lines.extend(f"    {note}" for note in change.notes)
        lines.extend(f"    + {_short(c)}" for c in change.added[:EXAMPLES])
        lines.extend(f"    - {_short(c)}" for c in change.removed[:EXAMPLES])
        more = max(len(change.added) - EXAMPLES, 0) + max(len(change.removed) - EXAMPLES, 0)
        if more:
            lines.append(f"    ... {more} more case changes")
    return _capped("\n".join(lines))


def _change_line(change: TestChange) -> str:
    if change.status == "added":
        return f"+ {change.id}: {change.cases_after} cases"
    if change.status == "removed":
        return f"- {change.id}: {change.cases_before} cases"
    return f"~ {change.id}: {change.cases_before} -> {change.cases_after} cases (+{len(change.added)} -{len(change.removed)})"


def render_json(changes: list[TestChange], path: str, against: str) -> dict:
    return {
        "spec": display_path(path),
        "against": against,
        "tests": [
            {
                "id": c.id,
                "status": c.status,
                "cases_before": c.cases_before,
                "cases_after": c.cases_after,
                "cases_added": len(c.added) if c.status == "changed" else c.cases_after,
                "cases_removed": len(c.removed) if c.status == "changed" else c.cases_before,
                "notes": c.notes,
                "examples_added": [_short(x) for x in c.added[:EXAMPLES]],
                "examples_removed": [_short(x) for x in c.removed[:EXAMPLES]],
            }
            for c in changes
        ],
    }


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _capped(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS].rsplit("\n", 1)[0]
    return cut + "\n... (cut to stay under 60 KB; run with --json for every test)"
