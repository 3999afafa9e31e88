"""What a message off the broker becomes: an event row (pseudonymised,
sealed), a status, a rejection that quotes nothing of the message, or
nothing. Hostile payloads and topics never raise."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ravao_central.intake import EventRow, Rejection, StatusRow, sort_message
from ravao_central.privacy import Keyring
from tests.support.central import T0, at, cccd, contract_event

KEYS = Keyring.from_secret(bytes(range(32)))
TOPIC = "ravao/bv-tw-hue/door-01/events"
LAN = cccd("046303001234", "Nguyễn Thị Lan")


def sort(payload: bytes | str, topic: str = TOPIC):
    data = payload.encode() if isinstance(payload, str) else payload
    return sort_message(topic, data, T0, "ravao", KEYS)


def event(**changes) -> dict:
    return {**contract_event(seq=7, ts=at(5), credential=LAN), **changes}


def test_an_event_is_stored_under_a_pseudonym_with_its_identity_sealed():
    item = sort(json.dumps(event()))
    assert isinstance(item, EventRow)
    values = item.values
    assert values["person"] == KEYS.pseudonym("cccd", "046303001234")
    assert KEYS.open(values["identity"]) == {"type": "cccd", "id": "046303001234", "name": "Nguyễn Thị Lan",
                                             "dob": "2003-05-14", "sex": "F"}
    plain = json.dumps({k: v for k, v in values.items() if k not in ("person", "identity")}, default=str)
    assert "046303001234" not in plain and "Lan" not in plain and "2003-05-14" not in plain
    assert (values["venue_id"], values["device_id"], values["seq"]) == ("bv-tw-hue", "door-01", 7)


def test_a_pass_holder_is_a_person_of_its_issuer():
    credential = {"type": "pass", "id": "NV-042", "name": "Lê Văn An", "token_id": "ab" * 16, "issuer": "cd" * 8}
    item = sort(json.dumps(event(credential=credential)))
    assert item.values["person"] == KEYS.pseudonym("pass", "NV-042", "cd" * 8)
    assert item.values["person"] != KEYS.pseudonym("pass", "NV-042", "ef" * 8)


@pytest.mark.parametrize("payload, why", [
    (b"not json", "json_invalid"),
    (json.dumps(event(schema="ravao.checkin/2")), "schema"),
    (json.dumps(event(seq="7")), "seq"),
    (json.dumps(event(seq=0)), "seq"),
    (json.dumps({k: v for k, v in event().items() if k != "ts"}), "ts"),
    (json.dumps(event(ts="2026-11-27T08:00:00")), "ts"),
    (json.dumps(event(device_id="door-02")), "disagree with the topic"),
    (json.dumps(event(result="pass", reason="expired")), "reason"),
    (json.dumps(event(credential={**LAN, "address": "x", "extra": 1})), "credential"),
    (b"{" + b" " * 65536 + b"}", "more than 65536"),
    ("[1, 2]", "model_type"),
])
def test_a_bad_event_is_a_rejection_of_the_topics_device_that_quotes_nothing(payload, why):
    data = payload.encode() if isinstance(payload, str) else payload
    item = sort(data)
    assert isinstance(item, Rejection)
    assert item.values["venue_id"] == "bv-tw-hue" and item.values["device_id"] == "door-01"
    assert item.values["size"] == len(data) and item.values["sha256"] == hashlib.sha256(data).hexdigest()
    assert why in item.values["why"]
    assert "Lan" not in item.values["why"] and "046303001234" not in item.values["why"]


def test_statuses_and_topics_that_name_no_device():
    status = {"state": "offline", "ts": "2026-11-27T08:00:00.000Z", "version": "0.1.0", "queue": 3}
    item = sort(json.dumps(status), "ravao/bv-tw-hue/door-01/status")
    assert isinstance(item, StatusRow) and item.values["state"] == "offline" and item.values["queue"] == 3
    assert isinstance(sort(b"{}", "ravao/bv-tw-hue/door-01/status"), Rejection)
    for topic in ("other/bv-tw-hue/door-01/events", "ravao/door-01/events", "ravao/bv tw/door-01/events",
                  "ravao/bv-tw-hue/door-01/revocations", ""):
        assert sort(json.dumps(event()), topic) is None


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(topic=st.text(max_size=80) | st.sampled_from([TOPIC, "ravao/v/d/status", "ravao/+/#/events"]),
       payload=st.binary(max_size=300))
def test_any_topic_and_payload_gives_an_answer_not_an_exception(topic, payload):
    item = sort_message(topic, payload, T0, "ravao", KEYS)
    assert item is None or isinstance(item, EventRow | StatusRow | Rejection)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(event()) + ["vehicle", "route", "credential.id", "credential.type"]),
       value=json_values)
def test_an_event_with_any_field_changed_is_stored_or_rejected(field, value):
    body = event(event_id=str(uuid.uuid4()))
    if field.startswith("credential."):
        body["credential"] = {**body["credential"], field.split(".")[1]: value}
    else:
        body[field] = value
    item = sort(json.dumps(body))
    assert isinstance(item, EventRow | Rejection)
