"""Errors of every pipeline stage, as data, and the one function that renders them.

Each error carries a source span and a short message, optionally a hint. A stage that
finds several problems raises them together (one `MlspecError` with several diagnostics)
so a user sees every error of a file at once. `render` turns a diagnostic into the familiar compiler form:

    specs/x.mlspec:12:5: error: unknown lexicon `pos_adjs`
       12 |     template "The {thing} was {pos_adjs}."
          |                               ^^^^^^^^^^
    hint: did you mean `pos_adj`?
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, `end_col` exclusive.
    A plain dataclass, so that a run from a cached plan needs no pydantic for it."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One message about a spec: where, what, and what to do about it."""

    message: str
    span: Span | None = None
    hint: str | None = None
    severity: str = "error"

    def as_dict(self) -> dict:
        return {
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "span": asdict(self.span) if self.span else None,
        }


class MlspecError(Exception):
    """The one error mlspec raises on purpose: one or more diagnostics, shown together.

    `MlspecError(message, span, hint)` is one diagnostic; `MlspecError.collected(list)`
    carries every problem a stage found in a file, so a user sees them all at once.
    Subclasses say which part of mlspec raised it; handlers catch `MlspecError`.
    """

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None, *, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.diagnostics: list[Diagnostic] = list(diagnostics) if diagnostics else [Diagnostic(message, span, hint)]

    @classmethod
    def collected(cls, diagnostics: list[Diagnostic]) -> "MlspecError":
        """One error carrying several diagnostics (at least one)."""
        return cls("; ".join(d.message for d in diagnostics), diagnostics=diagnostics)

    @property
    def diagnostic(self) -> Diagnostic:
        """The first diagnostic: the one a single-line reason shows."""
        return self.diagnostics[0]


class ParseError(MlspecError):
    """The spec's text does not follow the grammar."""


class CompileError(MlspecError):
    """A test's data cannot be turned into cases (a broken data file, a missing column)."""


class ModelError(MlspecError):
    """A model could not be loaded or failed during inference."""


class UsageError(MlspecError):
    """The command line asks for something that cannot be done."""


class RunError(Exception):
    """Something outside the spec stops a run from starting or going on (an unreachable
    cluster): the command says so on one line and exits 3, as for a broken model."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type when it has none), for one-line reasons."""
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else type(error).__name__


def quoted(title: str) -> str:
    """A test title as written in a spec."""
    return f'"{title}"'


def closest(name: str, candidates) -> str | None:
    """The candidate most like `name`, if one is close enough to suggest."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates) -> str | None:
    """A 'did you mean' hint, or None when nothing is close."""
    match = closest(name, candidates)
    return f"did you mean `{match}`?" if match else None


def display_path(path: str | Path) -> str:
    """A path as messages and reports show it: relative to the current directory when below it."""
    absolute = Path(path).resolve()
    return os.path.relpath(absolute) if absolute.is_relative_to(Path.cwd()) else str(absolute)


_source_cache: dict[str, list[str]] = {}


def remember_source(path: str, text: str) -> None:
    """Keep a file's text so diagnostics can quote it even if the file changes."""
    _source_cache[path] = _lines(text)


def _lines(text: str) -> list[str]:
    """Lines as the parser counts them: split at \\n only (not at form feeds or U+2028)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _source_line(path: str, line: int) -> str | None:
    lines = _source_cache.get(path)
    if lines is None:
        try:
            lines = _lines(Path(path).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None
        _source_cache[path] = lines
    return lines[line - 1] if 0 < line <= len(lines) else None


def render(diagnostic: Diagnostic) -> str:
    """Format a diagnostic as `path:line:col: severity: message`, source line, caret, hint."""
    span = diagnostic.span
    head = f"{span}: " if span else ""
    out = [f"{head}{diagnostic.severity}: {diagnostic.message}"]
    source = _source_line(span.file, span.line) if span else None
    if source is not None:
        gutter = f"{span.line:>5} | "
        out.append(gutter + source.expandtabs(4).rstrip())
        width = span.end_col - span.col if span.end_line == span.line else len(source) - span.col + 1
        prefix = source[: span.col - 1].expandtabs(4)
        out.append(" " * 5 + " | " + " " * len(prefix) + "^" * max(1, width))
    if diagnostic.hint:
        out.append(f"hint: {diagnostic.hint}")
    return "\n".join(out)


def render_github(diagnostic: Diagnostic) -> str:
    """A diagnostic as a GitHub Actions workflow command, an annotation on the spec line
    (like ruff's `--output-format github`):
    `::error title=mlspec,file=F,line=L,col=C,endLine=EL,endColumn=EC::message (hint)`.
    Warnings are `::warning`, other severities `::notice`; `%`, CR and LF are escaped in
    the message, and `,` and `:` also in the properties, as the Actions toolkit does."""
    command = {"error": "error", "warning": "warning"}.get(diagnostic.severity, "notice")
    properties = {"title": "mlspec"}
    span = diagnostic.span
    if span is not None:
        properties |= {"file": span.file, "line": span.line, "col": span.col, "endLine": span.end_line, "endColumn": span.end_col}
    shown = ",".join(f"{name}={_github_property(str(value))}" for name, value in properties.items())
    message = f"{diagnostic.message} ({diagnostic.hint})" if diagnostic.hint else diagnostic.message
    return f"::{command} {shown}::{_github_data(message)}"


def _github_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")
