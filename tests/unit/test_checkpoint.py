"""The decision logic on its own: in view, dedupe, accept list."""

from __future__ import annotations

from datetime import UTC, datetime

from appliance.checkpoint import GONE_AFTER_FRAMES, Checkpoint
from appliance.credentials import Classifier
from appliance.credentials.cccd import CccdFormat
from appliance.decision import Result
from appliance.decoder import DecodedCode
from appliance.directions import FixedDirection
from ravao_protocol.refusals import Reason
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
