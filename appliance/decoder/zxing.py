"""The zxing-cpp backend: the default, the most accurate and the fastest."""

from __future__ import annotations

import numpy as np
import zxingcpp

from appliance.decoder import DecodedCode, text_of


class ZxingDecoder:
    """QR codes through zxing-cpp's ``read_barcodes``."""

    name = "zxing"

    def read(self, frame: np.ndarray) -> tuple[list[DecodedCode], int]:
        """The codes decoded, and how many more symbols were found but not decoded."""
        found = zxingcpp.read_barcodes(
            frame, formats=zxingcpp.BarcodeFormat.QRCode, text_mode=zxingcpp.TextMode.Plain, return_errors=True)
        # zxing's text honours ECI and guesses the character set otherwise;
        # text_of insists on UTF-8 where the bytes are valid UTF-8.
        codes = [DecodedCode(raw=b.bytes, text=text_of(b.bytes, b.text)) for b in found if b.valid]
        return codes, len(found) - len(codes)

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        return self.read(frame)[0]
