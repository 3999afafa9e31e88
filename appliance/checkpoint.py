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
    decided again only after it has left the view. Within `dedupe_seconds`
    a duplicate (told so, no new event) is the same code (identical content)
    as a recorded check-in, or the same person (credential type and id) as a
    recorded *pass*: a refused code starts no window for the person, so the
    holder's own valid credential shown after a forged one passes.
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
        self._codes: dict[str, tuple[float, bool]] = {}  # code_key → (monotonic time, passed)
        self._passes: dict[tuple[str, str], float] = {}  # person → monotonic time of their pass

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
        key = code_key(code.raw)
        earlier = self._codes.get(key)
        if earlier is not None:
            return Decision(Result.DUPLICATE, credential, direction, reason, passed_before=earlier[1], code_key=key)
        if person in self._passes:
            return Decision(Result.DUPLICATE, credential, direction, reason, passed_before=True, code_key=key)
        return Decision(Result.FAIL if reason else Result.PASS, credential, direction, reason, code_key=key)

    def recorded(self, decision: Decision, mono: float) -> None:
        """Note that `decision` became an event: its windows start now."""
        self.remember(decision.code_key, (decision.credential.type, decision.credential.id),
                      decision.result is Result.PASS, mono)

    def remember(self, code: str | None, person: tuple[str, str], passed: bool, mono: float) -> None:
        """Start the windows of a check-in recorded at `mono` (on a restart:
        the recent ones from the outbox, back-dated)."""
        if code is not None:
            self._codes[code] = (mono, passed)
        if passed:
            self._passes[person] = mono

    def _forget_before(self, cutoff: float) -> None:
        for code, (when, _) in list(self._codes.items()):
            if when <= cutoff:
                del self._codes[code]
        for person, when in list(self._passes.items()):
            if when <= cutoff:
                del self._passes[person]


def code_key(raw: bytes) -> str:
    """What the outbox keeps of a code to know it again: a hash of its content."""
    return hashlib.sha256(raw).hexdigest()
