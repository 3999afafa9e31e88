"""A trace's coverage read from a real SQLite record: holes inside the
window, a hole spanning the whole window, a device silent all along."""

from __future__ import annotations

import json

from ravao_central import ledger, record
from ravao_central.database import migrate, open_database
from ravao_central.intake import sort_message
from ravao_central.presence import Place
from ravao_central.privacy import Keyring
from tests.support.central import T0, at, cccd, contract_event, events_topic

KEYS = Keyring.from_secret(b"c" * 32)
DAY = 24 * 60


def filled(tmp_path, events):
    engine = open_database(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine)
    items = [sort_message(events_topic(e), json.dumps(e).encode(), T0, "ravao", KEYS) for e in events]
    with engine.begin() as connection:
        record.store(connection, items)
    return engine


def holes(engine, start_min, end_min):
    start, end = at(start_min), at(end_min)
    with engine.connect() as connection:
        return ledger.coverage(record.device_records(connection, [Place("bv-tw-hue")], start, end), start, end)


def event(seq, minutes, device="door-01"):
    return contract_event(seq=seq, ts=at(minutes), credential=cccd("046303001234", "Lan"), device_id=device)


def test_holes_inside_across_and_before_the_window(tmp_path):
    engine = filled(tmp_path, [event(3, 0), event(4, 10), event(7, 20), event(8, 30),
                               event(9, 5 * DAY), event(1, 0, "door-02"), event(2, 10, "door-02")])
    try:
        assert holes(engine, 0, 60) == [ledger.Holes("door-01", "bv-tw-hue", ((1, 2), (5, 6)), ())]
        # three days later, no event in the window at all: seq 8 → 9 spans it
        assert holes(engine, 3 * DAY, 3 * DAY + 60) == []  # 8 and 9 are consecutive: no hole
    finally:
        engine.dispose()


def test_a_hole_spanning_the_whole_window_and_a_device_silent_in_it(tmp_path):
    engine = filled(tmp_path, [event(1, 0), event(2, 10), event(6, 5 * DAY), event(1, 0, "door-02")])
    try:
        found = holes(engine, 3 * DAY, 3 * DAY + 60)
        assert found == [ledger.Holes("door-01", "bv-tw-hue", ((3, 5),), ())]
        # 3–5 were scanned between 00:10 and day 5: they may lie in the first half hour too
        assert holes(engine, 0, 30) == found
        # door-02, silent in both windows, is looked at and has no known hole
        with engine.connect() as connection:
            looked_at = record.device_records(connection, [Place("bv-tw-hue")], at(3 * DAY), at(3 * DAY + 60))
        assert [d.device_id for d in looked_at] == ["door-01", "door-02"] and looked_at[1].gaps == ()
    finally:
        engine.dispose()
