"""Trace and presence over the record: the SQL reads of
:mod:`ravao_central.record`, the contract's rules of
:mod:`ravao_central.presence` and :mod:`ravao_central.ledger`, and the
contract's JSON. The command line and the console both answer through here;
:func:`trace` writes the audit entry of every reveal."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from ravao_central import audit, ledger, presence, record
from ravao_central.config import TracingConfig
from ravao_central.people import PersonRef
from ravao_central.presence import Place, Sighting, Visit
from ravao_central.privacy import Keyring
from ravao_central.times import rfc3339


@dataclass(frozen=True)
class TraceQuery:
    """What a trace asks, and for which case."""

    case: str
    person: PersonRef
    start: datetime
    end: datetime
    min_overlap_minutes: float


def _visit_json(visit: Visit) -> dict[str, Any]:
    return {"venue_id": visit.place.venue_id, "vehicle": visit.place.vehicle, "route": visit.route,
            "start": rfc3339(visit.start), "end": rfc3339(visit.end), "start_inferred": visit.start_inferred,
            "end_inferred": visit.end_inferred, "devices": sorted(visit.devices)}


def _holes_json(holes: ledger.Holes) -> dict[str, Any]:
    return {"device_id": holes.device_id, "venue_id": holes.venue_id,
            "missing": [list(r) for r in holes.missing],
            "offline": [[rfc3339(s), rfc3339(e)] for s, e in holes.offline]}


def trace(engine: Engine, keys: Keyring, rules: TracingConfig, query: TraceQuery, *, actor: str,
          action: str = "trace") -> dict[str, Any]:
    """The contract's trace object for `query`; the reveal is audited (as
    `action`) before anything is returned: no identity leaves without its entry."""
    dwell = timedelta(minutes=rules.default_dwell_minutes)
    me = query.person.pseudonym(keys)
    with engine.connect() as connection:
        mine = record.pass_events(connection, {me: presence.span_to_load(query.start, query.end, dwell)}).get(me, [])
    visits = presence.in_window(presence.visits_of(mine, dwell), query.start, query.end)
    places = {v.place for v in visits}
    # the coverage needs only the places: it is read on a connection of its own meanwhile
    with ThreadPoolExecutor(max_workers=1) as beside:
        coverage = beside.submit(_coverage, engine, places, query.start, query.end)
        with engine.connect() as connection:
            others = _around(connection, presence.merged(visits), dwell)
            others.pop(me, None)
            found = presence.contacts(visits, {p: presence.visits_of(seen, dwell) for p, seen in others.items()},
                                      timedelta(minutes=query.min_overlap_minutes))
            identities = record.identities(connection, {me} | {c.person for c in found}, *presence.span_to_load(
                query.start, query.end, dwell))
        holes = coverage.result()
    person = keys.open(identities[me]) if me in identities else _given(query.person)
    revealed_people = {c.person for c in found}
    audit.append(engine, keys, actor=actor, action=action, case=query.case,
                 query={"person": str(query.person), "from": rfc3339(query.start), "to": rfc3339(query.end)},
                 revealed=len(revealed_people) + 1)
    return {
        "case": query.case, "person": person, "from": rfc3339(query.start), "to": rfc3339(query.end),
        "min_overlap_minutes": query.min_overlap_minutes,
        "visits": [_visit_json(v) for v in sorted(visits, key=lambda v: v.start)],
        "contacts": [{"person": keys.open(identities[c.person]), "venue_id": c.place.venue_id,
                      "vehicle": c.place.vehicle, "overlap_minutes": c.overlap_minutes,
                      "first": rfc3339(c.first), "last": rfc3339(c.last)} for c in found],
        "coverage": [_holes_json(h) for h in holes],
    }


def _coverage(engine: Engine, places: set[Place], start: datetime, end: datetime) -> list[ledger.Holes]:
    with engine.connect() as connection:
        return ledger.coverage(record.device_records(connection, places, start, end), start, end)


def _around(connection: Connection, around: dict[Place, list[tuple[datetime, datetime]]],
            dwell: timedelta) -> dict[bytes, list[Sighting]]:
    """The events of everyone whose visits could overlap the intervals `around`
    each place: enough to make exactly those visits (see :func:`presence.to_read`)."""
    hits = record.place_hits(connection, {place: presence.span_to_load(spans[0][0], spans[-1][1], dwell)
                                          for place, spans in around.items() if spans})
    return record.pass_events(connection, presence.to_read(around, hits, dwell))


def _given(person: PersonRef) -> dict[str, Any]:
    """The traced person as given, when the record holds nothing of theirs."""
    return {"type": person.kind, "id": person.ident, **({"issuer": person.issuer} if person.issuer else {})}


def venue_presence(engine: Engine, rules: TracingConfig, venue_id: str, start: datetime, end: datetime,
                   step: timedelta) -> dict[str, Any]:
    """How many people were at the venue (door and buses) at each step: counts, no identities."""
    dwell = timedelta(minutes=rules.default_dwell_minutes)
    with engine.connect() as connection:
        places = record.venue_places(connection, venue_id)
        people = _around(connection, {place: [(start, end)] for place in places}, dwell)
    visits = {person: presence.visits_of(seen, dwell) for person, seen in people.items()}
    points = presence.presence(visits, venue_id, start, end, step)
    return {"venue_id": venue_id, "from": rfc3339(start), "to": rfc3339(end),
            "step_minutes": step / timedelta(minutes=1),
            "points": [{"ts": rfc3339(at), "present": count} for at, count in points]}
