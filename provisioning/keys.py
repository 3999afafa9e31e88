"""The venue owner's Ed25519 signing key in its home folder (the key id and
public-key formats are in :mod:`ravao_protocol.keys`)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ravao_protocol.errors import UserError
from ravao_protocol.keys import KeyFileError, key_id, public_pem, read_key_file

PRIVATE_FILE = "owner.key"
PUBLIC_FILE = "owner.pub"


def default_home() -> Path:
    """The owner's home folder: ``$RAVAO_HOME``, else ``~/.config/ravao``."""
    env = os.environ.get("RAVAO_HOME")
    if env:
        return Path(env)
    return Path.home() / ".config" / "ravao"


def init_owner(home: str | Path) -> bytes:
    """Create ``owner.key`` (0600) and ``owner.pub`` in `home`; return the key id.

    Refuses (:class:`UserError`) when either file already exists.
    """
    folder = Path(home)
    private_path, public_path = folder / PRIVATE_FILE, folder / PUBLIC_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise UserError(f"{path} already exists; not overwriting the owner key")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {folder}: {exc.strerror}") from None
    private_key = Ed25519PrivateKey.generate()
    private_bytes = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _create_exclusive(private_path, private_bytes, 0o600)
    try:
        _create_exclusive(public_path, public_pem(private_key.public_key()).encode("ascii"), 0o644)
    except UserError:
        private_path.unlink(missing_ok=True)
        raise
    return key_id(private_key.public_key())


def _create_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Write a new file that never exists with a wider mode than `mode`."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise UserError(f"{path} already exists; not overwriting the owner key") from None
    except OSError as exc:
        raise UserError(f"cannot create {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)  # the umask may have narrowed it; make it exact
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def load_owner(home: str | Path) -> Ed25519PrivateKey:
    """The owner's private key from ``owner.key`` in `home`."""
    path = Path(home) / PRIVATE_FILE
    if not path.exists():
        raise UserError(f"no owner key at {path}; run `ravao owner init` first")
    data = read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"{path}: not an unencrypted PKCS#8 PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key
