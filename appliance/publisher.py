"""The in-order publisher: publishes one topic's unsent events in ``seq`` order, keeps at
most ``window`` of them unacknowledged, and collects the acknowledged ones
for marking in the outbox.

Each PUBACK's callback, on paho's network thread, publishes the next event
at once: publishing costs least there, with no other thread contending for
paho's message lock. The uplink's publisher thread fills the window when events
arrive (`fill`), reads the outbox ahead, writes the marks and publishes
again what the broker refused. Every publish happens under one lock, in `seq` order from one
queue. paho calls ``on_publish`` holding its own message lock, while `fill`
calls paho holding ours; so the callback never waits for our lock: an ack
that finds it taken is queued, and whoever holds the lock settles it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import paho.mqtt.client as mqtt

from appliance.outbox import Outbox, StoredEvent

log = logging.getLogger("ravao.uplink")

# An event the broker refused (MQTT 5 reason code) is published again after this.
RETRY_REFUSED_S = 30.0

_PUBLISHED = (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)  # NO_CONN: paho sends it on reconnect


class InOrderPublisher:
    """In-order publishing of `topic`'s unsent events from `outbox`."""

    FETCH = 500  # unsent events read from the outbox at a time
    READ_AHEAD = 200  # read more when fewer than this are waiting
    MARK_EVERY_S = 0.05  # acknowledged events are marked sent in batches

    def __init__(self, outbox: Outbox, window: int, topic: str) -> None:
        self.outbox = outbox
        self.window = window
        self.topic = topic
        self._lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # paho mid → seq
        self._pending: deque[StoredEvent] = deque()  # read from the outbox, not yet published
        self._last_read = 0  # highest seq read into `_pending`
        self._to_mark: list[int] = []
        self._marked_at = time.monotonic()
        self._resend_from: int | None = None  # a refused event: read again from here …
        self._resend_at = 0.0  # … at this time
        self._acks: deque[tuple[int, bool]] = deque()  # (mid, ok) not settled yet
        self._closed = False  # stopping: acks are still settled, nothing more is published

    # -- paho's network thread -----------------------------------------

    def acknowledged(self, client: mqtt.Client, mid: int, ok: bool) -> bool:
        """A PUBACK (`ok` False: the broker refused it). Publishes what the
        window now has room for. True when nothing is left in flight, so the
        publisher thread should look (read ahead, mark) now."""
        self._acks.append((mid, ok))
        if not self._lock.acquire(blocking=False):
            return False  # `fill` holds it and settles this ack
        try:
            self._settle()
            if not self._closed:
                self._publish_next(client)
            return not self._inflight
        finally:
            self._lock.release()

    def _settle(self) -> None:
        while self._acks:
            mid, ok = self._acks.popleft()
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue  # a status message
            if ok:
                self._to_mark.append(seq)
            else:
                self._refused(seq)

    def _publish_next(self, client: mqtt.Client) -> None:
        while len(self._inflight) < self.window and self._pending:
            event = self._pending[0]
            info = client.publish(event.topic, event.payload, qos=1)
            if info.rc not in _PUBLISHED:
                log.warning("publishing seq %d failed: %s", event.seq, mqtt.error_string(info.rc))
                return
            self._pending.popleft()
            self._inflight[info.mid] = event.seq

    def _refused(self, seq: int) -> None:
        log.warning("the broker refused event seq %d; publishing again from there in %ds", seq, RETRY_REFUSED_S)
        self._resend_from = seq if self._resend_from is None else min(seq, self._resend_from)
        self._resend_at = time.monotonic() + RETRY_REFUSED_S

    # -- the publishing thread ----------------------------------------------

    def fill(self, client: mqtt.Client) -> None:
        """Settle the acks that waited and publish what the window has room for."""
        with self._lock:
            if self._closed:
                return
            for _ in range(2):  # once more for the acks that came meanwhile
                self._settle()
                self._publish_next(client)

    def read_ahead(self) -> None:
        """Keep enough unsent events waiting for the callbacks."""
        with self._lock:
            if len(self._pending) >= self.READ_AHEAD:
                return
            after = self._last_read
        events = self.outbox.unsent(after_seq=after, limit=self.FETCH, topic=self.topic)
        if events:
            with self._lock:
                self._pending.extend(events)
                self._last_read = events[-1].seq

    def resend_when_due(self) -> None:
        """Once its retry time has come, publish again from an event the
        broker refused. (What the broker never acknowledged, paho publishes
        again itself when it reconnects, as MQTT wants.)"""
        with self._lock:
            if self._resend_from is not None and time.monotonic() >= self._resend_at:
                self._pending.clear()
                self._last_read, self._resend_from = self._resend_from - 1, None

    def mark_when_due(self) -> None:
        """Write the acknowledged events to the outbox, in batches."""
        with self._lock:
            due = not self._inflight or time.monotonic() - self._marked_at >= self.MARK_EVERY_S
        if due:
            self.flush_marks()

    def flush_marks(self) -> None:
        """Write every acknowledged event to the outbox now."""
        with self._lock:
            marks, self._to_mark = self._to_mark, []
        self._marked_at = time.monotonic()
        if not marks:
            return
        try:
            self.outbox.mark_sent(marks)
        except BaseException:
            with self._lock:
                self._to_mark[:0] = marks  # kept for the next try
            raise

    def close(self) -> None:
        """Publish nothing more; acknowledgements are still settled."""
        with self._lock:
            self._closed = True

    def finish(self) -> None:
        """After the connection is closed: mark what was acknowledged."""
        with self._lock:
            self._settle()
        self.flush_marks()

    @property
    def in_flight(self) -> int:
        """Events published and waiting for their PUBACK."""
        return len(self._inflight)

    def idle(self) -> bool:
        """Nothing in flight, nothing read and waiting, no acknowledgement unwritten."""
        with self._lock:
            return not (self._inflight or self._pending or self._to_mark or self._acks) \
                and self._resend_from is None
