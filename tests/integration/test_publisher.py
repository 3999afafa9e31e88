"""The publisher on its own, with a real paho client and a real Mosquitto: the
window, the order, and an acknowledgement that finds the publisher's lock taken."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from appliance.outbox import Outbox
from appliance.publisher import InOrderPublisher

TOPIC = "ravao/v/d/events"


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite3")
    for i in range(40):
        box.record(TOPIC, {"n": i})
    yield box
    box.close()


class Client:
    """A connected paho client whose PUBACKs go to the publisher (or, with
    `hold`, wait until the test lets them through)."""

    def __init__(self, port: int) -> None:
        self.publisher: InOrderPublisher | None = None
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
            self.publisher.acknowledged(client, mid, not reason_code.is_failure)

    def let_through(self) -> None:
        """Stop holding; hand the publisher the acknowledgements held so far."""
        self.hold = False
        for mid, ok in self.held:
            self.publisher.acknowledged(self.client, mid, ok)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_until_idle(publisher: InOrderPublisher, client: mqtt.Client, timeout: float = 20.0) -> bool:
    """The publisher thread's work, until everything is delivered and marked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        publisher.mark_when_due()
        publisher.read_ahead()
        publisher.fill(client)
        if publisher.idle():
            return True
        time.sleep(0.005)
    return False


def assert_delivered_in_order(publisher: InOrderPublisher, paho: Client, outbox: Outbox, subscriber) -> None:
    """Everything is published, acknowledged and marked; the subscriber got
    every event once, in seq order."""
    paho.let_through()
    assert run_until_idle(publisher, paho.client)
    assert outbox.count_unsent() == 0
    assert subscriber.wait_for(40)
    assert [json.loads(p)["seq"] for _, p, _ in subscriber.messages] == list(range(1, 41))


def test_every_event_once_in_order_never_more_than_the_window(outbox, broker, subscriber):
    paho = Client(broker.port)
    paho.publisher = publisher = InOrderPublisher(outbox, window=6, topic=TOPIC)
    try:
        paho.hold = True  # no acknowledgement reaches the publisher
        publisher.read_ahead()
        publisher.fill(paho.client)
        publisher.fill(paho.client)
        assert publisher.in_flight == 6
        assert subscriber.wait_for(6)
        time.sleep(0.3)
        assert len(subscriber.messages) == 6  # nothing beyond the window
        assert_delivered_in_order(publisher, paho, outbox, subscriber)
    finally:
        paho.close()


def test_an_ack_that_finds_the_lock_taken_is_settled_by_the_holder(outbox, broker, subscriber):
    paho = Client(broker.port)
    paho.publisher = publisher = InOrderPublisher(outbox, window=3, topic=TOPIC)
    try:
        paho.hold = True
        publisher.read_ahead()
        publisher.fill(paho.client)
        assert subscriber.wait_for(3)
        deadline = time.monotonic() + 10
        while len(paho.held) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(paho.held) == 3
        mid, ok = paho.held.pop(0)
        with publisher._lock:  # the publishing thread is busy publishing
            assert publisher.acknowledged(paho.client, mid, ok) is False
            assert publisher.in_flight == 3  # queued, not settled
        publisher.fill(paho.client)  # the holder settles it and fills the window again
        assert publisher.in_flight == 3
        publisher.flush_marks()
        assert outbox.count_unsent() == 39
        assert_delivered_in_order(publisher, paho, outbox, subscriber)
    finally:
        paho.close()
