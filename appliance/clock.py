"""Whether the system clock is known to be synchronised.

A Pi has no real-time clock: after a cold start offline its clock may be
far off. The kernel knows whether NTP (systemd-timesyncd, chrony) has
disciplined the clock: ``adjtimex`` reports ``TIME_ERROR`` when it has not.
"""

from __future__ import annotations

import ctypes
import os
from datetime import UTC, datetime

_TIME_ERROR = 5
_TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"


def _kernel_synced() -> bool | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own libc symbols
        buf = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = libc.adjtimex(buf)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR


def clock_synced() -> bool:
    """True when the kernel or systemd-timesyncd says the clock is synchronised."""
    if os.path.exists(_TIMESYNC_FLAG):
        return True
    return bool(_kernel_synced())


def utc_now() -> datetime:
    """The current time, UTC, timezone-aware."""
    return datetime.now(UTC)


def rfc3339_ms(when: datetime) -> str:
    """``2026-11-27T08:15:02.123Z``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
