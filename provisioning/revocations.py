"""The owner's list of revoked passes: ``revocations.json`` in the owner's
home folder, ``{"revoked": ["<32 hex digits>", …]}``. The signed message that
carries it to the devices is :mod:`ravao_protocol.revocations`.

``issued.json`` beside it remembers when each pass issued here expires
(``{"expires": {"<token id>": NumericDate, …}}``), so that a revoked pass
leaves the published list once it has expired anyway (a day later: a
device's clock may lag). A pass issued elsewhere stays on the list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from provisioning.files import write_atomic
from ravao_protocol.errors import UserError
from ravao_protocol.revocations import MAX_REVOKED, REVOKED, TOKEN_ID_RE, normalize_token_id

LIST_FILE = "revocations.json"
ISSUED_FILE = "issued.json"
MAX_LIST_FILE_BYTES = 4 * 1024 * 1024
EXPIRED_FOR = 86400
"""Seconds past a pass's expiry before it leaves the published list."""


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


def _issued(home: str | Path) -> dict[str, int]:
    path = Path(home) / ISSUED_FILE
    try:
        with path.open("rb") as f:
            data = f.read(MAX_LIST_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        if len(data) > MAX_LIST_FILE_BYTES:
            raise ValueError("too large")
        doc = json.loads(data)
        expires = doc.get("expires") if isinstance(doc, dict) else None
        if not isinstance(expires, dict) or not all(
                isinstance(t, str) and TOKEN_ID_RE.fullmatch(t) and type(e) is int for t, e in expires.items()):
            raise ValueError('expected {"expires": {"<32 lowercase hex digits>": <seconds since 1970>, ...}}')
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{path}: not a list of issued passes: {exc}") from None
    return expires


def record_issued(home: str | Path, token_id: str, expires: int, now: int) -> None:
    """Remember when the pass `token_id` expires (and forget passes long expired)."""
    kept = {t: e for t, e in _issued(home).items() if e + EXPIRED_FOR >= now}
    kept[normalize_token_id(token_id)] = expires
    text = json.dumps({"expires": dict(sorted(kept.items()))}, indent=1) + "\n"
    write_atomic(Path(home) / ISSUED_FILE, text.encode("ascii"), 0o600)


def in_force(home: str | Path, now: int) -> tuple[list[str], int]:
    """The revoked token ids to publish at `now`, and how many were left out
    because their passes expired more than :data:`EXPIRED_FOR` ago."""
    expires = _issued(home)
    revoked = load_revoked(home)
    kept = [t for t in revoked if t not in expires or expires[t] + EXPIRED_FOR >= now]
    return kept, len(revoked) - len(kept)
