"""Who was where, and with whom: visits from check-ins, overlaps, contacts,
presence counts. Plain Python, the contract's rules ("Presence and contacts"
in CONTRACTS.md), no database: the record's adapter feeds it sightings.

Rules the contract leaves open, as decided here:

- A visit of no length (its next or previous event at the very same
  instant) is dropped: it places no one anywhere.
- An ``in`` followed by another ``in`` (scanned in twice) ends the first
  visit at the second (an inferred end), which starts a new one; the two
  merge for overlaps, so nobody counts twice.
- An ``out`` exactly 24 hours after the ``in`` still ends that visit.
- A visit names the devices whose events made it: at a door with one
  device for ``in`` and one for ``out``, both.
- Midnight is nothing special: times are compared as aware datetimes.
- Presence at a venue counts the visits at its door and in its buses.
- ``overlap_minutes`` rounds halves up (15.25 → 15.3), exactly: a float's
  round() would give 15.2 here, and 15.4 for 15.45.
- Of events at the same instant, an ``out`` comes before an ``in``: leaving
  one place and entering the next at once keeps both visits, and two scans
  at one door at once place the person there rather than nowhere. Further
  ties go by place and device, so the input's order never matters.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, TypeVar

MATCHING_OUT = timedelta(hours=24)
Person = TypeVar("Person", bound=Hashable)
"""However the caller names people (a pseudonym in the record, a name in a test)."""


@dataclass(frozen=True, slots=True)
class Place:
    """A venue (a door device), or a vehicle of a venue (a bus device)."""

    venue_id: str
    vehicle: str | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """One ``pass`` event of a person: when, which way, where, by which device."""

    ts: datetime
    direction: str  # "in" | "out"
    place: Place
    device_id: str
    route: str | None = None


@dataclass(frozen=True, slots=True)
class Visit:
    """A half-open stay [start, end) of one person at one place."""

    place: Place
    start: datetime
    end: datetime
    start_inferred: bool
    end_inferred: bool
    devices: frozenset[str]
    route: str | None = None


@dataclass(frozen=True, slots=True)
class Contact(Generic[Person]):
    """Another person's time at one place shared with the traced person's visits."""

    person: Person
    place: Place
    overlap: timedelta
    first: datetime  # the start of the earliest shared interval
    last: datetime  # the end of the latest

    @property
    def overlap_minutes(self) -> float:
        """The shared time in minutes, to one decimal (halves up), as the trace reports it."""
        minutes = Decimal(self.overlap // timedelta(microseconds=1)) / 60_000_000
        return float(minutes.quantize(Decimal("0.1"), ROUND_HALF_UP))


def visits_of(sightings: Iterable[Sighting], dwell: timedelta) -> list[Visit]:
    """One person's visits from their ``pass`` events (any order)."""
    events = sorted(sightings, key=lambda s: (s.ts, s.direction == "in", s.place.venue_id,
                                              s.place.vehicle or "", s.device_id))
    visits: list[Visit] = []
    ended_by_out: set[int] = set()
    for i, event in enumerate(events):
        before = events[i - 1] if i > 0 else None
        after = events[i + 1] if i + 1 < len(events) else None
        if event.direction == "in":
            if (after is not None and after.direction == "out" and after.place == event.place
                    and after.ts - event.ts <= MATCHING_OUT):
                ended_by_out.add(i + 1)
                visit = Visit(event.place, event.ts, after.ts, False, False,
                              frozenset({event.device_id, after.device_id}), event.route or after.route)
            else:
                end = event.ts + dwell if after is None else min(event.ts + dwell, after.ts)
                visit = Visit(event.place, event.ts, end, False, True, frozenset({event.device_id}), event.route)
        elif i in ended_by_out:
            continue
        else:  # an out with no in: it ends a visit whose start is inferred
            start = event.ts - dwell if before is None else max(event.ts - dwell, before.ts)
            visit = Visit(event.place, start, event.ts, True, False, frozenset({event.device_id}), event.route)
        if visit.start < visit.end:
            visits.append(visit)
    return visits


def in_window(visits: Iterable[Visit], start: datetime, end: datetime) -> list[Visit]:
    """The visits that intersect the window [start, end)."""
    return [v for v in visits if v.start < end and v.end > start]


def span_to_load(start: datetime, end: datetime, dwell: timedelta) -> tuple[datetime, datetime]:
    """The span of a person's events (every place, both ends included) to
    read so that every visit touching [start, end) comes out whole: an end
    may wait up to 24 h for its ``out``, an inferred start looks back one
    dwell. For a trace: the traced person's over the window; then, for the
    people seen at the places of the traced visits, theirs over the span
    from the earliest start of those visits to the latest end."""
    margin = max(MATCHING_OUT, dwell)
    return start - margin, end + margin


@dataclass(frozen=True, slots=True)
class Hit(Generic[Person]):
    """A ``pass`` event at a place, as much of it as :func:`to_read` needs."""

    person: Person
    ts: datetime
    direction: str  # "in" | "out"


