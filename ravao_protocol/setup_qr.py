"""Setup QRs (``RVS1:``): the settings the owner signs for one device.

Claims: ``iss`` (1), ``sub`` (2) device id, ``exp`` (4), ``iat`` (6),
``cti`` (7), and the private claims below (text; an absent one takes its
default). The signer's public key is in the protected header (label -65537,
see :mod:`ravao_protocol.envelope`), so that a new device has a key to pin.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pydantic import ValidationError

from ravao_protocol import fields
from ravao_protocol.envelope import (
    EXP,
    HEADER_SIGNER_KEY,
    IAT,
    MAX_SIGNER_KEY_BYTES,
    NBF,
    REQUIRED,
    SETUP_PREFIX,
    SUB,
    check_window,
    claim,
    read_text,
    sign,
)
from ravao_protocol.errors import UserError
from ravao_protocol.keys import key_id
from ravao_protocol.refusals import Reason, Refused
from ravao_protocol.settings import (
    DEFAULT_TOPIC_PREFIX,
    BrokerCa,
    BrokerPassword,
    BrokerSettings,
    BrokerUrl,
    BrokerUser,
    BusField,
    CertPin,
    DeviceSettings,
    Direction,
    Ident,
    Mode,
    TopicPrefix,
    VenueName,
    checker,
    first_error,
)


def _wifi_ssid(value: Any) -> str:
    ssid = fields.text(value, max_chars=32)
    if len(ssid.encode("utf-8")) > 32:
        raise ValueError("longer than 32 bytes")
    return ssid


@dataclass(frozen=True)
class SetupSettings:
    """What a setup QR tells a device (attribute: claim key in the README)."""

    device_id: str
    venue_id: str
    broker_url: str
    issued_at: int
    expires: int
    venue_name: str = ""
    broker_user: str = ""
    broker_password: str = ""
    wifi_ssid: str = ""
    wifi_psk: str = ""
    mode: Mode = "door"
    direction: Direction = "in"
    vehicle: str = ""
    route: str = ""
    broker_ca: str = ""  # PEM: zlib makes it about as small as the DER
    broker_cert_sha256: str = ""
    topic_prefix: str = DEFAULT_TOPIC_PREFIX

    def device(self) -> DeviceSettings:
        """The device identity these settings give (``ValidationError`` if unusable)."""
        return DeviceSettings(id=self.device_id, venue_id=self.venue_id, venue_name=self.venue_name, mode=self.mode,
                              direction=self.direction, vehicle=self.vehicle, route=self.route)

    def broker(self) -> BrokerSettings:
        """The broker these settings give (``ValidationError`` if unusable)."""
        return BrokerSettings(url=self.broker_url, username=self.broker_user, password=self.broker_password,
                              topic_prefix=self.topic_prefix, ca_pem=self.broker_ca,
                              cert_sha256=self.broker_cert_sha256)


# attribute → (claim label, check). The order is the order in the QR.
_CLAIMS: dict[str, tuple[int | str, Callable[[Any], Any]]] = {
    "device_id": (SUB, checker(Ident)),
    "venue_id": ("venue_id", checker(Ident)),
    "venue_name": ("venue_name", checker(VenueName)),
    "broker_url": ("broker", checker(BrokerUrl)),
    "broker_user": ("broker_user", checker(BrokerUser)),
    "broker_password": ("broker_password", checker(BrokerPassword)),
    "wifi_ssid": ("wifi_ssid", _wifi_ssid),
    "wifi_psk": ("wifi_psk", fields.wpa_key),
    "mode": ("mode", checker(Mode)),
    "direction": ("direction", checker(Direction)),
    "vehicle": ("vehicle", checker(BusField)),
    "route": ("route", checker(BusField)),
    "topic_prefix": ("topic_prefix", checker(TopicPrefix)),
    "broker_ca": ("broker_ca", checker(BrokerCa)),
    "broker_cert_sha256": ("broker_cert_sha256", checker(CertPin)),
    "issued_at": (IAT, fields.numeric_date),
    "expires": (EXP, fields.numeric_date),
}
_DEFAULTS = {
    f.name: REQUIRED if f.default is dataclasses.MISSING else f.default for f in dataclasses.fields(SetupSettings)
}


def _check_together(s: SetupSettings) -> None:
    """What the settings must satisfy as a whole; ``ValueError`` otherwise."""
    try:
        s.broker()
        s.device()
    except ValidationError as exc:
        raise ValueError(first_error(exc)) from None
    if s.wifi_psk and not s.wifi_ssid:
        raise ValueError("a Wi-Fi key needs a Wi-Fi network name")
    if s.expires <= s.issued_at:
        raise ValueError("expires before it is issued")


@dataclass(frozen=True)
class SetupQR:
    """A genuine setup QR: its settings and the key that signed it (to pin)."""

    settings: SetupSettings
    signer: Ed25519PublicKey
    signer_id: str  # 16 lowercase hex digits
    token_id: str  # 32 lowercase hex digits


def setup_claims(settings: SetupSettings) -> dict[int | str, Any]:
    """The claims of a setup QR; :class:`UserError` names a bad setting."""
    claims: dict[int | str, Any] = {}
    for attr, (label, check) in _CLAIMS.items():
        value = getattr(settings, attr)
        try:
            check(value)
        except ValueError as exc:
            raise UserError(f"{attr.replace('_', ' ')}: {exc}") from None
        if value != _DEFAULTS[attr]:  # defaults are left out of the QR
            claims[label] = value
    try:
        _check_together(settings)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return claims


def make_setup_qr(settings: SetupSettings, private_key: Ed25519PrivateKey) -> str:
    """The signed setup QR text for `settings`."""
    return sign(SETUP_PREFIX, setup_claims(settings), private_key, carry_key=True)


def verify_setup_qr(text: str, now: datetime, pinned: Ed25519PublicKey | None = None) -> SetupQR:
    """A genuine, unexpired setup QR, or :class:`~ravao_protocol.refusals.Refused`.

    With no `pinned` key (a new device) the key carried in the QR verifies it;
    with one, the QR must be signed by that key (else ``unknown_issuer``).
    Either way the carried key's id must be the ``kid``. Whether its ``iat``
    is newer than the settings applied last is for the caller to check.
    """
    verified = read_text(text, SETUP_PREFIX, partial(_signer_key, pinned))
    claims = verified.claims
    values = {
        attr: claim(claims, label, check, attr, default=_DEFAULTS[attr]) for attr, (label, check) in _CLAIMS.items()
    }
    settings = SetupSettings(**values)
    try:
        _check_together(settings)
    except ValueError as exc:
        raise Refused(Reason.MALFORMED, str(exc)) from None
    check_window(claim(claims, NBF, fields.numeric_date, "nbf", default=None), settings.expires, now)
    if not verified.token_id:
        raise Refused(Reason.MALFORMED, "no token id (cti)")
    return SetupQR(settings=settings, signer=verified.key, signer_id=verified.kid.hex(), token_id=verified.token_id)


def _signer_key(pinned: Ed25519PublicKey | None, kid: bytes, header: Mapping[Any, Any]) -> Ed25519PublicKey:
    """The key to verify a setup QR with (see :func:`verify_setup_qr`)."""
    carried = _carried_key(header)
    if key_id(carried) != kid:
        raise Refused(Reason.UNKNOWN_ISSUER, "kid is not the id of the key in the setup QR")
    if pinned is None:
        return carried
    if key_id(pinned) != kid:
        raise Refused(Reason.UNKNOWN_ISSUER, f"signed by {kid.hex()}, not by the pinned owner key")
    return pinned


def _carried_key(header: Mapping[Any, Any]) -> Ed25519PublicKey:
    der = header.get(HEADER_SIGNER_KEY)
    if type(der) is not bytes or len(der) > MAX_SIGNER_KEY_BYTES:
        raise Refused(Reason.MALFORMED, "no signer key in the setup QR")
    try:
        key = load_der_public_key(der)
    except Exception:  # ValueError, UnsupportedAlgorithm, …: any bad key is malformed
        raise Refused(Reason.MALFORMED, "the signer key in the setup QR is not a public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise Refused(Reason.MALFORMED, "the signer key in the setup QR is not Ed25519")
    return key
