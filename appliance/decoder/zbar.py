"""The zbar backend (pyzbar over libzbar0), with its two traps handled.

zbar guesses Shift-JIS for UTF-8 text without an ECI marker, garbling
Vietnamese names; in binary mode (``ZBAR_CFG_BINARY``) it hands over the raw
bytes instead, which we decode ourselves. pyzbar 0.1.9's ``decode`` raises
``ValueError`` on a symbol whose orientation is unknown (-1); we read the
symbols through its low-level wrapper and never ask for the orientation.
"""

from __future__ import annotations

import ctypes

import numpy as np
from pyzbar import wrapper as zb

from appliance.decoder import DecodedCode, text_of

ZBAR_CFG_ENABLE = 0
ZBAR_CFG_BINARY = 4
ZBAR_QRCODE = 64
_Y800 = int.from_bytes(b"Y800", "little")


class ZbarDecoder:
    """QR codes through libzbar; returns exact bytes and text."""

    name = "zbar"

    def __init__(self) -> None:
        self._binary = self._scanner(binary=True)
        self._text = self._scanner(binary=False)

    @staticmethod
    def _scanner(binary: bool):
        scanner = zb.zbar_image_scanner_create()
        if not scanner:
            raise RuntimeError("libzbar could not create an image scanner")
        zb.zbar_image_scanner_set_config(scanner, 0, ZBAR_CFG_ENABLE, 0)
        zb.zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1)
        zb.zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_BINARY, int(binary))
        return scanner

    def __del__(self) -> None:
        for scanner in (getattr(self, "_binary", None), getattr(self, "_text", None)):
            if scanner:
                zb.zbar_image_scanner_destroy(scanner)

    @staticmethod
    def _scan(scanner, frame: np.ndarray) -> list[bytes]:
        pixels = np.ascontiguousarray(frame, dtype=np.uint8)
        height, width = pixels.shape
        image = zb.zbar_image_create()
        try:
            zb.zbar_image_set_format(image, _Y800)
            zb.zbar_image_set_size(image, width, height)
            zb.zbar_image_set_data(image, pixels.ctypes.data_as(ctypes.c_void_p), pixels.size, None)
            if zb.zbar_scan_image(scanner, image) < 0:
                raise RuntimeError("libzbar refused the frame format")
            found = []
            symbol = zb.zbar_image_first_symbol(image)
            while symbol:
                found.append(ctypes.string_at(zb.zbar_symbol_get_data(symbol),
                                              zb.zbar_symbol_get_data_length(symbol)))
                symbol = zb.zbar_symbol_next(symbol)
            return found
        finally:
            zb.zbar_image_destroy(image)

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        raws = self._scan(self._binary, frame)
        codes = []
        for i, raw in enumerate(raws):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                # Not UTF-8: let zbar apply its own ECI and character-set
                # rules, in a second scan paid for only by such codes.
                texts = self._scan(self._text, frame)
                hint = texts[i].decode("utf-8", "replace") if i < len(texts) and len(texts) == len(raws) else None
                text = text_of(raw, hint)
            codes.append(DecodedCode(raw=raw, text=text))
        return codes
