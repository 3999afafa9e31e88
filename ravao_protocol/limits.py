"""Size limits every side applies to input from outside."""

MAX_QR_BYTES = 4096
"""A QR code's content longer than this is refused before any parsing (a
version 40 code holds 2953 bytes)."""
