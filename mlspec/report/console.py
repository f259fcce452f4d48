"""Console reporter: a readable terminal summary of a RunResult, as a string.

Per spec a header (name, path, seed); per capability, in order of first appearance, a
line with its counts (tests, errors if any, and cases / failures / failure rate summed
over its tests judged by a failure rate, `rated`, that ran); per test one aligned line:
status, kind, title, model (only when the spec's tests ran on more than one model) and
its figures as its kind wrote them (`digest`), then with `--baseline` the same test's status and judged
figures in the saved run. A test worse than its baseline shows REGRESSED (in the colour
of FAIL) instead of its status, and the reason under it. Under a FAIL or ERROR: up to
`max_examples` failing examples, the error message, and for a fairness test its lowest
and highest groups. The last line is
`mlspec: P passed, F failed, E errors, S skipped (N tests, X.Xs)` (`1 error` in the
singular), with `, R regressed` before the parenthesis when a test regressed.

All text the reporter writes itself is ASCII; model texts, names and messages are shown
on one line with control characters escaped (`\\x1b`), so a model input can neither
break the layout nor send escape codes to the terminal. ANSI colours appear only with
`color=True`. No line ends in whitespace.
"""

from __future__ import annotations

import re

from mlspec.report._text import format_probs, one_line, truncate
from mlspec.results import (
    Example,
    Prediction,
    RunResult,
    SpecResult,
    TestResult,
    counted_cases,
    figure_label,
    figure_value,
    format_figure,
    format_judged,
    format_percent,
    judged_figures,
    whole,
)

TEXT_LIMIT = 100

REGRESSED = "REGRESSED"
_COLORS = {"PASS": "green", "FAIL": "red", "ERROR": "yellow", "SKIP": "bright_black", REGRESSED: "red"}  # rich's colour names
_STATUS_WIDTH = max(len(s) for s in ("PASS", "FAIL", "ERROR", "SKIP"))  # wider (REGRESSED) only in a run where a test regressed
_KIND_WIDTH = len("fairness")
_INDENT = "    "


def console_summary(result: RunResult, *, color: bool = False, max_examples: int = 3, verbosity: int = 0) -> str:
    """The terminal summary of `result`, ending in a newline. `verbosity` -1 lists only the
    tests that did not pass (or regressed); 1 shows the details of passing tests too."""
    lines: list[str] = []
    width = len(REGRESSED) if result.regressed else _STATUS_WIDTH
    for spec in result.specs:
        lines.extend(_spec_lines(spec, color=color, max_examples=max_examples, width=width, verbosity=verbosity))
        lines.append("")
    lines.append(final_line(result))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _needs_attention(test: TestResult) -> bool:
    return test.status in ("FAIL", "ERROR") or bool(test.regression)


def final_line(result: RunResult) -> str:
    """`mlspec: 3 passed, 1 failed, 0 errors, 0 skipped, 1 regressed (4 tests, 1.2s)`; regressed only when one did."""
    regressed = f", {result.regressed} regressed" if result.regressed else ""
    return (
        f"mlspec: {result.count('PASS')} passed, {result.count('FAIL')} failed, "
        f"{_plural(result.count('ERROR'), 'error')}, {result.count('SKIP')} skipped{regressed} "
        f"({_plural(len(result.tests), 'test')}, {result.seconds:.1f}s)"
    )


# ---- one spec


def _spec_lines(spec: SpecResult, *, color: bool, max_examples: int, width: int = _STATUS_WIDTH, verbosity: int = 0) -> list[str]:
    """The spec's lines; quiet (`verbosity` -1) keeps the capabilities and tests that need attention."""
    verbose = verbosity > 0
    lines = [f"spec {one_line(spec.spec)} ({one_line(spec.path)}, seed {spec.seed})"]
    show_model = len({t.model for t in spec.tests if t.model}) > 1  # a data check runs on no model
    title_width = max((len(one_line(t.title)) for t in spec.tests), default=0)
    model_width = max((len(one_line(t.model)) for t in spec.tests), default=0)
    for capability, tests in _by_capability(spec.tests):
        shown = tests if verbosity >= 0 else [t for t in tests if _needs_attention(t)]
        if not shown:
            continue
        lines.append(f"  {_capability_line(capability, tests)}")
        for test in shown:
            columns = [
                _status(REGRESSED if test.regression else test.status, color, width),
                f"{test.kind:<{_KIND_WIDTH}}",
                f"{one_line(test.title):<{title_width}}",
            ]
            if show_model:
                columns.append(f"{one_line(test.model):<{model_width}}")
            columns.append(one_line(test.digest) + _baseline(test))
            lines.append(_INDENT + "  ".join(columns))
            detail = " " * (len(_INDENT) + width + 2)
            if test.regression:
                lines.append(f"{detail}regressed: {one_line(test.regression)}")
            if test.status in ("FAIL", "ERROR") or verbose:
                lines.extend(detail + line for line in _details(test, max_examples, verbose))
    return lines


def _by_capability(tests: list[TestResult]) -> list[tuple[str, list[TestResult]]]:
    groups: dict[str, list[TestResult]] = {}
    for test in tests:
        groups.setdefault(test.capability, []).append(test)
    return list(groups.items())


