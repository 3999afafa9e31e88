"""Why a code fails: the contract's `reason` values, and the exception a
reader or verifier raises to refuse a code."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ravao_protocol.credential import Credential


class Reason(str, enum.Enum):
    """Why a code failed; the values are the contract's `reason` strings."""

    UNSUPPORTED = "unsupported"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_ISSUER = "unknown_issuer"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    NOT_ACCEPTED = "not_accepted"


class Refused(Exception):
    """Raised by a credential reader or verifier: the code fails for `reason`."""

    def __init__(self, reason: Reason, detail: str = "", credential: Credential | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        # What the code could be trusted to say about its holder (a revoked
        # but genuine pass); None: the event describes it by hash only.
        self.credential = credential
