"""The QR code on a Vietnamese chip ID card (Căn cước công dân, CCCD).

``id|old_id|name|dob|sex|address|issue_date`` (or the 6-field form without
``old_id``), dates ``DDMMYYYY``, sex ``Nam``/``Nữ``. The 12-digit id encodes
sex and century in digit 4 and the birth year's last two digits in 5–6.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from ravao_protocol.credential import Credential
from ravao_protocol.refusals import Reason, Refused

_ID = re.compile(r"[0-9]{12}")
_OLD_ID = re.compile(r"([0-9]{9})?")
_DATE = re.compile(r"[0-9]{8}")
_SEX = {"nam": "M", "nữ": "F"}
# Digit 4 of the id: (sex, first year of the century).
_CENTURY = {
    "0": ("M", 1900), "1": ("F", 1900),
    "2": ("M", 2000), "3": ("F", 2000),
    "4": ("M", 2100), "5": ("F", 2100),
}
# Names and addresses: letters, marks, digits, spaces and the punctuation of
# Vietnamese addresses. Control and format characters (bidi marks) are not.
_MAX_NAME = 100
_MAX_ADDRESS = 300


def _ddmmyyyy(value: str, what: str) -> date:
    if not _DATE.fullmatch(value):
        raise Refused(Reason.MALFORMED, f"{what} is not DDMMYYYY")
    try:
        return date(int(value[4:]), int(value[2:4]), int(value[:2]))
    except ValueError:
        raise Refused(Reason.MALFORMED, f"{what} is not a real date") from None


def _clean_text(value: str, what: str, limit: int) -> str:
    value = " ".join(value.split())
    if not value or len(value) > limit:
        raise Refused(Reason.MALFORMED, f"{what} is empty or too long")
    if any(unicodedata.category(ch)[0] == "C" for ch in value):
        raise Refused(Reason.MALFORMED, f"{what} has control characters")
    return value


class CccdFormat:
    """Reads chip ID card QR codes; the event keeps the contract's minimum."""

    type = "cccd"

    def __init__(self, *, send_address: bool = False, send_old_id: bool = False) -> None:
        self.send_address = send_address
        self.send_old_id = send_old_id

    def claims(self, raw: bytes, text: str) -> bool:
        # Digits, then bar-separated fields: the shape of every CCCD QR.
        head = text.split("|", 1)[0]
        return text.count("|") >= 5 and 0 < len(head) <= 16 and head.isascii() and head.isdigit()

    def read(self, raw: bytes, text: str, now: datetime) -> Credential:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(Reason.MALFORMED, "not UTF-8 text") from None
        fields = unicodedata.normalize("NFC", text).split("|")
        if len(fields) == 7:
            id_, old_id, name, dob, sex, address, issued = fields
        elif len(fields) == 6:
            id_, name, dob, sex, address, issued = fields
            old_id = ""
        else:
            raise Refused(Reason.MALFORMED, f"{len(fields)} fields, not 6 or 7")
        if not _ID.fullmatch(id_) or not _OLD_ID.fullmatch(old_id):
            raise Refused(Reason.MALFORMED, "bad id number")
        name = _clean_text(name, "name", _MAX_NAME)
        address = _clean_text(address, "address", _MAX_ADDRESS)
        sex_code = _SEX.get(sex.strip().lower())
        if sex_code is None:
            raise Refused(Reason.MALFORMED, "sex is not Nam or Nữ")
        born = _ddmmyyyy(dob, "date of birth")
        issued_on = _ddmmyyyy(issued, "issue date")
        century = _CENTURY.get(id_[3])
        if century is None:
            raise Refused(Reason.MALFORMED, "id digit 4 is not a sex/century code")
        id_sex, century_start = century
        if id_sex != sex_code:
            raise Refused(Reason.MALFORMED, "id contradicts the sex")
        if born.year != century_start + int(id_[4:6]):
            raise Refused(Reason.MALFORMED, "id contradicts the date of birth")
        if issued_on < born or born > now.date():
            raise Refused(Reason.MALFORMED, "dates out of order")
        out = {"id": id_, "name": name, "dob": born.isoformat(), "sex": sex_code}
        if self.send_old_id:
            out["old_id"] = old_id
        if self.send_address:
            out["address"] = address
        return Credential(type=self.type, id=id_, fields=out, name=name)
