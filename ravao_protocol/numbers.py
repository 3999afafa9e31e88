"""Numbers typed on a command line: finite ones only. (``float()`` takes
``nan`` and ``inf``; a timeout of ``nan`` never ends, a minimum of ``nan``
compares false with everything.)"""

from __future__ import annotations

import argparse
import math


def finite_number(text: str) -> float:
    """An argparse ``type``: a finite number, 0 or more."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or more, not {text!r}")
    return number
