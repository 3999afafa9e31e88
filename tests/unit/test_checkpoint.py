"""The decision logic on its own: in view, dedupe, accept list."""

from __future__ import annotations

from datetime import UTC, datetime

from appliance.checkpoint import GONE_AFTER_FRAMES, Checkpoint, code_key
from appliance.credentials import Classifier
from appliance.credentials.cccd import CccdFormat
from appliance.decision import Result
from appliance.decoder import DecodedCode
from appliance.directions import FixedDirection
from ravao_protocol.refusals import Reason, Refused
from tests.support.samples import CARDS

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def code(text: str) -> DecodedCode:
    return DecodedCode(text.encode(), text)


def checkpoint(**kw) -> Checkpoint:
    kw.setdefault("accept", ["cccd", "pass"])
    kw.setdefault("dedupe_seconds", 10)
    return Checkpoint(Classifier([CccdFormat()]), directions=FixedDirection("out"), **kw)


def test_a_code_held_in_view_is_decided_once():
    cp = checkpoint()
    card = code(CARDS[0].text())
    results = []
    for frame in range(60):  # two seconds at 30 fps
        for d in cp.frame([card], frame / 30, NOW):
            results.append(d.result)
            cp.recorded(d, frame / 30)
    assert results == [Result.PASS]


def test_shown_again_within_the_window_is_a_duplicate_then_passes_after():
    cp = checkpoint(dedupe_seconds=10)
    card = code(CARDS[0].text())
    (first,) = cp.frame([card], 0.0, NOW)
    cp.recorded(first, 0.0)
    for i in range(GONE_AFTER_FRAMES):
        assert cp.frame([], 0.1 + i / 30, NOW) == []
    (again,) = cp.frame([card], 5.0, NOW)
    assert again.result is Result.DUPLICATE and again.direction == "out"
    assert again.passed_before and again.opens_door  # the door may have closed on them
    for i in range(GONE_AFTER_FRAMES):
        cp.frame([], 5.1 + i / 30, NOW)
    (later,) = cp.frame([card], 10.5, NOW)
    assert later.result is Result.PASS


def test_a_flickering_decode_is_still_one_showing():
    cp = checkpoint()
    card = code(CARDS[0].text())
    decided = []
    for frame in range(30):
        seen = [card] if frame % (GONE_AFTER_FRAMES) else []  # missed every few frames
        decided += cp.frame(seen, frame / 30, NOW)
    assert len(decided) == 1


def test_not_accepted_type_fails():
    cp = checkpoint(accept=["pass"])
    (d,) = cp.frame([code(CARDS[0].text())], 0, NOW)
    assert d.result is Result.FAIL and d.reason is Reason.NOT_ACCEPTED


def test_two_codes_in_one_frame_are_two_decisions():
    cp = checkpoint()
    ds = cp.frame([code(CARDS[0].text()), code(CARDS[1].text()), code(CARDS[0].text())], 0, NOW)
    assert [d.credential.id for d in ds] == [CARDS[0].id, CARDS[1].id]


class RevokedCopies:
    """Codes "REVOKED:" + a card's text: refused (revoked), yet naming the card's holder."""

    type = "cccd"

    def claims(self, raw, text):
        return text.startswith("REVOKED:")

    def read(self, raw, text, now):
        holder = CccdFormat().read(raw[8:], text[8:], now)
        raise Refused(Reason.REVOKED, "revoked", credential=holder)


def away(cp, at):
    for i in range(GONE_AFTER_FRAMES):
        cp.frame([], at + i / 30, NOW)


def test_a_refused_code_starts_no_window_for_the_person_but_one_for_itself():
    cp = Checkpoint(Classifier([RevokedCopies(), CccdFormat()]), directions=FixedDirection("in"),
                    accept=["cccd"], dedupe_seconds=600)
    revoked, own = code("REVOKED:" + CARDS[0].text()), code(CARDS[0].text())
    (first,) = cp.frame([revoked], 0.0, NOW)
    assert (first.result, first.reason, first.credential.id) == (Result.FAIL, Reason.REVOKED, CARDS[0].id)
    cp.recorded(first, 0.0)
    away(cp, 0.1)
    (again,) = cp.frame([revoked], 1.0, NOW)  # the same refused code: a duplicate, no second event
    assert again.result is Result.DUPLICATE and not again.passed_before and not again.opens_door
    away(cp, 1.1)
    (holder,) = cp.frame([own], 2.0, NOW)  # the holder's own card passes
    assert holder.result is Result.PASS
    cp.recorded(holder, 2.0)
    away(cp, 2.1)
    (later,) = cp.frame([revoked], 3.0, NOW)  # no new event; the revoked code itself opens nothing
    assert later.result is Result.DUPLICATE and not later.opens_door


def test_the_windows_go_on_from_what_the_outbox_remembers():
    cp = checkpoint(dedupe_seconds=600)
    card = code(CARDS[0].text())
    cp.remember(code_key(card.raw), ("cccd", CARDS[0].id), True, 1000.0 - 590)  # passed 590 s before the restart
    (d,) = cp.frame([card], 1000.0, NOW)
    assert d.result is Result.DUPLICATE and d.passed_before
    away(cp, 1000.1)
    (d,) = cp.frame([card], 1010.5, NOW)  # 600.5 s after that pass
    assert d.result is Result.PASS
