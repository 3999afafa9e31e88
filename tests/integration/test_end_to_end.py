"""A folder of QR images → `ravao run` → events at a real subscriber."""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ravao_protocol.events import parse_event, parse_status
from tests.support.process import device_config, run_ravao
from tests.support.samples import CARDS, MALFORMED_CARD, qr_bytes_png, qr_png

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
REQUIRED = {"schema", "event_id", "seq", "device_id", "venue_id", "ts", "clock_synced",
            "direction", "result", "reason", "credential"}


def make_images(folder: Path) -> list[tuple[str, object]]:
    """Cards with and without ECI, NFC and NFD; the first card twice; a
    malformed card; a text QR. Returns what each image should become."""
    folder.mkdir()
    plan = []
    for i, card in enumerate(CARDS):
        qr_png(card.text(nfd=i % 2 == 1), folder / f"{i:02d}.png", eci=i % 3 == 0)
        plan.append(("pass", card))
    qr_png(CARDS[0].text(), folder / "20-again.png")
    plan.append(("duplicate", CARDS[0]))
    qr_png(MALFORMED_CARD.text(), folder / "21-malformed.png")
    plan.append(("malformed", MALFORMED_CARD.text().encode()))
    qr_png("https://example.com/not-a-card", folder / "22-text.png")
    plan.append(("unsupported", b"https://example.com/not-a-card"))
    return plan


def check_event_fields(event: dict) -> None:
    assert REQUIRED <= set(event), REQUIRED - set(event)
    parse_event(json.dumps(event).encode())  # the schema the central side validates with
    assert event["schema"] == "ravao.checkin/1"
    assert uuid.UUID(event["event_id"]).version == 4
    assert TS.match(event["ts"]), event["ts"]
    when = datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=5)
    assert isinstance(event["clock_synced"], bool)
    assert event["direction"] in ("in", "out")
    assert event["device_id"] == "door-01" and event["venue_id"] == "bv-tw-hue"
    assert "vehicle" not in event and "route" not in event


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_images_to_events(tmp_path, broker, subscriber, backend):
    plan = make_images(tmp_path / "images")
    config = tmp_path / "device.toml"
    config.write_text(device_config(tmp_path / "state", f"images:{tmp_path / 'images'}?fps=0",
                                    broker.url, backend=backend))
    done = run_ravao("run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    expected = [p for p in plan if p[0] != "duplicate"]
    events = subscriber.wait_events(len(expected))
    by_id = {e["event_id"]: e for e in events}
    ordered = sorted(by_id.values(), key=lambda e: e["seq"])
    assert [e["seq"] for e in ordered] == list(range(1, len(expected) + 1))
    assert len(ordered) == len(expected)
    for event, (kind, what) in zip(ordered, expected, strict=True):
        check_event_fields(event)
        if kind == "pass":
            assert event["result"] == "pass" and event["reason"] is None
            # Exact names (NFC) through both backends, with and without ECI, NFC or NFD input.
            assert event["credential"] == {"type": "cccd", "id": what.id, "name": what.name,
                                           "dob": what.dob_iso, "sex": "M" if what.sex == "Nam" else "F"}
        else:
            assert event["result"] == "fail" and event["reason"] == kind
            assert event["credential"] == {"type": "unknown", "sha256": hashlib.sha256(what).hexdigest(),
                                           "length": len(what)}
    # The duplicate was told to the person and made no event.
    assert "DUPLICATE in Trần Văn An" in done.stderr
    statuses = subscriber.statuses()
    assert statuses[-1]["state"] == "offline"
    assert {"state", "ts", "version", "queue"} <= set(statuses[0])
    for status in statuses:
        parse_status(json.dumps(status).encode())


def test_seq_continues_after_restart_and_a_held_card_is_one_checkin(tmp_path, broker, subscriber):
    folder = tmp_path / "images"
    folder.mkdir()
    qr_png(CARDS[1].text(), folder / "a.png")
    config = tmp_path / "device.toml"
    # hold=30 frames: one check-in however long the card is held; no dedupe
    # window, which would make the runs after the first duplicates (test_dedupe_restart)
    config.write_text(device_config(tmp_path / "state", f"images:{folder}?fps=0&hold=30", broker.url,
                                    extra="[policy]\ndedupe_seconds = 0\n"))
    for _ in range(3):
        done = run_ravao("run", "--config", str(config))
        assert done.returncode == 0, done.stderr
    events = subscriber.wait_events(3)
    assert sorted(e["seq"] for e in events) == [1, 2, 3]
    assert len({e["event_id"] for e in events}) == 3


def test_bus_mode_fields(tmp_path, broker, subscriber):
    folder = tmp_path / "images"
    folder.mkdir()
    qr_png(CARDS[2].text(), folder / "a.png")
    config = tmp_path / "device.toml"
    config.write_text(device_config(
        tmp_path / "state", f"images:{folder}?fps=0", broker.url,
        device='id = "bus-7-front"\nvenue_id = "hue-bus"\nmode = "bus"\nvehicle = "75B-012.34"\nroute = "Tuyến 7"\n'))
    assert run_ravao("run", "--config", str(config)).returncode == 0
    (event,) = subscriber.wait_events(1)
    assert event["vehicle"] == "75B-012.34" and event["route"] == "Tuyến 7"


def test_hostile_codes_fail_and_never_crash(tmp_path, broker, subscriber):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = random.Random(7)
    payloads = [bytes(rng.randrange(256) for _ in range(n)) for n in (1, 17, 300, 1200)]
    payloads.append(b"\x00" * 50)
    payloads.append(b"046085001234|" + b"\xff\xfe" * 600)  # a card prefix, then garbage
    payloads.append(("0" * 12 + "|" * 6 + "A" * 2800).encode())  # near the largest QR there is
    for i, data in enumerate(payloads):
        qr_bytes_png(data, folder / f"{i:02d}.png", scale=2)
    config = tmp_path / "device.toml"
    config.write_text(device_config(tmp_path / "state", f"images:{folder}?fps=0&hold=2&gap=2", broker.url))
    done = run_ravao("run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    events = subscriber.wait_events(len(payloads))
    assert len({e["event_id"] for e in events}) == len(payloads)
    for event in events:
        assert event["result"] == "fail"
        assert event["reason"] in ("unsupported", "malformed")
        assert event["credential"]["type"] == "unknown"
        assert set(event["credential"]) == {"type", "sha256", "length"}
