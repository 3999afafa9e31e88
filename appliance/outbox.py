"""The event outbox: every check-in, durable before the person is told.

SQLite in WAL mode with ``synchronous=FULL``: :meth:`Outbox.record` returns
only after the event and its ``seq`` are on disk. The uplink reads unsent
events in ``seq`` order and marks them sent when the broker acknowledged them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ravao_protocol.errors import UserError
from ravao_protocol.events import CHECKIN_SCHEMA

log = logging.getLogger("ravao.outbox")

_TABLES = """
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    topic    TEXT NOT NULL,
    payload  TEXT NOT NULL,
    recorded REAL NOT NULL,
    sent     REAL
);
CREATE INDEX IF NOT EXISTS events_unsent ON events(seq) WHERE sent IS NULL;
CREATE INDEX IF NOT EXISTS events_sent ON events(sent) WHERE sent IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS directions (person TEXT PRIMARY KEY, day TEXT NOT NULL, direction TEXT NOT NULL);
"""


@dataclass(frozen=True)
class DirectionChange:
    """A person's way in or out on a day (``direction = "toggle"``), written in
    the same transaction as the check-in that made it."""

    person: str
    day: str  # ISO date, the device's local day
    direction: str  # "in" | "out"


@dataclass(frozen=True)
class RecentCheckin:
    """A check-in of the last moments, as :meth:`Outbox.recent` finds it."""

    code: str | None  # the code's content hash (None: recorded by an earlier version)
    person: tuple[str, str]  # credential type and id
    passed: bool
    age: float  # seconds ago


@dataclass(frozen=True)
class StoredEvent:
    """An event as kept in the outbox."""

    seq: int
    event_id: str
    topic: str
    payload: bytes


def torn_wal_bytes(db_path: Path) -> int:
    """Bytes past the last whole frame of the database's write-ahead log.

    A WAL is a 32-byte header and frames of (24 + page size) bytes; a power
    cut can leave a partial frame at its end, which SQLite drops on open
    (with the transaction it belonged to, which never committed).
    """
    wal = db_path.with_name(db_path.name + "-wal")
    try:
        size = wal.stat().st_size
        with wal.open("rb") as f:
            header = f.read(32)
    except OSError:
        return 0
    if size < 32 or len(header) < 32:
        return size
    page_size = int.from_bytes(header[8:12], "big")
    if page_size < 512 or page_size & (page_size - 1):
        return size - 32  # a torn header: SQLite ignores the whole log
    return (size - 32) % (24 + page_size)


class DamagedOutbox(UserError):
    """The outbox file is not a sound SQLite database: nothing is recorded
    until a person moves it aside (the daemon never deletes events)."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            f"outbox {path} is damaged ({why}). The device records nothing until it is moved aside: "
            f"`systemctl stop ravao; mv {path} {path}.damaged` (and its -wal and -shm files), then start it "
            f"again. Its unsent events are in the damaged copy: `sqlite3 {path}.damaged .recover` may save them.")


class SeqMark(Protocol):
    """Where the highest `seq` the outbox may have given is kept, away from
    the outbox, so that losing the outbox cannot make `seq` start again."""

    def seq_reserved(self) -> int:
        """The mark: no `seq` above it has been given (0: none kept)."""

    def reserve_seq(self, upto: int) -> None:
        """Move the mark up to `upto`, durably, before such a `seq` is given."""


class OutboxLost(Exception):
    """The outbox file is no longer at its path, and could not be put back."""


# The mark moves ahead this far at a time (one state write per SEQ_BLOCK
# check-ins). After a lost outbox, seq goes on above the mark: up to this
# many numbers are then never given, beside the events lost with it.
SEQ_BLOCK = 100


