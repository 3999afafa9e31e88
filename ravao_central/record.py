"""The record in SQL: storing the collector's batches, and reading back what
the ledger, traces and presence counts need. Everything that speaks SQL to
the record's tables is here; the rules that use it are plain Python
(:mod:`ravao_central.presence`, :mod:`ravao_central.ledger`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    LargeBinary,
    and_,
    bindparam,
    column,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import ColumnClause, FromClause

from ravao_central import ledger
from ravao_central.database import ensure_partitions, is_postgresql
from ravao_central.intake import EventRow, Rejection, Sorted, StatusRow
from ravao_central.presence import Hit, Place, Sighting
from ravao_central.schema import UtcDateTime, as_utc, devices, events, rejections, statuses

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
        # datetimes as the text SQLAlchemy binds in queries too, so that equal times compare equal
        processors = [c.type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
                      for c in events.columns]
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
    """What the ledger knows, around [start, end], of every device at `places`:
    its gaps (with the ``ts`` either side) and its status changes — for a
    trace's coverage. A device of those venues with no event in the span is
    included too: a device that was down all along is the largest hole."""
    wanted = set(places)
    venues = sorted({p.venue_id for p in wanted})
    if not venues:
        return []
    lo, hi = start - COVERAGE_MARGIN, end + COVERAGE_MARGIN
    seen = {(v, d, vehicle) for v, d, vehicle in connection.execute(
        select(events.c.venue_id, events.c.device_id, events.c.vehicle).where(
            events.c.venue_id.in_(venues), events.c.ts >= lo, events.c.ts <= hi).distinct())}
    at_places = {(v, d) for v, d, vehicle in seen if Place(v, vehicle) in wanted}
    silent = {(v, d) for v, d in connection.execute(
        select(devices.c.venue_id, devices.c.device_id).where(devices.c.venue_id.in_(venues)))}
    silent -= {(v, d) for v, d, _ in seen}
    return [ledger.DeviceRecord(device_id, venue_id, gaps_near(connection, venue_id, device_id, lo, hi),
                                status_changes(connection, venue_id, device_id, start, end))
            for venue_id, device_id in sorted(at_places | silent)]


COVERAGE_MARGIN = timedelta(hours=24)
"""How far either side of a trace's window to look for the stored events around a gap."""


def gaps_near(connection: Connection, venue_id: str, device_id: str, lo: datetime,
              hi: datetime) -> tuple[ledger.Gap, ...]:
    """The device's missing ``seq`` ranges among its events in [lo, hi] and
    the nearest stored event on either side, each with the ``ts`` of the
    stored events around it (found in SQL: only the gaps come back)."""
    mine = (events.c.venue_id == venue_id, events.c.device_id == device_id)
    near = union_all(
        select(events.c.seq, events.c.ts).where(*mine, events.c.ts >= lo, events.c.ts <= hi),
        select(select(events.c.seq, events.c.ts).where(*mine, events.c.ts < lo).order_by(events.c.ts.desc())
               .limit(1).subquery()),
        select(select(events.c.seq, events.c.ts).where(*mine, events.c.ts > hi).order_by(events.c.ts)
               .limit(1).subquery()),
    ).subquery()
    in_order = (near.c.seq, near.c.ts)
    steps = select(near.c.seq, near.c.ts, func.lag(near.c.seq).over(order_by=in_order).label("prev_seq"),
                   func.lag(near.c.ts).over(order_by=in_order).label("prev_ts")).subquery()
    gaps = connection.execute(select(steps).where(or_(
        steps.c.seq > steps.c.prev_seq + 1,
        # nothing stored before: the record misses 1 … first - 1
        and_(steps.c.prev_seq.is_(None), steps.c.seq > 1, ~exists().where(*mine, events.c.ts < lo)))
    ).order_by(steps.c.seq))
    return tuple(ledger.Gap(int(row.prev_seq or 0) + 1, int(row.seq) - 1, as_utc(row.prev_ts), as_utc(row.ts))
                 for row in gaps)


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


CHUNK = 500
"""People per query when asking for many at once (a VALUES list of SQLite)."""

ARRAY_CHUNK = 20_000
"""The same in PostgreSQL, where they go as arrays."""


