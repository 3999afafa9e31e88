"""A decision as the check-in event the outbox records (the contract's fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from appliance.clock import clock_synced, rfc3339_ms
from appliance.decision import Decision, Result
from appliance.uplink import Identity
from ravao_protocol.settings import DeviceSettings


def event_fields(decision: Decision, identity: Identity, device: DeviceSettings, now: datetime) -> dict[str, Any]:
    """The event's fields but `schema`, `event_id` and `seq` (the outbox adds those)."""
    fields: dict[str, Any] = {
        "device_id": identity.device_id,
        "venue_id": identity.venue_id,
        "ts": rfc3339_ms(now),
        "clock_synced": clock_synced(),
        "direction": decision.direction,
        "result": "pass" if decision.result is Result.PASS else "fail",
        "reason": decision.reason.value if decision.reason else None,
        "credential": decision.credential.event_object(),
    }
    if device.mode == "bus":
        fields["vehicle"] = device.vehicle
        fields["route"] = device.route
    return fields
