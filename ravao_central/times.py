"""Times as the central side reads and writes them: RFC 3339, UTC, milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

from ravao_protocol.errors import UserError


def rfc3339(when: datetime) -> str:
    """``2026-11-27T08:15:02.123Z``."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(text: str, name: str) -> datetime:
    """An RFC 3339 time given at the command line (with ``Z`` or an offset);
    :class:`UserError` naming the option otherwise."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{name} {text[:40]!r}: not an RFC 3339 time (2026-11-27T08:00:00Z)") from None
    if when.tzinfo is None:
        raise UserError(f"{name} {text[:40]!r}: needs Z or an offset (2026-11-27T08:00:00Z)")
    return when.astimezone(UTC)
