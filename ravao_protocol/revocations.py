"""The signed revocation list: the message that tells devices which passes
are revoked.

It is bare COSE_Sign1 bytes (no prefix, base45 or zlib: it goes over MQTT,
not through a camera; random token ids do not compress) with ``typ``
``application/ravao-revocations+cwt`` and claims ``iss`` (1), ``iat`` (6),
``cti`` (7), and the private claim ``"revoked"``: an array of 16-byte token ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ravao_protocol import fields
from ravao_protocol.envelope import IAT, ISS, REVOCATIONS_TYPE, TOKEN_ID_BYTES, KeyLookup, claim, sign_cose, verify_cose
from ravao_protocol.errors import UserError

REVOKED = "revoked"
MAX_REVOKED = 20000
# 20000 ids of 17 CBOR bytes each, plus the envelope.
MAX_MESSAGE_BYTES = 400 * 1024
TOKEN_ID_RE = re.compile(r"[0-9a-f]{32}")


def normalize_token_id(text: str) -> str:
    """A token id as typed by a person (any case, spaces around) → 32 lowercase hex."""
    token = text.strip().lower()
    if not TOKEN_ID_RE.fullmatch(token):
        raise UserError(f"not a token id (32 hex digits): {text.strip()[:40]!r}")
    return token


def sign_revocations(token_ids: Iterable[str], private_key: Ed25519PrivateKey, issued_at: int) -> bytes:
    """The signed revocation-list message (bare COSE bytes) for `token_ids`."""
    tokens = sorted({normalize_token_id(t) for t in token_ids})
    if len(tokens) > MAX_REVOKED:
        raise UserError(f"a revocation list holds at most {MAX_REVOKED} token ids")
    claims: dict[int | str, Any] = {IAT: issued_at, REVOKED: [bytes.fromhex(t) for t in tokens]}
    return sign_cose(REVOCATIONS_TYPE, claims, private_key)


@dataclass(frozen=True)
class RevocationList:
    """A genuine revocation list: who signed it, when, and what it revokes."""

    issuer: str  # signer key id, 16 lowercase hex digits
    issued_at: int  # a device keeps the newest list it has seen
    token_ids: frozenset[str]  # 32 lowercase hex digits each


def _token_list(value: Any) -> frozenset[str]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_REVOKED:
        raise ValueError(f"must be an array of at most {MAX_REVOKED} token ids")
    if not all(type(t) is bytes and len(t) == TOKEN_ID_BYTES for t in value):
        raise ValueError(f"must hold {TOKEN_ID_BYTES}-byte token ids")
    return frozenset(t.hex() for t in value)


def verify_revocations(payload: bytes, keys: KeyLookup, now: datetime) -> RevocationList:
    """The list in an MQTT payload if a key in `keys` signed it, else
    :class:`~appliance.decision.Refused`.

    Whether it is newer than the list the device already holds (compare
    ``issued_at``) is for the caller to check.
    """
    claims = verify_cose(payload, REVOCATIONS_TYPE, keys, now, max_bytes=MAX_MESSAGE_BYTES)
    return RevocationList(
        issuer=claims[ISS],
        issued_at=claim(claims, IAT, fields.numeric_date, "iat"),
        token_ids=claim(claims, REVOKED, _token_list, REVOKED),
    )
