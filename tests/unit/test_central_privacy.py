"""The key file, pseudonyms, sealed values; people as the command line names them."""

from __future__ import annotations

import stat

import pytest

from ravao_central.people import PersonRef, parse_person
from ravao_central.privacy import Keyring, create_key_file, load_keyring
from ravao_protocol.errors import UserError


def test_a_pseudonym_is_stable_per_key_and_separates_types_and_issuers():
    keys = Keyring.from_secret(b"k" * 32)
    assert keys.pseudonym("cccd", "046303001234") == Keyring.from_secret(b"k" * 32).pseudonym("cccd", "046303001234")
    assert keys.pseudonym("cccd", "046303001234") != Keyring.from_secret(b"j" * 32).pseudonym("cccd", "046303001234")
    assert keys.pseudonym("pass", "A", "ab" * 8) != keys.pseudonym("pass", "A", "cd" * 8)
    assert keys.pseudonym("pass", "A", "B") != keys.pseudonym("pass", "A\x1fB")
    assert len(keys.pseudonym("cccd", "046303001234")) == 32


def test_a_sealed_value_opens_only_unaltered_and_under_its_key():
    keys = Keyring.from_secret(b"k" * 32)
    sealed = keys.seal({"name": "Nguyễn Thị Lan"})
    assert b"Lan" not in sealed and keys.open(sealed) == {"name": "Nguyễn Thị Lan"}
    assert keys.seal({"name": "x"}) != keys.seal({"name": "x"})  # a fresh nonce each time
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(ValueError, match="does not open"):
        keys.open(altered)
    with pytest.raises(ValueError):
        Keyring.from_secret(b"j" * 32).open(sealed)


def test_the_key_file_is_made_once_private_and_checked(tmp_path):
    path = tmp_path / "deep" / "record.key"
    assert create_key_file(path) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    assert create_key_file(path) is False and path.read_bytes() == first
    assert load_keyring(path).pseudonym("cccd", "1") == load_keyring(path).pseudonym("cccd", "1")
    with pytest.raises(UserError, match="does not exist"):
        load_keyring(tmp_path / "none.key")
    (tmp_path / "bad.key").write_text("not hex\n")
    with pytest.raises(UserError, match="not a ravao key file"):
        load_keyring(tmp_path / "bad.key")


@pytest.mark.parametrize("text, ref", [
    ("cccd:046303001234", PersonRef("cccd", "046303001234")),
    ("pass:0123456789abcdef:NV-042", PersonRef("pass", "NV-042", "0123456789abcdef")),
    ("pass:0123456789abcdef:a:b", PersonRef("pass", "a:b", "0123456789abcdef")),
])
def test_people_as_the_command_line_names_them(text, ref):
    assert parse_person(text) == ref
    assert str(parse_person(text)) == text


@pytest.mark.parametrize("text", ["", "cccd:", "cccd:12345678901", "cccd:0463030012345", "pass:xyz:NV",
                                  "pass:0123456789abcdef:", "bob", "CCCD:046303001234"])
def test_a_person_not_written_as_the_contract_says_is_refused(text):
    with pytest.raises(UserError, match="expected cccd:ID"):
        parse_person(text)
