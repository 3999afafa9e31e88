"""The OLED screens: rendered through luma's dummy device and compared with
reference PNGs in tests/screens/; Vietnamese glyphs; names shortened by
whole letters.

RAVAO_UPDATE_SCREENS=1 writes the references anew instead of comparing (those
tests are then reported as skipped): look at every one before committing.
"""

from __future__ import annotations

import os
import unicodedata

import pytest
from luma.core.device import dummy
from PIL import Image

from appliance.feedback import Notice, fonts
from appliance.feedback.fonts import FontMissing, coverage, drawable, font, graphemes
from appliance.feedback.screens import (
    ELLIPSIS,
    NAME,
    TEXTS,
    WIDTH,
    DuplicateScreen,
    ErrorScreen,
    FailScreen,
    IdleScreen,
    PassScreen,
    fit_text,
    render,
    short_name,
)
from ravao_protocol.refusals import Reason
from tests.support.paths import SCREENS as REFERENCES

VENUE = "Bệnh viện Trung ương Huế"
NAMES = ["Nguyễn Thị Hồng Nhung", "Đặng Thị Mỹ Dung", "Huỳnh Ngữ Yến", "Võ Đình Tuấn", "Trần Văn Ổn",
         "Phạm Thị Ngọc Ánh", "Lê Hoàng Đức", "Bùi Quốc Hưng"]
LONG_NAME = "Tôn Nữ Thị Phương Thảo Nguyễn Hoàng Anh"

SCREENS = {
    "idle-ready": (IdleScreen(VENUE, "08:15", "in", online=True), "vi"),
    "idle-offline-unsent-camera-lost": (IdleScreen(VENUE, "23:59", "out", unsent=12, notice=Notice.CAMERA_LOST), "vi"),
    "idle-setup": (IdleScreen("", "07:00", notice=Notice.SETUP), "vi"),
    "idle-many-unsent": (IdleScreen("Xe buýt 51B-123.45 tuyến 08", "18:40", "in", unsent=12345), "vi"),
    "idle-storage-error": (IdleScreen(VENUE, "12:30", "", online=True, unsent=3, notice=Notice.STORAGE_ERROR), "vi"),
    "pass-in": (PassScreen("Nguyễn Thị Hồng Nhung", "in"), "vi"),
    "pass-out-long-name": (PassScreen(LONG_NAME, "out"), "vi"),
    "pass-in-on": (PassScreen("Trần Văn Ổn", "in"), "vi"),
    **{f"fail-{r.value}": (FailScreen(r), "vi") for r in Reason},
    "duplicate": (DuplicateScreen("Đặng Thị Mỹ Dung"), "vi"),
    "error": (ErrorScreen(), "vi"),
    "en-idle-setup": (IdleScreen(VENUE, "07:00", "out", unsent=2, notice=Notice.SETUP), "en"),
    "en-pass": (PassScreen("Huỳnh Ngữ Yến", "in"), "en"),
    "en-fail-not_accepted": (FailScreen(Reason.NOT_ACCEPTED), "en"),
    "en-duplicate": (DuplicateScreen("Võ Đình Tuấn"), "en"),
    "en-error": (ErrorScreen(), "en"),
}


def on_dummy(screen, language: str) -> Image.Image:
    """What a 128x64 1-bit panel would hold after showing `screen`."""
    device = dummy(width=128, height=64, mode="1")
    device.display(render(screen, language))
    return device.image


@pytest.mark.parametrize("name", list(SCREENS))
def test_screen_matches_its_reference(name, tmp_path):
    screen, language = SCREENS[name]
    image = on_dummy(screen, language)
    reference = REFERENCES / f"{name}.png"
    if os.environ.get("RAVAO_UPDATE_SCREENS") == "1":
        REFERENCES.mkdir(exist_ok=True)
        image.save(reference)
        pytest.skip(f"wrote {reference}: look at it before committing")
    assert reference.exists(), f"no reference {reference}: run with RAVAO_UPDATE_SCREENS=1"
    expected = Image.open(reference).convert("1")
    if image.tobytes() != expected.tobytes():
        image.save(tmp_path / reference.name)
        pytest.fail(f"{name} differs from {reference}; rendered: {tmp_path / reference.name}")


def test_every_reference_belongs_to_a_screen():
    assert sorted(p.stem for p in REFERENCES.glob("*.png")) == sorted(SCREENS)


def test_rendering_is_a_128x64_one_bit_image():
    image = render(IdleScreen(VENUE, "08:15"))
    assert (image.size, image.mode) == ((128, 64), "1")
    assert image.getbbox() is not None  # something is drawn


# -- glyphs --------------------------------------------------------------


def test_the_coverage_check_agrees_with_what_the_font_draws():
    """A character outside the cmap renders as the .notdef box; one inside does not."""
    f = font(NAME, bold=True)
    notdef = f.getmask(chr(0x10FFFD))  # a private-use code point no font maps
    notdef = (notdef.size, bytes(notdef))
    have = coverage(bold=True)
    sample = [c for c in map(chr, [*range(0x21, 0x250), *range(0x1E00, 0x1F00), *range(0x4E00, 0x4E40)])
              if unicodedata.category(c)[0] not in "CZM"]
    assert any(ord(c) not in have for c in sample) and any(ord(c) in have for c in sample)
    for c in sample:
        mask = f.getmask(c)
        assert ((mask.size, bytes(mask)) == notdef) == (ord(c) not in have), f"U+{ord(c):04X}"


