"""Secrets: the values of environment variables a spec reads as secrets, masked in output.

A spec reads a secret with `header "Authorization" env "TOKEN"`: the value goes to the
endpoint and nowhere else. Every report, message and log line is passed through `mask`
before it is written, which replaces each secret — as written, in lower and upper case,
URL-encoded, JSON-escaped and base64-encoded, and each long word of it (the token of
"Bearer <token>") — by `***`.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
from collections.abc import Iterable

MASK = "***"
MIN_WORD = 6  # words of a secret at least this long are masked on their own too


def secret_values(variables: Iterable[str]) -> tuple[str, ...]:
    """The values of the named environment variables that are set (and not blank)."""
    values = (os.environ.get(name) for name in dict.fromkeys(variables))
    return tuple(value for value in values if value and value.strip())


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret replaced by `***`."""
    for form in _forms(tuple(secrets)):
        if form in text:
            text = text.replace(form, MASK)
    return text


def _forms(secrets: tuple[str, ...]) -> list[str]:
    """Every spelling of the secrets to look for, longest first (so a part never hides a whole)."""
    forms: set[str] = set()
    for secret in secrets:
        for part in {secret, secret.strip(), *(word for word in secret.split() if len(word) >= MIN_WORD)}:
            if part:
                forms.update(_spellings(part))
    return sorted((f for f in forms if len(f) >= 2), key=len, reverse=True)


def _spellings(part: str) -> set[str]:
    raw = part.encode("utf-8", "surrogatepass")
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    spellings = {part, part.lower(), part.upper(), urllib.parse.quote(part, safe=""), urllib.parse.quote_plus(part), json.dumps(part)[1:-1], json.dumps(part, ensure_ascii=False)[1:-1]}
    spellings |= encoded | {e.rstrip("=") for e in encoded}
    return spellings | {s.lower() for s in spellings if "%" in s} | {s.upper() for s in spellings if "%" in s}


def mask_data(value, secrets: tuple[str, ...]):
    """A copy of JSON-like data (dicts, lists, strings, numbers) with every string masked."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, dict):
        return {mask_data(key, secrets): mask_data(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(item, secrets) for item in value]
    return value
