import hashlib
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provisioning import keys
from ravao_protocol.errors import UserError
from ravao_protocol.keys import MAX_KEY_FILE_BYTES, KeyFileError, key_id, key_id_hex, load_public_key_pem


def test_init_creates_key_files_with_modes_and_returns_key_id(tmp_path):
    home = tmp_path / "home"
    old_umask = os.umask(0)  # the key must be 0600 whatever the umask
    try:
        kid = keys.init_owner(home)
    finally:
        os.umask(old_umask)
    private_path, public_path = home / "owner.key", home / "owner.pub"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(public_path.stat().st_mode) == 0o644
    assert private_path.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    public_key = serialization.load_pem_public_key(public_path.read_bytes())
    assert isinstance(public_key, Ed25519PublicKey)
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert kid == hashlib.sha256(der).digest()[:8]
    assert key_id(keys.load_owner(home).public_key()) == kid
    assert key_id_hex(public_key) == kid.hex()


@pytest.mark.parametrize("existing", ["owner.key", "owner.pub"])
def test_init_refuses_to_overwrite(tmp_path, existing):
    (tmp_path / existing).write_text("keep me")
    with pytest.raises(UserError, match="already exists"):
        keys.init_owner(tmp_path)
    assert (tmp_path / existing).read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]


def test_load_owner_without_key_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="ravao owner init"):
        keys.load_owner(tmp_path)


def test_default_home(monkeypatch, tmp_path):
    monkeypatch.setenv("RAVAO_HOME", str(tmp_path / "h"))
    assert keys.default_home() == tmp_path / "h"
    monkeypatch.delenv("RAVAO_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keys.default_home() == tmp_path / ".config" / "ravao"


def test_load_public_key_pem_reads_owner_pub(tmp_path):
    kid = keys.init_owner(tmp_path)
    assert key_id(load_public_key_pem(tmp_path / "owner.pub")) == kid


def _pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a PEM public key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM public key"),
        (_pem_public(generate_private_key(SECP256R1())), "not an Ed25519"),
        (
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            "private key",
        ),
        (b"x" * (MAX_KEY_FILE_BYTES + 1), "too large"),
    ],
)
def test_load_public_key_pem_refuses_bad_files(tmp_path, content, message):
    path = tmp_path / "trusted.pem"
    path.write_bytes(content)
    with pytest.raises(KeyFileError, match=message) as caught:
        load_public_key_pem(path)
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)
    assert str(path) in str(caught.value)


def test_load_public_key_pem_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such key file"):
        load_public_key_pem(tmp_path / "nope.pem")
