"""The MQTT topic layout, built and parsed in this one place.

- ``{prefix}/{venue_id}/{device_id}/events``: check-in events, QoS 1, not retained
- ``{prefix}/{venue_id}/{device_id}/status``: the device's status, retained
- ``{prefix}/{venue_id}/revocations``: an owner's signed revocation list, retained
  (the first topic: every owner of a venue shares it, the last list replaces the others)
- ``{prefix}/{venue_id}/revocations/{issuer}``: the same, one topic per signer's key id
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from ravao_protocol import fields

EVENTS: Final = "events"
STATUS: Final = "status"
REVOCATIONS: Final = "revocations"

DeviceLeaf = Literal["events", "status"]


def events(prefix: str, venue_id: str, device_id: str) -> str:
    """Where a device publishes its check-in events."""
    return device_topic(prefix, venue_id, device_id, EVENTS)


def status(prefix: str, venue_id: str, device_id: str) -> str:
    """Where a device keeps its retained status."""
    return device_topic(prefix, venue_id, device_id, STATUS)


def device_topic(prefix: str, venue_id: str, device_id: str, leaf: DeviceLeaf) -> str:
    """``{prefix}/{venue_id}/{device_id}/{leaf}``; `device_id` may be ``+`` (every device of a venue)."""
    return f"{prefix}/{venue_id}/{device_id}/{leaf}"


def revocations(prefix: str, venue_id: str) -> str:
    """Where the owner publishes a venue's revocation list (every owner: the first topic)."""
    return f"{prefix}/{venue_id}/{REVOCATIONS}"


def issuer_revocations(prefix: str, venue_id: str, issuer: str) -> str:
    """Where the owner whose key id is `issuer` publishes its own revocation
    list for a venue; `issuer` may be ``+`` (every owner's)."""
    return f"{revocations(prefix, venue_id)}/{issuer}"


@dataclass(frozen=True)
class DeviceTopic:
    """A parsed device topic."""

    prefix: str
    venue_id: str
    device_id: str
    leaf: str  # "events" | "status"


def parse_device_topic(topic: str, prefix: str | None = None) -> DeviceTopic:
    """The parts of an events or status topic; ``ValueError`` for any other
    topic, or ids outside the id rule (``A-Z a-z 0-9 . _ -``, 1–64). With
    `prefix` (an already checked one), only topics under it are accepted."""
    if prefix is not None:
        if not topic.startswith(prefix + "/"):
            raise ValueError(f"not under {prefix!r}: {topic[:200]!r}")
        parts = topic[len(prefix) + 1:].split("/")
        if len(parts) != 3:
            raise ValueError(f"not an events or status topic: {topic[:200]!r}")
    else:
        parts = topic.split("/")
        if len(parts) < 4:
            raise ValueError(f"not an events or status topic: {topic[:200]!r}")
        prefix = fields.topic_prefix("/".join(parts[:-3]))
    if parts[-1] not in (EVENTS, STATUS):
        raise ValueError(f"not an events or status topic: {topic[:200]!r}")
    return DeviceTopic(prefix, fields.ident(parts[-3]), fields.ident(parts[-2]), parts[-1])
