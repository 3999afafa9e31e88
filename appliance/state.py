"""The device's own state: the pinned owner key, the settings of the last
setup QR, the revocation lists, and the outbox's `seq` mark. Small documents in tinydb, each change
written whole and atomically (temporary file, fsync, rename), with the
previous good copy kept beside it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Annotated, Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from ravao_protocol.atomic import write_atomic

log = logging.getLogger("ravao.state")

STATE_FILE = "state.json"


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)  # a newer version's keys stay readable


class _Owner(_Part):
    public_key: str = ""

    @field_validator("public_key")
    @classmethod
    def _ed25519(cls, pem: str) -> str:
        try:
            key = serialization.load_pem_public_key(pem.encode("ascii")) if pem else None
        except (ValueError, UnsupportedAlgorithm):
            raise ValueError("not a public key in PEM") from None
        if pem and not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return pem


class _Setup(_Part):
    settings: dict[str, Any] | None = None
    iat: int = 0
    token_id: str = ""
    reset: bool = False


class _Revocations(_Part):
    issuer: str | None = None  # one list for everything, as earlier versions kept it
    issued_at: int = 0
    token_ids: list[str] = []
    by_issuer: dict[str, _Revocations] = {}


class _Seq(_Part):
    reserved: Annotated[int, Field(ge=0)] = 0


class _Document(_Part):
    seq: _Seq = _Seq()
    owner: _Owner = _Owner()
    setup: _Setup = _Setup()
    revocations: _Revocations = _Revocations()
    retired: dict[str, dict[str, Any]] = {}


_StateFile = TypeAdapter(dict[str, dict[str, _Document]])  # tinydb's {table: {doc id: document}}


def check_state(data: Any) -> None:
    """``ValueError`` naming the first value of the wrong kind in a state file's data."""
    try:
        _StateFile.validate_python(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"][2:]) or "the document"
        raise ValueError(f"{where}: {error['msg']}") from None


class AtomicJSONStorage(Storage):
    """tinydb storage that never leaves a half-written file.

    Each write goes to a temporary file that is fsynced and renamed over
    the state file; the state file it replaces is kept as ``.bak``. A state
    file that does not parse (a torn write on a file system that does not
    honour rename) is set aside, and the ``.bak`` copy is used.
    """

    def __init__(self, path: str | Path, **_: Any) -> None:
        self.path = Path(path)
        self.backup = self.path.with_name(self.path.name + ".bak")

    def _load(self, path: Path) -> dict | None:
        data = json.loads(path.read_bytes())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        check_state(data)
        return data

    def read(self) -> dict | None:
        try:
            return self._load(self.path)
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            damaged = self.path.with_name(self.path.name + ".damaged")
            os.replace(self.path, damaged)
            log.error("state file %s is damaged (%s); set aside as %s", self.path, exc, damaged.name)
        try:
            data = self._load(self.backup)
        except FileNotFoundError:
            log.error("no earlier state beside it (%s): starting from an empty state", self.backup)
            return None
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            log.error("the earlier state %s is damaged too (%s): starting from an empty state", self.backup, exc)
            return None
        log.warning("using the previous state from %s", self.backup.name)
        write_atomic(self.path, self.backup.read_bytes(), 0o600)
        return data

    def write(self, data: dict) -> None:
        blob = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.backup.unlink(missing_ok=True)
            os.link(self.path, self.backup)
        write_atomic(self.path, blob, 0o600)

    def close(self) -> None:
        pass


class DeviceState:
    """The device's provisioning and revocation state. Thread-safe."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self._lock = threading.Lock()
        self._db = TinyDB(self.path, storage=AtomicJSONStorage)
        self._table = self._db.table("device")
        # Read once: the daemon is the state's only writer, and the camera loop
        # must not parse the file for every code shown to it.
        self._cache: dict[str, Any] = dict(self._table.get(doc_id=1) or {})
        self._revoked = {issuer: frozenset(doc["token_ids"]) for issuer, doc in self._revocation_lists().items()}

    def _doc(self, part: str) -> dict[str, Any]:
        value = self._cache.get(part)
        return dict(value) if isinstance(value, dict) else {}

    def _put(self, **parts: dict[str, Any]) -> None:
        # The whole state is one document, so any change is one atomic write.
        doc = {**self._cache, **parts}
        self._table.upsert(Document(doc, doc_id=1))
        self._cache = doc

    # -- provisioning ---------------------------------------------------

    def pinned_key(self) -> Ed25519PublicKey | None:
        """The owner key pinned by the first setup QR, or None."""
        pem = self._doc("owner").get("public_key")
        if not pem:
            return None
        key = serialization.load_pem_public_key(pem.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the pinned owner key is not Ed25519")
        return key

    def provisioned(self) -> dict[str, Any] | None:
        """The settings of the last setup QR applied, or None."""
        doc = self._doc("setup")
        return doc.get("settings") or None

    def last_setup_iat(self) -> int:
        return int(self._doc("setup").get("iat", 0))

    def was_reset(self) -> bool:
        """True after a factory reset, until the next setup QR."""
        return bool(self._doc("setup").get("reset"))

    def apply_setup(self, public_key: Ed25519PublicKey, settings: dict[str, Any], iat: int, token_id: str,
                    retire: dict[str, Any] | None = None) -> None:
        """Pin `public_key` if none is pinned, store the settings, and keep
        `retire` (the route of the identity being left) — in one write."""
        with self._lock:
            owner = self._doc("owner")
            if not owner.get("public_key"):
                owner = {"public_key": public_key.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")}
            self._put(owner=owner, setup={"settings": settings, "iat": iat, "token_id": token_id},
                      retired=self._with_retired(retire))

    def factory_reset(self, retire: dict[str, Any] | None = None) -> None:
        """Forget the pinned key, the setup and the revocation list; keep
        `retire` so the events already recorded still reach their broker."""
        with self._lock:
            self._put(owner={}, setup={"reset": True}, revocations={}, retired=self._with_retired(retire))
            self._revoked = {}

    # -- the outbox's seq mark (kept by a factory reset) --------------------

    def seq_reserved(self) -> int:
        """The highest `seq` the outbox may have given (0: none kept)."""
        return int(self._doc("seq").get("reserved", 0))

    def reserve_seq(self, upto: int) -> None:
        """Move the outbox's `seq` mark up to `upto` (one atomic write)."""
        with self._lock:
            self._put(seq={"reserved": upto})

    # -- routes of identities left behind --------------------------------

    def _with_retired(self, route: dict[str, Any] | None) -> dict[str, Any]:
        retired = self._doc("retired")
        if route is not None:
            retired[route["topic"]] = route
        return retired

    def retired_routes(self) -> list[dict[str, Any]]:
        """Where the unsent events of earlier identities go: each a dict with
        ``topic`` (their events topic), ``device_id``, ``venue_id`` and ``mqtt``."""
        return [r for r in self._doc("retired").values() if isinstance(r, dict) and "topic" in r]

    def drop_retired(self, topic: str) -> None:
        """Forget a route whose events are all delivered."""
        with self._lock:
            retired = self._doc("retired")
            if retired.pop(topic, None) is not None:
                self._put(retired=retired)

    # -- revocations ----------------------------------------------------

    # One list per signer: a list speaks only for its own signer's passes.

    def _revocation_lists(self) -> dict[str, dict[str, Any]]:
        doc = self._doc("revocations")
        if "issuer" in doc:  # one list for everything, as earlier versions kept it: its signer's
            doc = {"by_issuer": {doc["issuer"]: doc}} if isinstance(doc["issuer"], str) else {}
        lists = doc.get("by_issuer")
        return {issuer: {"issued_at": int(held.get("issued_at", 0)), "token_ids": list(held.get("token_ids", []))}
                for issuer, held in (lists.items() if isinstance(lists, dict) else ()) if isinstance(held, dict)}

    def is_revoked(self, token_id: str, issuer: str) -> bool:
        """Whether the list of `issuer` (a key id) revokes the pass `token_id` it signed."""
        return token_id in self._revoked.get(issuer, ())

    def revocations_issued_at(self, issuer: str | None = None) -> int:
        """When the list held of `issuer` was signed (0: none); without one, the newest list's."""
        lists = self._revocation_lists()
        if issuer is not None:
            return int(lists.get(issuer, {}).get("issued_at", 0))
        return max((int(held["issued_at"]) for held in lists.values()), default=0)

    def store_revocations(self, issuer: str, issued_at: int, token_ids: frozenset[str]) -> bool:
        """Keep a list newer than the one held of its signer `issuer`; False
        (and nothing written) if it is not newer."""
        with self._lock:
            if issued_at <= self.revocations_issued_at(issuer):
                return False
            lists = {**self._revocation_lists(), issuer: {"issued_at": issued_at, "token_ids": sorted(token_ids)}}
            self._put(revocations={"by_issuer": lists})
            self._revoked = {**self._revoked, issuer: frozenset(token_ids)}
            return True

    def close(self) -> None:
        self._db.close()
