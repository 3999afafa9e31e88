"""A broker that cannot be reached: the log says why, once per reason, and
the events wait in the outbox."""

from __future__ import annotations

import time

import pytest

from tests.support.device_harness import Device, device_toml
from tests.support.mosquitto import free_port
from tests.support.samples import CARDS


@pytest.mark.parametrize("url, reason", [
    (f"mqtt://127.0.0.1:{free_port()}", "connection refused (no broker listens on that port)"),
    ("mqtt://nonexistent.invalid:1883", "no such host (the name does not resolve)"),
])
def test_the_log_says_why_once(tmp_path, caplog, url, reason):
    dev = Device(tmp_path, device_toml(tmp_path / "state", url))
    try:
        dev.show(CARDS[0].text())
        time.sleep(3.5)  # paho retries after 1 s, then 2 s
        said = [r.getMessage() for r in caplog.records if "cannot reach the broker" in r.getMessage()]
        assert said == [f"cannot reach the broker {url}: {reason}; trying again in 1 s, then less and less "
                        "often (at most every 60 s)"]
        assert dev.daemon.outbox.count_unsent() == 1
    finally:
        dev.close()
