"""A credential as read from a QR code: what a check-in event says of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
