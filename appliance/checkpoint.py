"""The decision logic: decoded code → credential → pass, fail or duplicate.

Plain Python with no hardware, network or disk in it: the camera loop feeds
it codes with the time, and records and shows what it returns.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from datetime import datetime

from appliance.credentials import Classifier, unknown_credential
from appliance.decision import Decision, Result
from appliance.decoder import DecodedCode
from appliance.directions import Directions
from ravao_protocol.refusals import Reason

log = logging.getLogger("ravao.checkpoint")

# A code missing from this many frames in a row has left the camera's view.
GONE_AFTER_FRAMES = 3


class Checkpoint:
    """Decides about the codes in each frame.

    A code that stays in view frame after frame is decided once; it is
    decided again only after it has left the view. The same person (credential
    type and id) decided again within `dedupe_seconds` of their last recorded
    check-in is a duplicate: told so, and no new event.
    """

    def __init__(
        self,
        classifier: Classifier,
        *,
        accept: Collection[str],
        dedupe_seconds: float,
        directions: Directions,
        intercept: Callable[[DecodedCode, datetime], Decision | None] | None = None,
    ) -> None:
        self.classifier = classifier
        self.accept = frozenset(accept)
        self.dedupe_seconds = dedupe_seconds
        self.directions = directions
        # A hook for codes that are not check-ins (a setup QR): returns the
        # decision to show, or None to go on with the check-in decision.
        self.intercept = intercept
        self._in_view: dict[bytes, int] = {}  # code digest → frames since last seen
        self._last_event: dict[tuple[str, str], tuple[float, bool]] = {}  # person → (monotonic time, passed)

    def frame(self, codes: list[DecodedCode], mono: float, now: datetime) -> list[Decision]:
        """The decisions for one frame's codes (none for codes still in view)."""
        seen = set()
        decisions = []
        for code in codes:
            key = hashlib.blake2b(code.raw, digest_size=16).digest()
            if key in seen:
                continue
            seen.add(key)
            if key not in self._in_view:
                decisions.append(self._decide_safely(code, mono, now))
            self._in_view[key] = 0
        for key in list(self._in_view):
            if key not in seen:
                self._in_view[key] += 1
                if self._in_view[key] >= GONE_AFTER_FRAMES:
                    del self._in_view[key]
        return decisions

    def _decide_safely(self, code: DecodedCode, mono: float, now: datetime) -> Decision:
        try:
            return self.decide(code, mono, now)
        except Exception:  # a disk or state fault while deciding: the person is told, the loop goes on
            log.exception("deciding about a code failed")
            return Decision(Result.ERROR, unknown_credential(code.raw), self.directions.shown or "in")

    def decide(self, code: DecodedCode, mono: float, now: datetime) -> Decision:
        """The decision for one code newly shown to the camera."""
        if self.intercept is not None:
            special = self.intercept(code, now)
            if special is not None:
                return special
        credential, reason = self.classifier.classify(code.raw, code.text, now)
        if reason is None and credential.type not in self.accept:
            reason = Reason.NOT_ACCEPTED
        direction = self.directions.direction_for(credential, now)
        person = (credential.type, credential.id)
        self._forget_before(mono - self.dedupe_seconds)
        if person in self._last_event:
            return Decision(Result.DUPLICATE, credential, direction, reason, passed_before=self._last_event[person][1])
        return Decision(Result.FAIL if reason else Result.PASS, credential, direction, reason)

    def recorded(self, decision: Decision, mono: float) -> None:
        """Note that `decision` became an event: the dedupe window starts now."""
        self._last_event[(decision.credential.type, decision.credential.id)] = (mono, decision.result is Result.PASS)

    def _forget_before(self, cutoff: float) -> None:
        for person, (when, _) in list(self._last_event.items()):
            if when <= cutoff:
                del self._last_event[person]
