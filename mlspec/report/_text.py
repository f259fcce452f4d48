"""Text helpers shared by the reporters: escaping characters that cannot be shown.

Model inputs are arbitrary strings. Characters that XML 1.0 forbids, that junit-xml
would silently drop, or that a terminal would interpret (ANSI escapes) are replaced
by a visible escape such as `\\x1b`, `\\ud800` or `\\U0001fffe`. A backslash already in
the text is left as is, so an escape in the output is ambiguous with the same
characters typed literally; the JSON report keeps the exact text.
"""

from __future__ import annotations

import re

# Invalid in XML 1.0, or removed by junit-xml's own cleaner (C1 controls, U+FDD0-FDDF,
# the last two code points of every plane), plus \r, which XML parsers turn into \n.
_XML_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\r\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufddf\ufffe\uffff"
    + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(1, 17))
    + "]"
)
# Everything a terminal might act on, for one-line display: C0 (incl. \n, \r, \t),
# DEL and C1 controls, and lone surrogates (which cannot even be encoded).
_LINE_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(ch: str) -> str:
    """A visible escape for one character: \\n, \\x1b, \\ud800, \\U0001fffe."""
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry escaped; keeps \\n and \\t."""
    return _XML_UNSAFE.sub(lambda m: escape_char(m.group()), text)


def one_line(text: str) -> str:
    """`text` on one line with no control characters: newlines, tabs, ESC are escaped."""
    return _LINE_UNSAFE.sub(lambda m: escape_char(m.group()), text)


def single_line_message(message: str) -> str:
    """The first line of a message: a rendered diagnostic's `path:line:col: error: ...`."""
    lines = message.strip().splitlines()
    return lines[0].strip() if lines else ""


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in '...' when it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 0)] + "..."


def format_probs(probs: dict[str, float], digits: int, top: int | None = None) -> str:
    """'negative=0.812 positive=0.188' in the model's label order; with `top`, only the
    `top` most probable labels (highest first) when there are more."""
    items = list(probs.items())
    if top is not None and len(items) > top:
        items = sorted(items, key=lambda item: -item[1])[:top]
    return " ".join(f"{label}={value:.{digits}f}" for label, value in items)
