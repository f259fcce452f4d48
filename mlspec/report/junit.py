"""JUnit XML reporter: one `<testsuite>` per spec, one `<testcase>` per test.

Layout (DESIGN.md, "Results and reports"):

- `<testsuites time=RUN_SECONDS>`; `<testsuite name=SPEC file=SPEC_PATH time=SPEC_SECONDS>`
  with a `seed` property;
- `<testcase classname="SPEC.CAPABILITY" name=TITLE file=FILE line=LINE time=SECONDS>`,
  where SECONDS is the test's own share of the run (`test.seconds`), written even when
  tiny (`0.000738`); a suite's time is the spec's run time, not the sum of its tests;
- FAIL -> `<failure message=ONE_LINE>BODY</failure>`, ERROR -> `<error ...>`,
  SKIP -> `<skipped message=...>`; the body lists the checks, then the failing
  examples (or, for a fairness test, the group table);
- a test worse than its baseline (`regression`, from `--fail-on-regression`) is a
  `<failure>` whatever its status, so CI turns red: its message is
  `regressed: REASON`, or `FAILURE_MESSAGE; regressed: REASON` for a FAIL (an ERROR
  stays an `<error>` with the same suffix); the body starts with that reason;
- the test's metrics as `<properties>`, the first child of the testcase, with full
  precision (`repr` of floats, ints as is, None -> "undefined");
- `<system-out>`, the last child: the figures on one line as a report shows them
  (`figures_line`: the kind's digest, then ` | baseline ... STATUS` when compared).

junit-xml builds the document; its TestCase has no properties and writes no time of
zero, so properties and every `time` are set afterwards with ElementTree. Every string
is passed through `xml_safe` first, so a model input with control characters is shown
escaped (`\\x1b`) rather than dropped or producing XML that does not parse. The output
depends only on the result; the `time` attributes are the only parts that change
between runs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from mlspec.report._text import format_probs, one_line, single_line_message, xml_safe
from mlspec.report.console import baseline_figures
from mlspec.results import (
    Example,
    GroupFigure,
    Prediction,
    RunResult,
    SpecResult,
    TestResult,
    checked_figures,
    format_figure,
)

_DEFAULT_MESSAGE = {"FAIL": "test failed", "ERROR": "test could not run", "SKIP": "test skipped"}
NO_FIGURES = "no figures"


def write_junit(result: RunResult, path: str | Path) -> None:
    """Write `junit_xml(result)` to `path` (UTF-8), creating its folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(result), encoding="utf-8")


def junit_xml(result: RunResult) -> str:
    """The JUnit XML document for `result`, with its XML declaration."""
    suites = [_suite(spec) for spec in result.specs]
    root = ET.fromstring(to_xml_report_string(suites, prettyprint=False))
    for suite_elem, spec in zip(root.findall("testsuite"), result.specs, strict=True):
        _insert_properties(suite_elem, spec)
        _set_times(suite_elem, spec)
    root.set("skipped", str(result.count("SKIP")))  # junit-xml totals all but this one
    root.set("time", seconds_value(result.seconds))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def seconds_value(seconds: float) -> str:
    """A `time` attribute: seconds with six decimals, never an exponent (xs:decimal)."""
    return f"{max(seconds, 0.0):.6f}"


# ---- the figures line (also the Markdown summary's)


def figures_line(test: TestResult) -> str:
    """The test's figures on one line: `shown_figures`, then ` | baseline ... STATUS` when it
    was compared with a saved run (`cases=120 failures=14 | baseline 5.0% PASS`)."""
    parts = [shown_figures(test), baseline_text(test)]
    return " | ".join(part for part in parts if part)


def shown_figures(test: TestResult) -> str:
    """The figures a report shows for the test: its kind's digest, else the figures its
    checks name, else all its metrics; one line."""
    return one_line(test.digest) or checked_figures(test) or _all_figures(test)


def baseline_text(test: TestResult) -> str:
    """`baseline 5.0% PASS`, or "" when the test was not compared with a saved run."""
    return f"baseline {baseline_figures(test)}" if test.baseline is not None else ""


def _all_figures(test: TestResult) -> str:
    return " ".join(f"{one_line(name)}={format_figure(value)}" for name, value in test.metrics.items())


# ---- building the junit-xml objects


def _suite(spec: SpecResult) -> TestSuite:
    return TestSuite(
        xml_safe(spec.spec),
        [_case(spec, test) for test in spec.tests],
        properties={"seed": str(spec.seed)},
        file=xml_safe(spec.path) or None,
    )


def _case(spec: SpecResult, test: TestResult) -> TestCase:
    case = TestCase(
        xml_safe(test.title),
        classname=xml_safe(f"{spec.spec}.{test.capability}"),
        file=xml_safe(test.file) or None,
        line=test.line if test.line > 0 else None,
        stdout=xml_safe(figures_line(test)) or NO_FIGURES,
    )
    message = xml_safe(result_message(test))
    body = xml_safe(_body(test)) or None
    if test.status == "ERROR":
        case.add_error_info(message=message, output=body)
    elif test.status == "FAIL" or test.regression:
        case.add_failure_info(message=message, output=body)
    elif test.status == "SKIP":
        case.add_skipped_info(message=message)
    return case


