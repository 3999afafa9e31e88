"""The drain on its own, with a real paho client and a real Mosquitto: the
window, the order, and an acknowledgement that finds the drain's lock taken."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from appliance.drain import Drain
from appliance.outbox import Outbox

TOPIC = "ravao/v/d/events"


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite3")
    for i in range(40):
        box.record(TOPIC, {"n": i})
    yield box
    box.close()


class Client:
    """A connected paho client whose PUBACKs go to the drain (or, with
    `hold`, wait until the test lets them through)."""

    def __init__(self, port: int) -> None:
        self.drain: Drain | None = None
        self.held: list[tuple[int, bool]] = []
        self.hold = False
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.max_inflight_messages_set(0)
        self.client.on_publish = self._on_publish
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert connected.wait(10)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if self.hold:
            self.held.append((mid, not reason_code.is_failure))
        else:
            self.drain.acknowledged(client, mid, not reason_code.is_failure)

    def let_through(self) -> None:
        """Stop holding; hand the drain the acknowledgements held so far."""
        self.hold = False
        for mid, ok in self.held:
            self.drain.acknowledged(self.client, mid, ok)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_until_idle(drain: Drain, client: mqtt.Client, timeout: float = 20.0) -> bool:
    """The drain thread's work, until everything is delivered and marked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drain.mark_when_due()
        drain.read_ahead()
        drain.fill(client)
        if drain.idle():
            return True
        time.sleep(0.005)
    return False


def assert_delivered_in_order(drain: Drain, paho: Client, outbox: Outbox, subscriber) -> None:
    """Everything is published, acknowledged and marked; the subscriber got
    every event once, in seq order."""
    paho.let_through()
    assert run_until_idle(drain, paho.client)
    assert outbox.count_unsent() == 0
    assert subscriber.wait_for(40)
    assert [json.loads(p)["seq"] for _, p, _ in subscriber.messages] == list(range(1, 41))


def test_every_event_once_in_order_never_more_than_the_window(outbox, broker, subscriber):
    paho = Client(broker.port)
    paho.drain = drain = Drain(outbox, window=6, topic=TOPIC)
    try:
        paho.hold = True  # no acknowledgement reaches the drain
        drain.read_ahead()
        drain.fill(paho.client)
        drain.fill(paho.client)
        assert drain.in_flight == 6
        assert subscriber.wait_for(6)
        time.sleep(0.3)
        assert len(subscriber.messages) == 6  # nothing beyond the window
        assert_delivered_in_order(drain, paho, outbox, subscriber)
    finally:
        paho.close()


def test_an_ack_that_finds_the_lock_taken_is_settled_by_the_holder(outbox, broker, subscriber):
    paho = Client(broker.port)
    paho.drain = drain = Drain(outbox, window=3, topic=TOPIC)
    try:
        paho.hold = True
        drain.read_ahead()
        drain.fill(paho.client)
        assert subscriber.wait_for(3)
        deadline = time.monotonic() + 10
        while len(paho.held) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(paho.held) == 3
        mid, ok = paho.held.pop(0)
        with drain._lock:  # the drain thread is busy publishing
            assert drain.acknowledged(paho.client, mid, ok) is False
            assert drain.in_flight == 3  # queued, not settled
        drain.fill(paho.client)  # the holder settles it and fills the window again
        assert drain.in_flight == 3
        drain.flush_marks()
        assert outbox.count_unsent() == 39
        assert_delivered_in_order(drain, paho, outbox, subscriber)
    finally:
        paho.close()
