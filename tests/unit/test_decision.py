"""What opens the door."""

from __future__ import annotations

from appliance.decision import Decision, Result
from ravao_protocol.credential import Credential
from ravao_protocol.refusals import Reason

PERSON = Credential("cccd", "046085001234", {"id": "046085001234"}, "Trần Văn An")
EVENT = {"seq": 1}


def test_only_a_recorded_pass_of_a_person_opens_the_door():
    assert Decision(Result.PASS, PERSON, "in", event=EVENT).opens_door
    assert not Decision(Result.PASS, PERSON, "in").opens_door  # not recorded: a device in setup mode
    assert not Decision(Result.FAIL, PERSON, "in", Reason.REVOKED, event=EVENT).opens_door
    assert not Decision(Result.DUPLICATE, PERSON, "in").opens_door
    assert Decision(Result.DUPLICATE, PERSON, "in", passed_before=True).opens_door  # the door closed on them
    assert not Decision(Result.ERROR, PERSON, "in").opens_door
    for kind in ("setup", "wifi"):
        assert not Decision(Result.PASS, Credential(kind, "x"), "in", event=EVENT).opens_door
