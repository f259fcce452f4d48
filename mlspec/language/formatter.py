"""`mlspec fmt`: the canonical layout of a spec file, with no options (like `terraform fmt`).

The formatter works on the spec's tokens, not on its AST, so nothing the author wrote is
lost: names, numbers and strings are copied exactly as written (`0.10` stays `0.10`,
escapes stay escapes), and comments stay where they were. The text is parsed twice: once
by `mlspec.language.parser.parse`, so a broken file raises the parser's own errors and nothing is
formatted, and once by the same grammar keeping every token, whose tree says where each
statement and block begins and ends.

The layout:

- One statement a line. Blocks (`model NAME {`, `capability "T" {`, `KIND "title" [on a, b] {`)
  open at the end of their header line and close with `}` on a line of its own; each block
  level indents by 2 spaces. The one exception to one statement a line: `from X sample N
  [seed S]` stays on one line when the author wrote it on one line.
- Blank lines: the author's blank lines between statements are kept, a run of them
  collapsed to one; none right after a `{` line, none right before a `}` line, none at the
  start or end of the file. A `capability` is always preceded by a blank line, and so is
  every test after the first of its capability.
- Inside a statement: one space between tokens, except none before `,` `)` `]` `:` `(` and
  none after `(` `[`, none around the `.` of `original.label` and the `/` of a fraction; so `key: value`,
  `[a, b, c]`, `{ text: text, label: label }` (`{}` when empty), `prob(x)`,
  `typos(count: 1)`, `template "..." -> positive`, `label != x`, `neutral between 1/3 and 2/3`. A trailing comma before
  `]` `}` `)` is dropped.
- A statement the author wrapped over several lines is joined onto one line. One
  exception: a line longer than 100 characters (`MAX_WIDTH`) is wrapped after the commas
  of its `[...]` lists, greedily (as many items a line as fit), with continuation lines
  indented 4 spaces more than the statement (a long `input table columns [...]`).
  A line with no list is never wrapped.
- Comments: a comment on a line of its own stays on a line of its own, before the
  statement that followed it, at that statement's indentation (before a closing `}`: at
  the block's inner indentation; at the end of the file: unindented). A comment after a
  statement on the same line stays at the end of the statement's (first) line, after two
  spaces. When several comments were inside one wrapped statement they are put, in order,
  on their own lines before it. Comment text is kept as written (trailing spaces removed).
- The file ends with exactly one newline and no line has trailing whitespace; an empty
  file (or one holding only whitespace) formats to the empty string.

Formatting never changes meaning (the formatted text parses to the same AST, spans aside)
and is idempotent. Text written from an AST (`mlspec.language.printer`, used by tools such as
`mlspec import checklist`) gets the same layout: the printer and this module share the
layout constants and `wrap`, and string literals are read and written only by
`mlspec.language.literals` (the formatter copies them as written).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree

from mlspec.language.parser import parse
from mlspec.language.printer import INDENT, MAX_WIDTH, wrap  # the layout shared with the AST printer

__all__ = ["format_spec", "MAX_WIDTH", "INDENT"]

_BLOCKS = {"model_decl", "capability", "test"}
_COMMENT = re.compile(r"#[^\n]*")
_NO_SPACE_BEFORE = {",", ")", "]", ":", "(", ".", "/"}
_NO_SPACE_AFTER = {"(", "[", ".", "/"}
_CLOSERS = {"]", "}", ")"}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    """The parser's grammar, keeping every token (keywords and punctuation included)."""
    grammar = resources.files("grammar").joinpath("mlspec.lark").read_text(encoding="utf-8")
    # the analysed grammar is kept in a private cache folder (mlspec/language/lark_cache.py), for a fast start
    from mlspec.language.lark_cache import cached_lark

    return cached_lark(grammar, parser="lalr", strict=True, maybe_placeholders=True, keep_all_tokens=True)


@dataclass
class _Unit:
    """One output line (before wrapping): a statement, a block header, or a closing `}`."""

    tokens: list[Token]
    depth: int
    kind: str  # "stmt" | "open" | "close"
    rule: str  # the grammar rule of the statement or block (e.g. "capability", "test", "from_stmt")
    leading: list["_Comment"] = field(default_factory=list)  # own-line comments before it
    attached: list["_Comment"] = field(default_factory=list)  # comments on its lines / between its tokens

    @property
    def first_line(self) -> int:
        return self.tokens[0].line

    @property
    def last_line(self) -> int:
        return self.tokens[-1].end_line


@dataclass
class _Comment:
    text: str
    line: int


@dataclass
class _Line:
    text: str
    kind: str  # "stmt" | "open" | "close" | "comment"


_BLANK = None  # an entry of the output list standing for a blank line


def format_spec(text: str, path: str) -> str:
    """The canonical form of a spec; raises the parser's errors (ParseError / MlspecError) for a broken file."""
    parse(text, path)  # a broken file raises here, before anything is formatted
    tree = _lark().parse(text)
    units: list[_Unit] = []
    _collect(tree, 0, units)
    tokens = [t for u in units for t in u.tokens]
    owner = {id(t): i for i, u in enumerate(units) for t in u.tokens}
    trailing_comments = _assign_comments(text, tokens, owner, units)
    entries = _layout(units, trailing_comments)
    lines = _normalize(entries)
    return "\n".join(lines) + "\n" if lines else ""


# ---------------------------------------------------------------- statements and blocks


def _flatten(node) -> list[Token]:
    if node is None:
        return []
    if isinstance(node, Token):
        return [node]
    return [t for child in node.children for t in _flatten(child)]


