"""The one schema of a device's settings: who it is and which broker it
sends to.

The config file's ``[device]`` and ``[mqtt]`` sections and a setup QR's
claims are both read into these models, so a value is accepted or refused by
the same rule wherever it comes from. Every field type is also usable alone
(:func:`checker`), for a claim read before its model is assembled.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from pydantic import AfterValidator, BaseModel, ConfigDict, Strict, TypeAdapter, ValidationError, model_validator

from ravao_protocol import fields

MODES = ("door", "bus")
DIRECTIONS = ("in", "out", "toggle", "button")
DEFAULT_BROKER_URL = "mqtt://127.0.0.1:1883"
DEFAULT_TOPIC_PREFIX = "ravao"


def parse_broker_url(url: str) -> tuple[bool, str, int]:
    """`mqtt://host[:port]` or `mqtts://host[:port]` → (tls, host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"broker URL must start with mqtt:// or mqtts://, not {url!r}")
    if not parts.hostname:
        raise ValueError(f"broker URL has no host: {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"broker URL takes only a host and port: {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"broker URL has a bad port: {url!r}") from None
    tls = parts.scheme == "mqtts"
    return tls, parts.hostname, port or (8883 if tls else 1883)


def _broker_url(value: str) -> str:
    fields.text(value, max_chars=256, required=True)
    parse_broker_url(value)
    return value


Ident = Annotated[str, Strict(), AfterValidator(fields.ident)]
"""An id used in MQTT topics and file names: 1–64 of ``A-Z a-z 0-9 . _ -``."""
VenueName = Annotated[str, Strict(), AfterValidator(partial(fields.text, max_chars=128))]
BusField = Annotated[str, Strict(), AfterValidator(partial(fields.text, max_chars=64))]
"""A bus's plate number or route name."""
BrokerUser = Annotated[str, Strict(), AfterValidator(partial(fields.text, max_chars=128))]
BrokerPassword = Annotated[str, Strict(), AfterValidator(partial(fields.text, max_chars=256))]
BrokerUrl = Annotated[str, Strict(), AfterValidator(_broker_url)]
TopicPrefix = Annotated[str, Strict(), AfterValidator(fields.topic_prefix)]

MAX_CA_PEM_CHARS = 4096


def _ca_pem(value: str) -> str:
    if not value:
        return value
    if len(value) > MAX_CA_PEM_CHARS:
        raise ValueError(f"a broker CA certificate is at most {MAX_CA_PEM_CHARS} characters of PEM")
    try:
        x509.load_pem_x509_certificates(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValueError("not a PEM certificate") from None
    return value


def _cert_sha256(value: str) -> str:
    if value and not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError("a certificate's SHA-256 is 64 lowercase hex digits")
    return value


BrokerCa = Annotated[str, Strict(), AfterValidator(_ca_pem)]
"""The CA certificate(s) to verify an ``mqtts://`` broker with, PEM text."""
CertPin = Annotated[str, Strict(), AfterValidator(_cert_sha256)]
"""The SHA-256 of the broker's own certificate (DER), to pin."""
Mode = Literal["door", "bus"]
Direction = Literal["in", "out", "toggle", "button"]


def checker(field_type: Any) -> Callable[[Any], Any]:
    """A function that checks one value against `field_type` and raises
    ``ValueError`` with a one-line message (pydantic's first error)."""
    adapter = TypeAdapter(field_type)

    def check(value: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise ValueError(first_error(exc)) from None

    return check


def first_error(exc: ValidationError) -> str:
    """The first problem pydantic found, as a short line."""
    return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")


class DeviceSettings(BaseModel):
    """Who the device is: the config file's ``[device]``, or a setup QR's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Ident
    venue_id: Ident
    venue_name: VenueName = ""
    mode: Mode = "door"
    direction: Direction = "in"
    vehicle: BusField = ""
    route: BusField = ""

    @model_validator(mode="after")
    def _bus_fields_in_bus_mode(self) -> DeviceSettings:
        if self.mode != "bus" and (self.vehicle or self.route):
            raise ValueError("vehicle and route are for bus mode")
        return self


class BrokerSettings(BaseModel):
    """Where the device sends its events: the broker and its account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: BrokerUrl = DEFAULT_BROKER_URL
    username: BrokerUser = ""
    password: BrokerPassword = ""
    topic_prefix: TopicPrefix = DEFAULT_TOPIC_PREFIX
    ca_pem: BrokerCa = ""  # else ca_file, else the system's trust store
    cert_sha256: CertPin = ""  # trust exactly this broker certificate, whoever signed it

    @model_validator(mode="after")
    def _password_needs_user(self) -> BrokerSettings:
        if self.password and not self.username:
            raise ValueError("a broker password needs a broker user")
        if self.ca_pem and self.cert_sha256:
            raise ValueError("a broker CA and a pinned broker certificate do not go together")
        return self
