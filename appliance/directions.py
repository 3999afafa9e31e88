"""Which way a person goes: a fixed door, a toggle per person, or a button."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from appliance.outbox import DirectionChange, Outbox
from ravao_protocol.credential import Credential


class Directions(Protocol):
    """Which way a person is going."""

    def direction_for(self, credential: Credential, now: datetime) -> str:
        """``"in"`` or ``"out"`` for this person now (no side effects)."""

    def remember(self, credential: Credential, direction: str, now: datetime) -> DirectionChange | None:
        """What to record with the check-in (a person's last way), if anything."""

    @property
    def shown(self) -> str:
        """The direction for the idle screen; "" when it depends on the person."""


class FixedDirection:
    """A door that only lets people in, or only out."""

    def __init__(self, direction: str) -> None:
        if direction not in ("in", "out"):
            raise ValueError(f"fixed direction must be in or out, not {direction!r}")
        self.direction = direction

    def direction_for(self, credential: Credential, now: datetime) -> str:
        return self.direction

    def remember(self, credential: Credential, direction: str, now: datetime) -> DirectionChange | None:
        return None

    @property
    def shown(self) -> str:
        return self.direction


class ButtonDirection(FixedDirection):
    """One door for both ways; a press of the button switches in ↔ out."""

    def __init__(self) -> None:
        super().__init__("in")

    def toggle(self) -> str:
        self.direction = "out" if self.direction == "in" else "in"
        return self.direction


class ToggleDirection:
    """Each person's next check-in today is the opposite of their last.

    Kept in the outbox database, written in the same transaction as the
    check-in, so a restart (or a power cut) never flips anyone.
    """

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    @staticmethod
    def _person(credential: Credential) -> str:
        return f"{credential.type}:{credential.id}"

    @staticmethod
    def _day(now: datetime) -> str:
        return now.astimezone().date().isoformat()  # the device's local day

    def direction_for(self, credential: Credential, now: datetime) -> str:
        last = self.outbox.last_direction(self._person(credential))
        if last is not None and last[0] == self._day(now):
            return "out" if last[1] == "in" else "in"
        return "in"

    def remember(self, credential: Credential, direction: str, now: datetime) -> DirectionChange | None:
        return DirectionChange(self._person(credential), self._day(now), direction)

    @property
    def shown(self) -> str:
        return ""