@pytest.mark.parametrize("bold", [False, True])
def test_every_vietnamese_letter_and_every_text_has_its_glyphs(bold):
    letters = "aàảãáạăằẳẵắặâầẩẫấậbcdđeèẻẽéẹêềểễếệghiìỉĩíịklmnoòỏõóọôồổỗốộơờởỡớợpqrstuùủũúụưừửữứựvxyỳỷỹýỵ"
    texts = [letters, letters.upper(), *NAMES, LONG_NAME, VENUE,
             *(text for language in TEXTS.values() for text in language.values())]
    have = coverage(bold=bold)
    for text in texts:
        assert drawable(text, bold=bold) == " ".join(unicodedata.normalize("NFC", text).split())
        assert all(ord(c) in have or c == " " for c in drawable(text, bold=bold)), text


@pytest.mark.parametrize("name", NAMES + [LONG_NAME])
def test_names_in_nfd_draw_the_same_as_in_nfc(name):
    nfd = unicodedata.normalize("NFD", name)
    assert nfd != name
    assert render(PassScreen(nfd, "in")).tobytes() == render(PassScreen(name, "in")).tobytes()


def test_letters_the_font_lacks_are_replaced_never_drawn_as_boxes():
    # A CJK letter, a format and a control character, a mark the font lacks, an emoji it lacks.
    shown = drawable("Lý 李 Anh\u202e\x00 x\u1ab0y \U0001F9EC")
    assert shown == "Lý ? Anh xy ?"
    assert all(ord(c) in coverage() or c == " " for c in shown)


def test_every_language_has_every_text():
    assert TEXTS["vi"].keys() == TEXTS["en"].keys()
    assert set(Reason) <= TEXTS["vi"].keys()
    assert set(Notice) - {Notice.NONE} <= TEXTS["vi"].keys()


def test_a_missing_font_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path,))
    font.cache_clear()
    try:
        with pytest.raises(FontMissing, match="apt install fonts-dejavu-extra"):
            font(13)
    finally:
        font.cache_clear()


# -- shortening ----------------------------------------------------------


def pixels_fit(width: int, size: int = NAME):
    f = font(size, bold=True)
    return lambda text: f.getlength(text) <= width


def whole_letters_of(text: str, name: str) -> bool:
    """Every letter of `text` is a whole letter of `name` (or our own punctuation)."""
    allowed = set(graphemes(name)) | {".", " ", ELLIPSIS}
    return all(g in allowed for g in graphemes(text))


def test_middle_names_become_initials_even_when_the_whole_name_fits():
    assert short_name("Nguyễn Thị Hồng Nhung", lambda s: True) == "Nguyễn T. H. Nhung"
    assert short_name("Đặng Thị Mỹ Dung", lambda s: True) == "Đặng T. M. Dung"
    assert short_name("Trần Văn Ổn", lambda s: True) == "Trần V. Ổn"
    assert short_name("Huỳnh Ngữ Yến", lambda s: True) == "Huỳnh N. Yến"
    assert short_name("Ổn", lambda s: True) == "Ổn"
    assert short_name("  ", lambda s: True) == ""


def test_on_the_screen_initials_close_up_before_anything_is_dropped():
    assert short_name("Nguyễn Thị Hồng Nhung", pixels_fit(WIDTH)) == "Nguyễn T.H. Nhung"


def test_a_long_name_keeps_family_and_given_name():
    shown = short_name(LONG_NAME, pixels_fit(WIDTH))
    assert shown == "Tôn Anh"


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_a_name_too_wide_is_cut_between_letters_never_inside_one(form):
    name = unicodedata.normalize(form, "Nguyễnthịhồngnhungđặngmỹdunghuỳnhngữyếnổn")
    nfc = unicodedata.normalize("NFC", name)
    cuts = set()
    for width in range(12, 200, 3):
        shown = short_name(name, pixels_fit(width))
        assert pixels_fit(width)(shown) or shown == ""
        assert unicodedata.normalize("NFC", shown) == shown
        assert whole_letters_of(shown, nfc)
        assert shown.rstrip(ELLIPSIS) == "" or nfc.startswith(shown.rstrip(ELLIPSIS))
        cuts.add(shown)
    assert len(cuts) > 10  # the cut point really moved letter by letter


def test_a_letter_is_its_base_with_all_its_marks():
    assert graphemes(unicodedata.normalize("NFD", "Nguyễn")) == ["N", "g", "u", "y", "ễ", "n"]
    # No precomposed form exists for these: the marks stay with their letter.
    nfc = lambda text: unicodedata.normalize("NFC", text)  # noqa: E731
    assert graphemes("q\u0307\u0323a\u0308\u0301") == [nfc("q\u0307\u0323"), nfc("a\u0308\u0301")]


def test_a_name_is_never_cut_between_a_letter_and_its_marks():
    # Letters with two marks and no precomposed form: each is several code points.
    name = "".join(base + "\u0308\u0301" for base in "bcdfghjkmnpqrstvwxz")
    cuts = set()
    for width in range(8, 120):
        shown = short_name(name, pixels_fit(width))
        assert whole_letters_of(shown, unicodedata.normalize("NFC", name))
        cuts.add(shown)
    assert len(cuts) > 5


def test_the_venue_is_cut_to_the_screen_width():
    shown = fit_text(VENUE * 2, WIDTH, size=13)
    assert shown.endswith(ELLIPSIS) and font(13).getlength(shown) <= WIDTH
    assert whole_letters_of(shown, VENUE)


def test_a_hostile_name_is_bounded_and_drawable():
    shown = short_name("A" * 100_000 + " " + "ễ" * 100_000, pixels_fit(WIDTH))
    assert pixels_fit(WIDTH)(shown) and shown.endswith(ELLIPSIS)


