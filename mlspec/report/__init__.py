"""Reporters: read a RunResult and write text or files; they never change the result.

- `console_summary(result)` -> the terminal summary (text); `failure_text(test)` -> one
  failing test's message and examples (pytest's report of it).
- `write_junit(result, path)` / `junit_xml(result)` -> JUnit XML for CI (one
  `<testsuite>` per spec, one `<testcase>` per test, metrics as `<properties>`).
- `write_json(result, path)` -> the whole result as JSON plus a `summary` of counts.
- `write_html(result, path)` / `html_report(result)` -> one self-contained HTML page with
  the capability x kind matrix, every test, and plots drawn by matplotlib.
- `write_markdown(result, path, plan_diff)` / `markdown_summary(...)` -> a summary for a
  CI job page or a pull-request comment.

Apart from time attributes and fields, each reporter's output is a pure function of
the result: the same result gives the same bytes.

The HTML, JUnit and Markdown writers' modules are imported when one of their names is
first used, so a run pays only for the reports it writes (junit-xml, for one, only with
`--junit`). The console and JSON reporters, which every run uses, are imported here.
"""

import importlib
from typing import TYPE_CHECKING

from mlspec.report._text import single_line_message
from mlspec.report.console import console_summary, failure_text
from mlspec.report.json_report import json_report, write_json

_DEFERRED = {
    "html_report": "html",
    "write_html": "html",
    "junit_xml": "junit",
    "write_junit": "junit",
    "markdown_summary": "markdown",
    "write_markdown": "markdown",
}

if TYPE_CHECKING:  # the deferred names, for readers, type checkers and the import contracts
    from mlspec.report.html import html_report, write_html
    from mlspec.report.junit import junit_xml, write_junit
    from mlspec.report.markdown import markdown_summary, write_markdown


def __getattr__(name: str):
    if name not in _DEFERRED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_DEFERRED[name]}"), name)


__all__ = [
    "console_summary",
    "failure_text",
    "html_report",
    "json_report",
    "junit_xml",
    "markdown_summary",
    "single_line_message",
    "write_html",
    "write_json",
    "write_junit",
    "write_markdown",
]
