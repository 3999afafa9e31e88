"""The signed envelope shared by every code the owner signs.

A CWT (RFC 8392) in a COSE_Sign1 (RFC 9052, tag 18) signed with Ed25519
(``alg`` EdDSA, -8). For a QR code the COSE bytes are zlib-compressed,
base45-encoded (RFC 9285) and prefixed (``RVP1:`` pass, ``RVS1:`` setup QR);
the revocation list travels over MQTT as the bare COSE bytes.

Protected header: ``alg`` (1) = -8, ``kid`` (4) = the signer's 8-byte key id,
``typ`` (16, RFC 9596) = the kind of code (so a code of one kind cannot be
passed off as another), and for setup QRs the signer's public key
(SubjectPublicKeyInfo DER) under the private-use label -65537. A missing
``typ`` is accepted (codes made by other tools), a wrong one is ``malformed``.

Verification order: size, prefix, base45, zlib, CBOR, COSE structure and
header (``malformed``; an ``alg`` other than EdDSA is ``malformed`` too: the
format fixes the algorithm), issuer (``unknown_issuer``), signature
(``bad_signature``), and only then the claims (``malformed``), and times
(``expired``, ``not_yet_valid``).
"""

from __future__ import annotations

import io
import os
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ravao_protocol import fields
from ravao_protocol.errors import UserError
from ravao_protocol.keys import key_id, spki_der
from ravao_protocol.limits import MAX_QR_BYTES
from ravao_protocol.refusals import Reason, Refused

PASS_PREFIX = "RVP1:"
SETUP_PREFIX = "RVS1:"
CONTENT_TYPES = {
    PASS_PREFIX: "application/ravao-pass+cwt",
    SETUP_PREFIX: "application/ravao-setup+cwt",
}
REVOCATIONS_TYPE = "application/ravao-revocations+cwt"

TAG_COSE_SIGN1 = 18
TAG_CWT = 61
ALG_EDDSA = -8
HEADER_ALG = 1
HEADER_CRIT = 2
HEADER_KID = 4
HEADER_TYP = 16
HEADER_SIGNER_KEY = -65537  # private use: SubjectPublicKeyInfo DER of the signer

ISS, SUB, EXP, NBF, IAT, CTI = 1, 2, 4, 5, 6, 7
TOKEN_ID_BYTES = 16

# A QR code's COSE bytes, once inflated, are never near this.
MAX_COSE_BYTES = 8192
MAX_CBOR_DEPTH = 16
MAX_SIGNER_KEY_BYTES = 256

KeyLookup = Union[  # noqa: UP007 (a string forward reference inside)
    Mapping[bytes, Ed25519PublicKey],
    Callable[[bytes, Mapping[Any, Any]], "Ed25519PublicKey | None"],
]
"""Where verification finds the signer's key: a mapping kid → key, or a
callable ``(kid, protected_header) -> key or None`` (None: ``unknown_issuer``;
it may also raise :class:`Refused`)."""


@dataclass(frozen=True)
class Verified:
    """A signed code whose signature checked out (times not yet checked)."""

    claims: dict[int | str, Any]
    kid: bytes
    key: Ed25519PublicKey
    header: dict[int | str, Any]

    @property
    def token_id(self) -> str | None:
        """The ``cti`` as 32 lowercase hex digits, if present."""
        cti = self.claims.get(CTI)
        return cti.hex() if cti is not None else None


def _malformed(detail: str) -> Refused:
    return Refused(Reason.MALFORMED, detail)


# ---------------------------------------------------------------- signing


def sign(
    prefix: str, claims: Mapping[int | str, Any], private_key: Ed25519PrivateKey, *, carry_key: bool = False
) -> str:
    """The QR text of `claims` signed with `private_key`, under `prefix`.

    ``iss`` is set to the signer's key id; ``cti`` (16 random bytes) and
    ``iat`` (now) are added when absent. `carry_key` puts the signer's public
    key in the protected header (setup QRs).
    """
    if prefix not in CONTENT_TYPES:
        raise ValueError(f"unknown prefix {prefix!r}")
    cose = sign_cose(CONTENT_TYPES[prefix], claims, private_key, carry_key=carry_key)
    text: str = prefix + base45.b45encode(zlib.compress(cose, 9)).decode("ascii")
    if len(text) > MAX_QR_BYTES:
        raise UserError(f"the signed code is {len(text)} characters, too large for a QR code (max {MAX_QR_BYTES})")
    return text


