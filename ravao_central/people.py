"""People as the record knows them: a reference given at the command line
(``cccd:ID``, ``pass:ISSUER:HOLDER_ID``), a credential's identity, and the
pseudonym both map to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ravao_central.privacy import Keyring
from ravao_protocol.errors import UserError
from ravao_protocol.events import Credential

_CCCD = re.compile(r"[0-9]{12}")
_ISSUER = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class PersonRef:
    """Who a trace is about: a credential type, its id, and a pass's issuer."""

    kind: str
    ident: str
    issuer: str | None = None

    def pseudonym(self, keys: Keyring) -> bytes:
        """The person's pseudonym in the record."""
        return keys.pseudonym(self.kind, self.ident, self.issuer)

    def __str__(self) -> str:
        return ":".join([self.kind] + ([self.issuer] if self.issuer else []) + [self.ident])


def parse_person(text: str) -> PersonRef:
    """``cccd:ID`` (12 digits) or ``pass:ISSUER:HOLDER_ID``; :class:`UserError` otherwise."""
    kind, _, rest = text.partition(":")
    if kind == "cccd" and _CCCD.fullmatch(rest):
        return PersonRef("cccd", rest)
    if kind == "pass":
        issuer, _, holder = rest.partition(":")
        if _ISSUER.fullmatch(issuer) and 0 < len(holder) <= 64:
            return PersonRef("pass", holder, issuer)
    raise UserError(f"--person {text[:80]!r}: expected cccd:ID (12 digits) or pass:ISSUER:HOLDER_ID "
                    "(ISSUER: the 16 hex digits of the signing key's id)")


def identity(credential: Credential) -> tuple[PersonRef, dict[str, Any]]:
    """A credential's person and the identity fields a trace shows of them.
    An ``unknown`` or ``setup`` code is "a person" known only by its hash."""
    if credential.type == "cccd":
        return PersonRef("cccd", credential.id), {
            "type": "cccd", "id": credential.id, "name": credential.name,
            "dob": credential.dob.isoformat(), "sex": credential.sex}
    if credential.type == "pass":
        return PersonRef("pass", credential.id, credential.issuer), {
            "type": "pass", "id": credential.id, "issuer": credential.issuer, "name": credential.name}
    if credential.type == "setup":
        return PersonRef("setup", credential.token_id, credential.issuer), {
            "type": "setup", "token_id": credential.token_id, "issuer": credential.issuer}
    return PersonRef("unknown", credential.sha256), {
        "type": "unknown", "sha256": credential.sha256, "length": credential.length}
