"""Storage faults: a torn write-ahead log, a torn state file, a full disk."""

from __future__ import annotations

import json
import logging
import random
import shutil
import sqlite3
import subprocess
import sys

from appliance.decision import Result
from appliance.feedback import Notice, RecordingFeedback
from appliance.outbox import SEQ_BLOCK, Outbox
from tests.support.device_harness import Device, device_toml
from tests.support.process import REPO
from tests.support.samples import CARDS

RECORD_THEN_DIE = r"""
import os, signal, sys
from appliance.outbox import SEQ_BLOCK, Outbox
box = Outbox(sys.argv[1])
for i in range(300):
    box.record("t", {"n": i, "pad": "x" * 200})
os.kill(os.getpid(), signal.SIGKILL)  # no checkpoint, no close: the log keeps every commit
"""


def test_torn_write_ahead_log(tmp_path, caplog):
    original = tmp_path / "original"
    original.mkdir()
    db = original / "outbox.sqlite3"
    subprocess.run([sys.executable, "-c", RECORD_THEN_DIE, str(db)], cwd=REPO)
    wal = db.with_name(db.name + "-wal")
    size = wal.stat().st_size
    assert size > 100_000
    rng = random.Random(11)
    kept = []
    for trial in range(12):
        copy = tmp_path / f"trial{trial}"
        shutil.copytree(original, copy)
        cut = rng.randrange(32, size)
        with (copy / wal.name).open("r+b") as f:
            f.truncate(cut)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="ravao.outbox"):
            box = Outbox(copy / db.name)
        seqs = [row[0] for row in box.execute("SELECT seq FROM events ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1)), "what survives is a whole prefix"
        assert box.last_seq() == len(seqs)
        payloads = [json.loads(p) for (p,) in box.execute("SELECT payload FROM events ORDER BY seq")]
        assert [p["n"] for p in payloads] == list(range(len(seqs)))
        assert box.record("t", {"n": "after"})["seq"] == len(seqs) + 1, "the device goes on from there"
        box.close()
        assert f"last seq {len(seqs)}" in caplog.text
        frame = 24 + 4096
        if (cut - 32) % frame:
            assert "torn write" in caplog.text
        kept.append(len(seqs))
    assert max(kept) > min(kept), "the cuts fell in different places"
    with sqlite3.connect(original / db.name) as whole:  # untouched: every commit is there
        assert whole.execute("SELECT count(*) FROM events").fetchone()[0] == 300


def test_disk_full_gives_error_feedback_and_recovers(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ravao")
    feedback = RecordingFeedback()
    dev = Device(tmp_path, device_toml(tmp_path / "state", "mqtt://127.0.0.1:1",
                                       extra="[policy]\ndedupe_seconds = 0\n"), feedback=feedback)
    try:
        for card in CARDS[:3]:
            assert dev.show(card.text())[0].result is Result.PASS
        box = dev.daemon.outbox
        pages = box.execute("PRAGMA page_count")[0][0]
        box.execute(f"PRAGMA max_page_count = {pages}")  # SQLite now answers SQLITE_FULL, as on a full disk
        results = []
        for i in range(300):
            (d,) = dev.show(CARDS[i % len(CARDS)].text())
            results.append(d.result)
            if d.result is Result.ERROR:
                break
        assert results[-1] is Result.ERROR, "the outbox never filled"
        statuses = [args for kind, args in feedback.calls if kind == "status"]
        assert statuses[-1][2] is Notice.STORAGE_ERROR
        recorded = box.last_seq()
        assert box.count_unsent() == recorded, "nothing recorded was lost"
        # While full, nobody is told "pass".
        for card in CARDS[:3]:
            assert dev.show(card.text())[0].result is Result.ERROR
        box.execute("PRAGMA max_page_count = 1073741823")  # space returns
        (d,) = dev.show(CARDS[1].text())
        assert d.result is Result.PASS and d.event["seq"] == recorded + 1
        statuses = [args for kind, args in feedback.calls if kind == "status"]
        assert statuses[-1][2] is Notice.NONE
        # One line when the outbox fills, one when it takes events again: no traceback per refused scan.
        said = [r for r in caplog.records if "could not record" in r.getMessage() or "takes events again" in
                r.getMessage()]
        assert [r.getMessage().split(" (")[0] for r in said] == ["could not record the check-in",
                                                                 "the outbox takes events again"], said
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        dev.close()


def test_torn_state_file_at_random_offsets(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from appliance.state import DeviceState

    key = Ed25519PrivateKey.generate().public_key()
    state = DeviceState(tmp_path / "s")
    state.apply_setup(key, {"device_id": "old"}, 1, "a" * 32)
    state.apply_setup(key, {"device_id": "new"}, 2, "b" * 32)
    state.close()
    whole = state.path.read_bytes()
    rng = random.Random(5)
    for trial in range(20):
        folder = tmp_path / f"t{trial}"
        shutil.copytree(tmp_path / "s", folder)
        (folder / "state.json").write_bytes(whole[: rng.randrange(0, len(whole))])
        again = DeviceState(folder)
        assert again.provisioned() == {"device_id": "old"}, "the last good state"
        assert again.pinned_key() is not None
        again.close()


def _device(tmp_path, broker, feedback=None) -> Device:
    return Device(tmp_path, device_toml(tmp_path / "state", broker.url, extra="[policy]\ndedupe_seconds = 0\n"),
                  feedback=feedback or RecordingFeedback())


def test_an_outbox_deleted_while_running_is_put_back_and_seq_never_repeats(tmp_path, broker, subscriber, caplog):
    caplog.set_level(logging.INFO, logger="ravao")
    outbox = tmp_path / "state" / "outbox.sqlite3"
    dev = _device(tmp_path, broker)
    try:
        for card in CARDS[:3]:
            assert dev.show(card.text())[0].result is Result.PASS
        assert len(subscriber.wait_events(3)) == 3
        outbox.unlink()  # a careless rm: the -wal and -shm stay
        (d,) = dev.show(CARDS[3].text())
        assert d.result is Result.PASS and d.event["seq"] == 4, "recorded in the file put back"
        assert outbox.exists() and "deleted while the device ran" in caplog.text
        assert dev.daemon.storage_ok
        assert len(subscriber.wait_events(4)) == 4
    finally:
        dev.close()
    dev = _device(tmp_path, broker)
    try:
        assert dev.show(CARDS[4].text())[0].event["seq"] == 5, "the events are in the file on disk"
        events = subscriber.wait_events(5)
    finally:
        dev.close()
    assert sorted({e["event_id"]: e["seq"] for e in events}.values()) == [1, 2, 3, 4, 5]


def test_an_outbox_lost_while_stopped_goes_on_above_the_seq_mark(tmp_path, broker, subscriber, caplog):
    caplog.set_level(logging.INFO, logger="ravao")
    state = tmp_path / "state"
    dev = _device(tmp_path, broker)
    try:
        for card in CARDS[:2]:
            assert dev.show(card.text())[0].result is Result.PASS
        subscriber.wait_events(2)
    finally:
        dev.close()
    for lost in state.glob("outbox.sqlite3*"):
        lost.unlink()
    dev = _device(tmp_path, broker)
    try:
        assert dev.show(CARDS[2].text())[0].event["seq"] == SEQ_BLOCK + 1
        seqs = [e["seq"] for e in subscriber.wait_events(3)]
    finally:
        dev.close()
    assert "seq goes on from 101" in caplog.text
    assert sorted(set(seqs)) == [1, 2, SEQ_BLOCK + 1], "delivered 1, 2, 101: never 1 again"


def test_an_outbox_replaced_while_running_stops_pass_and_keeps_what_it_held(tmp_path, broker, subscriber):
    feedback = RecordingFeedback()
    state = tmp_path / "state"
    outbox = state / "outbox.sqlite3"
    dev = _device(tmp_path, broker, feedback)
    try:
        assert dev.show(CARDS[0].text())[0].result is Result.PASS
        older = tmp_path / "older.sqlite3"
        Outbox(older).close()
        older.replace(outbox)
        for card in CARDS[1:3]:
            assert dev.show(card.text())[0].result is Result.ERROR, "nobody is told pass"
        statuses = [args for kind, args in feedback.calls if kind == "status"]
        assert statuses[-1][2] is Notice.STORAGE_ERROR
    finally:
        dev.close()
    left = Outbox(state / "outbox.sqlite3.left")
    assert left.last_seq() == 1
    left.close()
    dev = _device(tmp_path, broker)
    try:
        assert dev.show(CARDS[3].text())[0].event["seq"] == SEQ_BLOCK + 1
    finally:
        dev.close()
