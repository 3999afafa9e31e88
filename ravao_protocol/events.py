"""The check-in event and the device status, as they travel over MQTT.

These models are the contract's payload tables in code: the device's events
are checked against them in its tests, and the central side validates every
message it takes off the broker with them. Fields beyond the contract's are
allowed at the top level (extensions such as ``vehicle``, ``route``); the
credential objects are closed, so personal data cannot arrive unannounced.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from ravao_protocol.refusals import Reason
from ravao_protocol.settings import Ident

CHECKIN_SCHEMA = "ravao.checkin/1"
MAX_PAYLOAD_BYTES = 64 * 1024
"""An event or status message larger than this is not one the device sends."""

Hex16 = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
Hex32 = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[StrictStr, Field(max_length=128)]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CccdCredential(_Closed):
    """A chip ID card: the 12-digit id, name, date of birth, sex."""

    type: Literal["cccd"]
    id: Annotated[str, Field(pattern=r"^[0-9]{12}$")]
    name: Name
    dob: Annotated[date, Field(strict=False)]  # ISO text in JSON
    sex: Literal["M", "F"]
    address: Annotated[StrictStr, Field(max_length=512)] | None = None  # only if the device's config asks
    old_id: Annotated[str, Field(pattern=r"^([0-9]{9})?$")] | None = None


class PassCredential(_Closed):
    """A venue pass the owner signed."""

    type: Literal["pass"]
    id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    name: Name
    token_id: Hex32
    issuer: Hex16


class SetupCredential(_Closed):
    """A setup QR that was applied (an extension of the contract)."""

    type: Literal["setup"]
    token_id: Hex32
    issuer: Hex16


class UnknownCredential(_Closed):
    """A code that is no credential, or whose content cannot be trusted:
    described by hash only, never by its content."""

    type: Literal["unknown"]
    sha256: Hex64
    length: Annotated[StrictInt, Field(ge=0)]


Credential = Annotated[
    CccdCredential | PassCredential | SetupCredential | UnknownCredential, Field(discriminator="type")
]


class CheckinEvent(BaseModel):
    """One check-in event (``{prefix}/{venue}/{device}/events``)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    schema_: Literal["ravao.checkin/1"] = Field(alias="schema")
    event_id: Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    seq: Annotated[StrictInt, Field(ge=1)]
    device_id: Ident
    venue_id: Ident
    ts: Annotated[AwareDatetime, Field(strict=False)]  # RFC 3339 text in JSON
    clock_synced: StrictBool
    direction: Literal["in", "out"]
    result: Literal["pass", "fail"]
    reason: Reason | None = Field(strict=False)
    credential: Credential
    vehicle: Annotated[StrictStr, Field(max_length=64)] | None = None
    route: Annotated[StrictStr, Field(max_length=64)] | None = None

    @model_validator(mode="after")
    def _reason_only_on_fail(self) -> CheckinEvent:
        if (self.result == "pass") != (self.reason is None):
            raise ValueError("reason is null exactly when result is pass")
        return self


class DeviceStatus(BaseModel):
    """A device's retained status (``{prefix}/{venue}/{device}/status``)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    state: Literal["online", "offline"]
    ts: Annotated[AwareDatetime, Field(strict=False)]
    version: StrictStr
    queue: Annotated[StrictInt, Field(ge=0)]


def parse_event(payload: bytes) -> CheckinEvent:
    """A check-in event from its MQTT payload; ``ValueError`` (pydantic's
    ``ValidationError`` is one) if it is not one."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"{len(payload)} bytes, more than {MAX_PAYLOAD_BYTES}")
    return CheckinEvent.model_validate_json(payload)


def parse_status(payload: bytes) -> DeviceStatus:
    """A device status from its MQTT payload; ``ValueError`` if it is not one."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"{len(payload)} bytes, more than {MAX_PAYLOAD_BYTES}")
    return DeviceStatus.model_validate_json(payload)
