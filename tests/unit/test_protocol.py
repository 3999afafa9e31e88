"""The shared protocol package: the topic layout and the event and status
schemas, on their own (the device's real events are checked against the
schemas in test_end_to_end)."""

from __future__ import annotations

import json

import pytest

from ravao_protocol import topics
from ravao_protocol.events import MAX_PAYLOAD_BYTES, parse_event, parse_status
from ravao_protocol.settings import BrokerSettings, DeviceSettings

EVENT = {
    "schema": "ravao.checkin/1", "event_id": "0b8e6c1e-2c36-4a6f-9d0f-3d1c2b4a5e6f", "seq": 7,
    "device_id": "door-01", "venue_id": "bv-tw-hue", "ts": "2026-11-27T08:15:02.123Z", "clock_synced": True,
    "direction": "in", "result": "pass", "reason": None,
    "credential": {"type": "cccd", "id": "046085001234", "name": "Trần Văn An", "dob": "1985-03-12", "sex": "M"},
}


def payload(**changes) -> bytes:
    return json.dumps({**EVENT, **changes}, ensure_ascii=False).encode()


def test_topics_are_built_and_parsed_in_one_layout():
    assert topics.events("ravao", "bv-tw-hue", "door-01") == "ravao/bv-tw-hue/door-01/events"
    assert topics.status("site/a", "v", "d") == "site/a/v/d/status"
    assert topics.revocations("ravao", "bv-tw-hue") == "ravao/bv-tw-hue/revocations"
    parsed = topics.parse_device_topic("site/a/bv-tw-hue/door-01/events")
    assert (parsed.prefix, parsed.venue_id, parsed.device_id, parsed.leaf) == ("site/a", "bv-tw-hue", "door-01",
                                                                               "events")


@pytest.mark.parametrize("topic", ["ravao/v/d/other", "v/d/events", "ravao/v/+/events", "ravao/v d/d/events",
                                   "/v/d/events", "ravao//d/events", "ravao/v/d/events/x", "r#/v/d/status"])
def test_other_topics_do_not_parse(topic):
    with pytest.raises(ValueError):
        topics.parse_device_topic(topic)


def test_a_contract_event_parses_with_its_extensions():
    event = parse_event(payload(vehicle="75B-012.34", route="Huế - Đà Nẵng", extension_field=1))
    assert event.seq == 7 and event.credential.type == "cccd" and event.model_extra == {"extension_field": 1}
    assert parse_event(payload(result="fail", reason="revoked",
                               credential={"type": "unknown", "sha256": "a" * 64, "length": 3})).reason == "revoked"


@pytest.mark.parametrize("changes", [
    {"schema": "ravao.checkin/2"}, {"seq": 0}, {"seq": "7"}, {"seq": 7.0}, {"event_id": "not-a-uuid"},
    {"device_id": "door 01"}, {"ts": "yesterday"}, {"ts": "2026-11-27T08:15:02"}, {"clock_synced": "yes"},
    {"direction": "sideways"}, {"result": "pass", "reason": "revoked"}, {"result": "fail", "reason": None},
    {"reason": "bored", "result": "fail"},
    {"credential": {**EVENT["credential"], "id": "123"}},
    {"credential": {**EVENT["credential"], "nickname": "An"}},
    {"credential": {"type": "passport", "id": "X"}},
    {"credential": {"type": "unknown", "sha256": "a" * 64, "length": 3, "content": "raw"}},
])
def test_events_that_break_the_contract_are_refused(changes):
    with pytest.raises(ValueError):
        parse_event(payload(**changes))


@pytest.mark.parametrize("raw", [b"", b"[]", b"null", b"{", "\ufeff{}".encode(), b"x" * (MAX_PAYLOAD_BYTES + 1)])
def test_what_is_not_json_of_an_object_is_refused(raw):
    with pytest.raises(ValueError):
        parse_event(raw)
    with pytest.raises(ValueError):
        parse_status(raw)


def test_status_keeps_the_contract_fields_and_its_extensions():
    status = parse_status(b'{"state":"offline","ts":"2026-11-27T08:15:02.123Z","version":"0.1.0","queue":3,'
                          b'"camera":"ok"}')
    assert status.state == "offline" and status.queue == 3 and status.model_extra == {"camera": "ok"}
    with pytest.raises(ValueError):
        parse_status(b'{"state":"asleep","ts":"2026-11-27T08:15:02.123Z","version":"0.1.0","queue":3}')


@pytest.mark.parametrize("prefix", ["site a/", "a/+", "#", "", "/ravao", "x" * 65])
def test_one_topic_prefix_rule_for_config_and_setup_qr(prefix):
    """The config file and a setup QR used to disagree about "site a/"."""
    from ravao_protocol.setup_qr import SetupSettings

    with pytest.raises(ValueError):
        BrokerSettings(topic_prefix=prefix)
    settings = SetupSettings(device_id="d", venue_id="v", broker_url="mqtt://h", issued_at=1, expires=2,
                             topic_prefix=prefix)
    with pytest.raises(ValueError):
        settings.broker()


def test_device_settings_refuse_what_a_setup_qr_refuses():
    with pytest.raises(ValueError, match="bus mode"):
        DeviceSettings(id="d", venue_id="v", vehicle="75B-012.34")
    with pytest.raises(ValueError):
        DeviceSettings(id="d", venue_id="v", venue_name="Bệnh viện\u202e")  # a bidi override
    with pytest.raises(ValueError, match="needs a broker user"):
        BrokerSettings(password="secret")
