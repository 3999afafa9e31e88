"""The zxing-cpp backend: the default, the most accurate and the fastest."""

from __future__ import annotations

import numpy as np
import zxingcpp

from appliance.decoder import DecodedCode, text_of


class ZxingDecoder:
    """QR codes through zxing-cpp's ``read_barcodes``."""

    name = "zxing"

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        found = zxingcpp.read_barcodes(
            frame, formats=zxingcpp.BarcodeFormat.QRCode, text_mode=zxingcpp.TextMode.Plain)
        # zxing's text honours ECI and guesses the character set otherwise;
        # text_of insists on UTF-8 where the bytes are valid UTF-8.
        return [DecodedCode(raw=b.bytes, text=text_of(b.bytes, b.text)) for b in found if b.valid]
