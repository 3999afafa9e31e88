"""The SQLite outbox: seq across restarts, order, acknowledgement, retention."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from appliance.outbox import SEQ_BLOCK, DamagedOutbox, DirectionChange, Outbox, OutboxLost


def fields(n: int) -> dict:
    return {"device_id": "d", "venue_id": "v", "n": n}


def test_seq_survives_reopen_and_is_never_reused(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    assert [box.record("t", fields(i))["seq"] for i in range(3)] == [1, 2, 3]
    box.mark_sent([1, 2, 3])
    box.close()
    box = Outbox(path)
    assert box.purge_sent(0) == 3  # every sent event gone …
    assert box.record("t", fields(4))["seq"] == 4  # … and seq goes on
    assert box.last_seq() == 4


def test_durability_settings(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    assert box.execute("PRAGMA journal_mode")[0][0] == "wal"
    assert box.execute("PRAGMA synchronous")[0][0] == 2  # FULL


def test_unsent_in_order_and_marked_on_ack(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    events = [box.record("ravao/v/d/events", fields(i)) for i in range(5)]
    assert box.count_unsent() == 5
    stored = box.unsent(limit=10)
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
    assert json.loads(stored[0].payload) == events[0]
    assert stored[0].topic == "ravao/v/d/events"
    box.mark_sent([2, 4])
    assert [e.seq for e in box.unsent()] == [1, 3, 5]
    assert [e.seq for e in box.unsent(after_seq=3)] == [5]
    assert box.count_unsent() == 3


def test_a_failed_transaction_records_nothing_and_spends_no_seq(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    box.record("t", fields(1), DirectionChange("cccd:1", "2026-11-27", "in"))
    # The direction's write fails inside the check-in's transaction: neither is kept.
    box.execute("CREATE TRIGGER no_more BEFORE UPDATE ON directions BEGIN SELECT RAISE(ABORT, 'full'); END")
    box.execute("CREATE TRIGGER no_new BEFORE INSERT ON directions BEGIN SELECT RAISE(ABORT, 'full'); END")
    with pytest.raises(sqlite3.DatabaseError):
        box.record("t", fields(2), DirectionChange("cccd:1", "2026-11-27", "out"))
    assert box.count_unsent() == 1
    assert box.last_direction("cccd:1") == ("2026-11-27", "in")
    assert box.record("t", fields(3))["seq"] == 2


def test_retention_deletes_only_old_sent_events(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    for i in range(4):
        box.record("t", fields(i))
    box.mark_sent([1, 2, 3])
    day = 86400
    box.execute("UPDATE events SET sent = ? WHERE seq IN (1, 2)", (time.time() - 15 * day,))
    assert box.purge_sent(14) == 2
    remaining = [row[0] for row in box.execute("SELECT seq FROM events ORDER BY seq")]
    assert remaining == [3, 4]  # 3: sent recently; 4: never sent, never deleted
    box.execute("UPDATE events SET recorded = ? WHERE seq = 4", (time.time() - 100 * day,))
    assert box.purge_sent(14) == 0


def damage(path) -> None:
    """An outbox with events whose pages are then overwritten in the middle (a failing SD card)."""
    box = Outbox(path)
    for n in range(300):
        box.record("t", {"n": n, "pad": "x" * 500})
    box.close()
    data = bytearray(path.read_bytes())
    data[4096:4096 * 6] = b"\xff" * (4096 * 5)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("make", [lambda p: p.write_bytes(b"this is not a database" * 100), damage],
                         ids=["not a database", "damaged pages"])
def test_a_damaged_file_is_refused_with_what_to_do(tmp_path, make):
    path = tmp_path / "o.sqlite3"
    make(path)
    with pytest.raises(DamagedOutbox) as caught:
        Outbox(path)
    said = str(caught.value)
    assert f"outbox {path} is damaged" in said and f"mv {path} {path}.damaged" in said and "\n" not in said
    assert path.exists()  # nothing deleted


class Mark:
    """An in-memory `SeqMark` that can be made to fail, as a full disk does."""

    def __init__(self, reserved: int = 0) -> None:
        self.reserved = reserved
        self.fail = False

    def seq_reserved(self) -> int:
        return self.reserved

    def reserve_seq(self, upto: int) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")
        self.reserved = upto


def test_a_file_deleted_while_open_is_written_again_with_every_event(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    for i in range(3):
        box.record("t", fields(i))
    box.mark_sent([1])
    path.unlink()
    assert box.record("t", fields(3))["seq"] == 4  # put back first, then recorded in it
    assert path.stat().st_mode & 0o777 == 0o600
    box.mark_sent([2])
    box.close()
    reopened = Outbox(path)
    assert [e.seq for e in reopened.unsent()] == [3, 4]
    assert reopened.execute("SELECT count(*) FROM events")[0][0] == 4
    assert reopened.record("t", fields(4))["seq"] == 5


def test_a_file_deleted_with_its_log_is_written_again_without_the_old_log(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    box.record("t", fields(0))
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    box.check_in_place()
    assert box.record("t", fields(1))["seq"] == 2
    box.close()
    assert Outbox(path).last_seq() == 2


def test_a_file_replaced_while_open_stops_recording_and_is_left_alone(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    box.record("t", fields(0))
    other = tmp_path / "other.sqlite3"
    Outbox(other).close()
    other.replace(path)
    with pytest.raises(OutboxLost, match="replaced by another file"):
        box.record("t", fields(1))
    box.close()
    assert Outbox(path).last_seq() == 0  # the file put there got nothing of ours


def test_seq_goes_on_above_the_mark_when_the_outbox_is_lost(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    mark = Mark()
    box = Outbox(path, seq_mark=mark)
    assert [box.record("t", fields(i))["seq"] for i in range(3)] == [1, 2, 3]
    assert mark.reserved == SEQ_BLOCK  # one write of the mark for a block of check-ins
    box.close()
    assert Outbox(path, seq_mark=mark).record("t", fields(3))["seq"] == 4  # a restart: no jump
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    assert Outbox(path, seq_mark=mark).record("t", fields(4))["seq"] == SEQ_BLOCK + 1  # never 1 again


def test_an_older_copy_of_the_outbox_goes_on_above_the_mark(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    mark = Mark()
    box = Outbox(path, seq_mark=mark)
    box.record("t", fields(0))
    box.close()
    saved = path.read_bytes()
    box = Outbox(path, seq_mark=mark)
    for i in range(SEQ_BLOCK + 5):
        box.record("t", fields(i))
    box.close()
    assert mark.reserved == 2 * SEQ_BLOCK
    path.write_bytes(saved)  # an old backup put back
    assert Outbox(path, seq_mark=mark).record("t", fields(0))["seq"] == 2 * SEQ_BLOCK + 1


def test_no_seq_is_given_above_a_mark_that_cannot_be_written(tmp_path):
    mark = Mark()
    box = Outbox(tmp_path / "o.sqlite3", seq_mark=mark)
    mark.fail = True
    with pytest.raises(OSError):
        box.record("t", fields(0))
    assert box.last_seq() == 0 and box.count_unsent() == 0
    mark.fail = False
    assert box.record("t", fields(0))["seq"] == 1
