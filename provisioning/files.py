"""Writing the owner's output files whole, with the right mode from the start."""

from __future__ import annotations

from pathlib import Path

from ravao_protocol import atomic
from ravao_protocol.errors import UserError


def write_atomic(path: str | Path, data: bytes, mode: int = 0o600) -> None:
    """:func:`appliance.atomic.write_atomic`, with a one-line error for the command line."""
    try:
        atomic.write_atomic(path, data, mode)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
