"""The audit log of every reveal: who asked, for which case, what, and how
many identities it showed. Each entry's ``hash`` is an HMAC (the key file's
audit key) over its own fields and the previous entry's hash, so an entry
altered, removed from the middle or moved breaks the chain at that entry,
and nobody without the key file can forge a new chain. The query is stored
sealed, like the identity fields: it names the traced person.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from ravao_central.privacy import Keyring
from ravao_central.schema import audit
from ravao_central.times import rfc3339

APPEND_TRIES = 5


@dataclass(frozen=True)
class Entry:
    """One audit entry, its query opened."""

    n: int
    ts: datetime
    actor: str
    action: str
    case: str
    query: dict[str, Any]
    revealed: int
    hash: str

    def as_json(self) -> dict[str, Any]:
        """The entry as ``audit --json`` shows it."""
        return {"n": self.n, "ts": rfc3339(self.ts), "actor": self.actor, "action": self.action,
                "case": self.case, "query": self.query, "revealed": self.revealed, "hash": self.hash}


def command_line_actor() -> str:
    """``os:USER`` for the person at the command line."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return "os:unknown"


def _entry_bytes(n: int, ts: datetime, actor: str, action: str, case: str, query: dict[str, Any],
                 revealed: int) -> bytes:
    fields = {"n": n, "ts": rfc3339(ts), "actor": actor, "action": action, "case": case, "query": query,
              "revealed": revealed}
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def append(engine: Engine, keys: Keyring, *, actor: str, action: str, case: str, query: dict[str, Any],
           revealed: int) -> Entry:
    """Add an entry at the end of the chain, in its own transaction."""
    for attempt in range(APPEND_TRIES):
        now = datetime.now(UTC)
        ts = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what rfc3339() shows
        try:
            with engine.begin() as connection:
                last = connection.execute(select(audit.c.n, audit.c.hash).order_by(audit.c.n.desc()).limit(1)).first()
                n, previous = (last.n + 1, last.hash) if last else (1, "")
                digest = keys.chain_hash(previous, _entry_bytes(n, ts, actor, action, case, query, revealed))
                connection.execute(insert(audit).values(n=n, ts=ts, actor=actor, action=action, case_ref=case,
                                                        query=keys.seal(query), revealed=revealed, hash=digest))
            return Entry(n, ts, actor, action, case, query, revealed, digest)
        except IntegrityError:  # another reveal took this number: take the next one
            if attempt == APPEND_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def entries(connection: Connection, keys: Keyring) -> list[Entry]:
    """The whole log in order, queries opened (an entry that does not open shows ``{}``)."""
    found = []
    for row in connection.execute(select(audit).order_by(audit.c.n)):
        try:
            query = keys.open(row.query)
        except ValueError:
            query = {}
        found.append(Entry(row.n, row.ts, row.actor, row.action, row.case_ref, query, row.revealed, row.hash))
    return found


def verify(connection: Connection, keys: Keyring) -> str | None:
    """None if the chain holds; otherwise what is wrong with the first bad entry."""
    previous = ""
    expected = 1
    for row in connection.execute(select(audit).order_by(audit.c.n)):
        if row.n != expected:
            return f"entry {expected} is missing (the next one is {row.n})"
        try:
            query = keys.open(row.query)
        except ValueError:
            return f"entry {row.n}: its query was altered"
        digest = keys.chain_hash(previous, _entry_bytes(row.n, row.ts, row.actor, row.action, row.case_ref,
                                                        query, row.revealed))
        if digest != row.hash:
            return f"entry {row.n} was altered, or entries were reordered or removed before it"
        previous = row.hash
        expected += 1
    return None


def count(connection: Connection) -> int:
    """How many entries the log holds."""
    return int(connection.execute(select(func.count()).select_from(audit)).scalar_one())
