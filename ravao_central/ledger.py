"""The completeness ledger and a trace's coverage: where the record has holes.
Plain Python ("Completeness ledger" and "Presence and contacts" in
CONTRACTS.md), no database: the record's adapter feeds it ``seq`` numbers (or
runs of them from SQL), missing ranges with the ``ts`` of the stored events
either side, and a device's status changes.

Rules the contract leaves open, as decided here:

- A missing range counts for a window when the time between its neighbouring
  stored events meets the window: the lost events were scanned in that time,
  so they may lie in the window even when neither neighbour does (a hole
  spanning the whole window). A range from ``seq`` 1 has no event before it
  and reaches back without limit. Neighbours out of order (a clock set back)
  are taken as the span between them.
- An offline period runs from an ``offline`` status to the next ``online``
  one; while no ``online`` has come, to the end of the window. Periods are
  reported clipped to the window. The adapter passes the last status before
  the window too, or a device offline since before it shows no period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

SeqRange = tuple[int, int]
"""``[first, last]``, both included."""


def runs_of(seqs: Iterable[int]) -> list[SeqRange]:
    """Stored ``seq`` numbers (any order, repeats allowed) as runs of consecutive numbers."""
    found: list[SeqRange] = []
    for seq in sorted(set(seqs)):
        if found and seq == found[-1][1] + 1:
            found[-1] = (found[-1][0], seq)
        else:
            found.append((seq, seq))
    return found


def missing(stored: Iterable[SeqRange], last_seq: int) -> list[SeqRange]:
    """The ranges of ``seq`` numbers between 1 and `last_seq` that `stored`
    (runs, in any order, overlapping or not) does not hold, in order."""
    gaps: list[SeqRange] = []
    expected = 1  # the lowest seq not yet seen held
    for first, last in sorted(stored):
        if first > last_seq:
            break
        if first > expected:
            gaps.append((expected, first - 1))
        expected = max(expected, last + 1)
    if expected <= last_seq:
        gaps.append((expected, last_seq))
    return gaps


@dataclass(frozen=True, slots=True)
class Gap:
    """A missing range of ``seq`` numbers and the ``ts`` of the stored events
    either side, None where there is none (before a range from 1; after one
    reaching past the largest stored ``seq``)."""

    first: int
    last: int
    before: datetime | None
    after: datetime | None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A status message of a device: when, and ``online`` or ``offline``."""

    ts: datetime
    state: str  # "online" | "offline"


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What the record knows of one device's completeness."""

    device_id: str
    venue_id: str
    gaps: tuple[Gap, ...]
    statuses: tuple[StatusChange, ...]


@dataclass(frozen=True, slots=True)
class Holes:
    """One device's holes in the record during a window: a row of ``coverage``."""

    device_id: str
    venue_id: str
    missing: tuple[SeqRange, ...]
    offline: tuple[tuple[datetime, datetime], ...]


def gaps_in_window(gaps: Iterable[Gap], start: datetime, end: datetime) -> list[SeqRange]:
    """The missing ranges whose lost events may have been scanned in [start, end)."""
    found = []
    for gap in gaps:
        earliest, latest = gap.before, gap.after
        if earliest is not None and latest is not None and latest < earliest:
            earliest, latest = latest, earliest
        if (earliest is None or earliest < end) and (latest is None or latest >= start):
            found.append((gap.first, gap.last))
    return sorted(found)


def offline_in_window(statuses: Iterable[StatusChange], start: datetime,
                      end: datetime) -> list[tuple[datetime, datetime]]:
    """The periods in [start, end) that the device's status said ``offline``, clipped to it."""
    periods: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for status in sorted(statuses, key=lambda s: s.ts):
        if status.state == "offline" and since is None:
            since = status.ts
        elif status.state == "online" and since is not None:
            periods.append((since, status.ts))
            since = None
    if since is not None:
        periods.append((since, end))
    return [(max(s, start), min(e, end)) for s, e in periods if s < end and e > start]


def coverage(devices: Iterable[DeviceRecord], start: datetime, end: datetime) -> list[Holes]:
    """The ``coverage`` of a trace over [start, end): one row per device with
    a hole, none for a complete one (an empty list: the record is complete)."""
    rows = []
    for device in devices:
        gaps = gaps_in_window(device.gaps, start, end)
        offline = offline_in_window(device.statuses, start, end)
        if gaps or offline:
            rows.append(Holes(device.device_id, device.venue_id, tuple(gaps), tuple(offline)))
    return rows
