"""``zxing+zbar``: zxing-cpp first, zbar only for a frame where zxing found a
symbol it could not decode. Empty frames cost what zxing alone costs."""

from __future__ import annotations

import numpy as np

from appliance.decoder import DecodedCode
from appliance.decoder.zbar import ZbarDecoder
from appliance.decoder.zxing import ZxingDecoder


class ZxingZbarDecoder:
    """zxing-cpp, with zbar as a second opinion on symbols zxing could not read."""

    name = "zxing+zbar"

    def __init__(self) -> None:
        self.first = ZxingDecoder()
        self.second = ZbarDecoder()

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        codes, undecoded = self.first.read(frame)
        if undecoded:
            known = {c.raw for c in codes}
            codes += [c for c in self.second.decode(frame) if c.raw not in known]
        return codes
