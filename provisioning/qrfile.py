"""Writing a signed code to a file: a QR image (``.png``, ``.svg``) or the text (``.txt``)."""

from __future__ import annotations

import io
from pathlib import Path

import segno

from provisioning.files import write_atomic
from ravao_protocol.errors import UserError

ENDINGS = (".png", ".svg", ".txt")
SCALE = 8  # pixels (PNG) or user units (SVG) per module
BORDER = 4  # the quiet zone the QR standard asks for, in modules


def qr_code(text: str) -> segno.QRCode:
    """The QR code of `text`: error correction M, raised to Q or H when that
    costs no larger version, lowered to L only when M does not fit.
    """
    try:
        return segno.make(text, error="m", micro=False, boost_error=True)
    except segno.DataOverflowError:
        try:
            return segno.make(text, error="l", micro=False)
        except segno.DataOverflowError:
            raise UserError(f"{len(text)} characters do not fit in a QR code") from None


def write_qr(text: str, path: str | Path) -> Path:
    """Write `text` to `path` as its ending says; mode 0600 (a code is a secret:
    a pass admits its bearer, a setup QR holds passwords).
    """
    target = Path(path)
    ending = target.suffix.lower()
    if ending not in ENDINGS:
        raise UserError(f"{target}: the file name must end in {', '.join(ENDINGS)}")
    if ending == ".txt":
        data = (text + "\n").encode("ascii")
    else:
        out = io.BytesIO()
        qr_code(text).save(out, kind=ending[1:], scale=SCALE, border=BORDER)
        data = out.getvalue()
    write_atomic(target, data, 0o600)
    return target
