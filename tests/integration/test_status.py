"""The device's retained status on a real Mosquitto: refreshed while
connected, and a last will that says it is one."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime

from appliance import uplink as uplink_module
from appliance.config import MqttConfig
from appliance.outbox import Outbox
from appliance.uplink import Identity, Uplink
from tests.support.process import RAVAO, REPO, device_config
from tests.support.samples import CARDS, qr_png

WAIT = 10.0  # seconds: the bound on every wait


def wait_statuses(subscriber, predicate, timeout: float = WAIT) -> list[dict]:
    """The statuses received, once `predicate` holds for them (or the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = subscriber.statuses()
        if predicate(statuses):
            return statuses
        time.sleep(0.05)
    return subscriber.statuses()


def test_the_retained_status_is_refreshed_with_its_queue_while_connected(tmp_path, broker, subscriber, monkeypatch):
    monkeypatch.setattr(uplink_module, "STATUS_EVERY_S", 0.3)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.record("elsewhere/v/d/events", {"n": 1})  # another identity's event: never sent here, still unsent
    link = Uplink(outbox, Identity(device_id="door-01", venue_id="bv"), MqttConfig(url=broker.url))
    link.start()
    try:
        wait_statuses(subscriber, lambda s: len(s) >= 4)
    finally:
        link.stop()
        outbox.close()
    statuses = wait_statuses(subscriber, lambda s: s[-1]["state"] == "offline")
    online = [s for s in statuses if s["state"] == "online"]
    assert len(online) >= 3, statuses
    times = [datetime.fromisoformat(s["ts"]) for s in online]
    assert times == sorted(times) and len(set(times)) == len(times), "each refresh carries its own time"
    assert all(s["queue"] == 1 and "will" not in s for s in online)
    assert statuses[-1]["state"] == "offline" and "will" not in statuses[-1], "a clean stop is no will"


def test_a_lost_connection_publishes_the_will_marked_as_one(tmp_path, broker, subscriber):
    folder = tmp_path / "images"
    folder.mkdir()
    qr_png(CARDS[0].text(), folder / "a.png")
    config = tmp_path / "device.toml"
    config.write_text(device_config(tmp_path / "state", f"images:{folder}?loop=1&fps=30", broker.url))
    daemon = subprocess.Popen([*RAVAO, "run", "--config", str(config)], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_statuses(subscriber, lambda s: any(x["state"] == "online" for x in s), timeout=30), \
            "the device came online"
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    statuses = wait_statuses(subscriber, lambda s: s[-1]["state"] == "offline")
    will = statuses[-1]
    assert will["state"] == "offline" and will["will"] is True
    connected = datetime.fromisoformat(next(s for s in statuses if s["state"] == "online")["ts"])
    assert datetime.fromisoformat(will["ts"]) <= connected, "its ts is the connect time, as it says"
    assert {"state", "ts", "version", "queue"} <= set(will)
