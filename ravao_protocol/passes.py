"""Venue passes (``RVP1:``): the claims the owner signs, and reading them back.

Claims: ``iss`` (1) signer key id, ``sub`` (2) holder id, ``exp`` (4),
``nbf`` (5), ``iat`` (6), ``cti`` (7) token id, and the private claim
``"name"`` (text, the holder's name; absent = empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ravao_protocol import fields
from ravao_protocol.envelope import (
    CTI,
    EXP,
    IAT,
    NBF,
    PASS_PREFIX,
    SUB,
    KeyLookup,
    check_window,
    claim,
    read_text,
    sign,
)
from ravao_protocol.errors import UserError
from ravao_protocol.keys import key_id

NAME = "name"
MAX_HOLDER_ID_CHARS = 64
MAX_NAME_CHARS = 128

_holder_id = partial(fields.text, max_chars=MAX_HOLDER_ID_CHARS, required=True)
_name = partial(fields.text, max_chars=MAX_NAME_CHARS)


@dataclass(frozen=True)
class VenuePass:
    """A genuine venue pass, as read from its QR text."""

    holder_id: str
    name: str
    token_id: str  # 32 lowercase hex digits
    issuer: str  # signer key id, 16 lowercase hex digits
    expires: int  # NumericDate (seconds since 1970, UTC)
    not_before: int | None = None
    issued_at: int | None = None

    def check_time(self, now: datetime) -> None:
        """Refuse (``expired`` / ``not_yet_valid``) outside the validity window."""
        check_window(self.not_before, self.expires, now)


def pass_claims(holder_id: str, name: str, not_before: int, expires: int, issued_at: int) -> dict[int | str, Any]:
    """The claims of a new pass; :class:`UserError` names a bad value."""
    for what, check, value in (
        ("holder id", _holder_id, holder_id),
        ("name", _name, name),
        ("valid from", fields.numeric_date, not_before),
        ("valid until", fields.numeric_date, expires),
        ("issue time", fields.numeric_date, issued_at),
    ):
        try:
            check(value)
        except ValueError as exc:
            raise UserError(f"{what}: {exc}") from None
    if expires <= not_before:
        raise UserError("the pass would end before it starts")
    return {SUB: holder_id, NAME: name, NBF: not_before, EXP: expires, IAT: issued_at}


def issue_pass(
    private_key: Ed25519PrivateKey, holder_id: str, name: str, not_before: int, expires: int, issued_at: int
) -> tuple[str, VenuePass]:
    """A signed pass: its QR text and what a device will read from it."""
    text = sign(PASS_PREFIX, pass_claims(holder_id, name, not_before, expires, issued_at), private_key)
    public_key = private_key.public_key()
    return text, read_pass(text, {key_id(public_key): public_key})


def read_pass(text: str, keys: KeyLookup) -> VenuePass:
    """The pass in `text` if it is genuine (signature, issuer, claims).

    Validity times and revocation are not checked here: see
    :meth:`VenuePass.check_time`. Raises :class:`~appliance.decision.Refused`.
    """
    verified = read_text(text, PASS_PREFIX, keys)
    claims = verified.claims
    return VenuePass(
        holder_id=claim(claims, SUB, _holder_id, "sub (holder id)"),
        name=claim(claims, NAME, _name, "name", default=""),
        token_id=claim(claims, CTI, bytes.hex, "cti (token id)"),
        issuer=verified.kid.hex(),
        expires=claim(claims, EXP, fields.numeric_date, "exp"),
        not_before=claim(claims, NBF, fields.numeric_date, "nbf", default=None),
        issued_at=claim(claims, IAT, fields.numeric_date, "iat", default=None),
    )
