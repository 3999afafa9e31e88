"""The collector against everything that goes wrong: killed at random
moments, away while devices publish, its database stopped, its broker
restarted. In every case the record ends with every event exactly once and
no ``missing`` range. Every loop here is bounded in count and time."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable

import pytest

from tests.support.broker import Broker
from tests.support.central import Record, publish_events, stream
from tests.support.postgres import PostgresServer
from tests.support.waiting import wait_for

# A busy day's queue for a stopped collector (what `broker-config` writes for a site).
KEEPING = "max_queued_messages 100000\nmax_inflight_messages 4000\n"


def assert_complete(record: Record, events: list[dict]) -> None:
    ids = record.event_ids()
    assert len(ids) == len(set(ids)), "an event was stored twice"
    assert set(ids) == {e["event_id"] for e in events}
    for row in record.json("fleet")["devices"]:
        assert row["missing"] == [], row
        assert row["events"] == row["last_seq"]


def collect_what_was_sent_while_away(record: Record, broker: Broker, events: list[dict],
                                     meanwhile: Callable[[], None] = lambda: None) -> None:
    """The collector makes its session and stops; `events` are published;
    `meanwhile` runs; the collector starts again and must store them all, once."""
    record.ok("init")
    record.start_collector()
    assert record.stop_collector() == 0
    try:
        assert publish_events(broker.port, events, client_id="devices") == len(events)
        meanwhile()
        record.start_collector()
        assert record.wait_stored(len(events), timeout=120), record.log()[-3000:]
        assert record.stop_collector() == 0
    finally:
        record.close()
    assert_complete(record, events)


class Publisher(threading.Thread):
    """Publishes `events` in slices, `rate` a second, acknowledged one slice at a time."""

    def __init__(self, port: int, events: list[dict], rate: float) -> None:
        super().__init__(daemon=True)
        self.port, self.events, self.rate = port, events, rate
        self.acknowledged = 0

    def run(self) -> None:
        step = max(1, int(self.rate / 10))
        for i in range(0, len(self.events), step):
            started = time.monotonic()
            self.acknowledged += publish_events(self.port, self.events[i:i + step], client_id="device-stream")
            time.sleep(max(0.0, step / self.rate - (time.monotonic() - started)))


def test_fifty_sigkills_during_a_stream_lose_and_repeat_nothing(tmp_path):
    rng = random.Random(20261203)
    events = stream(devices=4, per_device=1500)
    with Broker(tmp_path / "broker", extra_conf=KEEPING) as broker:
        record = Record(tmp_path / "central", f"sqlite:///{tmp_path / 'central.db'}", broker.url)
        record.ok("init")
        record.start_collector()  # the session exists from here on
        publisher = Publisher(broker.port, events, rate=60.0)
        publisher.start()
        try:
            for trial in range(50):
                if trial:
                    record.start_collector(wait=rng.random() < 0.7)
                time.sleep(rng.uniform(0.0, 1.2))
                assert record.stop_collector(signal.SIGKILL) == -signal.SIGKILL
            publisher.join(timeout=240)
            assert not publisher.is_alive() and publisher.acknowledged == len(events)
            stored_before = record.stored()
            record.start_collector()
            assert record.wait_stored(len(events), timeout=120), record.log()[-3000:]
            assert record.stop_collector() == 0
        finally:
            record.close()
        assert 0 < stored_before < len(events)  # the kills did fall in the middle of the stream
        assert_complete(record, events)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_ten_thousand_events_published_while_the_collector_is_down_are_all_stored(tmp_path, database, request):
    events = stream(devices=10, per_device=1000)
    url = (f"sqlite:///{tmp_path / 'central.db'}" if database == "sqlite"
           else request.getfixturevalue("postgres_server").new_database())
    with Broker(tmp_path / "broker", extra_conf=KEEPING) as broker:
        collect_what_was_sent_while_away(Record(tmp_path / "central", url, broker.url), broker, events)


def test_postgresql_stopped_for_thirty_seconds_mid_stream_loses_nothing(tmp_path):
    events = stream(devices=3, per_device=600)
    with PostgresServer() as server, Broker(tmp_path / "broker", extra_conf=KEEPING) as broker:
        record = Record(tmp_path / "central", server.new_database(), broker.url)
        record.ok("init")
        record.start_collector()
        publisher = Publisher(broker.port, events, rate=40.0)
        publisher.start()
        try:
            assert wait_for(lambda: record.stored() > 100, timeout=30, interval=0.2), record.log()
            server.stop()
            time.sleep(10)
            # Killed while it holds unstored messages: had it acknowledged any
            # early, the broker would not send them again and they would be lost.
            assert record.stop_collector(signal.SIGKILL) == -signal.SIGKILL
            outage_log = record.log()
            record.start_collector(wait=False)
            time.sleep(20)
            server.start()
            publisher.join(timeout=120)
            assert not publisher.is_alive() and publisher.acknowledged == len(events)
            if record.collector is None or record.collector.poll() is not None:
                record.start_collector()  # it exits when it cannot open the record at start
            assert record.wait_stored(len(events), timeout=120), record.log()[-3000:]
            assert record.stop_collector() == 0
        finally:
            record.close()
        assert "database unreachable (attempt 1" in outage_log and "held, not acknowledged" in outage_log
        assert_complete(record, events)


def test_a_broker_restarted_with_the_collectors_session_queued_loses_nothing(tmp_path):
    events = stream(devices=5, per_device=400)
    persistence = f"persistence true\npersistence_location {tmp_path}/\nautosave_interval 60\n"
    with Broker(tmp_path / "broker", extra_conf=KEEPING + persistence) as broker:
        record = Record(tmp_path / "central", f"sqlite:///{tmp_path / 'central.db'}", broker.url)

        def restart_the_broker() -> None:
            broker.stop()  # SIGTERM: mosquitto writes its store
            broker.start()

        collect_what_was_sent_while_away(record, broker, events, meanwhile=restart_the_broker)
