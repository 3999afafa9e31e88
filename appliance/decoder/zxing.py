"""The zxing-cpp backend: the default, the most accurate and the fastest."""

from __future__ import annotations

import numpy as np
import zxingcpp

from appliance.decoder import DecodedCode, text_of

QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


class ZxingDecoder:
    """QR codes through zxing-cpp's ``read_barcodes``."""

    name = "zxing"

    def read(self, frame: np.ndarray) -> tuple[list[DecodedCode], int]:
        """The codes decoded, and how many more symbols were found but not decoded."""
        found = zxingcpp.read_barcodes(
            frame, formats=QR_ONLY, text_mode=zxingcpp.TextMode.Plain, return_errors=True)
        codes = _decoded(found)
        return codes, len(found) - len(codes)

    def read_coarse(self, frame: np.ndarray) -> list[DecodedCode]:
        """A second, cheap look: one global threshold over every other pixel
        (a strided view, not a copy), at about a seventh of the time of
        `read`. It reads some codes whose modules carry a picture, which
        `read`'s local threshold follows instead of the modules."""
        return _decoded(zxingcpp.read_barcodes(
            frame[::2, ::2], formats=QR_ONLY, text_mode=zxingcpp.TextMode.Plain,
            binarizer=zxingcpp.Binarizer.GlobalHistogram, try_downscale=False))

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        return self.read(frame)[0]


def _decoded(found: list) -> list[DecodedCode]:
    # zxing's text honours ECI and guesses the character set otherwise;
    # text_of insists on UTF-8 where the bytes are valid UTF-8.
    return [DecodedCode(raw=b.bytes, text=text_of(b.bytes, b.text)) for b in found if b.valid]
