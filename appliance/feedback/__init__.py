"""What a person sees and hears at the device.

The decision code talks to one :class:`Feedback`; the console/log one lives
here, GPIO and OLED implementations plug in beside it. Every method must
return at once: slow work (a beep pattern, a screen write) runs on the
implementation's own thread, never on the camera loop.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from typing import Protocol

from appliance.decision import Decision

log = logging.getLogger("ravao.feedback")


class Notice(str, enum.Enum):
    """A standing condition the idle screen shows instead of "ready"."""

    NONE = ""
    SETUP = "setup"  # no identity yet: waiting for a setup QR
    CAMERA_LOST = "camera_lost"
    STORAGE_ERROR = "storage_error"


_NOTICE_TEXT = {
    Notice.SETUP: "waiting for setup QR",
    Notice.CAMERA_LOST: "camera lost",
    Notice.STORAGE_ERROR: "storage error",
}


class Feedback(Protocol):
    """The interface between the decision logic and the person at the device."""

    def decided(self, decision: Decision) -> None:
        """Show a pass, fail or duplicate decision (or an error recording it)."""

    def status(self, *, online: bool, queue: int, notice: Notice = Notice.NONE, direction: str = "",
               venue: str = "") -> None:
        """Update the idle state: network up or down, unsent events, a standing
        notice, the direction of the next check-in ("in"/"out"; "" when it
        depends on the person), and the venue's name ("" = unchanged)."""

    def close(self) -> None:
        """Release the hardware (the door relay off, first of all)."""


class LogFeedback:
    """Feedback written to the log: for laptops, tests and the demo."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger
        self._last_status: tuple | None = None

    def decided(self, decision: Decision) -> None:
        cred = decision.credential
        who = cred.name or (f"{cred.type} {cred.id[:12]}…" if len(cred.id) > 16 else f"{cred.type} {cred.id}")
        if decision.reason is not None:
            self._log.info("%s %s %s (%s)", decision.result.value.upper(),
                           decision.direction, who, decision.reason.value)
        else:
            self._log.info("%s %s %s", decision.result.value.upper(), decision.direction, who)

    def status(self, *, online: bool, queue: int, notice: Notice = Notice.NONE, direction: str = "",
               venue: str = "") -> None:
        now = (online, queue, notice, direction)
        if now == self._last_status:
            return
        # A change of the unsent count alone is routine: debug level.
        routine = self._last_status is not None and self._last_status[::2] == now[::2] \
            and self._last_status[3] == direction
        self._last_status = now
        text = _NOTICE_TEXT.get(notice, "")
        self._log.log(logging.DEBUG if routine else logging.INFO, "status: %s, %d unsent%s%s",
                      "online" if online else "offline", queue, f", {text}" if text else "",
                      f", next: {direction}" if direction else "")

    def close(self) -> None:
        pass


class FanOut:
    """Several feedbacks driven as one; a fault in one never stops the others."""

    def __init__(self, parts: Sequence[Feedback]) -> None:
        self.parts = list(parts)

    def _each(self, method: str, *args, **kwargs) -> None:
        for part in self.parts:
            try:
                getattr(part, method)(*args, **kwargs)
            except Exception:  # a broken LED or screen must not stop scanning
                log.exception("feedback %s.%s failed", type(part).__name__, method)

    def decided(self, decision: Decision) -> None:
        self._each("decided", decision)

    def status(self, *, online: bool, queue: int, notice: Notice = Notice.NONE, direction: str = "",
               venue: str = "") -> None:
        self._each("status", online=online, queue=queue, notice=notice, direction=direction, venue=venue)

    def close(self) -> None:
        self._each("close")


class RecordingFeedback:
    """A test double: keeps every call in `calls`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def decided(self, decision: Decision) -> None:
        self.calls.append(("decided", decision))

    def status(self, *, online: bool, queue: int, notice: Notice = Notice.NONE, direction: str = "",
               venue: str = "") -> None:
        self.calls.append(("status", (online, queue, notice, direction, venue)))

    def close(self) -> None:
        self.calls.append(("close", None))
