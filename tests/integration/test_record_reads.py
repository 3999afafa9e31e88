"""The record's reads against what the collector's own write path stored,
in both databases: a bound equal to an event's time finds it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ravao_central import record
from ravao_central.database import migrate, open_database
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
