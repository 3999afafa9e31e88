"""The record in SQL: storing the collector's batches, and reading back what
the ledger, traces and presence counts need. Everything that speaks SQL to
the record's tables is here; the rules that use it are plain Python
(:mod:`ravao_central.presence`, :mod:`ravao_central.ledger`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from ravao_central import ledger
from ravao_central.database import ensure_partitions, is_postgresql
from ravao_central.intake import EventRow, Rejection, Sorted, StatusRow
from ravao_central.presence import Place, Sighting
from ravao_central.schema import as_utc, devices, events, rejections, statuses

# ---------------------------------------------------------------- writing


def _insert_ignoring_known(connection: Connection, table: Any) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in either dialect."""
    dialect_insert = postgresql.insert if is_postgresql(connection) else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing()


def store(connection: Connection, batch: Sequence[Sorted], known_days: set[Any] | None = None) -> None:
    """Store one batch in the caller's transaction: new events (a known
    ``event_id`` changes nothing), statuses, rejections, and the devices they
    name. `known_days` caches the PostgreSQL partitions already made."""
    event_rows: dict[str, dict[str, Any]] = {}
    status_rows: list[dict[str, Any]] = []
    rejected: Counter[tuple[str, str]] = Counter()
    rejection_rows: list[dict[str, Any]] = []
    heard: dict[tuple[str, str], datetime] = {}
    for item in batch:
        key = (item.values["venue_id"], item.values["device_id"])
        heard.setdefault(key, item.values["received_at"])
        if isinstance(item, EventRow):
            event_rows.setdefault(item.event_id, item.values)
        elif isinstance(item, StatusRow):
            status_rows.append(item.values)
        elif isinstance(item, Rejection):
            rejection_rows.append(item.values)
            rejected[key] += 1
    if heard:
        connection.execute(_insert_ignoring_known(connection, devices), [
            {"venue_id": v, "device_id": d, "first_heard": at, "rejected": 0} for (v, d), at in heard.items()])
    if event_rows:
        if is_postgresql(connection):
            days = {row["ts"].date() for row in event_rows.values()} - (known_days or set())
            ensure_partitions(connection, days)
            if known_days is not None:
                known_days |= days
        _insert_events(connection, list(event_rows.values()))
    if status_rows:
        connection.execute(insert(statuses), status_rows)
        for row in status_rows:  # in arrival order: the last one stays
            connection.execute(update(devices).where(
                devices.c.venue_id == row["venue_id"], devices.c.device_id == row["device_id"]).values(
                state=row["state"], status_ts=row["ts"], queue=row["queue"], version=row["version"]))
    if rejection_rows:
        connection.execute(insert(rejections), rejection_rows)
        for (venue_id, device_id), count in rejected.items():
            connection.execute(update(devices).where(
                devices.c.venue_id == venue_id, devices.c.device_id == device_id).values(
                rejected=devices.c.rejected + count))


EVENT_COLUMNS = [c.name for c in events.columns]


