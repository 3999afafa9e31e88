"""The uplink against a real Mosquitto that goes away, restarts mid-drain,
stalls, or answers slowly (through a loopback proxy)."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from appliance.decoder import DecodedCode
from tests.support.broker import Broker, Subscriber
from tests.support.device_harness import Device, device_toml
from tests.support.proxy import Proxy
from tests.support.samples import CARDS


class Consumer:
    """mosquitto_sub in its own process, with a persistent session, writing
    every event it receives to a file."""

    def __init__(self, broker: Broker, out: Path) -> None:
        self.out = out
        self.file = out.open("wb")
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "ravao/+/+/events", "-q", "1",
             "-i", "consumer", "-c", "-W", "300"], stdout=self.file)
        time.sleep(0.5)  # subscribed

    def events(self) -> list[dict]:
        lines = self.out.read_bytes().split(b"\n")
        return [json.loads(line) for line in lines[:-1] if line.strip()]  # the last may be half written

    def wait(self, distinct: int, timeout: float) -> list[dict]:
        """Every event received once `distinct` event_ids arrived (or the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len({e["event_id"] for e in self.events()}) < distinct:
            time.sleep(0.2)
        time.sleep(0.5)  # redeliveries still on their way
        self.proc.terminate()
        self.proc.wait(10)
        self.file.close()
        return self.events()


def check_delivery(events: list[dict], expected: int) -> None:
    """Every event, each first arriving in seq order; a redelivery is identical."""
    first: dict[str, dict] = {}
    order = []
    for event in events:
        if event["event_id"] in first:
            assert first[event["event_id"]] == event
            continue
        first[event["event_id"]] = event
        order.append(event["seq"])
    assert len(first) == expected
    assert order == sorted(order), "first arrivals in seq order"
    assert sorted(order) == list(range(order[0], order[0] + expected))


def device_behind(tmp_path: Path, proxy: Proxy) -> Device:
    """A device whose way to the broker goes through `proxy`; no dedupe."""
    return Device(tmp_path, device_toml(tmp_path / "state", proxy.url, extra="[policy]\ndedupe_seconds = 0\n"))


def record_checkins(dev: Device, count: int) -> None:
    """`count` check-ins through the decision and record path (no camera)."""
    daemon = dev.daemon
    codes = [DecodedCode(c.text().encode(), c.text()) for c in CARDS]
    for i in range(count):
        now = datetime.now(UTC)
        decision = daemon.checkpoint.decide(codes[i % len(codes)], time.monotonic(), now)
        daemon.act(decision, time.monotonic(), now)


def all_sent(dev: Device, timeout: float = 30) -> bool:
    """Wait until the broker has acknowledged every event in the outbox."""
    return dev.wait_until(lambda: dev.daemon.outbox.count_unsent() == 0, timeout=timeout)


def delivering(dev: Device) -> bool:
    """One check-in, delivered: the uplink is connected and publishing."""
    record_checkins(dev, 1)
    return all_sent(dev, timeout=10)


def persistent_broker(tmp_path: Path) -> Broker:
    store = tmp_path / "store"
    store.mkdir()
    return Broker(tmp_path / "broker", extra_conf=(
        f"persistence true\npersistence_location {store}/\nmax_queued_messages 0\n"))


def test_long_outage_then_everything_in_order(tmp_path):
    with persistent_broker(tmp_path) as broker:
        proxy = Proxy(broker.port)  # the device's way to the broker: down
        consumer = Consumer(broker, tmp_path / "got.jsonl")
        dev = device_behind(tmp_path, proxy)
        try:
            record_checkins(dev, 10_000)
            assert dev.daemon.outbox.count_unsent() == 10_000
            proxy.start()
            events = consumer.wait(10_000, timeout=180)
            assert all_sent(dev)
        finally:
            dev.close()
            proxy.stop()
    check_delivery(events, 10_000)


def test_broker_restarts_in_the_middle_of_a_drain(tmp_path):
    with persistent_broker(tmp_path) as broker:
        proxy = Proxy(broker.port)
        consumer = Consumer(broker, tmp_path / "got.jsonl")
        dev = device_behind(tmp_path, proxy)
        try:
            record_checkins(dev, 3_000)
            proxy.start()
            assert dev.wait_until(lambda: dev.daemon.outbox.count_unsent() < 2_000, timeout=60)
            broker.stop()
            proxy.stop()
            left = dev.daemon.outbox.count_unsent()
            broker.start()
            proxy.start()
            events = consumer.wait(3_000, timeout=180)
            assert all_sent(dev)
        finally:
            dev.close()
            proxy.stop()
    assert 0 < left < 3_000, "the restart fell in the middle of the drain"
    check_delivery(events, 3_000)


def test_a_broker_that_never_acknowledges(tmp_path, broker, subscriber):
    proxy = Proxy(broker.port).start()
    dev = device_behind(tmp_path, proxy)
    try:
        assert dev.wait_until(lambda: dev.daemon.uplink.state.online)
        proxy.stall = True  # the connection stays open; nothing passes any more
        shown = [dev.show(CARDS[i % len(CARDS)].text())[0] for i in range(12)]  # the camera loop goes on
        assert all(d.event is not None for d in shown)
        assert dev.daemon.outbox.count_unsent() == 12
        assert dev.wait_until(lambda: dev.daemon.uplink.state.queue == 12, timeout=5)
        proxy.stall = False
        events = subscriber.wait_events(12, timeout=60)
        assert all_sent(dev, timeout=60)
    finally:
        dev.close()
        proxy.stop()
    check_delivery(events, 12)


def test_a_slow_link(tmp_path, broker, subscriber):
    proxy = Proxy(broker.port).start()
    proxy.delay = 0.05  # every chunk, both ways
    dev = device_behind(tmp_path, proxy)
    try:
        record_checkins(dev, 200)
        events = subscriber.wait_events(200, timeout=90)
        assert all_sent(dev)
    finally:
        dev.close()
        proxy.stop()
    check_delivery(events, 200)


def test_an_mqtt5_broker_s_receive_maximum_bounds_the_events_in_flight(tmp_path):
    with Broker(tmp_path / "broker", extra_conf="max_inflight_messages 7\n") as broker:
        proxy = Proxy(broker.port).start()
        mqtt = f'[mqtt]\nurl = "{proxy.url}"\nprotocol = "5"\n\n[policy]\ndedupe_seconds = 0\n'
        dev = Device(tmp_path, device_toml(tmp_path / "state", None, extra=mqtt))
        subscriber = Subscriber(broker.port, "ravao/+/+/events")
        try:
            assert delivering(dev)
            assert dev.daemon.uplink.window == 6  # 7 less one for a status message; the config's default is 100
            proxy.stall = True
            record_checkins(dev, 30)
            uplink = dev.daemon.uplink
            assert dev.wait_until(lambda: uplink.state.in_flight == 6, timeout=5)
            time.sleep(0.5)  # the drain has had every chance to publish more
            assert uplink.state.in_flight == 6
            proxy.stall = False
            events = subscriber.wait_events(31, timeout=60)
            assert all_sent(dev)
            assert dev.wait_until(lambda: uplink.state.in_flight == 0, timeout=5)
        finally:
            dev.close()
            proxy.stop()
            subscriber.close()
    check_delivery(events, 31)


def test_after_a_reconnect_nothing_new_goes_out_before_what_was_unacknowledged(tmp_path, broker, subscriber):
    proxy = Proxy(broker.port).start()
    dev = device_behind(tmp_path, proxy)
    uplink = dev.daemon.uplink
    try:
        assert delivering(dev)
        proxy.stall = True
        record_checkins(dev, 20)  # published, never acknowledged
        assert dev.wait_until(lambda: uplink.state.in_flight == 20, timeout=5)
        proxy.stop()  # the link drops; paho keeps the 20 to publish again
        assert dev.wait_until(lambda: not uplink.state.online, timeout=10)
        record_checkins(dev, 20)  # recorded while the link is down
        # Hold paho's thread inside on_connect (where the display is told the
        # device is online); paho publishes the 20 again only after it.
        told = uplink.on_change
        uplink.on_change = lambda state: (time.sleep(0.5) if state.online else None, told(state))
        proxy.stall = False
        proxy.start()
        events = subscriber.wait_events(41, timeout=60)
        assert all_sent(dev)
    finally:
        dev.close()
        proxy.stop()
    check_delivery(events, 41)
