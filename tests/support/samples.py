"""Sample QR codes for tests, benchmarks and the demo: ID cards with
Vietnamese names, made as real QR images with segno."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import segno


@dataclass(frozen=True)
class Card:
    """A chip ID card's QR content."""

    id: str
    name: str
    dob: str  # DDMMYYYY
    sex: str  # Nam | Nữ
    address: str
    issued: str  # DDMMYYYY
    old_id: str | None = ""

    def text(self, *, nfd: bool = False) -> str:
        fields = [self.id] + ([] if self.old_id is None else [self.old_id]) + [
            self.name, self.dob, self.sex, self.address, self.issued]
        text = "|".join(fields)
        return unicodedata.normalize("NFD", text) if nfd else text

    @property
    def dob_iso(self) -> str:
        return f"{self.dob[4:]}-{self.dob[2:4]}-{self.dob[:2]}"


CARDS = [
    Card("046085001234", "Trần Văn An", "12031985", "Nam", "12 Lê Lợi, Phường Vĩnh Ninh, Thành phố Huế, Thừa Thiên Huế", "05062021", "191234567"),
    Card("001192004567", "Nguyễn Thị Hồng Nhung", "30041992", "Nữ", "Số 8 ngõ 45 Hàng Bạc, Hoàn Kiếm, Hà Nội", "15082022"),
    Card("079203009876", "Lê Hoàng Đức", "01012003", "Nam", "Ấp Mỹ Hòa, Xã Tân Xuân, Huyện Hóc Môn, TP. Hồ Chí Minh", "20102021", None),
    Card("038301004321", "Phạm Thị Ngọc Ánh", "28022001", "Nữ", "Thôn Đông, Xã Quảng Phú, Huyện Quảng Xương, Thanh Hóa", "11112021"),
    Card("040075005555", "Võ Đình Tuấn", "17071975", "Nam", "Khối 3, Phường Hưng Dũng, TP. Vinh, Nghệ An", "02022022", "186543210"),
    Card("052196006666", "Đặng Thị Mỹ Dung", "03091996", "Nữ", "Tổ 5, Phường Ngô Mây, TP. Quy Nhơn, Bình Định", "09092021"),
    Card("031080007777", "Bùi Quốc Hưng", "25121980", "Nam", "Số 99 Lạch Tray, Ngô Quyền, Hải Phòng", "30062021"),
    Card("092305008888", "Huỳnh Ngữ Yến", "14022005", "Nữ", "Khu vực 2, Phường An Khánh, Ninh Kiều, Cần Thơ", "01032022"),
]

# Digit 4 says female, the card says Nam: malformed.
MALFORMED_CARD = Card("046185001234", "Trần Văn Bình", "12031985", "Nam", "Huế", "05062021")


def qr_png(text: str, path: Path, *, eci: bool = False, scale: int = 4) -> Path:
    """A QR image of `text` (UTF-8, with or without an ECI marker)."""
    qr = segno.make(text, encoding="utf-8", eci=eci, error="m", micro=False)
    qr.save(str(path), kind="png", scale=scale, border=4)
    return path


def qr_bytes_png(data: bytes, path: Path, *, scale: int = 4) -> Path:
    """A QR image of raw bytes (byte mode, no ECI)."""
    qr = segno.make(data, error="l", micro=False, mode="byte")
    qr.save(str(path), kind="png", scale=scale, border=4)
    return path
