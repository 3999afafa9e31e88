"""Ed25519 public keys as the signed formats name them: key ids, DER and PEM,
and reading a public key file (a trusted owner key)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ravao_protocol.errors import UserError

KEY_ID_BYTES = 8
# A PEM key file is a few hundred bytes; anything much larger is not one.
MAX_KEY_FILE_BYTES = 64 * 1024


class KeyFileError(UserError, ValueError):
    """A key file that cannot be used; the message is one line naming the file."""


def key_id(public_key: Ed25519PublicKey) -> bytes:
    """The first 8 bytes of SHA-256 over the SubjectPublicKeyInfo DER."""
    return hashlib.sha256(spki_der(public_key)).digest()[:KEY_ID_BYTES]


def key_id_hex(public_key: Ed25519PublicKey) -> str:
    """:func:`key_id` as 16 lowercase hex digits (the `iss` claim, events)."""
    return key_id(public_key).hex()


def spki_der(public_key: Ed25519PublicKey) -> bytes:
    """The SubjectPublicKeyInfo DER encoding of `public_key`."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem(public_key: Ed25519PublicKey) -> str:
    """The SubjectPublicKeyInfo PEM text of `public_key`."""
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def load_public_key_pem(path: str | Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a SubjectPublicKeyInfo PEM file (a trusted key).

    Raises :class:`KeyFileError` (a :class:`UserError` and a ``ValueError``).
    """
    p = Path(path)
    data = read_key_file(p)
    if b"PRIVATE KEY" in data:
        raise KeyFileError(f"{p}: holds a private key; give the public key file (owner.pub)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"{p}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{p}: not an Ed25519 public key")
    return key


def read_key_file(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{path}: too large to be a key file")
    return data