def _chunks(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> Iterator[Sequence[tuple[Any, ...]]]:
    size = ARRAY_CHUNK if is_postgresql(connection) else CHUNK
    return (rows[n:n + size] for n in range(0, len(rows), size))


def _listed(connection: Connection, name: str, columns: Sequence[ColumnClause[Any]],
            rows: Sequence[tuple[Any, ...]]) -> FromClause:
    """`rows` as a table to join: in PostgreSQL ``unnest`` of one array per
    column (one statement, compiled once and cached, whatever the rows), in
    SQLite a VALUES list."""
    if is_postgresql(connection):
        arrays = [bindparam(f"{name}_{c.name}", [row[i] for row in rows], type_=postgresql.ARRAY(c.type))
                  for i, c in enumerate(columns)]
        return func.unnest(*arrays).table_valued(*columns).render_derived(name=name)
    return values(*columns, name=name).data(rows).cte()


def _at(place: Place) -> Any:
    return and_(events.c.venue_id == place.venue_id,
                events.c.vehicle.is_(None) if place.vehicle is None else events.c.vehicle == place.vehicle)


def place_hits(connection: Connection, spans: Mapping[Place, tuple[datetime, datetime]]
               ) -> dict[Place, list[Hit[bytes]]]:
    """Every ``pass`` event at each place within its span (both ends
    included): who, when, which way — for :func:`ravao_central.presence.to_read`."""
    found: dict[Place, list[Hit[bytes]]] = {}
    places = list(spans)
    if not places:
        return found
    # one branch per place: each an index range (PostgreSQL: the index alone)
    query = union_all(*(select(literal(n).label("place"), events.c.person, events.c.ts, events.c.direction).where(
        _at(place), events.c.ts >= spans[place][0], events.c.ts <= spans[place][1], events.c.result == "pass")
        for n, place in enumerate(places)))
    for n, person, ts, direction in connection.execute(query):
        found.setdefault(places[n], []).append(Hit(person, ts, direction))
    return found


def pass_events(connection: Connection, spans: Mapping[bytes, tuple[datetime, datetime]]
                ) -> dict[bytes, list[Sighting]]:
    """Each person's ``pass`` events (every place) within their own span, both ends included."""
    found: dict[bytes, list[Sighting]] = {}
    columns = (events.c.person, events.c.ts, events.c.direction, events.c.venue_id, events.c.vehicle,
               events.c.device_id, events.c.route)
    people = [(who, lo, hi) for who, (lo, hi) in spans.items()]
    for chunk in _chunks(connection, people):
        # one index range per person, joined: PostgreSQL prunes the day
        # partitions per person, where an OR of ranges would plan them all
        wanted = _listed(connection, "wanted", [column("person", LargeBinary), column("lo", UtcDateTime()),
                                                column("hi", UtcDateTime())], chunk)
        query = select(*columns).join(wanted, and_(events.c.person == wanted.c.person, events.c.ts >= wanted.c.lo,
                                                   events.c.ts <= wanted.c.hi)).where(events.c.result == "pass")
        for row in connection.execute(query):
            found.setdefault(row.person, []).append(
                Sighting(row.ts, row.direction, Place(row.venue_id, row.vehicle), row.device_id, row.route))
    return found


def identities(connection: Connection, people: Iterable[bytes], start: datetime,
               end: datetime) -> dict[bytes, bytes]:
    """One sealed identity of each of `people`: their latest event's in
    [start, end], else their latest event's at all."""
    wanted = [(who,) for who in people]
    found: dict[bytes, bytes] = {}
    for bounds in ((start, end), None):
        for chunk in _chunks(connection, wanted):
            listed = _listed(connection, "wanted", [column("person", LargeBinary)], chunk)
            latest = select(events.c.identity).where(
                events.c.person == listed.c.person, *(() if bounds is None else (
                    events.c.ts >= bounds[0], events.c.ts <= bounds[1]))).order_by(events.c.ts.desc()).limit(1)
            found.update((who, sealed) for who, sealed in connection.execute(
                select(listed.c.person, latest.scalar_subquery())) if sealed is not None)
        wanted = [(who,) for (who,) in wanted if who not in found]
    return found


def venue_places(connection: Connection, venue_id: str) -> list[Place]:
    """Every place of a venue the record has events at: its door, its buses."""
    return [Place(venue_id, vehicle) for (vehicle,) in connection.execute(
        select(events.c.vehicle).where(events.c.venue_id == venue_id).distinct())] or [Place(venue_id)]