def _capability_line(capability: str, tests: list[TestResult]) -> str:
    """`Robustness: 3 tests, 1 error, 40 cases, 2 failures (5.0%)`: the cases and failures
    of its rated tests that ran (an ERROR's cases never ran: they count in neither)."""
    rated = [t for t in tests if t.rated and t.status != "ERROR" and whole(t.metrics.get("cases")) is not None]
    errors = sum(1 for t in tests if t.status == "ERROR")
    text = f"{one_line(capability)}: {_plural(len(tests), 'test')}" + (f", {_plural(errors, 'error')}" if errors else "")
    if rated:
        cases = sum(counted_cases(t.metrics) or 0 for t in rated)
        failures = sum(whole(t.metrics.get("failures")) or 0 for t in rated)
        text += f", {_plural(cases, 'case')}, {_plural(failures, 'failure')}"
        if cases:
            text += f" ({format_percent(failures / cases)})"
    return text


def _status(status: str, color: bool, width: int = _STATUS_WIDTH) -> str:
    padded = f"{status:<{width}}"
    if not color:
        return padded
    from rich.color import ColorSystem
    from rich.style import Style

    # Colour the word only, so the padding (and alignment) stays the same.
    return Style(color=_COLORS[status]).render(status, color_system=ColorSystem.STANDARD) + padded[len(status) :]


# ---- figures on the test line


def _baseline(test: TestResult) -> str:
    """` | baseline 12.0% PASS`: the same test in the saved run, when one was given."""
    return f" | baseline {baseline_figures(test)}" if test.baseline is not None else ""


def baseline_figures(test: TestResult) -> str:
    """`12.0% PASS`, `max_gap=0.080 PASS`: the saved run's figures the test is judged by (a
    rated test's: its failure rate), then its status; "" when it was not compared."""
    if test.baseline is None:
        return ""
    figures = []
    for figure in judged_figures(test):
        value = figure_value(test.baseline, figure.name)
        if value is not None:
            shown = format_judged(value, figure.unit)
            figures.append(shown if test.rated else f"{one_line(figure_label(figure.name))}={shown}")
    return " ".join([*figures, one_line(str(test.baseline.get("status")))])


# ---- detail lines under a FAIL / ERROR


def _details(test: TestResult, max_examples: int, verbose: bool = False) -> list[str]:
    """The lines under a test: its error or message, groups, the kind's table, examples;
    `verbose` adds its checks and time (shown for every test)."""
    lines: list[str] = [f"checks: {'; '.join(map(one_line, test.checks))} ({test.seconds:.2f}s)"] if verbose else []
    if test.status == "ERROR" and test.message:
        # A rendered diagnostic: location and message, then source line, caret and hint.
        first, *rest = test.message.strip().splitlines()
        located = re.match(r"^\S+:\d+:\d+: error: ", first)  # already says it is an error
        lines.append(one_line(first) if located else f"error: {one_line(first)}")
        lines.extend(one_line(line) for line in rest)
    if test.status == "FAIL" and not test.rated:
        lines.append(one_line(test.message))
    lines.extend(group_extremes(test))
    lines.extend(one_line(line) for line in test.details)
    shown = test.examples[: max(max_examples, 0)]
    for example in shown:
        lines.extend(example_lines(example))
    hidden = len(test.examples) - len(shown)
    if hidden > 0:
        lines.append(f"... {_plural(hidden, 'more example')} in the JUnit/JSON report")
    return lines


def failure_text(test: TestResult, max_examples: int) -> str:
    """A failing or broken test on its own (pytest's report of it): its message, group
    extremes and first examples, then how many more cases failed."""
    first, *rest = test.message.strip().splitlines() or [""]
    lines = [("ERROR: " if test.status == "ERROR" else "") + one_line(first), *map(one_line, rest)]
    lines += group_extremes(test)
    lines += map(one_line, test.details)
    for example in test.examples[:max_examples]:
        lines += example_lines(example)
    failures = test.metrics.get("failures")
    hidden = (failures if isinstance(failures, int) else len(test.examples)) - min(len(test.examples), max_examples)
    if test.examples and hidden > 0:
        lines.append(f"... {hidden} more failing case{'s' if hidden > 1 else ''}")
    return "\n".join(lines)


def example_lines(example: Example) -> list[str]:
    expected = f"; expected {one_line(example.expected)}" if example.expected is not None else ""
    if example.original is None:
        return [f"- {_prediction(example.prediction)}{expected}"]
    return [
        f"- {_prediction(example.original)}{expected}",
        f"  => {_prediction(example.prediction)}",
    ]


def _prediction(pred: Prediction) -> str:
    text = one_line(truncate(pred.text, TEXT_LIMIT))
    if pred.label not in pred.probs:  # a regression model's values: the label shows them
        return f'"{text}" -> {one_line(pred.label)}'
    return f'"{text}" -> {one_line(pred.label)} ({format_probs(pred.probs, 2, top=3)})'


def group_extremes(test: TestResult) -> list[str]:
    """The groups with the highest and lowest value among those scored (over a dataset the
    value is the selection rate), then the groups with no value and those too small."""
    measured = [g for g in test.groups if g.value is not None and g.scored]
    if not measured:
        return []
    what = " selection rate" if any(g.figures for g in test.groups) else ""
    # max/min return the first of equals: ties keep the order of the result.
    high = max(measured, key=lambda g: g.value)
    low = min(measured, key=lambda g: g.value)
    lines = [
        f"highest{what}: {one_line(high.group)} = {format_figure(high.value)} ({_plural(high.count, 'case')})",
        f"lowest{what}:  {one_line(low.group)} = {format_figure(low.value)} ({_plural(low.count, 'case')})",
    ]
    empty = [one_line(g.group) for g in test.groups if g.value is None]
    if empty:
        lines.append("no value: " + ", ".join(empty))
    unscored = [one_line(g.group) for g in test.groups if not g.scored]
    if unscored:
        lines.append("too small to score: " + ", ".join(unscored))
    return lines


# ---- number formatting


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
