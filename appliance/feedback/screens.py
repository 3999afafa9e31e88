"""What the 128x64 OLED shows: each screen a small dataclass, and
:func:`render` a pure function from a screen to a 1-bit image.

Texts are in Vietnamese or English. Names and venue names come from QR
codes and config files, so they go through :func:`fonts.drawable` (no
missing glyphs) and are shortened letter by letter, never mid-letter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw

from appliance.feedback import Notice
from appliance.feedback.fonts import drawable, font, graphemes
from ravao_protocol.refusals import Reason

WIDTH, HEIGHT = 128, 64
ELLIPSIS = "…"

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "in": "VÀO", "out": "RA",
        "online": "Có mạng", "offline": "Mất mạng", "unsent": "chờ gửi {n}",
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
        Notice.SETUP: "Scan setup code", Notice.CAMERA_LOST: "Camera lost", Notice.STORAGE_ERROR: "Storage error",
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


Screen = IdleScreen | PassScreen | FailScreen | DuplicateScreen | ErrorScreen

# Sizes in pixels. 13 is the least at which the panel keeps Vietnamese marks
# apart: below it the horn of ư/ơ and stacked marks (ế, ỗ) turn to blobs.
CLOCK, DIRECTION, HEADING, NAME, SMALL = 22, 18, 26, 13, 13
# Screens are drawn in grey, then every pixel at least INK bright is lit:
# FreeType's own 1-bit rendering snaps small marks away (ỗ comes out as ô).
ON, INK = 255, 100
ICON = 40  # the tick, cross and "!" are drawn in a square this wide
MIDDLE = (HEIGHT - ICON) // 2  # an icon's top when no name line is below it


def render(screen: Screen, language: str = "vi") -> Image.Image:
    """The 128x64 1-bit image of `screen` in `language` ("vi" or "en")."""
    image = Image.new("L", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(image)
    texts = TEXTS[language]
    if isinstance(screen, IdleScreen):
        _idle(draw, screen, texts)
    elif isinstance(screen, PassScreen):
        _tick(draw)
        _heading(draw, texts.get(screen.direction, ""))
        _name_line(draw, screen.name)
    elif isinstance(screen, FailScreen):
        _cross(draw, top=MIDDLE)
        _wrapped(draw, texts.get(screen.reason or "", texts["refused"]), (ICON + 6, 0, WIDTH - 1, HEIGHT))
    elif isinstance(screen, DuplicateScreen):
        _tick(draw, ring=True)
        _wrapped(draw, texts["duplicate"], (ICON + 6, 0, WIDTH - 1, ICON + 4))
        _name_line(draw, screen.name)
    else:
        _bang(draw, top=MIDDLE)
        _wrapped(draw, texts["error"], (ICON + 6, 0, WIDTH - 1, HEIGHT))
    return image.point(lambda v: 255 if v >= INK else 0).convert("1")


def short_name(name: str, fits: Callable[[str], bool]) -> str:
    """`name` shortened until `fits`, without showing it whole: the family and
    given names with initials between ("Nguyễn T. H. Nhung"), then tighter
    forms, then the given name cut with "…" at a letter boundary."""
    # A hostile QR may carry a "name" of any length: a real one is far shorter.
    words = ["".join(graphemes(word)[:40]) for word in drawable(name, bold=True).split()[:12]]
    if not words:
        return ""
    family, given = words[0], words[-1]
    forms = [given]
    if len(words) > 1:
        initials = [graphemes(w)[0] + "." for w in words[1:-1]]
        forms = [" ".join([family, *initials, given]), " ".join([family, "".join(initials), given]),
                 f"{family} {given}", f"{graphemes(family)[0]}. {given}", given]
    for form in forms:
        if fits(form):
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
          bold: bool = False, anchor: str = "ls", fill: int = ON) -> None:
    draw.text(xy, text, font=font(size, bold=bold), anchor=anchor, fill=fill)


def _idle(draw: ImageDraw.ImageDraw, screen: IdleScreen, texts: dict) -> None:
    _text(draw, (0, 12), fit_text(screen.venue, WIDTH, size=SMALL), SMALL)
    _text(draw, (0, 33), screen.clock, CLOCK, bold=True)
    _text(draw, (WIDTH, 33), texts.get(screen.direction, ""), DIRECTION, bold=True, anchor="rs")
    status_y = 57
    if screen.notice is not Notice.NONE:
        status_y = 46
        draw.rectangle((0, 50, WIDTH - 1, HEIGHT - 1), fill=ON)
        notice = fit_text(texts[screen.notice], WIDTH - 4, size=SMALL, bold=True)
        _text(draw, (WIDTH // 2, 61), notice, SMALL, bold=True, anchor="ms", fill=0)
    network = texts["online" if screen.online else "offline"]
    _text(draw, (0, status_y), network, SMALL)
    if screen.unsent:
        unsent = texts["unsent"].format(n=screen.unsent)
        if font(SMALL).getlength(f"{network}  {unsent}") > WIDTH:
            unsent = f"↑{screen.unsent}"  # a count too long for the words
        _text(draw, (WIDTH, status_y), unsent, SMALL, anchor="rs")


def _heading(draw: ImageDraw.ImageDraw, text: str) -> None:
    _text(draw, ((ICON + WIDTH) // 2 + 2, ICON // 2 + 8), text, HEADING, bold=True, anchor="ms")


def _name_line(draw: ImageDraw.ImageDraw, name: str) -> None:
    f = font(NAME, bold=True)
    shown = short_name(name, lambda s: f.getlength(s) <= WIDTH)
    _text(draw, (WIDTH // 2, HEIGHT - 4), shown, NAME, bold=True, anchor="ms")


def _wrapped(draw: ImageDraw.ImageDraw, text: str, box: tuple[int, int, int, int]) -> None:
    """`text` centred in `box`, word-wrapped, in the largest size that fits."""
    x0, y0, x1, y1 = box
    text = drawable(text, bold=True)
    for size in (16, 14, SMALL):
        lines = _wrap(text, x1 - x0, size)
        line_height = size + 3  # room for stacked marks (ễ) under the line above
        if lines is not None and len(lines) * line_height <= y1 - y0:
            top = y0 + (y1 - y0 - len(lines) * line_height) // 2
            for i, line in enumerate(lines):
                _text(draw, ((x0 + x1) // 2, top + (i + 1) * line_height - 3), line, size, bold=True, anchor="ms")
            return
    _text(draw, (x0, (y0 + y1) // 2), fit_text(text, x1 - x0, size=SMALL, bold=True), SMALL, bold=True)


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


def _tick(draw: ImageDraw.ImageDraw, *, top: float = 0, ring: bool = False) -> None:
    s = ICON
    if ring:
        draw.ellipse((1, top + 1, s - 1, top + s - 1), outline=ON, width=3)
        points, width = [(0.28, 0.52), (0.44, 0.68), (0.74, 0.34)], 4
    else:
        points, width = [(0.08, 0.55), (0.36, 0.84), (0.94, 0.14)], 7
    draw.line([(s * x, top + s * y) for x, y in points], fill=ON, width=width, joint="curve")


def _cross(draw: ImageDraw.ImageDraw, *, top: float = 0) -> None:
    a, b = ICON * 0.15, ICON * 0.85
    draw.line([(a, top + a), (b, top + b)], fill=ON, width=7)
    draw.line([(a, top + b), (b, top + a)], fill=ON, width=7)


def _bang(draw: ImageDraw.ImageDraw, *, top: float = 0) -> None:
    s = ICON
    draw.polygon([(s / 2, top + 2), (s - 2, top + s - 4), (2, top + s - 4)], outline=ON, width=3)
    draw.line([(s / 2, top + s * 0.35), (s / 2, top + s * 0.65)], fill=ON, width=4)
    draw.rectangle((s / 2 - 2, top + s * 0.74, s / 2 + 1, top + s * 0.80), fill=ON)
