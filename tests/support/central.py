"""The central side for tests: contract events as a device would send them,
a publisher that waits for every PUBACK, and a record (config file, database,
key file) driven through the real ``ravao central`` command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text

from tests.support.paths import REPO
from tests.support.process import RAVAO, run_ravao
from tests.support.waiting import wait_for

SUBSCRIBED = "subscribed: the broker keeps"
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
"""08:00 UTC on the contract's example day."""


def at(minutes: float) -> datetime:
    """`minutes` after :data:`T0`."""
    return T0 + timedelta(minutes=minutes)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def cccd(ident: str, name: str, dob: str = "2003-05-14", sex: str = "F") -> dict[str, Any]:
    """A CCCD credential as the event carries it."""
    return {"type": "cccd", "id": ident, "name": name, "dob": dob, "sex": sex}


def contract_event(*, seq: int, ts: datetime, credential: dict[str, Any], device_id: str = "door-01",
                   venue_id: str = "bv-tw-hue", direction: str = "in", result: str = "pass",
                   reason: str | None = None, vehicle: str | None = None, route: str | None = None,
                   event_id: str | None = None) -> dict[str, Any]:
    """A check-in event with every field the contract requires."""
    event = {"schema": "ravao.checkin/1", "event_id": event_id or str(uuid.uuid4()), "seq": seq,
             "device_id": device_id, "venue_id": venue_id, "ts": rfc3339(ts), "clock_synced": True,
             "direction": direction, "result": result, "reason": reason, "credential": credential}
    if vehicle is not None:
        event.update(vehicle=vehicle, route=route)
    return event


def stream(devices: int, per_device: int, venue: str = "bv-tw-hue") -> list[dict]:
    """`per_device` events from each of `devices` devices, interleaved as they would arrive."""
    people = [cccd(f"0462030{n:05d}", f"Người {n}") for n in range(50)]
    events = []
    for seq in range(1, per_device + 1):
        for d in range(devices):
            events.append(contract_event(seq=seq, ts=at(seq / 10), credential=people[(seq + d) % 50],
                                         device_id=f"door-{d:02d}", venue_id=venue,
                                         direction="in" if seq % 2 else "out"))
    return events


def events_topic(event: dict[str, Any], prefix: str = "ravao") -> str:
    return f"{prefix}/{event['venue_id']}/{event['device_id']}/events"


def publish(port: int, messages: Iterable[tuple[str, bytes | str]], *, client_id: str = "",
            timeout: float = 60.0, retain: bool = False) -> int:
    """Publish QoS 1 and wait for every PUBACK; how many were acknowledged."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        return sum(1 for info in infos if info.is_published())
    finally:
        client.disconnect()
        client.loop_stop()


def publish_events(port: int, events: Iterable[dict[str, Any]], **kwargs: Any) -> int:
    """Publish contract events on their devices' topics."""
    return publish(port, ((events_topic(e), json.dumps(e, ensure_ascii=False)) for e in events), **kwargs)


class Record:
    """A central config, its database and key file, and the command line over them."""

    def __init__(self, folder: Path, database_url: str, broker_url: str, *, extra: str = "", mqtt: str = "",
                 key_file: Path | None = None) -> None:
        """`mqtt`: more lines for ``[mqtt]``; `extra`: more sections; `key_file`: another record's, to share it."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.key_file = key_file or self.folder / "record.key"
        self.config = self.folder / "central.toml"
        self.config.write_text(
            f'[database]\nurl = "{database_url}"\n\n[mqtt]\nurl = "{broker_url}"\n'
            f'client_id = "central-{uuid.uuid4().hex[:8]}"\n{mqtt}\n[privacy]\nkey_file = "{self.key_file}"\n\n'
            + extra)
        self.collector: subprocess.Popen[str] | None = None
        self.collector_log = self.folder / "collector.log"

    def run(self, *args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """``ravao central ARGS… --config FILE``."""
        return run_ravao("central", *args, "--config", str(self.config), timeout=timeout, **kwargs)

    def ok(self, *args: str, **kwargs: Any) -> str:
        """Like :meth:`run`, asserting exit 0; its standard output."""
        done = self.run(*args, **kwargs)
        assert done.returncode == 0, f"ravao central {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        """A ``--json`` command's output, parsed."""
        return json.loads(self.ok(*args, "--json"))

    def start_collector(self, *, wait: bool = True) -> subprocess.Popen[str]:
        """``ravao central collect`` in the background, its log in :attr:`collector_log`;
        with `wait`, until it has subscribed (what is published before is not its)."""
        subscribed = self.log().count(SUBSCRIBED)
        log = self.collector_log.open("a")
        self.collector = subprocess.Popen([*RAVAO, "central", "collect", "--config", str(self.config)], cwd=REPO,
                                          stdout=log, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
        if wait:
            assert wait_for(lambda: self.log().count(SUBSCRIBED) > subscribed or self.collector.poll() is not None,
                            timeout=30, interval=0.05), self.log()
            assert self.collector.poll() is None, self.log()
        return self.collector

    def stop_collector(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` to the collector and wait; its exit status."""
        assert self.collector is not None
        if self.collector.poll() is None:
            self.collector.send_signal(sig)
        code = self.collector.wait(timeout)
        self.collector = None
        return code

    def engine(self) -> Any:
        url = self.database_url.replace("postgresql://", "postgresql+psycopg://")
        return create_engine(url)

    def stored(self) -> int:
        """How many events the record holds (read directly, not through the collector)."""
        engine = self.engine()
        try:
            with engine.connect() as c:
                return int(c.execute(text("SELECT count(*) FROM events")).scalar_one())
        finally:
            engine.dispose()

    def event_ids(self) -> list[str]:
        """Every stored event id, repeats included."""
        engine = self.engine()
        try:
            with engine.connect() as c:
                return [r[0] for r in c.execute(text("SELECT event_id FROM events"))]
        finally:
            engine.dispose()

    def wait_stored(self, count: int, timeout: float = 60) -> bool:
        """Whether the record reaches `count` events within `timeout`."""
        return wait_for(lambda: self.stored() >= count, timeout=timeout, interval=0.2)

    def log(self) -> str:
        return self.collector_log.read_text(errors="replace") if self.collector_log.exists() else ""

    def close(self) -> None:
        if self.collector is not None and self.collector.poll() is None:
            self.collector.kill()
            self.collector.wait(10)