class Outbox:
    """The SQLite outbox of check-in events. Safe to share between threads.

    With a `seq_mark`, `seq` never repeats, even after the outbox file was
    lost: it goes on above the mark. A file deleted while the outbox is open
    is written again from the open database before the next check-in
    (:meth:`check_in_place`), with every event in it.
    """

    def __init__(self, path: str | Path, *, seq_mark: SeqMark | None = None) -> None:
        self.path = Path(path)
        self.seq_mark = seq_mark
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = torn_wal_bytes(self.path)
        if torn:
            log.warning("outbox %s: its write-ahead log ends in %d bytes of a torn write; "
                        "SQLite drops them with the unfinished transaction they belonged to", self.path, torn)
        self._lock = threading.Lock()
        if not self.path.exists():
            # Names and dates of birth: readable by the daemon's user only.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            self._db = self._connect("FULL")
            self._db.executescript(_TABLES)
            if "code" not in {row[1] for row in self._db.execute("PRAGMA table_info(events)")}:
                self._db.execute("ALTER TABLE events ADD COLUMN code TEXT")  # an outbox of an earlier version
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise DamagedOutbox(self.path, str(exc)) from None
        if check != "ok":
            self._db.close()
            raise DamagedOutbox(self.path, check)
        self._lost = ""  # why the outbox can take no more events, once it cannot
        self._open_marks()
        self._unsent: int = self._db.execute("SELECT count(*) FROM events WHERE sent IS NULL").fetchone()[0]
        self._reserved = self._go_on_above_the_mark()
        log.info("outbox %s: last seq %d, %d unsent", self.path, self.last_seq(), self._unsent)

    def _go_on_above_the_mark(self) -> int:
        if self.seq_mark is None:
            return 0
        reserved = self.seq_mark.seq_reserved()
        last = self.last_seq()
        # The mark is never more than SEQ_BLOCK - 1 above the outbox that moved
        # it: further means this is another outbox (a new or an older file).
        if last < reserved - (SEQ_BLOCK - 1):
            log.error("outbox %s ends at seq %d, but seq up to %d was given before: it is not the outbox "
                      "those events were recorded in (lost, or an older copy); seq goes on from %d",
                      self.path, last, reserved, reserved + 1)
            self._db.execute("INSERT OR REPLACE INTO counters(name, value) VALUES ('seq', ?)", (reserved,))
        return reserved

    def _open_marks(self) -> None:
        """The connection for marks of "sent", and the ids of the files now open."""
        # Marks of "sent" need no fsync each: a mark lost to a power cut only
        # means the event is published again, with the same event_id.
        self._marks = self._connect("NORMAL")
        self._file = self._file_id()
        self._sidecars = self._sidecar_ids()

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        return db

    def _file_id(self, path: Path | None = None) -> tuple[int, int]:
        info = os.stat(path or self.path)
        return info.st_dev, info.st_ino

    def _sidecar_ids(self) -> dict[Path, tuple[int, int]]:
        ids = {}
        for suffix in ("-wal", "-shm"):
            sidecar = self.path.with_name(self.path.name + suffix)
            with contextlib.suppress(OSError):
                ids[sidecar] = self._file_id(sidecar)
        return ids

    def check_in_place(self) -> None:
        """Make sure the file at the outbox's path is the open database.

        A file deleted while open (a careless ``rm``, a cleaning script) is
        written again from the open database, every event in it. A different
        file put at the path is left alone: the open database is saved beside
        it as ``….left`` and :class:`OutboxLost` is raised, as it is when the
        copy cannot be written; nothing more is recorded until a restart.
        """
        with self._lock:
            self._check_in_place()

    def _check_in_place(self) -> None:
        if self._lost:
            raise OutboxLost(self._lost)
        try:
            here = self._file_id()
        except FileNotFoundError:
            self._put_back()
            return
        except OSError as exc:
            raise OutboxLost(f"outbox {self.path}: {exc.strerror}") from None
        if here != self._file:
            left = self.path.with_name(self.path.name + ".left")
            try:
                self._copy_to(left)
                saved = f"what it held is saved as {left.name}"
            except (OSError, sqlite3.Error) as exc:
                saved = f"what it held could not be saved ({exc})"
            self._lost = (f"outbox {self.path} was replaced by another file while the device ran; {saved}; "
                          "restart the daemon to record into the file now there")
            raise OutboxLost(self._lost)

    def _copy_to(self, target_path: Path) -> None:
        """Write a whole copy of the open database to `target_path` (mode 0600)."""
        target_path.unlink(missing_ok=True)
        os.close(os.open(target_path, os.O_CREAT | os.O_WRONLY, 0o600))
        target = sqlite3.connect(str(target_path), isolation_level=None)
        try:
            target.execute("PRAGMA synchronous=FULL")
            self._db.backup(target)
        finally:
            target.close()

    def _put_back(self) -> None:
        copy = self.path.with_name(self.path.name + ".restoring")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._copy_to(copy)
            self._close_moved()
            os.replace(copy, self.path)
            self._db = self._connect("FULL")
            self._open_marks()
        except (OSError, sqlite3.Error) as exc:
            self._lost = (f"outbox {self.path} was deleted while the device ran, and could not be written "
                          f"again ({exc})")
            raise OutboxLost(self._lost) from None
        log.error("outbox %s was deleted while the device ran; written again from the open database "
                  "(last seq %d, %d unsent)", self.path, self._last_seq(), self._unsent)

    def _close_moved(self) -> None:
        # SQLite leaves the -wal and -shm of a database whose file has moved;
        # a new file at the path must never read them as its own.
        self._marks.close()
        self._db.close()
        for sidecar, file_id in self._sidecars.items():
            with contextlib.suppress(OSError):
                if self._file_id(sidecar) == file_id:
                    sidecar.unlink()

    def close(self) -> None:
        """Close the database (a checkpoint of the WAL happens here)."""
        with self._lock:
            if self._lost or not self._in_place():
                self._close_moved()
            else:
                self._marks.close()
                self._db.close()

    def _in_place(self) -> bool:
        try:
            return self._file_id() == self._file
        except OSError:
            return False

    def record(self, topic: str, fields: dict[str, Any], direction: DirectionChange | None = None,
               code: str | None = None) -> dict[str, Any]:
        """Give `fields` an `event_id` and the next `seq`, and commit them to disk,
        with the person's new `direction` in the same transaction (it changes
        exactly when the event exists). Returns the whole event as it will be
        published. `code` (a hash of the code's content) is kept beside it, for
        :meth:`recent`."""
        with self._lock:
            self._check_in_place()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
                seq = (row[0] if row else 0) + 1
                if self.seq_mark is not None and seq > self._reserved:
                    self.seq_mark.reserve_seq(seq + SEQ_BLOCK - 1)
                    self._reserved = seq + SEQ_BLOCK - 1
                event = {"schema": CHECKIN_SCHEMA, "event_id": str(uuid.uuid4()), "seq": seq, **fields}
                payload = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
                db.execute("INSERT OR REPLACE INTO counters(name, value) VALUES ('seq', ?)", (seq,))
                db.execute(
                    "INSERT INTO events(seq, event_id, topic, payload, recorded, code) VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, event["event_id"], topic, payload, time.time(), code),
                )
                if direction is not None:
                    db.execute("INSERT OR REPLACE INTO directions (person, day, direction) VALUES (?, ?, ?)",
                               (direction.person, direction.day, direction.direction))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._unsent += 1
        return event

    def recent(self, seconds: float) -> list[RecentCheckin]:
        """The check-ins recorded in the last `seconds` (by the wall clock;
        one recorded "later" than now, after a clock stepped back, counts as
        just now), newest first: what the dedupe windows need after a restart."""
        now = time.time()
        with self._lock:
            rows = self._db.execute("SELECT code, payload, recorded FROM events WHERE recorded >= ? "
                                    "ORDER BY seq DESC", (now - seconds,)).fetchall()
        found = []
        for code, payload, recorded in rows:
            event = json.loads(payload)
            credential = event.get("credential") or {}
            person = (str(credential.get("type")), str(credential.get("id", credential.get("sha256"))))
            found.append(RecentCheckin(code, person, event.get("result") == "pass", max(0.0, now - recorded)))
        return found

    def last_direction(self, person: str) -> tuple[str, str] | None:
        """The day and direction of `person`'s last check-in kept for toggling."""
        with self._lock:
            row = self._db.execute("SELECT day, direction FROM directions WHERE person = ?", (person,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the outbox database: for tests and diagnosis
        only; the device's own reads and writes are the methods above."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def unsent(self, after_seq: int = 0, limit: int = 100, topic: str | None = None) -> list[StoredEvent]:
        """Unsent events with `seq` above `after_seq` (on `topic` only, if given), oldest first."""
        where = "sent IS NULL AND seq > ?" + (" AND topic = ?" if topic is not None else "")
        params = (after_seq, topic, limit) if topic is not None else (after_seq, limit)
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, event_id, topic, payload FROM events WHERE {where} ORDER BY seq LIMIT ?", params
            ).fetchall()
        return [StoredEvent(seq, event_id, topic, payload.encode("utf-8")) for seq, event_id, topic, payload in rows]

    def mark_sent(self, seqs: Iterable[int]) -> None:
        """Mark events acknowledged by the broker (one transaction)."""
        now = time.time()
        params = [(now, s) for s in seqs]
        if not params:
            return
        with self._lock:
            self._marks.execute("BEGIN IMMEDIATE")
            try:
                before = self._marks.total_changes
                self._marks.executemany("UPDATE events SET sent = ? WHERE seq = ? AND sent IS NULL", params)
                marked = self._marks.total_changes - before
                self._marks.execute("COMMIT")
            except BaseException:
                self._marks.execute("ROLLBACK")
                raise
            self._unsent -= marked

    def count_unsent(self) -> int:
        """How many events the broker has not acknowledged yet."""
        return self._unsent

    def count_unsent_on(self, topic: str) -> int:
        """How many events for `topic` the broker has not acknowledged yet."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events WHERE sent IS NULL AND topic = ?",
                                        (topic,)).fetchone()[0])

    def last_seq(self) -> int:
        """The highest `seq` ever given (0 before the first event)."""
        with self._lock:
            return self._last_seq()

    def _last_seq(self) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
        return int(row[0]) if row else 0

    def purge_sent(self, older_than_days: float) -> int:
        """Delete sent events older than the retention; returns how many."""
        cutoff = time.time() - older_than_days * 86400
        with self._lock:
            cur = self._db.execute("DELETE FROM events WHERE sent IS NOT NULL AND sent < ?", (cutoff,))
        return cur.rowcount
