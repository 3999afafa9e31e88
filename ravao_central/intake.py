"""What a message off the broker becomes in the record: an event row, a
status row, or a rejection. Plain Python, no database and no network: the
collector (MQTT or NATS) hands each message here, the record stores the result.

A rejection is counted against the device the topic names, whatever the
payload says, with its topic, size and SHA-256 and never its content.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from ravao_central.people import identity
from ravao_central.privacy import Keyring
from ravao_protocol import topics
from ravao_protocol.events import parse_event, parse_status

MAX_TOPIC_CHARS = 512
MAX_DEVICE_TOPIC_CHARS = 64 + 1 + 64 + 1 + 64 + len("/events")  # prefix, venue, device, leaf


@dataclass(frozen=True, slots=True)
class EventRow:
    """A valid check-in event, pseudonymised: a row of ``events``."""

    values: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.values["event_id"])


@dataclass(frozen=True, slots=True)
class StatusRow:
    """A valid status message: a row of ``statuses``."""

    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message that is not a valid event or status: a row of ``rejections``."""

    values: dict[str, Any]


Sorted = EventRow | StatusRow | Rejection


def sort_message(topic: str, payload: bytes, received_at: datetime, prefix: str, keys: Keyring) -> Sorted | None:
    """What the message on `topic` is; None for a topic that names no
    device under `prefix` (nothing to count it against)."""
    where = _device_topic(topic, prefix) if len(topic) <= MAX_DEVICE_TOPIC_CHARS else None
    if where is None:
        return None
    device = {"venue_id": where.venue_id, "device_id": where.device_id, "received_at": received_at}
    try:
        if where.leaf == topics.EVENTS:
            return EventRow({**device, **_event_values(payload, where, keys)})
        status = parse_status(payload)
        return StatusRow({**device, "ts": status.ts, "state": status.state, "queue": status.queue,
                          "version": status.version[:64]})
    except ValueError as exc:
        return Rejection({**device, "topic": topic[:MAX_TOPIC_CHARS], "size": len(payload),
                          "sha256": hashlib.sha256(payload).hexdigest(), "why": _why(exc)})


@lru_cache(maxsize=8192)  # a fleet's topics repeat: parse each once
def _device_topic(topic: str, prefix: str) -> topics.DeviceTopic | None:
    try:
        return topics.parse_device_topic(topic, prefix)
    except ValueError:
        return None


def _event_values(payload: bytes, where: topics.DeviceTopic, keys: Keyring) -> dict[str, Any]:
    event = parse_event(payload)
    if (event.venue_id, event.device_id) != (where.venue_id, where.device_id):
        raise ValueError("device_id/venue_id disagree with the topic")
    person, fields = identity(event.credential)
    return {
        "event_id": event.event_id, "ts": event.ts, "seq": event.seq, "clock_synced": event.clock_synced,
        "direction": event.direction, "result": event.result,
        "reason": event.reason.value if event.reason is not None else None,
        "credential_type": event.credential.type, "person": person.pseudonym(keys),
        "identity": keys.seal(fields), "vehicle": event.vehicle or None, "route": event.route or None,
    }


def _why(exc: ValueError) -> str:
    """A short reason that quotes no content of the message."""
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        if error["type"] == "value_error" and not error["loc"]:  # the event's own rules: no content in them
            return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"[:200]
        return f"{where}: {error['type']}"[:200]
    return str(exc)[:200]
