"""The dedupe windows across a restart of the daemon: the contract's "across
restarts of the daemon too", through a real broker."""

from __future__ import annotations

from appliance.decision import Result
from tests.support.device_harness import Device, device_toml
from tests.support.samples import CARDS

POLICY = "[policy]\ndedupe_seconds = 600\n"


def test_a_person_who_passed_is_a_duplicate_after_a_restart_too(tmp_path, broker, subscriber):
    toml = device_toml(tmp_path / "state", broker.url, extra=POLICY)
    first = Device(tmp_path, toml)
    try:
        assert first.show(CARDS[0].text())[0].result is Result.PASS
        assert first.show("a note on paper")[0].result is Result.FAIL  # a refused code: its own window
        first.wait_until(lambda: first.daemon.outbox.count_unsent() == 0)
    finally:
        first.close()
    again = Device(tmp_path, toml)
    try:
        (d,) = again.show(CARDS[0].text())
        assert d.result is Result.DUPLICATE and d.passed_before
        assert again.show("a note on paper")[0].result is Result.DUPLICATE
        assert again.show(CARDS[1].text())[0].result is Result.PASS  # someone else
        events = subscriber.wait_events(3)
        assert [(e["seq"], e["result"]) for e in events] == [(1, "pass"), (2, "fail"), (3, "pass")]
        assert again.daemon.outbox.last_seq() == 3
    finally:
        again.close()
