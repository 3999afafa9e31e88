"""The record's reads against what the collector's own write path stored,
in both databases: a bound equal to an event's time finds it; the gaps
found in SQL are the gaps worked out by hand."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from ravao_central import ledger, record
from ravao_central.database import ensure_partitions, migrate, open_database
from ravao_central.intake import sort_message
from ravao_central.presence import Place
from ravao_central.privacy import Keyring
from tests.support.central import at, cccd, contract_event, events_topic

KEYS = Keyring.from_secret(b"k" * 32)
LAN = cccd("046303001234", "Nguyễn Thị Lan")


def test_bounds_equal_to_stored_times_find_the_events(database_url):
    engine = open_database(database_url)
    migrate(engine)
    sent = [contract_event(seq=1, ts=at(0), credential=LAN),
            contract_event(seq=2, ts=at(30) + timedelta(milliseconds=250), credential=LAN, direction="out")]
    batch = [sort_message(events_topic(e), json.dumps(e).encode(), datetime.now(UTC), "ravao", KEYS) for e in sent]
    with engine.begin() as connection:
        record.store(connection, [item for item in batch if item is not None])
    me = KEYS.pseudonym("cccd", "046303001234")
    with engine.connect() as connection:
        mine = record.pass_events(connection, {me: (at(0), at(30) + timedelta(milliseconds=250))})
        hits = record.place_hits(connection, {Place("bv-tw-hue"): (at(0), at(0))})
    assert [(s.ts, s.direction) for s in mine[me]] == [(at(0), "in"), (at(30) + timedelta(milliseconds=250), "out")]
    assert [(h.person, h.ts, h.direction) for h in hits[Place("bv-tw-hue")]] == [(me, at(0), "in")]
    engine.dispose()


def test_an_older_sqlite_record_gets_its_times_in_the_form_queries_bind(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'central.db'}")
    migrate(engine, to="0002")
    with engine.begin() as connection:  # as the collector's fast path wrote them before revision 0003
        connection.exec_driver_sql(
            "INSERT INTO events VALUES ('e1', '2026-11-27 08:00:00', '2026-11-27 08:00:05', 'bv-tw-hue', 'door-01', "
            "1, 1, 'in', 'pass', NULL, 'cccd', ?, x'00', NULL, NULL)", (b"p" * 32,))
    migrate(engine)
    with engine.connect() as connection:
        found = record.pass_events(connection, {b"p" * 32: (at(0), at(0))})
        stored = connection.exec_driver_sql("SELECT ts, received_at FROM events").one()
    assert [s.ts for s in found[b"p" * 32]] == [at(0)]
    assert tuple(stored) == ("2026-11-27 08:00:00.000000", "2026-11-27 08:00:05.000000")
    engine.dispose()


def _gaps_by_hand(stored: dict[int, datetime], lo: datetime, hi: datetime) -> list[ledger.Gap]:
    """gaps_near's rule, step by step: the events in [lo, hi] and the nearest
    one either side; a gap between each two stored numbers that do not follow
    on; a gap from 1 when nothing is stored before."""
    near = {seq: ts for seq, ts in stored.items() if lo <= ts <= hi}
    earlier = sorted((ts, seq) for seq, ts in stored.items() if ts < lo)
    later = sorted((ts, seq) for seq, ts in stored.items() if ts > hi)
    for ts, seq in earlier[-1:] + later[:1]:
        near[seq] = ts
    numbers = sorted(near)
    gaps = [ledger.Gap(a + 1, b - 1, near[a], near[b]) for a, b in zip(numbers, numbers[1:], strict=False) if b > a + 1]
    if numbers and not earlier and numbers[0] > 1:
        gaps.insert(0, ledger.Gap(1, numbers[0] - 1, None, near[numbers[0]]))
    return gaps


def test_the_gaps_near_a_window_are_the_gaps_worked_out_by_hand(database_url):
    engine = open_database(database_url)
    migrate(engine)
    rng = random.Random(13)
    cases = []
    for n in range(25):  # a device each: seq numbers with holes, times out of order now and then
        seqs = sorted(rng.sample(range(1, 40), rng.randrange(1, 25)))
        stored = {seq: at(seq * 10 + rng.choice([0, 0, 0, -25])) for seq in seqs}
        lo, hi = at(rng.randrange(0, 200)), at(rng.randrange(200, 420))
        cases.append((f"door-{n:02d}", stored, lo, hi))
        batch = [sort_message(events_topic(e), json.dumps(e).encode(), datetime.now(UTC), "ravao", KEYS)
                 for e in (contract_event(seq=seq, ts=ts, credential=LAN, device_id=f"door-{n:02d}")
                           for seq, ts in stored.items())]
        with engine.begin() as connection:
            record.store(connection, [item for item in batch if item is not None])
    with engine.connect() as connection:
        for device_id, stored, lo, hi in cases:
            found = record.gaps_near(connection, "bv-tw-hue", device_id, lo, hi)
            assert list(found) == _gaps_by_hand(stored, lo, hi), (device_id, sorted(stored), lo, hi)
    engine.dispose()


def test_the_migrations_make_the_schema_the_code_describes(database_url):
    """schema.py and the migrations are written apart; Alembic compares them.
    Not in schema.py: PostgreSQL's day partitions, and SQLite's unique index
    on the event id alone (0001: only an unpartitioned table can have it)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ravao_central.schema import metadata

    engine = open_database(database_url)
    migrate(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            ensure_partitions(connection, [at(0).date()])
        options = {"compare_type": True, "include_name": lambda name, kind, parent: not (
            (kind == "table" and name.startswith("events_") and name[7:].isdigit())
            or (kind == "index" and name == "events_event_id"))}
        differences = compare_metadata(MigrationContext.configure(connection, opts=options), metadata)
        included = {}  # Alembic does not compare INCLUDE columns
        if connection.dialect.name == "postgresql":
            included = dict(connection.exec_driver_sql(
                "SELECT indexname, substring(indexdef from 'INCLUDE \\((.*)\\)') FROM pg_indexes "
                "WHERE tablename = 'events'").all())
    assert differences == []
    if included:
        assert {index.name: ", ".join(index.dialect_options["postgresql"]["include"] or ()) or None
                for index in metadata.tables["events"].indexes} == {
            name: value for name, value in included.items() if name != "events_pkey"}
    engine.dispose()
