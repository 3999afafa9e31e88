"""The device's uplinks: the one of the identity in force, and one for each
identity the device left with events still undelivered (each to the broker
and topic they were recorded for)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from pydantic import ValidationError

from appliance.config import MqttConfig
from appliance.outbox import Outbox
from appliance.state import DeviceState
from appliance.uplink import Identity, Uplink, UplinkState

log = logging.getLogger("ravao")


class Uplinks:
    """Starts, switches and stops uplinks. `current` is changed by the camera
    thread only; the retired uplinks are guarded by the switching lock."""

    def __init__(self, outbox: Outbox, state: DeviceState, stopping: threading.Event) -> None:
        self.outbox, self.state, self.stopping = outbox, state, stopping
        self.current: Uplink | None = None
        self.retired: dict[str, Uplink] = {}  # events topic of an identity left behind → its uplink
        self._switching = threading.Lock()  # one switch at a time, in the order they were asked for

    def use(self, identity: Identity | None, mqtt: MqttConfig, *, on_change: Callable[[UplinkState], None],
            status_extra: Callable[[], dict[str, Any]],
            revocations: tuple[Sequence[str], Callable[[bytes], None]] | None,
            start: bool) -> None:
        """Put the uplink of `identity` in force (none without one); the old
        one says "offline" and stops on a thread of its own (network time)."""
        old, self.current = self.current, None
        if identity is not None:
            self.current = Uplink(self.outbox, identity, mqtt, on_change=on_change, status_extra=status_extra)
            if revocations is not None:
                for topic in revocations[0]:
                    self.current.subscribe(topic, revocations[1])
        if old is not None:
            threading.Thread(target=self._switch, args=(old, self.current), name="ravao-switch", daemon=True).start()
        elif start and self.current is not None:
            self.current.start()

    def start(self) -> None:
        """Connect, and deliver what identities left behind to their brokers."""
        with self._switching:
            if self.current is not None:
                self.current.start()
            else:
                log.warning("this device has no identity yet: waiting for a setup QR")
            self._start_retired()

    def wait_until_delivered(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the outbox to be delivered."""
        deadline = time.monotonic() + timeout
        while self.current is not None and not self.stopping.is_set():
            left = self.outbox.count_unsent()
            if left == 0:
                log.info("every event is delivered")
                return
            if time.monotonic() >= deadline:
                log.warning("%d events not delivered within %ss; they stay in the outbox", left, timeout)
                return
            self.stopping.wait(0.05)

    def close(self) -> None:
        """Stop every uplink."""
        with self._switching:
            for uplink in [self.current, *self.retired.values()]:
                if uplink is not None:
                    uplink.stop()

    def _switch(self, old: Uplink, new: Uplink | None) -> None:
        with self._switching:
            old.stop()
            if new is not None and new is self.current and not self.stopping.is_set():
                new.start()
            self._start_retired()

    def _start_retired(self) -> None:
        current = self.current.events_topic if self.current is not None else None
        for route in self.state.retired_routes():
            topic = route["topic"]
            if topic in self.retired or self.stopping.is_set():
                continue
            if topic == current or not self.outbox.count_unsent_on(topic):
                self.state.drop_retired(topic)
                continue
            try:
                uplink = Uplink(self.outbox, Identity(route["device_id"], route["venue_id"]),
                                MqttConfig.model_validate(route["mqtt"]),
                                on_delivered=partial(self._retired_delivered, topic))
            except (KeyError, TypeError, ValidationError) as exc:
                log.error("cannot deliver the events left on %s: %s", topic, exc)
                continue
            log.info("delivering the events left on %s to their own broker", topic)
            self.retired[topic] = uplink
            uplink.start()

    def _retired_delivered(self, topic: str) -> None:
        # On the retired uplink's own "delivered" thread; the retired uplinks
        # are the switching lock's, not the camera thread's.
        with self._switching:
            uplink = self.retired.pop(topic, None)
            if uplink is not None:
                uplink.stop()
            self.state.drop_retired(topic)
