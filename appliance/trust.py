"""Whom the device trusts: the pinned owner key and the policy's trusted keys."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.config import Config
from appliance.credentials import CredentialFormat
from appliance.credentials.cccd import CccdFormat
from appliance.credentials.venue_pass import VenuePassFormat
from appliance.state import DeviceState
from ravao_protocol.keys import key_id, load_public_key_pem
from ravao_protocol.refusals import Refused
from ravao_protocol.revocations import verify_revocations

log = logging.getLogger("ravao")


class Keyring:
    """Key id → owner public key: the pinned key plus ``policy.trusted_keys``.

    The trusted-key files are read once (a bad one is a :class:`UserError`
    naming it); call :meth:`refresh` after the pinned key changed.
    """

    def __init__(self, state: DeviceState, trusted_files: list[str]) -> None:
        self.state = state
        self.extra = {key_id(k): k for k in (load_public_key_pem(f) for f in trusted_files)}
        self._keys: dict[bytes, Ed25519PublicKey] = {}
        self.refresh()

    def refresh(self) -> None:
        keys = dict(self.extra)
        pinned = self.state.pinned_key()
        if pinned is not None:
            keys[key_id(pinned)] = pinned
        self._keys = keys

    def __call__(self) -> Mapping[bytes, Ed25519PublicKey]:
        return self._keys


def formats_for(config: Config, state: DeviceState, keyring: Keyring) -> list[CredentialFormat]:
    """The credential formats this device reads, most specific first."""
    privacy = config.privacy
    return [
        VenuePassFormat(keyring, state.is_revoked),
        CccdFormat(send_address=privacy.cccd_address, send_old_id=privacy.cccd_old_id),
    ]


def keep_revocation_list(payload: bytes, keyring: Keyring, state: DeviceState,
                         clock: Callable[[], datetime]) -> None:
    """Keep a revocation list from the broker if a trusted key signed it and
    it is newer than the one held; log what became of it."""
    try:
        revoked = verify_revocations(payload, keyring(), clock())
    except Refused as refusal:
        log.warning("ignored a revocation list: %s", refusal)
        return
    if state.store_revocations(revoked.issuer, revoked.issued_at, revoked.token_ids):
        log.info("revocation list of %s: %d passes revoked", revoked.issuer, len(revoked.token_ids))
    else:
        log.debug("revocation list not newer than the one held")