def sign_cose(
    typ: str, claims: Mapping[int | str, Any], private_key: Ed25519PrivateKey, *, carry_key: bool = False
) -> bytes:
    """The tagged COSE_Sign1 bytes of `claims` (see :func:`sign`)."""
    public_key = private_key.public_key()
    kid = key_id(public_key)
    header: dict[int, Any] = {HEADER_ALG: ALG_EDDSA, HEADER_KID: kid, HEADER_TYP: typ}
    if carry_key:
        header[HEADER_SIGNER_KEY] = spki_der(public_key)
    protected = cbor2.dumps(header)
    body = {CTI: os.urandom(TOKEN_ID_BYTES), IAT: int(time.time()), **claims, ISS: kid.hex()}
    payload = cbor2.dumps(body)
    signature = private_key.sign(_sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(TAG_COSE_SIGN1, [protected, {}, payload, signature]))


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4 Sig_structure for COSE_Sign1, with empty external_aad."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


# ---------------------------------------------------------------- verifying


def verify(text: str, prefix: str, keys: KeyLookup, now: datetime) -> dict[int | str, Any]:
    """The claims of a genuine, currently valid code, or :class:`Refused`."""
    verified = read_text(text, prefix, keys)
    check_validity(verified.claims, now)
    return verified.claims


def verify_cose(
    data: bytes, typ: str, keys: KeyLookup, now: datetime, *, max_bytes: int = MAX_COSE_BYTES
) -> dict[int | str, Any]:
    """Like :func:`verify` for bare COSE bytes of content type `typ`."""
    verified = read_cose(data, typ, keys, max_bytes=max_bytes)
    check_validity(verified.claims, now)
    return verified.claims


def read_text(text: str, prefix: str, keys: KeyLookup) -> Verified:
    """Unwrap and check the signature of a QR text; times are not checked."""
    if prefix not in CONTENT_TYPES:
        raise ValueError(f"unknown prefix {prefix!r}")
    cose = _unwrap_text(text, prefix)
    return _read_sign1(cose, CONTENT_TYPES[prefix], keys)


def read_cose(data: bytes, typ: str, keys: KeyLookup, *, max_bytes: int = MAX_COSE_BYTES) -> Verified:
    """Check the signature of bare COSE bytes; times are not checked."""
    if not isinstance(data, (bytes, bytearray)):
        raise _malformed("not bytes")
    if len(data) > max_bytes:
        raise _malformed(f"larger than {max_bytes} bytes")
    return _read_sign1(bytes(data), typ, keys)


def check_validity(claims: Mapping[int | str, Any], now: datetime) -> None:
    """Refuse claims whose ``exp`` has passed or whose ``nbf`` is ahead."""
    check_window(claims.get(NBF), claims.get(EXP), now)


def check_window(not_before: int | None, expires: int | None, now: datetime) -> None:
    """``expired`` at or after `expires` (RFC 8392), ``not_yet_valid`` before `not_before`."""
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    t = now.timestamp()
    if expires is not None and t >= expires:
        raise Refused(Reason.EXPIRED, "past its expiry")
    if not_before is not None and t < not_before:
        raise Refused(Reason.NOT_YET_VALID, "not valid yet")


def _unwrap_text(text: str, prefix: str) -> bytes:
    """Prefix, base45 and zlib off; the COSE bytes."""
    if not isinstance(text, str):
        raise _malformed("not text")
    if len(text) > MAX_QR_BYTES or not text.isascii():
        raise _malformed("too large or not ASCII")
    if not text.startswith(prefix):
        raise _malformed(f"does not start with {prefix}")
    body = text[len(prefix) :]
    try:
        compressed = base45.b45decode(body)
    except Exception:  # the base45 package raises ValueError, but be sure
        raise _malformed("not base45") from None
    if base45.b45encode(compressed).decode("ascii") != body:
        raise _malformed("not canonical base45")
    return inflate(compressed, MAX_COSE_BYTES)


