"""The device against a broker that is away, and a daemon that is killed."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, RAVAO, device_config, run_ravao
from proxy import Proxy
from samples import CARDS, qr_png


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


def test_sigkill_at_random_moments_loses_nothing(tmp_path, broker, subscriber):
    """20 SIGKILLs during scanning; then every committed event reaches the
    subscriber, redeliveries only with the same event_id, seq never reused."""
    rng = random.Random(20261127)
    folder = card_folder(tmp_path / "images")
    state = tmp_path / "state"
    looping = tmp_path / "loop.toml"
    looping.write_text(device_config(state, f"images:{folder}?loop=1&fps=120&hold=3&gap=2", broker.url,
                                     extra="[policy]\ndedupe_seconds = 0\n"))
    for trial in range(20):
        daemon = subprocess.Popen([*RAVAO, "run", "--config", str(looping)], cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 1.6))
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    committed = outbox_events(state)
    assert len(committed) >= 20, "the trials should have recorded check-ins"

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
