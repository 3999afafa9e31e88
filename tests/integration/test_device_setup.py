"""Setting a device up with one QR, against real Mosquittos; and what a
refused setup QR must leave alone."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from appliance.decision import Result
from appliance.feedback import Notice, RecordingFeedback
from provisioning.keys import init_owner, load_owner
from ravao_protocol.keys import key_id_hex
from ravao_protocol.refusals import Reason
from ravao_protocol.setup_qr import SetupSettings, make_setup_qr
from tests.support.broker import Broker, Subscriber
from tests.support.device_harness import Device, device_toml
from tests.support.process import run_ravao
from tests.support.samples import CARDS


def setup_text(home: Path, broker_url: str, *, iat: int, minutes: int = 60, device_id: str = "door-07",
               **extra) -> str:
    settings = SetupSettings(device_id=device_id, venue_id="cho-dong-ba", venue_name="Chợ Đông Ba",
                             broker_url=broker_url, issued_at=iat, expires=iat + minutes * 60, **extra)
    return make_setup_qr(settings, load_owner(home))


@pytest.fixture
def owner(tmp_path):
    init_owner(tmp_path / "owner")
    return tmp_path / "owner"


@pytest.fixture
def nmcli(tmp_path, monkeypatch):
    """A recording stand-in for NetworkManager's nmcli, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "nmcli.log"
    script = bin_dir / "nmcli"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.fixture
def fresh(tmp_path):
    """A device with no [device] section, pointed at no broker."""
    feedback = RecordingFeedback()
    dev = Device(tmp_path, device_toml(tmp_path / "state", None, device=False), feedback=feedback)
    dev.feedback = feedback
    yield dev
    dev.close()


def state_bytes(dev: Device) -> bytes:
    return dev.daemon.state.path.read_bytes()


def test_fresh_device_waits_then_takes_its_setup_qr(fresh, owner, broker, subscriber):
    assert fresh.daemon.identity is None and fresh.daemon.uplink is None
    fresh.daemon.show_status()
    assert fresh.feedback.calls[-1][1][2] is Notice.SETUP
    # A card shown before setup cannot be recorded, so the person is not told "pass".
    (d,) = fresh.show(CARDS[0].text())
    assert d.result is Result.ERROR and d.event is None and not d.opens_door

    (d,) = fresh.show(setup_text(owner, broker.url, iat=int(time.time())))
    assert d.result is Result.PASS and d.credential.type == "setup"
    daemon = fresh.daemon
    assert daemon.identity.device_id == "door-07" and daemon.identity.venue_id == "cho-dong-ba"
    assert daemon.state.pinned_key() is not None
    assert fresh.wait_until(lambda: daemon.uplink is not None and daemon.uplink.state.online)
    (d,) = fresh.show(CARDS[1].text())
    assert d.result is Result.PASS
    events = subscriber.wait_events(2)
    assert [e["credential"]["type"] for e in events] == ["setup", "cccd"]
    assert {e["device_id"] for e in events} == {"door-07"}
    assert events[0]["credential"]["issuer"] == key_id_hex(daemon.state.pinned_key())


