"""Credential formats: what a decoded QR code is, and whether it is genuine.

Each format is a :class:`CredentialFormat`. :class:`Classifier` asks them in
turn; the first whose :meth:`~CredentialFormat.claims` is true reads the code
(and may refuse it). A code no format claims is ``unknown``/``unsupported``.
Adding a credential type is adding one format to the list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ravao_protocol.credential import Credential
from ravao_protocol.limits import MAX_QR_BYTES
from ravao_protocol.refusals import Reason, Refused


class CredentialFormat(Protocol):
    """One kind of credential a person may show."""

    type: str

    def claims(self, raw: bytes, text: str) -> bool:
        """Whether this code is meant to be this kind (a prefix, a shape); cheap."""

    def read(self, raw: bytes, text: str, now: datetime) -> Credential:
        """Parse and verify; raise :class:`Refused` with the contract's reason."""


def unknown_credential(raw: bytes) -> Credential:
    """The `unknown` credential: a hash and a length, never the content."""
    digest = hashlib.sha256(raw).hexdigest()
    return Credential(type="unknown", id=digest, fields={"sha256": digest, "length": len(raw)})


class Classifier:
    """Turns a decoded code into a :class:`Credential` or a refusal."""

    def __init__(self, formats: Sequence[CredentialFormat]) -> None:
        self.formats = list(formats)

    def classify(self, raw: bytes, text: str, now: datetime) -> tuple[Credential, Reason | None]:
        """The credential and, when it fails, why. Never raises for any input."""
        if len(raw) > MAX_QR_BYTES:
            return unknown_credential(raw), Reason.MALFORMED
        for fmt in self.formats:
            if fmt.claims(raw, text):
                try:
                    return fmt.read(raw, text, now), None
                except Refused as refusal:
                    return refusal_credential(raw, refusal), refusal.reason
        return unknown_credential(raw), Reason.UNSUPPORTED


def refusal_credential(raw: bytes, refusal: Refused) -> Credential:
    """The credential of a refused code.

    A format may attach to its :class:`Refused` what the code could be trusted
    to say (a genuine pass that is revoked or expired); anything else is
    described only by hash and length, as an `unknown` credential.
    """
    if refusal.credential is not None:
        return refusal.credential
    return unknown_credential(raw)
