"""The record's secret: pseudonyms for people, sealed identity fields, the
audit chain's key. All three come from the one key file of ``[privacy]``.

- A person is stored under HMAC-SHA-256 of ``type``, ``id`` (and, for a pass,
  ``issuer``): the same person always gets the same pseudonym, and nobody
  without the key can compute one from a CCCD number.
- Identity fields (name, id, date of birth, …) are sealed with AES-256-GCM
  under a random nonce: nothing in the database reads as plain text, and a
  sealed value that was altered does not open.

The key file holds 32 random bytes as hex; the three keys are derived from
them with HKDF, one per purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ravao_protocol.atomic import write_atomic
from ravao_protocol.errors import UserError

SECRET_BYTES = 32
NONCE_BYTES = 12


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ravao-central " + purpose).derive(secret)


@dataclass(frozen=True)
class Keyring:
    """The keys derived from the key file's secret."""

    person_key: bytes
    seal_key: bytes
    audit_key: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> Keyring:
        """The keys for one secret (32 bytes)."""
        if len(secret) != SECRET_BYTES:
            raise ValueError(f"the secret must be {SECRET_BYTES} bytes")
        return cls(_derive(secret, b"person"), _derive(secret, b"seal"), _derive(secret, b"audit"))

    def pseudonym(self, kind: str, ident: str, issuer: str | None = None) -> bytes:
        """The 32-byte pseudonym of a person (`issuer` only for a pass)."""
        parts = [kind, ident] + ([issuer] if issuer is not None else [])
        message = "".join(f"{len(part)}:{part}" for part in parts)  # length-prefixed: no separator to forge
        mac = self._person_mac.copy()
        mac.update(message.encode("utf-8"))
        return mac.digest()

    @cached_property
    def _person_mac(self) -> hmac.HMAC:
        return hmac.new(self.person_key, digestmod=hashlib.sha256)

    @cached_property
    def _cipher(self) -> AESGCM:
        return AESGCM(self.seal_key)

    def seal(self, value: Any) -> bytes:
        """`value` (JSON-able) encrypted and authenticated: nonce + ciphertext."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return nonce + self._cipher.encrypt(nonce, plain, None)

    def open(self, sealed: bytes) -> Any:
        """What :meth:`seal` sealed; ``ValueError`` if it was altered or sealed under another key."""
        try:
            plain = self._cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], None)
        except InvalidTag:
            raise ValueError("a sealed value does not open with this key file (altered, or another key)") from None
        return json.loads(plain)

    def chain_hash(self, previous: str, entry: bytes) -> str:
        """The audit chain's link: HMAC of the previous link and this entry, hex."""
        return hmac.new(self.audit_key, previous.encode("ascii") + b"\n" + entry, hashlib.sha256).hexdigest()


def create_key_file(path: str | Path) -> bool:
    """Write a new secret to `path` (mode 0600) unless the file exists; whether it wrote one."""
    p = Path(path)
    if p.exists():
        return False
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(p, (secrets.token_hex(SECRET_BYTES) + "\n").encode("ascii"), 0o600)
    except OSError as exc:
        raise UserError(f"privacy.key_file = {str(p)!r}: cannot write: {exc.strerror}") from None
    return True


def load_keyring(path: str | Path) -> Keyring:
    """The keys of the key file at `path`; :class:`UserError` if it is missing or not one."""
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise UserError(f"privacy.key_file = {str(p)!r} does not exist (run `ravao central init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"privacy.key_file = {str(p)!r}: cannot read: {getattr(exc, 'strerror', exc)}") from None
    try:
        secret = bytes.fromhex(text)
        return Keyring.from_secret(secret)
    except ValueError:
        raise UserError(f"privacy.key_file = {str(p)!r} is not a ravao key file "
                        f"({SECRET_BYTES} bytes as hex)") from None