def _collect(tree: Tree, depth: int, units: list[_Unit]) -> None:
    """Split the children of `tree` (the file or a block's body) into units, recursively."""
    statements = [c for c in tree.children if isinstance(c, Tree)]
    index = 0
    while index < len(statements):
        node = statements[index]
        if node.data in _BLOCKS:
            brace = next(i for i, c in enumerate(node.children) if isinstance(c, Token) and c == "{")
            header = [t for c in node.children[: brace + 1] for t in _flatten(c)]
            units.append(_Unit(header, depth, "open", node.data))
            body = Tree("body", [c for c in node.children[brace + 1 : -1] if c is not None])
            _collect(body, depth + 1, units)
            units.append(_Unit([node.children[-1]], depth, "close", node.data))
            index += 1
            continue
        tokens = _flatten(node)
        nxt = statements[index + 1] if index + 1 < len(statements) else None
        if node.data == "from_stmt" and nxt is not None and nxt.data == "sample_stmt":
            sample = _flatten(nxt)
            if sample[0].line == tokens[-1].end_line:  # `from X sample N` written on one line stays so
                tokens += sample
                index += 1
        units.append(_Unit(tokens, depth, "stmt", node.data))
        index += 1


# ---------------------------------------------------------------- comments


def _assign_comments(text: str, tokens: list[Token], owner: dict[int, int], units: list[_Unit]) -> list[_Comment]:
    """Give each comment to the unit it belongs to; return the comments after the last token."""
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    end_comments: list[_Comment] = []
    gaps = list(zip([None, *tokens], [*tokens, None]))  # (token before, token after) of each gap
    for previous, following in gaps:
        start = previous.end_pos if previous is not None else 0
        end = following.start_pos if following is not None else len(text)
        for match in _COMMENT.finditer(text, start, end):  # a gap holds only whitespace and comments
            line = bisect.bisect_right(line_starts, match.start())
            comment = _Comment(match.group(0).rstrip(), line)
            before = units[owner[id(previous)]] if previous is not None else None
            after = units[owner[id(following)]] if following is not None else None
            if before is not None and (previous.end_line == line or before is after):
                before.attached.append(comment)  # after a token on its line, or inside a wrapped statement
            elif after is not None:
                after.leading.append(comment)
            else:
                end_comments.append(comment)
    return end_comments


# ---------------------------------------------------------------- layout


def _layout(units: list[_Unit], end_comments: list[_Comment]) -> list:
    """Lines and blank-line requests, in order; `_normalize` applies the blank-line rules."""
    entries: list = []
    previous_end: int | None = None  # the last source line of the previous unit

    def comment_run(comments: list[_Comment], indent: str, first_blank_from: int | None) -> int | None:
        last = first_blank_from
        for comment in comments:
            if last is not None and comment.line - last >= 2:
                entries.append(_BLANK)
            entries.append(_Line(indent + comment.text, "comment"))
            last = comment.line
        return last

    for unit in units:
        indent = INDENT * unit.depth
        if unit.kind == "open" and unit.rule in ("capability", "test"):
            entries.append(_BLANK)  # a capability, and a test after the first, follow a blank line
        comment_indent = INDENT * (unit.depth + 1) if unit.kind == "close" else indent
        last = comment_run(unit.leading, comment_indent, previous_end)
        if last is not None and unit.first_line - last >= 2:
            entries.append(_BLANK)
        trailing = ""
        if len(unit.attached) == 1:
            trailing = "  " + unit.attached[0].text
        else:
            for comment in unit.attached:
                entries.append(_Line(indent + comment.text, "comment"))
        wrapped = _render(unit.tokens, indent)
        entries.append(_Line(wrapped[0] + trailing, unit.kind))
        entries.extend(_Line(line, "stmt") for line in wrapped[1:])
        previous_end = unit.last_line
    comment_run(end_comments, "", previous_end)
    return entries


def _normalize(entries: list) -> list[str]:
    """Apply the blank-line rules: one blank at most, none after `{`, before `}`, at the ends."""
    lines: list = []
    for entry in entries:
        if entry is _BLANK:
            if lines and lines[-1] is not _BLANK and lines[-1].kind != "open":
                lines.append(_BLANK)
            continue
        if entry.kind == "close" and lines and lines[-1] is _BLANK:
            lines.pop()
        lines.append(entry)
    while lines and lines[-1] is _BLANK:
        lines.pop()
    return ["" if line is _BLANK else line.text.rstrip() for line in lines]


# ---------------------------------------------------------------- one statement


def _render(tokens: list[Token], indent: str) -> list[str]:
    """A unit's tokens on one line with canonical spacing, wrapped at list commas if too long."""
    segments: list[str] = []  # the line, cut after each comma inside a [...] list
    current = ""
    depth = 0
    previous: str | None = None
    for index, token in enumerate(tokens):
        value = str(token)
        following = str(tokens[index + 1]) if index + 1 < len(tokens) else None
        if value == "," and following in _CLOSERS:
            continue  # a trailing comma
        if previous is not None and value not in _NO_SPACE_BEFORE and previous not in _NO_SPACE_AFTER and not (previous == "{" and value == "}"):
            current += " "
        current += value
        if value == "[":
            depth += 1
        elif value == "]":
            depth -= 1
        elif value == "," and depth > 0:
            segments.append(current)
            current = ""
            previous = None  # the next segment starts without its space
            continue
        previous = value
    segments.append(current)
    return wrap(segments, indent)
