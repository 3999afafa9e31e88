"""Checks for the values carried in signed codes.

The same check runs when the owner builds a code (a bad flag) and when a
device reads one (hostile input), so each raises ``ValueError`` with a short
message and the caller turns it into a ``UserError`` or a ``Refused``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

IDENT_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Seconds since 1970 up to the end of year 9999: what a datetime can hold.
MAX_NUMERIC_DATE = 253402300799


def text(value: Any, *, max_chars: int, required: bool = False) -> str:
    """A string of at most `max_chars` characters with no control or format
    characters (bidi overrides and marks included)."""
    if type(value) is not str:
        raise ValueError("must be text")
    if required and not value:
        raise ValueError("must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"longer than {max_chars} characters")
    if any(unicodedata.category(ch)[0] == "C" for ch in value):
        raise ValueError("contains control or format characters")
    return value


def ident(value: Any) -> str:
    """An id used in MQTT topics and file names: 1–64 of ``A-Z a-z 0-9 . _ -``."""
    if type(value) is not str or not IDENT_RE.fullmatch(value):
        raise ValueError("must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'")
    return value


def choice(value: Any, options: tuple[str, ...]) -> str:
    """One of `options`."""
    if type(value) is not str or value not in options:
        raise ValueError(f"must be one of {', '.join(options)}")
    return value


def numeric_date(value: Any) -> int:
    """An integer NumericDate (seconds since 1970, UTC) a datetime can hold."""
    if type(value) is not int or not 0 <= value <= MAX_NUMERIC_DATE:
        raise ValueError("must be an integer time in seconds since 1970")
    return value


def topic_prefix(value: Any) -> str:
    """An MQTT topic prefix: no wildcards, no spaces, no control characters."""
    prefix = text(value, max_chars=64, required=True)
    if any(ch in "#+" or ch.isspace() for ch in prefix) or prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError("must have no '#', '+', spaces, or leading/trailing '/'")
    return prefix


def wpa_key(value: Any) -> str:
    """A Wi-Fi key: empty (an open network), 8–63 printable ASCII characters,
    or 64 hex digits (the raw key)."""
    key = text(value, max_chars=64)
    if key and not (
        (8 <= len(key) <= 63 and key.isascii() and key.isprintable())
        or (len(key) == 64 and all(c in "0123456789abcdefABCDEF" for c in key))
    ):
        raise ValueError("must be 8-63 printable ASCII characters or 64 hex digits")
    return key
