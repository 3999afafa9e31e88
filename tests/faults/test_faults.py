"""The device against a broker that is away, and a daemon that is killed."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from appliance.outbox import Outbox
from appliance.state import DeviceState
from provisioning.keys import init_owner, load_owner
from ravao_protocol.revocations import sign_revocations
from ravao_protocol.setup_qr import SetupSettings, make_setup_qr
from tests.support.process import RAVAO, REPO, device_config, run_ravao
from tests.support.proxy import Proxy
from tests.support.samples import CARDS, qr_png


def card_folder(folder: Path, count: int = len(CARDS)) -> Path:
    folder.mkdir()
    for i, card in enumerate(CARDS[:count]):
        qr_png(card.text(), folder / f"{i:02d}.png")
    return folder


def outbox_events(state_dir: Path) -> dict[str, dict]:
    db = sqlite3.connect(state_dir / "outbox.sqlite3")
    try:
        return {eid: json.loads(p) for eid, p in db.execute("SELECT event_id, payload FROM events")}
    finally:
        db.close()


def test_broker_down_at_start_then_up(tmp_path, broker, subscriber):
    proxy = Proxy(broker.port)  # the device's way to the broker: closed at first
    folder = card_folder(tmp_path / "images")
    config = tmp_path / "device.toml"
    config.write_text(device_config(tmp_path / "state", f"images:{folder}?fps=0", proxy.url))
    daemon = subprocess.Popen([*RAVAO, "run", "--config", str(config), "--drain-timeout", "40"],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.0)
        assert daemon.poll() is None, "the daemon must wait for the broker, not give up"
        proxy.start()
        out, err = daemon.communicate(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        proxy.stop()
    assert daemon.returncode == 0, err
    events = subscriber.wait_events(len(CARDS))
    assert [e["seq"] for e in events] == list(range(1, len(CARDS) + 1)), "in seq order, each once"
    assert [e["credential"]["id"] for e in events] == [c.id for c in CARDS]


def test_sigterm_finishes_cleanly(tmp_path, broker, subscriber):
    folder = card_folder(tmp_path / "images", 2)
    config = tmp_path / "device.toml"
    config.write_text(device_config(tmp_path / "state", f"images:{folder}?loop=1&fps=30", broker.url))
    daemon = subprocess.Popen([*RAVAO, "run", "--config", str(config)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    subscriber.wait_events(1, timeout=20)
    daemon.send_signal(signal.SIGTERM)
    out, err = daemon.communicate(timeout=20)
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    assert subscriber.statuses()[-1]["state"] == "offline"


class RevocationPublisher:
    """Publishes a newer signed revocation list every few tenths of a second,
    retained, so the device writes its state while it is being killed."""

    def __init__(self, broker, home: Path, topic: str) -> None:
        self.key = load_owner(home)
        self.topic = topic
        self.issued_at = int(time.time())
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.3):
            self.issued_at += 1
            tokens = ["%032x" % (self.issued_at * 7919 + i) for i in range(3)]
            self.client.publish(self.topic, sign_revocations(tokens, self.key, self.issued_at), qos=1, retain=True)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()


def test_sigkill_at_random_moments_loses_nothing(tmp_path, broker, subscriber):
    """50 SIGKILLs while check-ins, setup QRs and revocation updates happen;
    the outbox and the state always open; then every committed event reaches
    the subscriber, redeliveries only with the same event_id, seq never reused."""
    rng = random.Random(20261127)
    home = tmp_path / "owner"
    init_owner(home)
    folder = card_folder(tmp_path / "images", 5)
    state = tmp_path / "state"
    looping = tmp_path / "loop.toml"
    looping.write_text(device_config(
        state, f"images:{folder}?loop=1&fps=120&hold=3&gap=2", broker.url,
        extra=f'[policy]\ndedupe_seconds = 0\ntrusted_keys = ["{home / "owner.pub"}"]\n'))
    revocations = RevocationPublisher(broker, home, "ravao/bv-tw-hue/revocations")
    setup_iat = int(time.time()) - 3600
    try:
        for _trial in range(50):
            setup_iat += 1
            settings = SetupSettings(device_id="door-01", venue_id="bv-tw-hue", venue_name="Bệnh viện Trung ương Huế",
                                     broker_url=broker.url, issued_at=setup_iat, expires=setup_iat + 7200)
            qr_png(make_setup_qr(settings, load_owner(home)), folder / "03-setup.png")
            daemon = subprocess.Popen([*RAVAO, "run", "--config", str(looping)], cwd=REPO,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.4, 1.6))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)
            Outbox(state / "outbox.sqlite3").close()  # raises if the outbox does not open whole
            device_state = DeviceState(state)  # opens, and reads whole:
            device_state.pinned_key(), device_state.provisioned(), device_state.revocations_issued_at()
            device_state.close()
    finally:
        revocations.close()
    committed = outbox_events(state)
    assert len(committed) >= 50, "the trials should have recorded check-ins"
    assert any(e["credential"]["type"] == "setup" for e in committed.values()), "setup QRs were applied"
    final_state = DeviceState(state)
    assert final_state.revocations_issued_at() > 0, "revocation lists were stored"
    assert final_state.pinned_key() is not None and final_state.last_setup_iat() > 0
    final_state.close()

    # Restart with a finite source and let it drain.
    empty = tmp_path / "one"
    card_folder(empty, 1)
    final = tmp_path / "final.toml"
    final.write_text(device_config(state, f"images:{empty}?fps=0", broker.url))
    done = run_ravao("run", "--config", str(final), "--drain-timeout", "30")
    assert done.returncode == 0, done.stderr
    committed = outbox_events(state)
    received = subscriber.wait_events(len(committed), timeout=30)

    by_id: dict[str, dict] = {}
    for event in received:
        if event["event_id"] in by_id:
            assert by_id[event["event_id"]] == event, "a redelivery is the same event"
        by_id[event["event_id"]] = event
    assert set(by_id) == set(committed), "every committed event delivered, nothing else"
    seqs = sorted(e["seq"] for e in committed.values())
    assert seqs == list(range(1, len(seqs) + 1)), "seq has no gap and no reuse"


def test_unreachable_broker_keeps_events_and_exits_cleanly(tmp_path):
    folder = card_folder(tmp_path / "images", 2)
    config = tmp_path / "device.toml"
    config.write_text(device_config(tmp_path / "state", f"images:{folder}?fps=0", "mqtt://127.0.0.1:1"))
    done = run_ravao("run", "--config", str(config), "--drain-timeout", "1")
    assert done.returncode == 0
    assert "Traceback" not in done.stderr
    assert "2 events not delivered within 1.0s; they stay in the outbox" in done.stderr
    assert len(outbox_events(tmp_path / "state")) == 2


def test_a_missing_images_folder_is_a_one_line_error(tmp_path):
    config = tmp_path / "device.toml"
    config.write_text(device_config(tmp_path / "state", f"images:{tmp_path / 'nope'}", "mqtt://127.0.0.1:1"))
    done = run_ravao("run", "--config", str(config), timeout=30)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"ravao: images source: {tmp_path / 'nope'} is not a folder"
    assert "Traceback" not in done.stderr
