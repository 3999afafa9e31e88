"""QR decoders: every QR code in a grayscale frame, as raw bytes and text.

Two backends behind one interface: ``zxing`` (zxing-cpp, the default) and
``zbar`` (pyzbar over libzbar0); ``zxing+zbar`` asks zbar only about symbols
zxing found and could not decode, and takes a second, coarse zxing look at a
frame where nothing was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

BACKENDS = ("zxing", "zbar", "zxing+zbar")


@dataclass(frozen=True)
class DecodedCode:
    """One QR code read from a frame: its bytes and its text."""

    raw: bytes
    text: str


class Decoder(Protocol):
    """Finds and decodes the QR codes in a frame."""

    name: str

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        """Every QR code in `frame` (2-D uint8, grayscale); empty if none."""


def text_of(raw: bytes, fallback: str | None = None) -> str:
    """The text of a QR code's bytes: UTF-8 when they are valid UTF-8.

    QR codes from phones and ID cards carry UTF-8 mostly without an ECI
    marker; anything that is not valid UTF-8 takes the decoder's own reading
    (`fallback`), else Latin-1 (the QR standard's default character set).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return fallback if fallback is not None else raw.decode("latin-1")


def make_decoder(backend: str) -> Decoder:
    """The decoder named in the config: ``zxing`` or ``zbar``."""
    if backend == "zxing":
        from appliance.decoder.zxing import ZxingDecoder

        return ZxingDecoder()
    if backend == "zbar":
        from appliance.decoder.zbar import ZbarDecoder

        return ZbarDecoder()
    if backend == "zxing+zbar":
        from appliance.decoder.fallback import ZxingZbarDecoder

        return ZxingZbarDecoder()
    raise ValueError(f"unknown decoder backend {backend!r} (choose from {', '.join(BACKENDS)})")
