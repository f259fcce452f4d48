"""Markdown summary of a run: for `$GITHUB_STEP_SUMMARY` and pull-request comments.

Layout: a headline (verdict, counts including regressions, time); per spec a table of
capability x status counts and a table of its tests (status as **FAIL**, title, kind,
figures line, baseline); then each failing, broken or regressed test in a `<details>`
block with its message and first three examples; last, when given, the text of
`mlspec plan --against REV` in a fenced block.

Model inputs, titles and messages are untrusted: in table cells and headings they are
put on one line and their Markdown and HTML characters escaped (`|`, backticks, `<`,
`*`, `[`, `@` ...); long text sits in fenced blocks whose fence is longer than any run of
backticks inside. The summary is capped at `limit` characters (default 65,536, GitHub's
limit for a comment, which also keeps it under the 1 MiB of a step summary): sections
that do not fit are left out, with a note saying so.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

from mlspec.report._text import one_line, truncate
from mlspec.report.console import baseline_figures, failure_text
from mlspec.report.junit import shown_figures
from mlspec.results import RunResult, SpecResult, Status, TestResult

PR_COMMENT_LIMIT = 65_536  # characters in a GitHub issue or pull-request comment
STEP_SUMMARY_LIMIT = 1024 * 1024  # bytes in one step's $GITHUB_STEP_SUMMARY
MAX_EXAMPLES = 3
CELL_LIMIT = 200

_STATUSES: tuple[Status, ...] = ("PASS", "FAIL", "ERROR", "SKIP")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~!@#])")
_BACKTICKS = re.compile(r"`+")

Block = str | Callable[[int], str]  # a section, or one that fits itself into a budget of characters


def write_markdown(result: RunResult, path: str | Path, plan_diff: str | None = None) -> None:
    """Write `markdown_summary(result, plan_diff)` to `path` (UTF-8), replacing what it held."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown_summary(result, plan_diff), encoding="utf-8")


def markdown_summary(result: RunResult, plan_diff: str | None = None, *, limit: int = PR_COMMENT_LIMIT) -> str:
    """The run as GitHub-flavoured Markdown, at most `limit` characters (and 1 MiB), ending in a newline."""
    blocks: list[Block] = [_headline(result)]
    for spec in result.specs:
        blocks.extend(_spec_blocks(spec))
    failing = [(spec, test) for spec in result.specs for test in spec.tests if _needs_details(test)]
    if failing:
        blocks.append("### Failing tests")
        blocks.extend(_details_block(spec, test) for spec, test in failing)
    if plan_diff is not None:
        blocks.append(lambda budget: _plan_block(plan_diff, budget))
    return _capped(blocks, min(limit, STEP_SUMMARY_LIMIT // 4))  # 4 bytes a character at most


# ---- escaping


def md_text(text: str, limit: int = CELL_LIMIT) -> str:
    """Untrusted text for a table cell or heading: one line, at most `limit` characters,
    HTML and Markdown characters escaped so it shows as typed."""
    shown = html.escape(one_line(truncate(text, limit)), quote=False)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", shown)


def html_text(text: str, limit: int = CELL_LIMIT) -> str:
    """Untrusted text inside an HTML element (a `<summary>`): one line, escaped."""
    return html.escape(one_line(truncate(text, limit))).replace("@", "&#64;")


def fenced(text: str, info: str = "") -> str:
    """`text` in a fenced code block whose fence is longer than any backtick run inside."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


# ---- sections


def _headline(result: RunResult) -> str:
    verdict = {0: "PASS", 1: "FAIL", 3: "ERROR"}.get(result.exit_code(), "FAIL")
    counts = [f"{result.count('PASS')} passed", f"{result.count('FAIL')} failed", _plural(result.count("ERROR"), "error"), f"{result.count('SKIP')} skipped"]
    if result.regressed or any(t.baseline is not None for t in result.tests):
        counts.append(f"{result.regressed} regressed")
    return f"## mlspec: **{verdict}**\n\n{', '.join(counts)} ({_plural(len(result.tests), 'test')}, {result.seconds:.1f}s)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _spec_blocks(spec: SpecResult) -> list[str]:
    heading = f"### {md_text(spec.spec)}\n\n{md_text(spec.path)}, seed {spec.seed}, {spec.seconds:.1f}s"
    return [heading, _capability_table(spec), _test_table(spec)]


def _capability_table(spec: SpecResult) -> str:
    rows = ["| capability | tests | passed | failed | errors | skipped | regressed |", "| --- | --: | --: | --: | --: | --: | --: |"]
    for capability, tests in _by_capability(spec.tests).items():
        counts = [sum(1 for t in tests if t.status == status) for status in _STATUSES]
        regressed = sum(1 for t in tests if t.regression)
        rows.append(f"| {md_text(capability)} | {len(tests)} | " + " | ".join(map(str, [*counts, regressed])) + " |")
    return "\n".join(rows)


def _test_table(spec: SpecResult) -> str:
    rows = ["| status | test | kind | figures | baseline |", "| --- | --- | --- | --- | --- |"]
    for test in spec.tests:
        cells = [_status_cell(test), md_text(test.title), md_text(test.kind), md_text(shown_figures(test)), md_text(baseline_figures(test))]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _status_cell(test: TestResult) -> str:
    return f"**{test.status}**" + (", **regressed**" if test.regression else "")


def _by_capability(tests: list[TestResult]) -> dict[str, list[TestResult]]:
    groups: dict[str, list[TestResult]] = {}
    for test in tests:
        groups.setdefault(test.capability, []).append(test)
    return groups


def _needs_details(test: TestResult) -> bool:
    return test.status in ("FAIL", "ERROR") or bool(test.regression)


def _details_block(spec: SpecResult, test: TestResult) -> str:
    where = f"{test.kind}, {test.file}:{test.line}" if test.line > 0 else test.kind
    status = test.status + (", regressed" if test.regression else "")
    summary = f"<b>{status}</b> {html_text(spec.spec)} / {html_text(test.title)} ({html_text(where)})"
    lines = [f"regressed: {one_line(test.regression)}"] if test.regression else []
    lines.append(failure_text(test, MAX_EXAMPLES))
    return f"<details><summary>{summary}</summary>\n\n{fenced(chr(10).join(lines), 'text')}\n\n</details>"


def _plan_block(plan_diff: str, budget: int) -> str:
    """`plan_diff` in a fence under a heading, its lines cut so the block fits in `budget`."""
    heading = "### What this change does to the suite (`mlspec plan`)\n\n"
    lines = [one_line(line) for line in plan_diff.rstrip("\n").splitlines()]
    text = "\n".join(lines)
    block = heading + fenced(text)
    while len(block) > budget and lines:
        lines = lines[: len(lines) * 3 // 4] if len(lines) > 4 else lines[:-1]
        text = "\n".join([*lines, f"... plan cut to {len(lines)} lines to fit"])
        block = heading + fenced(text)
    return block if len(block) <= budget else ""


# ---- the size cap


def _capped(blocks: list[Block], limit: int) -> str:
    """The blocks joined by blank lines, leaving out those past `limit` characters, with a note."""
    note_room = 200
    out: list[str] = []
    used = 0
    for index, block in enumerate(blocks):
        room = limit - used - note_room - 2
        text = block(room) if callable(block) else block
        if text and len(text) <= room:
            out.append(text)
            used += len(text) + 2
        else:
            out.append(f"_Summary cut at {limit:,} characters: {len(blocks) - index} more sections are in the JUnit, JSON and HTML reports._")
            break
    return "\n\n".join(out) + "\n"