def _insert_events(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """The batch's events, skipping known ones, by the fastest path each
    database has: ``COPY`` into a temporary table and one INSERT … SELECT in
    PostgreSQL; one executemany in SQLite. (SQLAlchemy's own executemany
    costs more per row than the rest of the collector together.)"""
    names = ", ".join(EVENT_COLUMNS)
    if not is_postgresql(connection):
        slots = ", ".join("?" * len(EVENT_COLUMNS))
        processors = [c.type.bind_processor(connection.dialect) for c in events.columns]  # datetimes as text
        values = [tuple(row[name] if convert is None else convert(row[name])
                        for name, convert in zip(EVENT_COLUMNS, processors, strict=True)) for row in rows]
        connection.exec_driver_sql(f"INSERT INTO events ({names}) VALUES ({slots}) ON CONFLICT DO NOTHING", values)
        return
    connection.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS incoming_events "
                               "(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    psycopg_connection = connection.connection.driver_connection  # psycopg's own, for COPY
    assert psycopg_connection is not None
    cursor = psycopg_connection.cursor()
    with cursor.copy(f"COPY incoming_events ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[name] for name in EVENT_COLUMNS])
    connection.exec_driver_sql(f"INSERT INTO events ({names}) SELECT {names} FROM incoming_events "
                               "ON CONFLICT DO NOTHING")


# ---------------------------------------------------------------- the ledger


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One row of ``fleet --json``."""

    device_id: str
    venue_id: str
    state: str | None
    status_ts: datetime | None
    queue: int | None
    events: int
    last_seq: int
    missing: list[ledger.SeqRange]
    rejected: int
    last_event_ts: datetime | None


def _seq_runs(connection: Connection, *where: Any) -> dict[tuple[str, str], list[ledger.SeqRange]]:
    """Each device's stored ``seq`` numbers as runs (gaps and islands in SQL)."""
    distinct = select(events.c.venue_id, events.c.device_id, events.c.seq).where(*where).distinct().subquery()
    numbered = select(
        distinct.c.venue_id, distinct.c.device_id, distinct.c.seq,
        (distinct.c.seq - func.row_number().over(
            partition_by=(distinct.c.venue_id, distinct.c.device_id), order_by=distinct.c.seq)).label("island"),
    ).subquery()
    query = select(numbered.c.venue_id, numbered.c.device_id, func.min(numbered.c.seq), func.max(numbered.c.seq)
                   ).group_by(numbered.c.venue_id, numbered.c.device_id, numbered.c.island)
    runs: dict[tuple[str, str], list[ledger.SeqRange]] = {}
    for venue_id, device_id, first, last in connection.execute(query):
        runs.setdefault((venue_id, device_id), []).append((int(first), int(last)))
    return runs


def fleet(connection: Connection) -> list[LedgerRow]:
    """The completeness ledger: every device ever heard from."""
    counts = {(v, d): (n, s, t) for v, d, n, s, t in connection.execute(
        select(events.c.venue_id, events.c.device_id, func.count(), func.max(events.c.seq), func.max(events.c.ts))
        .group_by(events.c.venue_id, events.c.device_id))}
    runs = _seq_runs(connection)
    rows = []
    for device in connection.execute(select(devices).order_by(devices.c.venue_id, devices.c.device_id)):
        key = (device.venue_id, device.device_id)
        stored, last_seq, last_ts = counts.get(key, (0, 0, None))
        rows.append(LedgerRow(
            device.device_id, device.venue_id, device.state, device.status_ts, device.queue, int(stored),
            int(last_seq or 0), ledger.missing(runs.get(key, []), int(last_seq or 0)), int(device.rejected),
            as_utc(last_ts)))
    return rows


def device_records(connection: Connection, places: Iterable[Place], start: datetime,
                   end: datetime) -> list[ledger.DeviceRecord]:
    """What the ledger knows of every device at `places`: its gaps (with the
    ``ts`` either side) and its status changes up to `end` — for a trace's coverage."""
    wanted = set(places)
    venues = sorted({p.venue_id for p in wanted})
    if not venues:
        return []
    at_places = {(v, d) for v, d, vehicle in connection.execute(
        select(events.c.venue_id, events.c.device_id, events.c.vehicle)
        .where(events.c.venue_id.in_(venues)).distinct()) if Place(v, vehicle) in wanted}
    silent = {(v, d) for v, d in connection.execute(
        select(devices.c.venue_id, devices.c.device_id).where(devices.c.venue_id.in_(venues)))}
    silent -= {(v, d) for v, d in connection.execute(
        select(events.c.venue_id, events.c.device_id).where(events.c.venue_id.in_(venues)).distinct())}
    records = []
    for venue_id, device_id in sorted(at_places | silent):
        mine = (events.c.venue_id == venue_id, events.c.device_id == device_id)
        runs = _seq_runs(connection, *mine).get((venue_id, device_id), [])
        last_seq = max((last for _, last in runs), default=0)
        holes = ledger.missing(runs, last_seq)
        edges = {first - 1 for first, _ in holes} | {last + 1 for _, last in holes}
        ts_of = {seq: ts for seq, ts in connection.execute(select(events.c.seq, func.min(events.c.ts)).where(
            *mine, events.c.seq.in_(sorted(edges))).group_by(events.c.seq))} if edges else {}
        gaps = tuple(ledger.Gap(first, last, as_utc(ts_of.get(first - 1)), as_utc(ts_of.get(last + 1)))
                     for first, last in holes)
        records.append(ledger.DeviceRecord(device_id, venue_id, gaps, status_changes(
            connection, venue_id, device_id, start, end)))
    return records


def status_changes(connection: Connection, venue_id: str, device_id: str, start: datetime,
                   end: datetime) -> tuple[ledger.StatusChange, ...]:
    """A device's statuses received in [start, end), and the last one before
    `start`, dated when the collector received them (a last will's own ``ts``
    is when the device connected, not when it went away)."""
    mine = (statuses.c.venue_id == venue_id, statuses.c.device_id == device_id)
    before = connection.execute(select(statuses.c.received_at, statuses.c.state).where(
        *mine, statuses.c.received_at < start).order_by(statuses.c.received_at.desc(), statuses.c.id.desc())
        .limit(1)).all()
    during = connection.execute(select(statuses.c.received_at, statuses.c.state).where(
        *mine, statuses.c.received_at >= start, statuses.c.received_at < end).order_by(
        statuses.c.received_at, statuses.c.id)).all()
    return tuple(ledger.StatusChange(ts, state) for ts, state in [*before, *during])


# ---------------------------------------------------------------- people


@dataclass(frozen=True, slots=True)
class PersonEvents:
    """One person's ``pass`` events in a span, and one of their sealed identities."""

    sightings: list[Sighting]
    identity: bytes


def pass_events(connection: Connection, start: datetime, end: datetime, *, person: bytes | None = None,
                places: Iterable[Place] = ()) -> dict[bytes, PersonEvents]:
    """The ``pass`` events in [start, end] of one `person`, or of everyone
    with a ``pass`` event at one of `places` in that span (all their events
    there and elsewhere: a visit's inferred end looks at the next event anywhere)."""
    span = (events.c.result == "pass", events.c.ts >= start, events.c.ts <= end)
    if person is not None:
        who: Any = events.c.person == person
    else:
        wanted = list(places)
        if not wanted:
            return {}
        at = or_(*(and_(events.c.venue_id == p.venue_id,
                        events.c.vehicle.is_(None) if p.vehicle is None else events.c.vehicle == p.vehicle)
                   for p in wanted))
        who = events.c.person.in_(select(events.c.person).where(*span, at).distinct())
    query = select(events.c.person, events.c.ts, events.c.direction, events.c.venue_id, events.c.vehicle,
                   events.c.device_id, events.c.route, events.c.identity).where(*span, who)
    found: dict[bytes, PersonEvents] = {}
    for row in connection.execute(query):
        entry = found.setdefault(row.person, PersonEvents([], row.identity))
        entry.sightings.append(Sighting(row.ts, row.direction, Place(row.venue_id, row.vehicle), row.device_id,
                                        row.route))
    return found


def venue_places(connection: Connection, venue_id: str) -> list[Place]:
    """Every place of a venue the record has events at: its door, its buses."""
    return [Place(venue_id, vehicle) for (vehicle,) in connection.execute(
        select(events.c.vehicle).where(events.c.venue_id == venue_id).distinct())] or [Place(venue_id)]
