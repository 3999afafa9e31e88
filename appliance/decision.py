"""What the device decided about one code: the plain data shared by the
decision logic, the outbox and the feedback (no hardware, no network)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ravao_protocol.credential import Credential
from ravao_protocol.refusals import Reason


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
    # The code's :func:`~appliance.checkpoint.code_key`, kept with its event to know it again.
    code_key: str | None = None

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