def inflate(data: bytes, limit: int) -> bytes:
    """One complete zlib stream, refused if it would inflate beyond `limit` bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit)
    except zlib.error:
        raise _malformed("not zlib data") from None
    if inflater.unconsumed_tail:
        raise _malformed(f"inflates beyond {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise _malformed("truncated zlib data or bytes after it")
    return out


def _reject_tag(decoder: Any) -> Any:
    raise cbor2.CBORDecodeError("semantic tag not allowed")


# cbor2's built-in semantic tags (dates, bignums, decimals, regexes, MIME,
# shared references, sets, IP addresses, …): none belongs in a ravao code,
# and some cost work to build, so they are refused before they are built.
_REJECTED_TAGS = {
    tag: _reject_tag
    for tag in (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004, 43000, 55799)
}


def decode_cbor(data: bytes) -> Any:
    """Exactly one CBOR item filling `data`, decoded with limits, or ``malformed``."""
    stream = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            stream,
            semantic_decoders=_REJECTED_TAGS,
            max_depth=MAX_CBOR_DEPTH,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
        value = decoder.decode()
    except Exception:  # CBORDecodeError, ValueError, OverflowError, RecursionError, MemoryError, …
        raise _malformed("not valid CBOR") from None
    if stream.tell() != len(data):
        raise _malformed("bytes after the CBOR item")
    return value


def _labelled_map(value: Any, what: str) -> dict[int | str, Any]:
    """A CBOR map whose keys are all integers or text (never booleans)."""
    if not isinstance(value, Mapping):
        raise _malformed(f"{what} is not a map")
    if any(type(k) not in (int, str) for k in value):
        raise _malformed(f"{what} has a key that is neither integer nor text")
    return dict(value)


def _read_sign1(cose: bytes, typ: str, keys: KeyLookup) -> Verified:
    item = decode_cbor(cose)
    if isinstance(item, cbor2.CBORTag) and item.tag == TAG_CWT:
        item = item.value
    if not (isinstance(item, cbor2.CBORTag) and item.tag == TAG_COSE_SIGN1):
        raise _malformed("not a tagged COSE_Sign1")
    parts = item.value
    if not isinstance(parts, (list, tuple)) or len(parts) != 4:
        raise _malformed("COSE_Sign1 is not an array of 4")
    protected_bytes, unprotected, payload, signature = parts
    if not all(type(p) is bytes for p in (protected_bytes, payload, signature)):
        raise _malformed("COSE_Sign1 parts have the wrong types")
    header = _labelled_map(decode_cbor(protected_bytes), "protected header")
    unprotected = _labelled_map(unprotected, "unprotected header")
    kid = _check_header(header, unprotected, typ)

    key = keys.get(kid) if isinstance(keys, Mapping) else keys(kid, header)
    if key is None:
        raise Refused(Reason.UNKNOWN_ISSUER, f"no trusted key with id {kid.hex()}")
    try:
        key.verify(signature, _sig_structure(protected_bytes, payload))
    except InvalidSignature:
        raise Refused(Reason.BAD_SIGNATURE, "signature does not verify") from None

    claims = _labelled_map(decode_cbor(payload), "claims")
    _check_standard_claims(claims, kid)
    return Verified(claims=claims, kid=kid, key=key, header=header)


def _check_header(header: dict[int | str, Any], unprotected: dict[int | str, Any], typ: str) -> bytes:
    """The kid, after checking what the format requires of the headers."""
    if HEADER_ALG in unprotected or HEADER_KID in unprotected or HEADER_TYP in unprotected:
        raise _malformed("alg, kid and typ belong in the protected header")
    if HEADER_CRIT in header:
        raise _malformed("critical header parameters are not understood")
    alg = header.get(HEADER_ALG)
    if type(alg) is not int or alg != ALG_EDDSA:
        raise _malformed(f"algorithm {alg!r} is not EdDSA (-8)")
    kid = header.get(HEADER_KID)
    if type(kid) is not bytes or not kid:
        raise _malformed("no kid in the protected header")
    if HEADER_TYP in header and header[HEADER_TYP] != typ:
        raise _malformed("a different kind of signed code")
    return kid


def _check_standard_claims(claims: dict[int | str, Any], kid: bytes) -> None:
    if claims.get(ISS) != kid.hex():
        raise _malformed("iss is not the signer's key id")
    if SUB in claims and type(claims[SUB]) is not str:
        raise _malformed("sub is not text")
    for label, name in ((EXP, "exp"), (NBF, "nbf"), (IAT, "iat")):
        if label in claims:
            try:
                fields.numeric_date(claims[label])
            except ValueError as exc:
                raise _malformed(f"{name} {exc}") from None
    if CTI in claims and (type(claims[CTI]) is not bytes or len(claims[CTI]) != TOKEN_ID_BYTES):
        raise _malformed(f"cti is not {TOKEN_ID_BYTES} bytes")


REQUIRED: Any = object()
"""The `default` of :func:`claim` for a claim that must be present."""


def claim(
    claims: Mapping[int | str, Any], label: int | str, check: Callable[[Any], Any], name: str, default: Any = REQUIRED
) -> Any:
    """One claim passed through `check`, or `default` when absent.

    A missing required claim or a failed check (``ValueError``) is
    ``malformed``, naming the claim.
    """
    if label not in claims:
        if default is REQUIRED:
            raise _malformed(f"{name} is missing")
        return default
    try:
        return check(claims[label])
    except ValueError as exc:
        raise _malformed(f"{name} {exc}") from None
