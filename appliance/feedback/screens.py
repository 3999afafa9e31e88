"""What the 128x64 OLED shows: each screen a small dataclass, and
:func:`render` a pure function from a screen to a 1-bit image.

Texts are in Vietnamese or English. Names and venue names come from QR
codes and config files, so they go through :func:`fonts.drawable` (no
missing glyphs) and are shortened letter by letter, never mid-letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from PIL import Image, ImageDraw

from appliance.decision import Reason
from appliance.feedback import Notice
from appliance.feedback.fonts import drawable, font, graphemes

WIDTH, HEIGHT = 128, 64
ELLIPSIS = "…"

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "in": "VÀO", "out": "RA",
        "online": "Đã kết nối", "offline": "Mất kết nối", "unsent": "Chờ gửi {n}",
        Notice.SETUP: "Quét mã cài đặt", Notice.CAMERA_LOST: "Mất camera", Notice.STORAGE_ERROR: "Lỗi bộ nhớ",
        Reason.UNSUPPORTED: "Mã không hỗ trợ", Reason.MALFORMED: "Mã không hợp lệ",
        Reason.BAD_SIGNATURE: "Chữ ký sai", Reason.UNKNOWN_ISSUER: "Không rõ nơi cấp",
        Reason.EXPIRED: "Thẻ đã hết hạn", Reason.NOT_YET_VALID: "Thẻ chưa có hiệu lực",
        Reason.REVOKED: "Thẻ đã bị thu hồi", Reason.NOT_ACCEPTED: "Loại thẻ không được nhận",
        "refused": "Không hợp lệ", "duplicate": "Đã ghi nhận", "error": "Lỗi – thử lại",
    },
    "en": {
        "in": "IN", "out": "OUT",
        "online": "Online", "offline": "Offline", "unsent": "{n} unsent",
        Notice.SETUP: "Scan the setup code", Notice.CAMERA_LOST: "Camera lost", Notice.STORAGE_ERROR: "Storage error",
        Reason.UNSUPPORTED: "Code not supported", Reason.MALFORMED: "Invalid code",
        Reason.BAD_SIGNATURE: "Bad signature", Reason.UNKNOWN_ISSUER: "Unknown issuer",
        Reason.EXPIRED: "Card expired", Reason.NOT_YET_VALID: "Card not yet valid",
        Reason.REVOKED: "Card revoked", Reason.NOT_ACCEPTED: "Card type not accepted",
        "refused": "Not valid", "duplicate": "Already recorded", "error": "Error – try again",
    },
}


@dataclass(frozen=True)
class IdleScreen:
    """Between check-ins: the venue, the time, the way in or out, the network."""

    venue: str
    clock: str  # "HH:MM"
    direction: str = ""  # "in" | "out" | "" (depends on the person)
    online: bool = False
    unsent: int = 0
    notice: Notice = Notice.NONE


@dataclass(frozen=True)
class PassScreen:
    """A check-in recorded: a tick, the direction, the shortened name."""

    name: str
    direction: str


@dataclass(frozen=True)
class FailScreen:
    """A refused code: a cross and why."""

    reason: Reason | None


@dataclass(frozen=True)
class DuplicateScreen:
    """The same person again within the dedupe window: already recorded."""

    name: str


@dataclass(frozen=True)
class ErrorScreen:
    """The device could not record the check-in: try again."""


Screen = Union[IdleScreen, PassScreen, FailScreen, DuplicateScreen, ErrorScreen]

# Sizes in pixels: the idle clock, result headings, names, small print.
BIG, HEADING, NAME, SMALL = 26, 20, 13, 11
ICON = 40  # the tick, cross and "!" are drawn in a square this wide


def render(screen: Screen, language: str = "vi") -> Image.Image:
    """The 128x64 1-bit image of `screen` in `language` ("vi" or "en")."""
    image = Image.new("1", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(image)
    texts = TEXTS[language]
    if isinstance(screen, IdleScreen):
        _idle(draw, screen, texts)
    elif isinstance(screen, PassScreen):
        _tick(draw)
        _heading(draw, texts.get(screen.direction, ""))
        _name_line(draw, screen.name)
    elif isinstance(screen, FailScreen):
        _cross(draw)
        _wrapped(draw, texts.get(screen.reason, texts["refused"]), (ICON + 6, 0, WIDTH, ICON + 4))
    elif isinstance(screen, DuplicateScreen):
        _tick(draw, ring=True)
        _wrapped(draw, texts["duplicate"], (ICON + 6, 0, WIDTH, ICON + 4))
        _name_line(draw, screen.name)
    else:
        _bang(draw)
        _wrapped(draw, texts["error"], (ICON + 6, 0, WIDTH, ICON + 4))
    return image


def short_name(name: str, fits: Callable[[str], bool]) -> str:
    """`name` shortened until `fits`, without showing it whole: the family and
    given names with initials between ("Nguyễn T. H. Nhung"), then tighter
    forms, then the given name cut with "…" at a letter boundary."""
    # A hostile QR may carry a "name" of any length: a real one is far shorter.
    words = ["".join(graphemes(word)[:40]) for word in drawable(name, bold=True).split()[:12]]
    if not words:
        return ""
    family, given = words[0], words[-1]
    initials = [graphemes(w)[0] + "." for w in words[1:-1]]
    forms = [
        " ".join([family, *initials, given]),
        " ".join([family, "".join(initials), given]) if initials else "",
        f"{family} {given}" if len(words) > 1 else "",
        f"{graphemes(family)[0]}. {given}" if len(words) > 1 else "",
        given,
    ]
    for form in forms:
        if form and fits(form):
            return form
    letters = graphemes(given)
    while letters and not fits("".join(letters) + ELLIPSIS):
        letters.pop()
    return "".join(letters) + ELLIPSIS if letters else ""


def fit_text(text: str, width: int, *, size: int, bold: bool = False) -> str:
    """`text` (made drawable) cut at a letter boundary with "…" to fit `width`."""
    text = drawable(text, bold=bold)
    f = font(size, bold=bold)
    if f.getlength(text) <= width:
        return text
    letters = graphemes(text)
    while letters and f.getlength("".join(letters) + ELLIPSIS) > width:
        letters.pop()
    return "".join(letters).rstrip() + ELLIPSIS


# -- drawing --------------------------------------------------------------


def _text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int, *,
          bold: bool = False, anchor: str = "ls", fill: int = 1) -> None:
    draw.text(xy, text, font=font(size, bold=bold), anchor=anchor, fill=fill)


def _idle(draw: ImageDraw.ImageDraw, screen: IdleScreen, texts: dict) -> None:
    _text(draw, (0, 10), fit_text(screen.venue, WIDTH, size=SMALL), SMALL)
    _text(draw, (0, 37), screen.clock, BIG, bold=True)
    _text(draw, (WIDTH, 37), texts.get(screen.direction, ""), HEADING, bold=True, anchor="rs")
    status = texts["online" if screen.online else "offline"]
    if screen.unsent:
        status += " · " + texts["unsent"].format(n=screen.unsent)
    if screen.notice is Notice.NONE:
        _text(draw, (0, 56), fit_text(status, WIDTH, size=SMALL), SMALL)
    else:
        _text(draw, (0, 49), fit_text(status, WIDTH, size=SMALL), SMALL)
        draw.rectangle((0, 51, WIDTH - 1, HEIGHT - 1), fill=1)
        notice = fit_text(texts[screen.notice], WIDTH - 4, size=SMALL, bold=True)
        _text(draw, (WIDTH // 2, 62), notice, SMALL, bold=True, anchor="ms", fill=0)


def _heading(draw: ImageDraw.ImageDraw, text: str) -> None:
    _text(draw, ((ICON + WIDTH) // 2 + 2, ICON // 2 + 8), text, HEADING + 6, bold=True, anchor="ms")


def _name_line(draw: ImageDraw.ImageDraw, name: str) -> None:
    f = font(NAME, bold=True)
    shown = short_name(name, lambda s: f.getlength(s) <= WIDTH)
    _text(draw, (WIDTH // 2, HEIGHT - 4), shown, NAME, bold=True, anchor="ms")


def _wrapped(draw: ImageDraw.ImageDraw, text: str, box: tuple[int, int, int, int]) -> None:
    """`text` centred in `box`, word-wrapped, in the largest size that fits."""
    x0, y0, x1, y1 = box
    text = drawable(text, bold=True)
    for size in (16, 14, 13, 12, 11):
        lines = _wrap(text, x1 - x0, size)
        line_height = size + 2
        if lines is not None and len(lines) * line_height <= y1 - y0:
            top = y0 + (y1 - y0 - len(lines) * line_height) // 2
            for i, line in enumerate(lines):
                _text(draw, ((x0 + x1) // 2, top + (i + 1) * line_height - 3), line, size, bold=True, anchor="ms")
            return
    _text(draw, (x0, (y0 + y1) // 2), fit_text(text, x1 - x0, size=11, bold=True), 11, bold=True)


def _wrap(text: str, width: int, size: int) -> list[str] | None:
    """`text` broken at spaces into lines no wider than `width`; None if a word is wider."""
    f = font(size, bold=True)
    lines: list[str] = []
    for word in text.split():
        if f.getlength(word) > width:
            return None
        if lines and f.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _tick(draw: ImageDraw.ImageDraw, *, ring: bool = False) -> None:
    s = ICON
    if ring:
        draw.ellipse((1, 1, s - 1, s - 1), outline=1, width=3)
        draw.line([(s * 0.28, s * 0.52), (s * 0.44, s * 0.68), (s * 0.74, s * 0.34)], fill=1, width=4, joint="curve")
    else:
        draw.line([(s * 0.08, s * 0.55), (s * 0.36, s * 0.84), (s * 0.94, s * 0.14)], fill=1, width=7, joint="curve")


def _cross(draw: ImageDraw.ImageDraw) -> None:
    a, b = ICON * 0.15, ICON * 0.85
    draw.line([(a, a), (b, b)], fill=1, width=7)
    draw.line([(a, b), (b, a)], fill=1, width=7)


def _bang(draw: ImageDraw.ImageDraw) -> None:
    s = ICON
    draw.polygon([(s / 2, 2), (s - 2, s - 4), (2, s - 4)], outline=1, width=3)
    draw.line([(s / 2, s * 0.35), (s / 2, s * 0.65)], fill=1, width=4)
    draw.rectangle((s / 2 - 2, s * 0.74, s / 2 + 1, s * 0.80), fill=1)
