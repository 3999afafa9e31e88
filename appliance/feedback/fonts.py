"""The display's font (DejaVu Sans Condensed) and which characters it can draw.

Pillow's own default font has no Vietnamese letters, so the screens use a
TrueType font from the system. Whether the font has a glyph for a character
is read from the font's character map (its ``cmap`` table), so text from a
QR code is checked before it is drawn and nothing renders as an empty box.
"""

from __future__ import annotations

import functools
import struct
import unicodedata
from pathlib import Path

from PIL import ImageFont

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Raspberry Pi OS: fonts-dejavu-extra
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
REGULAR, BOLD = "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"
# Debian 12 ships the condensed faces in -extra, not in -core.
APT_PACKAGE = "fonts-dejavu-extra"


class FontMissing(Exception):
    """The display font is not installed."""


def font_path(name: str) -> Path:
    """Where the font file `name` is, or FontMissing naming the package to install."""
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise FontMissing(f"the display font {name} is not installed (looked in "
                      f"{', '.join(map(str, FONT_DIRS))}): apt install {APT_PACKAGE}")


@functools.cache
def font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans Condensed at `size` pixels, laid out without shaping (every
    Vietnamese letter has a precomposed form, so NFC text needs none)."""
    return ImageFont.truetype(str(font_path(BOLD if bold else REGULAR)), size,
                              layout_engine=ImageFont.Layout.BASIC)


@functools.cache
def coverage(*, bold: bool = False) -> frozenset[int]:
    """Every code point the font maps to a real glyph (not .notdef)."""
    return frozenset(read_cmap(font_path(BOLD if bold else REGULAR).read_bytes()))


def read_cmap(data: bytes) -> set[int]:
    """The code points that a TrueType font's Unicode cmap maps to a glyph.

    Reads the format 12 (full Unicode) subtable when there is one, otherwise
    format 4 (the Basic Multilingual Plane).
    """
    num_tables = struct.unpack_from(">H", data, 4)[0]
    tables = {data[12 + 16 * i:16 + 16 * i]: struct.unpack_from(">I", data, 20 + 16 * i)[0]
              for i in range(num_tables)}
    cmap = tables[b"cmap"]
    subtables = {}
    for i in range(struct.unpack_from(">H", data, cmap + 2)[0]):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
        subtables[(platform, encoding)] = cmap + offset
    for key, fmt in (((3, 10), 12), ((0, 4), 12), ((3, 1), 4), ((0, 3), 4)):
        if key in subtables and struct.unpack_from(">H", data, subtables[key])[0] == fmt:
            return (_format12 if fmt == 12 else _format4)(data, subtables[key])
    raise ValueError("the font has no Unicode character map")


def _format12(data: bytes, at: int) -> set[int]:
    groups = struct.unpack_from(">I", data, at + 12)[0]
    mapped: set[int] = set()
    for i in range(groups):
        start, end, glyph = struct.unpack_from(">III", data, at + 16 + 12 * i)
        mapped.update(c for c in range(start, end + 1) if glyph + c - start != 0)
    return mapped


def _format4(data: bytes, at: int) -> set[int]:
    segs = struct.unpack_from(">H", data, at + 6)[0] // 2
    ends = struct.unpack_from(f">{segs}H", data, at + 14)
    starts = struct.unpack_from(f">{segs}H", data, at + 16 + 2 * segs)
    deltas = struct.unpack_from(f">{segs}h", data, at + 16 + 4 * segs)
    range_at = at + 16 + 6 * segs
    mapped: set[int] = set()
    for i in range(segs):
        offset = struct.unpack_from(">H", data, range_at + 2 * i)[0]
        for c in range(starts[i], ends[i] + 1):
            if c == 0xFFFF:
                continue
            if offset == 0:
                glyph = (c + deltas[i]) & 0xFFFF
            else:  # the glyph id is read from glyphIdArray, addressed from this very field
                glyph = struct.unpack_from(">H", data, range_at + 2 * i + offset + 2 * (c - starts[i]))[0]
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph:
                mapped.add(c)
    return mapped


def graphemes(text: str) -> list[str]:
    """`text` (NFC) as user-perceived letters: each base character with the
    combining marks that follow it, so text is never cut between the two."""
    clusters: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if clusters and unicodedata.category(ch) in ("Mn", "Mc", "Me"):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


def drawable(text: str, *, bold: bool = False) -> str:
    """`text` made safe to draw: NFC, control and format characters removed,
    any run of white space one space, and a letter the font lacks replaced by
    its base letter without marks, or by "?"."""
    have = coverage(bold=bold)
    out = []
    for cluster in graphemes(text):
        category = unicodedata.category(cluster[0])
        if cluster[0].isspace():
            out.append(" ")
        elif category in ("Cc", "Cf", "Cs"):
            continue
        elif all(ord(c) in have for c in cluster):
            out.append(cluster)
        else:
            base = unicodedata.normalize("NFD", cluster)[0]
            out.append(base if ord(base) in have and unicodedata.category(base)[0] in "LNPS" else "?")
    return " ".join("".join(out).split())
