"""What the device decided about one code: the plain data shared by the
decision logic, the outbox and the feedback (no hardware, no network)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Reason(str, enum.Enum):
    """Why a code failed; the values are the contract's `reason` strings."""

    UNSUPPORTED = "unsupported"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_ISSUER = "unknown_issuer"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    NOT_ACCEPTED = "not_accepted"


class Refused(Exception):
    """Raised by a credential reader or verifier: the code fails for `reason`."""

    def __init__(self, reason: Reason, detail: str = "", credential: "Credential | None" = None) -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        # What the code could be trusted to say about its holder (a revoked
        # but genuine pass); None: the event describes it by hash only.
        self.credential = credential


@dataclass(frozen=True)
class Credential:
    """A credential as read from a QR code.

    `type` is the contract's credential type (`cccd`, `pass`, `unknown`, …),
    `id` identifies the person for dedupe and toggle, `fields` is what the
    event's `credential` object carries (besides `type`), and `name` is the
    person's name for the display (may be empty).
    """

    type: str
    id: str
    fields: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def event_object(self) -> dict[str, Any]:
        """The event's `credential` object."""
        return {"type": self.type, **self.fields}


class Result(str, enum.Enum):
    """What a person is told at the device."""

    PASS = "pass"
    FAIL = "fail"
    DUPLICATE = "duplicate"  # seen within dedupe_seconds: no new event
    ERROR = "error"  # the device could not record: never "pass"


@dataclass(frozen=True)
class Decision:
    """The device's answer to one code shown to it."""

    result: Result
    credential: Credential
    direction: str  # "in" | "out"
    reason: Reason | None = None
    # Filled when the decision was recorded as an event.
    event: dict[str, Any] | None = None
    # A duplicate of someone whose last check-in passed: they may go through again.
    passed_before: bool = False

    @property
    def opens_door(self) -> bool:
        """A person passes and it is on record (or shows again, within the
        dedupe window, after passing): the door opens for this, and for
        nothing else (not a setup QR, not a device without an identity)."""
        if self.credential.type in NOT_A_PERSON:
            return False
        return (self.result is Result.PASS and self.event is not None) or (
            self.result is Result.DUPLICATE and self.passed_before)


# Codes that pass without being a person's credential.
NOT_A_PERSON = frozenset({"setup", "wifi"})
