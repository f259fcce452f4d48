r"""The one place that writes and reads mlspec literals: strings, and labels that may be names.

A string literal is the grammar's STRING terminal, `/"([^"\\\n]|\\.)*"/`: double quotes
around any characters but `"`, `\` and a newline, or a backslash followed by any one
character (not a newline). `unquote` reads it: `\n` is a newline, `\t` a tab, `\r` a
carriage return, and a backslash before any other character stands for that character
(`\"`, `\\`, `\{`). `quote` writes the literal of a text: it escapes backslashes, double
quotes, newlines, tabs and carriage returns (a raw carriage return would become a line
break when the file is read back) and copies every other character, so
`unquote(quote(text)) == text` for every text. Each escape is two characters, which
`mlspec.language.checker` relies on to point into template strings.

Labels are written `NAME | STRING` (`labels [negative, "very bad"]`): `name_or_string`
writes a label as a bare name where the parser reads it back as that name, else quoted.
Keywords are contextual (`positive`, `text`, `label` are names where a label is expected),
except `expected`, which the parser reads as the keyword after `expect label ==`.

This module imports nothing but the standard library, so every tool (the parser, the
formatter, the printer, importers) can share it.
"""

from __future__ import annotations

import re

__all__ = ["LABEL_KEYWORDS", "NAME", "STRING", "is_name", "name_or_string", "quote", "unquote"]

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # the grammar's NAME terminal
STRING = re.compile(r'"([^"\\\n]|\\.)*"')  # the grammar's STRING terminal

# Keywords the grammar takes in some place where a label may stand, so a label spelled
# like one is quoted there: `expect label == expected` compares with each case's label.
LABEL_KEYWORDS = frozenset({"expected"})

# What each escape stands for; a backslash before any other character stands for that character.
_UNESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_TO_ESCAPE = re.compile(r'[\\"\n\t\r]')
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def quote(text: str) -> str:
    """The string literal for `text`: `"it said \\"hi\\"\\n"`."""
    return '"' + _TO_ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], text) + '"'


def unquote(literal: str) -> str:
    """The text of a string literal as the lexer matched it, quotes included."""
    return _ESCAPE.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(1)), str(literal)[1:-1])


def is_name(text: str) -> bool:
    """Whether `text` is written as a bare name (the grammar's NAME)."""
    return NAME.fullmatch(text) is not None


def name_or_string(value: str, keywords: frozenset[str] | set[str] = LABEL_KEYWORDS) -> str:
    """A label (or another `NAME | STRING` value) as written: bare when it is a name the
    parser reads back as itself, quoted otherwise (`"very bad"`, `"expected"`, `"1st"`)."""
    return value if is_name(value) and value not in keywords else quote(value)