def result_message(test: TestResult) -> str:
    """The one-line message of the test's failure, error or skip; a regression adds `regressed: REASON`."""
    own = single_line_message(test.message) or _DEFAULT_MESSAGE.get(test.status, "")
    if not test.regression:
        return own
    regressed = f"regressed: {one_line(test.regression.strip())}"
    return f"{own}; {regressed}" if test.status in ("FAIL", "ERROR") else regressed


def _body(test: TestResult) -> str:
    """The failure body, led by the regression reason when there is one."""
    sections = [f"regressed: {test.regression.strip()}"] if test.regression else []
    if test.regression and test.baseline is not None:
        sections.append(baseline_text(test))
    sections.append(failure_body(test))
    return "\n\n".join(section for section in sections if section)


def _insert_properties(suite_elem: ET.Element, spec: SpecResult) -> None:
    """Give each testcase element its test's metrics as the first child `<properties>`."""
    for case_elem, test in zip(suite_elem.findall("testcase"), spec.tests, strict=True):
        # junit-xml keeps the order of the cases; the name check guards that assumption.
        if case_elem.get("name") != xml_safe(test.title):
            raise RuntimeError(f"testcase order changed: {case_elem.get('name')!r} != {test.title!r}")
        figures = dict(test.metrics)
        if test.baseline:
            figures.update({f"baseline_{name}": value for name, value in test.baseline.items()})
        if not figures:
            continue
        props = ET.Element("properties")
        for name, value in figures.items():
            shown = value if isinstance(value, str) else metric_value(value)
            ET.SubElement(props, "property", {"name": xml_safe(name), "value": xml_safe(shown)})
        case_elem.insert(0, props)


def _set_times(suite_elem: ET.Element, spec: SpecResult) -> None:
    """The suite's time is the spec's run time; each testcase's its test's own, even when 0."""
    suite_elem.set("time", seconds_value(spec.seconds))
    for case_elem, test in zip(suite_elem.findall("testcase"), spec.tests, strict=True):
        case_elem.set("time", seconds_value(test.seconds))


def metric_value(value: float | int | None) -> str:
    """A metric as a property value: ints as is, floats at full precision, None -> 'undefined'."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


# ---- the failure body


def failure_body(test: TestResult) -> str:
    """The text under a failure/error: full message if multi-line, checks, then examples or groups."""
    sections: list[str] = []
    if test.status == "ERROR" and single_line_message(test.message) != test.message.strip():
        sections.append(test.message.strip())
    if test.checks:
        sections.append("checks:\n" + "\n".join(f"  {check}" for check in test.checks))
    if test.groups:
        sections.append(_group_table(test.groups))
    if test.details:
        sections.append("\n".join(test.details))
    if test.examples:
        sections.append(_examples(test))
    return "\n\n".join(sections)


def _examples(test: TestResult) -> str:
    lines = [f"failing examples ({len(test.examples)} shown):"]
    for number, example in enumerate(test.examples, start=1):
        lines.append(f"  {number}.")
        lines.extend(f"     {line}" for line in _example_lines(example))
    return "\n".join(lines)


def _example_lines(example: Example) -> list[str]:
    lines = []
    if example.expected is not None:
        lines.append(f"expected: {one_line(example.expected)}")
    if example.original is not None:
        lines.append(f"original: {_prediction(example.original)}")
        lines.append(f"variant:  {_prediction(example.prediction)}")
    else:
        lines.append(f"input:    {_prediction(example.prediction)}")
    return lines


def _prediction(pred: Prediction) -> str:
    return f"{one_line(pred.text)} -> {one_line(pred.label)} ({format_probs(pred.probs, 3)})"


def _group_table(groups: list[GroupFigure]) -> str:
    """Groups by value, highest first; empty groups (value None) last."""
    ordered = sorted(groups, key=lambda g: (g.value is None, -(g.value or 0.0)))
    names = [one_line(g.group) for g in ordered]
    width = max(len("group"), *(len(n) for n in names))
    rates = list(ordered[0].figures) if ordered and ordered[0].figures else []
    header = "".join(f"  {rate:>20}" for rate in rates) if rates else "  value"
    lines = ["groups (highest value first):", f"  {'group':<{width}}  {'count':>7}{header}"]
    for name, group in zip(names, ordered):
        figures = [group.figures.get(r) for r in rates] if rates else [group.value]
        width_each = 20 if rates else 0
        cells = "".join(f"  {'undefined' if v is None else f'{v:.4f}':>{width_each}}" for v in figures)
        marker = "  (too small: not scored)" if not group.scored else ""
        lines.append(f"  {name:<{width}}  {group.count:>7}{cells}{marker}")
    return "\n".join(lines)
