"""The personal data that leaves the device is exactly the contract's: an
in-process device (real decoder, outbox and uplink) shown real QR images,
its events received from a real Mosquitto.

cccd: type, id, name, dob, sex (+ address, old_id only when [privacy] asks);
pass: type, id, name, token_id, issuer; unknown: type, sha256, length, and
never the content.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ravao_protocol.keys import key_id_hex, public_pem
from ravao_protocol.passes import issue_pass
from tests.support.device_harness import Device, device_toml
from tests.support.samples import CARDS, MALFORMED_CARD

SEVEN = CARDS[0]  # with the old id 191234567 and a street address
SIX = CARDS[2]  # the 6-field form
assert SEVEN.old_id and SIX.old_id is None
UNKNOWN = "https://benhvien.example.vn/ho-so?benh_nhan=BN-2026-000123&ten=Tran+Thi+Kin"
OLD_ID = SEVEN.old_id

CONTRACT_KEYS = {
    "cccd": {"type", "id", "name", "dob", "sex"},
    "pass": {"type", "id", "name", "token_id", "issuer"},
    "unknown": {"type", "sha256", "length"},
}


def strings_in(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def forms(secret: str) -> list[bytes]:
    """How `secret` could appear in a JSON payload: raw UTF-8 or \\u-escaped."""
    return [secret.encode("utf-8"), json.dumps(secret).strip('"').encode("ascii"),
            json.dumps(secret, ensure_ascii=False).strip('"').encode("utf-8")]


def absent_everywhere(messages: list[tuple[str, bytes, bool]], secret: str) -> None:
    for topic, payload, _ in messages:
        for form in forms(secret):
            assert form not in payload, f"{secret!r} left the device on {topic}"
        try:
            parsed = json.loads(payload)
        except ValueError:
            continue
        for s in strings_in(parsed):
            assert secret not in s, f"{secret!r} left the device on {topic}"


@pytest.fixture
def owner(tmp_path):
    key = Ed25519PrivateKey.generate()
    pub = tmp_path / "owner.pub"
    pub.write_text(public_pem(key.public_key()))
    return key, pub


def show_the_five(tmp_path, broker, subscriber, owner, privacy: str) -> tuple[dict, list]:
    key, pub = owner
    now = int(time.time())
    pass_text, venue_pass = issue_pass(key, "NV-0042", "Trần Thị Ổn", now - 3600, now + 86400, now - 3600)
    extra = f'[policy]\ntrusted_keys = ["{pub}"]\n\n{privacy}'
    dev = Device(tmp_path, device_toml(tmp_path / "state", broker.url, extra=extra))
    try:
        assert dev.wait_until(lambda: dev.daemon.uplink.state.online)
        shown = {"seven": SEVEN.text(), "six": SIX.text(), "pass": pass_text, "unknown": UNKNOWN,
                 "malformed": MALFORMED_CARD.text()}
        for name, text in shown.items():
            (d,) = dev.show(text)
            assert d.event is not None, name
        events = subscriber.wait_events(len(shown))
        assert len(events) == len(shown), events
        assert dev.wait_until(lambda: dev.daemon.outbox.count_unsent() == 0)
    finally:
        dev.close()
    by_seq = sorted(events, key=lambda e: e["seq"])
    received = dict(zip(shown, by_seq, strict=True))
    # The events are the codes shown, in order.
    assert [e["credential"]["type"] for e in by_seq] == ["cccd", "cccd", "pass", "unknown", "unknown"]
    assert [e["result"] for e in by_seq] == ["pass", "pass", "pass", "fail", "fail"]
    assert received["unknown"]["reason"] == "unsupported" and received["malformed"]["reason"] == "malformed"
    c = received["pass"]["credential"]
    assert c == {"type": "pass", "id": "NV-0042", "name": "Trần Thị Ổn", "token_id": venue_pass.token_id,
                 "issuer": key_id_hex(key.public_key())}
    for name in ("unknown", "malformed"):
        raw = shown[name].encode("utf-8")
        assert received[name]["credential"] == {"type": "unknown", "sha256": hashlib.sha256(raw).hexdigest(),
                                                "length": len(raw)}
    return received, list(subscriber.messages)


def assert_unknown_content_never_sent(messages) -> None:
    # The unknown code's content, and all of the malformed card's.
    for secret in (UNKNOWN, "BN-2026-000123", "Tran+Thi+Kin", "benhvien.example.vn", MALFORMED_CARD.text(),
                   MALFORMED_CARD.name, MALFORMED_CARD.id, "12031985"):
        absent_everywhere(messages, secret)


def test_only_the_contract_fields_leave_the_device(tmp_path, broker, subscriber, owner):
    received, messages = show_the_five(tmp_path, broker, subscriber, owner, privacy="")
    for name in ("seven", "six"):
        assert set(received[name]["credential"]) == CONTRACT_KEYS["cccd"], name
    for name in received:
        kind = received[name]["credential"]["type"]
        assert set(received[name]["credential"]) == CONTRACT_KEYS[kind], name
    assert received["seven"]["credential"] == {"type": "cccd", "id": SEVEN.id, "name": SEVEN.name,
                                               "dob": SEVEN.dob_iso, "sex": "M"}
    assert received["six"]["credential"] == {"type": "cccd", "id": SIX.id, "name": SIX.name,
                                             "dob": SIX.dob_iso, "sex": "M"}
    assert_unknown_content_never_sent(messages)
    for secret in (SEVEN.address, SIX.address, "Lê Lợi", "Vĩnh Ninh", "Hóc Môn", OLD_ID):
        absent_everywhere(messages, secret)
    # The issue dates are on the cards too, and are not the contract's either.
    for secret in (SEVEN.issued, SIX.issued):
        absent_everywhere(messages, secret)


def test_address_and_old_id_are_sent_only_when_asked_for(tmp_path, broker, subscriber, owner):
    privacy = "[privacy]\ncccd_address = true\ncccd_old_id = true\n"
    received, messages = show_the_five(tmp_path, broker, subscriber, owner, privacy=privacy)
    extended = CONTRACT_KEYS["cccd"] | {"address", "old_id"}
    assert set(received["seven"]["credential"]) == extended
    assert set(received["six"]["credential"]) == extended
    assert received["seven"]["credential"]["address"] == SEVEN.address
    assert received["seven"]["credential"]["old_id"] == OLD_ID
    assert received["six"]["credential"]["address"] == SIX.address
    assert received["six"]["credential"]["old_id"] == ""  # the 6-field form has none
    # Present in the payload bytes as the contract's UTF-8 JSON.
    seven_payload = [p for t, p, _ in messages if t.endswith("/events") and json.loads(p)["seq"] == 1]
    assert len(seven_payload) >= 1 and OLD_ID.encode() in seven_payload[0]
    assert any(form in seven_payload[0] for form in forms(SEVEN.address))
    # The rest is as without the switches: passes and unknown codes unchanged.
    assert set(received["pass"]["credential"]) == CONTRACT_KEYS["pass"]
    assert_unknown_content_never_sent(messages)
