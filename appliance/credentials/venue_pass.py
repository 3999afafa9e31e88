"""Venue passes (``RVP1:``) as a credential format: genuine, in date, not revoked."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ravao_protocol.credential import Credential
from ravao_protocol.envelope import PASS_PREFIX
from ravao_protocol.passes import VenuePass, read_pass
from ravao_protocol.refusals import Reason, Refused

log = logging.getLogger("ravao.pass")


def pass_credential(venue_pass: VenuePass) -> Credential:
    """The event's view of a pass: holder id, name, token id, issuer."""
    return Credential(
        type="pass",
        id=venue_pass.holder_id,
        name=venue_pass.name,
        fields={
            "id": venue_pass.holder_id,
            "name": venue_pass.name,
            "token_id": venue_pass.token_id,
            "issuer": venue_pass.issuer,
        },
    )


class VenuePassFormat:
    """Reads venue passes signed by a trusted owner key.

    `keys` returns the keys trusted now (key id → public key: the pinned
    owner key and the policy's ``trusted_keys``); `is_revoked(token_id,
    issuer)` says whether the revocation list of the pass's own signer
    (a key id) holds its token id (32 lowercase hex digits).
    """

    type = "pass"

    def __init__(
        self,
        keys: Callable[[], Mapping[bytes, Ed25519PublicKey]],
        is_revoked: Callable[[str, str], bool] = lambda token_id, issuer: False,
    ) -> None:
        self.keys = keys
        self.is_revoked = is_revoked

    def claims(self, raw: bytes, text: str) -> bool:
        """A pass is any code that starts with ``RVP1:``."""
        return text.startswith(PASS_PREFIX)

    def read(self, raw: bytes, text: str, now: datetime) -> Credential:
        """The pass's credential; :class:`Refused` if it is forged, malformed,
        unknown, revoked or out of date (the last three carry the credential).
        """
        try:
            venue_pass = read_pass(text, self.keys())
        except Refused as refusal:
            if refusal.reason is Reason.UNKNOWN_ISSUER:
                log.warning("a pass signed by a key this device does not trust (%s). It trusts passes from the "
                            "owner key its setup QR pinned and from the PEM files in policy.trusted_keys: on the "
                            "owner's machine `ravao owner pubkey > owner.pub`, copy owner.pub to the device and "
                            'set trusted_keys = ["/path/to/owner.pub"]', refusal.detail)
            raise
        credential = pass_credential(venue_pass)
        if self.is_revoked(venue_pass.token_id, venue_pass.issuer):
            raise Refused(Reason.REVOKED, "the owner revoked this pass", credential=credential)
        try:
            venue_pass.check_time(now)
        except Refused as refusal:
            raise Refused(refusal.reason, refusal.detail, credential=credential) from None
        return credential