def to_read(around: Mapping[Place, Sequence[tuple[datetime, datetime]]],
            hits: Mapping[Place, Iterable[Hit[Person]]], dwell: timedelta) -> dict[Person, tuple[datetime, datetime]]:
    """Whose visits could overlap the intervals `around` each place, and the
    span of each one's events (every place, both ends included) that makes
    those visits come out exactly: a trace or a presence count reads only
    these, not everyone's events for days.

    `hits` must hold every ``pass`` event at each place over
    :func:`span_to_load` of its intervals' first start and last end. A hit
    could make an overlapping visit if the widest visit it could start or
    end does: an ``in`` at most to its dwell or to an ``out`` among the
    place's next hits (within 24 hours), an ``out`` back to its dwell or to
    an ``in`` among the place's previous hits (the same). (A matching event
    is the next or previous of all; at the same instant an ``out`` comes
    before an ``in``.) Its visit is decided by its next event (an
    ``in``) or its previous one (an ``out``) if that is within the dwell,
    else by the ``in`` or ``out`` at the place that matches it, itself a
    hit of the same visit whose span is read too. Any other event in a span
    read makes a visit that stays inside the widest one of its own hit, so
    overlaps none of the intervals."""
    spans: dict[Person, tuple[datetime, datetime]] = {}
    for place, seen in hits.items():
        intervals = around.get(place, ())
        if not intervals:
            continue
        first_start, last_end = min(a for a, _ in intervals), max(b for _, b in intervals)
        by_person: dict[Person, list[Hit[Person]]] = {}
        for hit in seen:
            by_person.setdefault(hit.person, []).append(hit)
        for own in by_person.values():
            own.sort(key=lambda h: h.ts)
            times = [h.ts for h in own]
            for i, hit in enumerate(own):
                t = hit.ts
                if hit.direction == "in":  # a matching out is the next event: at the first time after
                    if t >= last_end:
                        continue  # its visit starts after every interval
                    end, at = t + dwell, bisect_right(times, t, i)
                    if at < len(times) and end < times[at] <= t + MATCHING_OUT and any(
                            h.direction == "out" for h in own[at:bisect_right(times, times[at], at)]):
                        end = times[at]
                    widest, read = (t, end), (t, t + dwell)
                else:  # a matching in is the previous event: at the last time before
                    if t <= first_start:
                        continue  # its visit ends before every interval
                    start, at = t - dwell, bisect_left(times, t, 0, i + 1)
                    if at and t - MATCHING_OUT <= times[at - 1] < start and any(
                            h.direction == "in" for h in own[bisect_left(times, times[at - 1], 0, at):at]):
                        start = times[at - 1]
                    widest, read = (start, t), (t - dwell, t)
                if any(widest[0] < b and widest[1] > a for a, b in intervals):
                    lo, hi = spans.get(hit.person, read)
                    spans[hit.person] = (min(lo, read[0]), max(hi, read[1]))
    return spans


def merged(visits: Iterable[Visit]) -> dict[Place, list[tuple[datetime, datetime]]]:
    """Each place's visits as disjoint intervals, in time order."""
    by_place: dict[Place, list[tuple[datetime, datetime]]] = {}
    for visit in sorted(visits, key=lambda v: v.start):
        spans = by_place.setdefault(visit.place, [])
        if spans and visit.start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], visit.end))
        else:
            spans.append((visit.start, visit.end))
    return by_place


def shared(a: Sequence[tuple[datetime, datetime]],
           b: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The intersections of two sorted lists of disjoint intervals."""
    out: list[tuple[datetime, datetime]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return out


def contacts(traced: Iterable[Visit], others: Mapping[Person, Iterable[Visit]],
             min_overlap: timedelta) -> list[Contact[Person]]:
    """Everyone in `others` who shared at least `min_overlap` at one place
    with the `traced` visits; one row per (person, place), largest first."""
    mine = merged(traced)
    found: list[Contact[Person]] = []
    for person, visits in others.items():
        for place, spans in merged(visits).items():
            common = shared(mine.get(place, []), spans)
            total = sum((end - start for start, end in common), timedelta())
            if common and total >= min_overlap:
                found.append(Contact(person, place, total, common[0][0], common[-1][1]))
    found.sort(key=lambda c: (-c.overlap, c.first, str(c.person)))
    return found


def presence(visits_by_person: Mapping[Person, Iterable[Visit]], venue_id: str, start: datetime,
             end: datetime, step: timedelta) -> list[tuple[datetime, int]]:
    """How many people were at the venue (its door or its buses) at start,
    start + step, … before end: counts only."""
    if step <= timedelta(0):
        raise ValueError("the step must be positive")
    spans = [(person, v.start, v.end) for person, visits in visits_by_person.items()
             for v in visits if v.place.venue_id == venue_id]
    points = []
    at = start
    while at < end:
        points.append((at, len({person for person, s, e in spans if s <= at < e})))
        at += step
    return points
