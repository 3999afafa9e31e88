"""The owner's list of revoked passes: ``revocations.json`` in the owner's
home folder, ``{"revoked": ["<32 hex digits>", …]}``. The signed message that
carries it to the devices is :mod:`ravao_protocol.revocations`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from provisioning.files import write_atomic
from ravao_protocol.errors import UserError
from ravao_protocol.revocations import MAX_REVOKED, REVOKED, TOKEN_ID_RE, normalize_token_id

LIST_FILE = "revocations.json"
MAX_LIST_FILE_BYTES = 4 * 1024 * 1024


def load_revoked(home: str | Path) -> list[str]:
    """The owner's revoked token ids, sorted; empty when there is no list yet."""
    path = Path(home) / LIST_FILE
    try:
        with path.open("rb") as f:
            data = f.read(MAX_LIST_FILE_BYTES + 1)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        if len(data) > MAX_LIST_FILE_BYTES:
            raise ValueError("too large")
        doc = json.loads(data)
        tokens = doc[REVOKED] if isinstance(doc, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) and TOKEN_ID_RE.fullmatch(t) for t in tokens):
            raise ValueError(f'expected {{"{REVOKED}": ["<32 lowercase hex digits>", ...]}}')
    except (ValueError, KeyError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise UserError(f"{path}: not a revocation list: {exc}") from None
    return sorted(set(tokens))


def revoke(home: str | Path, token_ids: Iterable[str]) -> list[str]:
    """Add `token_ids` to the owner's list; return those that were not on it yet."""
    wanted = [normalize_token_id(t) for t in token_ids]
    revoked = set(load_revoked(home))
    added = sorted(set(wanted) - revoked)
    if len(revoked) + len(added) > MAX_REVOKED:
        raise UserError(f"a revocation list holds at most {MAX_REVOKED} token ids")
    if added:
        folder = Path(home)
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create {folder}: {exc.strerror}") from None
        text = json.dumps({REVOKED: sorted(revoked | set(added))}, indent=1) + "\n"
        write_atomic(folder / LIST_FILE, text.encode("ascii"), 0o600)
    return added