def test_refused_setup_qrs_change_nothing(fresh, owner, tmp_path, broker, subscriber):
    now = int(time.time())
    assert fresh.show(setup_text(owner, broker.url, iat=now - 60))[0].result is Result.PASS
    assert fresh.wait_until(lambda: fresh.daemon.uplink.state.online)
    before = state_bytes(fresh)
    other = tmp_path / "other-owner"
    init_owner(other)
    good = setup_text(owner, broker.url, iat=now)
    cases = [
        (setup_text(other, broker.url, iat=now), Reason.UNKNOWN_ISSUER),
        (setup_text(owner, broker.url, iat=now - 120), Reason.EXPIRED),  # older than the one applied
        (setup_text(owner, broker.url, iat=now - 7200, minutes=30), Reason.EXPIRED),
        (good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"), None),  # tampered
        ("RVS1:" + "A" * 3000, Reason.MALFORMED),  # 3 KB
    ]
    for text, reason in cases:
        (d,) = fresh.show(text)
        assert d.result is Result.FAIL, text[:20]
        if reason is not None:
            assert d.reason is reason
        else:
            assert d.reason in (Reason.BAD_SIGNATURE, Reason.MALFORMED)
        assert state_bytes(fresh) == before, f"state changed by {text[:20]}"
    assert fresh.daemon.identity.device_id == "door-07"
    events = subscriber.wait_events(1 + len(cases))
    assert [e["result"] for e in sorted(events, key=lambda e: e["seq"])] == ["pass"] + ["fail"] * len(cases)


def test_a_newer_setup_qr_moves_the_device_to_another_broker(fresh, owner, tmp_path, broker, subscriber):
    now = int(time.time())
    fresh.show(setup_text(owner, broker.url, iat=now - 10))
    assert fresh.wait_until(lambda: fresh.daemon.uplink.state.online)
    with Broker(tmp_path / "second") as second:
        there = Subscriber(second.port)
        try:
            (d,) = fresh.show(setup_text(owner, second.url, iat=now, device_id="door-08", mode="bus",
                                         vehicle="75B-123.45", route="Huế – Thuận An"))
            assert d.result is Result.PASS
            assert fresh.wait_until(lambda: fresh.daemon.uplink.state.online)
            fresh.show(CARDS[2].text())
            (setup_event, card_event) = there.wait_events(2)
            assert card_event["device_id"] == "door-08" and card_event["vehicle"] == "75B-123.45"
            assert card_event["route"] == "Huế – Thuận An"
        finally:
            there.close()
    # The first broker saw the device say goodbye.
    assert subscriber.statuses()[-1]["state"] == "offline"


def test_settings_survive_a_restart(fresh, owner, broker, tmp_path):
    fresh.show(setup_text(owner, broker.url, iat=int(time.time())))
    state_dir = fresh.daemon.config.storage.state_dir
    fresh.close()
    again = Device(tmp_path, device_toml(Path(state_dir), None, device=False))
    try:
        assert again.daemon.identity.device_id == "door-07"
        assert again.wait_until(lambda: again.daemon.uplink.state.online)
    finally:
        again.close()


def test_wifi_from_setup_qr_and_wifi_qr(tmp_path, owner, broker, nmcli):
    dev = Device(tmp_path, device_toml(tmp_path / "state", None, device=False))
    try:
        (d,) = dev.show(r"WIFI:T:WPA;S:Nh%C3%A0 Kh%C3%A1ch%3B 1;P:pass\;word\\1;;")
        assert d.result is Result.PASS
        assert dev.wait_until(lambda: nmcli.exists() and len(nmcli.read_text().splitlines()) == 1)
        dev.show(setup_text(owner, broker.url, iat=int(time.time()), wifi_ssid="Tầng 3", wifi_psk="12345678"))
        assert dev.wait_until(lambda: len(nmcli.read_text().splitlines()) == 2)
        # Set up now: a Wi-Fi QR is just an unsupported code.
        (d,) = dev.show("WIFI:T:WPA;S:evil;P:password123;;")
        assert d.reason is Reason.UNSUPPORTED
        time.sleep(0.3)
    finally:
        dev.close()
    assert nmcli.read_text().splitlines() == [
        "--wait 30 device wifi connect Nhà Khách; 1 password pass;word\\1",
        "--wait 30 device wifi connect Tầng 3 password 12345678",
    ]


def test_factory_reset_keeps_unsent_events(tmp_path, owner):
    state = tmp_path / "state"
    config = tmp_path / "device.toml"
    config.write_text(device_toml(state, None, device=False))
    dev = Device(tmp_path, config.read_text())
    dev.show(setup_text(owner, "mqtt://127.0.0.1:1", iat=int(time.time())))  # a broker that is not there
    dev.show(CARDS[0].text())
    unsent = dev.daemon.outbox.count_unsent()
    assert unsent == 2
    dev.close()
    done = run_ravao("factory-reset", "--config", str(config))
    assert done.returncode == 0, done.stderr
    again = Device(tmp_path, config.read_text())
    try:
        assert again.daemon.identity is None and again.daemon.state.pinned_key() is None
        assert again.daemon.outbox.count_unsent() == unsent
        # Any owner's setup QR is accepted again.
        other = tmp_path / "new-owner"
        init_owner(other)
        (d,) = again.show(setup_text(other, "mqtt://127.0.0.1:1", iat=int(time.time())))
        assert d.result is Result.PASS
    finally:
        again.close()


def test_button_hold_resets_before_the_next_frame(tmp_path, owner):
    dev = Device(tmp_path, device_toml(tmp_path / "state", None, device=False))
    try:
        dev.show(setup_text(owner, "mqtt://127.0.0.1:1", iat=int(time.time())))
        assert dev.daemon.identity is not None
        dev.daemon.button_held()
        dev.through_camera_loop(CARDS[0].text())
        assert dev.daemon.identity is None and dev.daemon.state.pinned_key() is None
    finally:
        dev.close()


def test_events_of_the_identity_left_behind_go_to_their_own_broker(tmp_path, owner, broker, subscriber):
    """Check-ins recorded while the old broker was away reach that broker, never
    the new one, also across a restart; the new identity's go to the new one."""
    from tests.support.proxy import Proxy

    old_way = Proxy(broker.port)  # the old broker, away for now
    toml = device_toml(tmp_path / "state", old_way.url, extra="[policy]\ndedupe_seconds = 0\n")
    dev = Device(tmp_path, toml)
    with Broker(tmp_path / "new-broker") as new_broker:
        there = Subscriber(new_broker.port)
        try:
            for card in CARDS[:3]:
                dev.show(card.text())
            (d,) = dev.show(setup_text(owner, new_broker.url, iat=int(time.time())))
            assert d.result is Result.PASS
            assert dev.wait_until(lambda: dev.daemon.uplink.state.online)
            dev.show(CARDS[4].text())
            assert [e["credential"]["type"] for e in there.wait_events(2)] == ["setup", "cccd"]
            routes = dev.daemon.state.retired_routes()
            assert [r["topic"] for r in routes] == ["ravao/bv-hue/door-01/events"]
            dev.close()  # a power cut before the old broker is back

            again = Device(tmp_path, toml)
            try:
                old_way.start()
                old_events = subscriber.wait_events(3, timeout=20)
                assert [e["credential"]["id"] for e in old_events] == [c.id for c in CARDS[:3]]
                assert {e["device_id"] for e in old_events} == {"door-01"}
                assert again.wait_until(lambda: again.daemon.state.retired_routes() == [])
                assert again.daemon.outbox.count_unsent() == 0
            finally:
                again.close()
            time.sleep(0.3)
            assert all(e["device_id"] == "door-07" for e in there.events()), "no old event at the new broker"
        finally:
            there.close()
            old_way.stop()


def test_holding_the_button_ten_seconds_resets_the_device(tmp_path, owner):
    """The real default hold time, through gpiozero's mock pins and the daemon."""
    from appliance.feedback.gpio import GpioFeedback

    toml = device_toml(tmp_path / "state", None, device=False, extra='[gpio]\npin_factory = "mock"\nbutton_pin = 17\n')
    dev = Device(tmp_path, toml)
    try:
        dev.show(setup_text(owner, "mqtt://127.0.0.1:1", iat=int(time.time())))
        assert dev.daemon.identity is not None
        (gpio,) = [p for p in dev.daemon.feedback.parts if isinstance(p, GpioFeedback)]
        button = gpio.pin_factory.pin(17)
        button.drive_low()
        time.sleep(5)
        dev.daemon.inbox.run_pending()
        assert dev.daemon.identity is not None, "five seconds is not a hold"
        time.sleep(5.5)
        button.drive_high()
        assert dev.daemon.identity is not None  # asked for; the camera thread carries it out
        dev.through_camera_loop(CARDS[0].text())
        assert dev.daemon.identity is None and dev.daemon.state.pinned_key() is None
    finally:
        dev.close()
