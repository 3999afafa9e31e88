"""The chip ID card QR: both forms, real dates, NFC, and the id's own checks."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest

from appliance.credentials import Classifier
from appliance.credentials.cccd import CccdFormat
from ravao_protocol.refusals import Reason
from tests.support.samples import CARDS, Card

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
classifier = Classifier([CccdFormat()])


def classify(text: str):
    return classifier.classify(text.encode(), text, NOW)


@pytest.mark.parametrize("card", CARDS, ids=lambda c: c.id)
def test_sample_cards_pass_with_minimal_fields(card):
    cred, reason = classify(card.text())
    assert reason is None
    assert cred.type == "cccd" and cred.id == card.id
    assert cred.event_object() == {"type": "cccd", "id": card.id, "name": card.name, "dob": card.dob_iso,
                                   "sex": "M" if card.sex == "Nam" else "F"}


def test_nfd_input_becomes_nfc():
    card = CARDS[1]
    text = card.text(nfd=True)
    assert text != card.text()
    cred, reason = classify(text)
    assert reason is None and cred.fields["name"] == card.name
    assert unicodedata.is_normalized("NFC", cred.fields["name"])


def test_six_field_form_and_old_id_only_on_request():
    six = Card("046085001234", "Trần Văn An", "12031985", "Nam", "Huế", "05062021", None)
    assert classify(six.text())[1] is None
    seven = CARDS[0]
    fmt = CccdFormat(send_address=True, send_old_id=True)
    cred = fmt.read(seven.text().encode(), seven.text(), NOW)
    assert cred.fields["old_id"] == "191234567" and cred.fields["address"] == seven.address


@pytest.mark.parametrize("text", [
    "046085001234|191234567|Trần Văn An|31021985|Nam|Huế|05062021",  # 31 February
    "046085001234|191234567|Trần Văn An|12131985|Nam|Huế|05062021",  # month 13
    "046085001234|191234567|Trần Văn An|1203198|Nam|Huế|05062021",  # 7 digits
    "046085001234|191234567|Trần Văn An|12031985|Nữ|Huế|05062021",  # digit 4 says male
    "046085001234|191234567|Trần Văn An|12031986|Nam|Huế|05062021",  # digits 5-6 say 1985
    "046285001234|191234567|Trần Văn An|12031985|Nam|Huế|05062021",  # digit 4 says 2000s
    "046785001234|191234567|Trần Văn An|12031985|Nam|Huế|05062021",  # digit 4 is no code
    "04608500123|191234567|Trần Văn An|12031985|Nam|Huế|05062021",  # 11 digits
    "046085001234|19123456|Trần Văn An|12031985|Nam|Huế|05062021",  # 8-digit old id
    "046085001234|191234567|Trần Văn An|12031985|Male|Huế|05062021",
    "046085001234|191234567||12031985|Nam|Huế|05062021",  # no name
    "046085001234|191234567|Trần\u202eVăn An|12031985|Nam|Huế|05062021",  # a bidi override
    "046085001234|191234567|Trần Văn An|12031985|Nam|Huế|05062021|extra",
    "046085001234|191234567|Trần Văn An|12031985|Nam|Huế|05061984",  # issued before birth
])
def test_malformed_cards(text):
    cred, reason = classify(text)
    assert reason is Reason.MALFORMED
    assert cred.type == "unknown" and set(cred.fields) == {"sha256", "length"}


@pytest.mark.parametrize("text", ["hello", "https://vneid.gov.vn", "12|34", "WIFI:S:x;;", ""])
def test_other_text_is_unsupported(text):
    cred, reason = classify(text)
    assert reason is Reason.UNSUPPORTED and cred.type == "unknown"


def test_oversized_input_is_refused_before_parsing():
    big = ("046085001234|" + "x|" * 3000).encode()
    cred, reason = classifier.classify(big, big.decode(), NOW)
    assert reason is Reason.MALFORMED and cred.fields["length"] == len(big)
