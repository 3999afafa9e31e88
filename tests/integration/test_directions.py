"""Directions: fixed, toggle per person (across a restart), button."""

from __future__ import annotations

from appliance.decision import Result
from tests.support.device_harness import Device, device_toml
from tests.support.samples import CARDS

TOGGLE = '[device]\nid = "gate"\nvenue_id = "school"\ndirection = "{}"\n\n'


def toml(tmp_path, direction: str) -> str:
    text = device_toml(tmp_path / "state", "mqtt://127.0.0.1:1", device=False)
    return TOGGLE.format(direction) + text + "[policy]\ndedupe_seconds = 0\n"


def test_toggle_alternates_per_person_and_survives_a_restart(tmp_path):
    dev = Device(tmp_path, toml(tmp_path, "toggle"))
    try:
        seen = [dev.show(CARDS[i].text())[0].direction for i in (0, 0, 1, 0)]
        assert seen == ["in", "out", "in", "in"]
    finally:
        dev.close()
    again = Device(tmp_path, toml(tmp_path, "toggle"))
    try:
        assert [again.show(CARDS[i].text())[0].direction for i in (0, 1)] == ["out", "out"]
        # A failed scan of the same person does not flip them.
        accept = again.daemon.checkpoint.accept
        again.daemon.checkpoint.accept = frozenset({"pass"})
        (fail,) = again.show(CARDS[0].text())
        assert fail.result is Result.FAIL and fail.direction == "in"
        again.daemon.checkpoint.accept = accept
        assert again.show(CARDS[0].text())[0].direction == "in"
    finally:
        again.close()


def test_button_switches_the_direction(tmp_path):
    dev = Device(tmp_path, toml(tmp_path, "button"))
    try:
        assert dev.show(CARDS[0].text())[0].direction == "in"
        dev.daemon.button_pressed()  # gpiozero's thread asks; the camera thread switches
        assert dev.daemon.directions.shown == "in"
        dev.daemon.inbox.run_pending()
        assert dev.daemon.directions.shown == "out"
        assert dev.show(CARDS[1].text())[0].direction == "out"
        dev.daemon.button_pressed()
        assert dev.show(CARDS[2].text())[0].direction == "in"
    finally:
        dev.close()


def test_fixed_out_and_the_button_does_nothing(tmp_path):
    dev = Device(tmp_path, toml(tmp_path, "out"))
    try:
        dev.daemon.button_pressed()
        assert [dev.show(CARDS[i].text())[0].direction for i in (0, 1)] == ["out", "out"]
    finally:
        dev.close()
