"""A real Mosquitto for the device tests, and a subscriber that collects
what it receives."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import Mosquitto


class Broker(Mosquitto):
    """A Mosquitto for the device tests: anonymous clients allowed unless
    `extra_conf` says otherwise. Can be stopped and started again on its port."""

    def __init__(self, workdir: Path, *, port: int | None = None, extra_conf: str = "") -> None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        if "allow_anonymous" not in extra_conf:
            extra_conf = "allow_anonymous true\n" + extra_conf
        super().__init__(workdir, port=port, extra_conf=extra_conf)


class Subscriber:
    """A paho client that keeps every message on `topic` (QoS 1)."""

    def __init__(self, port: int, topic: str = "#", *, username: str = "", password: str = "",
                 echo: Callable[[str, bytes], None] | None = None) -> None:
        self.echo = echo
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscriber could not subscribe")

    def _on_message(self, client, userdata, msg) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload, msg.retain))
            self._cond.notify_all()
        if self.echo is not None:
            self.echo(msg.topic, msg.payload)

    def events(self) -> list[dict]:
        """Every check-in event received so far, as parsed JSON, in arrival order."""
        with self._cond:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/events")]

    def statuses(self) -> list[dict]:
        with self._cond:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/status")]

    def wait_events(self, count: int, timeout: float = 20.0) -> list[dict]:
        """Wait until `count` distinct event_ids arrived (or the timeout); return all events."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len({e["event_id"] for e in self._events_locked()}) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        return self.events()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until `count` messages of any kind arrived; True if they did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _events_locked(self) -> list[dict]:
        return [json.loads(p) for t, p, _ in self.messages if t.endswith("/events")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
