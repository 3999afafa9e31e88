"""The collector's writer: takes messages off the intake's queue in batches,
stores each batch in one transaction, and only then acknowledges it.

- A batch closes at :data:`BATCH_MAX` messages or :data:`BATCH_WAIT_S` after
  its first message, whichever comes first.
- The database unreachable: nothing is acknowledged, the same batch is tried
  again with backoff (a line per attempt), and the broker keeps the rest.
- A batch the database refuses for its content (not for being down) is
  stored message by message; a message that still cannot be stored becomes
  a rejection, so one bad message never stops the stream.
- Once a day (and at start) events older than ``[retention] days`` go, and in
  PostgreSQL the partitions of the days ahead are made.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from ravao_central import record
from ravao_central.database import days_around, ensure_partitions, is_postgresql, one_line
from ravao_central.intake import Rejection, Sorted, sort_message
from ravao_central.mqtt_intake import Message
from ravao_central.privacy import Keyring
from ravao_central.retention import purge

log = logging.getLogger("ravao.central.collector")

BATCH_MAX = 1000
BATCH_WAIT_S = 0.2
RETRY_MIN_S, RETRY_MAX_S = 0.5, 30.0
DAY_S = 24 * 3600
REPORT_EVERY_S = 60.0


class Intake(Protocol):
    """Where messages come from (MQTT or NATS): a queue in, acknowledgements out."""

    inbox: queue.Queue[Message]

    def start(self) -> None: ...
    def stop_taking(self) -> None: ...
    def stop(self) -> None: ...
    def ack(self, messages: list[Message]) -> int: ...


def is_outage(exc: SQLAlchemyError) -> bool:
    """Whether the database failed as a whole (down, unreachable), not over this batch's content."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


class Collector:
    """Stores what `intake` brings into the record at `engine`."""

    def __init__(self, intake: Intake, engine: Engine, keys: Keyring, topic_prefix: str, retention_days: int,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.intake = intake
        self.engine = engine
        self.keys = keys
        self.prefix = topic_prefix
        self.retention_days = retention_days
        self.stopping = threading.Event()
        self.clock = clock
        self.stored = self.rejected = self.acked = 0
        self._known_days: set[date] = set()
        self._next_housekeeping = 0.0
        self._next_report = clock() + REPORT_EVERY_S

    def run(self) -> int:
        """Collect until :meth:`stop`; then store what is held, acknowledge it, exit status 0."""
        self.intake.start()
        try:
            while not self.stopping.is_set():
                self._housekeeping()
                batch = self._take()
                if batch:
                    self._store_and_ack(batch)
                self._report()
            self.intake.stop_taking()
            held = self._drain()
            if held:
                self._store_and_ack(held, giving_up_on_stop=True)
        finally:
            self.intake.stop()
        log.info("stopped: %d events stored, %d messages rejected, %d acknowledged", self.stored, self.rejected,
                 self.acked)
        return 0

    def stop(self) -> None:
        """Ask :meth:`run` to finish (from a signal handler or another thread)."""
        self.stopping.set()

    def _take(self) -> list[Message]:
        try:
            first = self.intake.inbox.get(timeout=BATCH_WAIT_S)
        except queue.Empty:
            return []
        batch = [first]
        closes = self.clock() + BATCH_WAIT_S
        while len(batch) < BATCH_MAX:
            left = closes - self.clock()
            try:
                batch.append(self.intake.inbox.get(timeout=left) if left > 0 else self.intake.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _drain(self) -> list[Message]:
        held = []
        while True:
            try:
                held.append(self.intake.inbox.get_nowait())
            except queue.Empty:
                return held

    def _sorted(self, batch: Sequence[Message]) -> list[Sorted]:
        found = []
        for message in batch:
            item = sort_message(message.topic, message.payload, message.received_at, self.prefix, self.keys)
            if item is not None:
                found.append(item)
        return found

    def _store_and_ack(self, batch: list[Message], *, giving_up_on_stop: bool = False) -> None:
        items = self._sorted(batch)
        delay = RETRY_MIN_S
        attempt = 1
        while True:
            try:
                self._store(items)
                break
            except SQLAlchemyError as exc:
                if not is_outage(exc):
                    items = self._store_each(items)
                    break
                if giving_up_on_stop or (self.stopping.is_set() and attempt > 3):
                    log.warning("database unreachable while stopping (%s): %d messages left unacknowledged; "
                                "the broker sends them again", one_line(exc), len(batch))
                    return
                log.warning("database unreachable (attempt %d: %s); %d messages held, not acknowledged; "
                            "trying again in %.1f s", attempt, one_line(exc), len(batch), delay)
                self.stopping.wait(delay)
                delay = min(RETRY_MAX_S, delay * 2)
                attempt += 1
        if attempt > 1:
            log.info("database reachable again; stored the held batch")
        self.stored += sum(1 for i in items if not isinstance(i, Rejection))
        self.rejected += sum(1 for i in items if isinstance(i, Rejection))
        self.acked += self.intake.ack(batch)

    def _store(self, items: Sequence[Sorted]) -> None:
        with self.engine.begin() as connection:
            record.store(connection, items, self._known_days)

    def _store_each(self, items: list[Sorted]) -> list[Sorted]:
        """One by one, a message the database refuses becoming a rejection."""
        kept: list[Sorted] = []
        for item in items:
            try:
                self._store([item])
                kept.append(item)
            except SQLAlchemyError as exc:
                if is_outage(exc):
                    raise
                values = item.values
                why = f"could not be stored: {type(getattr(exc, 'orig', None) or exc).__name__}"[:200]
                rejection = Rejection({"venue_id": values["venue_id"], "device_id": values["device_id"],
                                       "received_at": values["received_at"], "topic": "(stored as rejected)",
                                       "size": 0, "sha256": "", "why": why})
                log.warning("a message from %s/%s %s", values["venue_id"], values["device_id"], why)
                self._store([rejection])
                kept.append(rejection)
        return kept

    def _housekeeping(self) -> None:
        if self.clock() < self._next_housekeeping:
            return
        self._next_housekeeping = self.clock() + DAY_S
        try:
            if is_postgresql(self.engine):
                with self.engine.begin() as connection:
                    days = set(days_around(datetime.now(UTC).date()))
                    ensure_partitions(connection, days)
                    self._known_days |= days
            removed = purge(self.engine, self.retention_days)
            if removed:
                log.info("retention: removed events older than %d days (%s)", self.retention_days, removed)
        except SQLAlchemyError as exc:
            log.warning("retention and partitions skipped this time: %s", one_line(exc))
            self._next_housekeeping = self.clock() + 300

    def _report(self) -> None:
        if self.clock() >= self._next_report:
            self._next_report = self.clock() + REPORT_EVERY_S
            log.info("%d events stored, %d messages rejected so far", self.stored, self.rejected)
