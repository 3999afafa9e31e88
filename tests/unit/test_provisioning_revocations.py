"""The owner's revocation list and the signed message that carries it."""

import json
import stat
from datetime import UTC, datetime

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provisioning import revocations
from ravao_protocol import envelope
from ravao_protocol.envelope import IAT, ISS
from ravao_protocol.errors import UserError
from ravao_protocol.keys import key_id
from ravao_protocol.passes import issue_pass
from ravao_protocol.refusals import Reason, Refused
from ravao_protocol.revocations import MAX_MESSAGE_BYTES, MAX_REVOKED, sign_revocations, verify_revocations
from tests.support.signed_codes import build_cose, cose_of, parts_of, run_cli, standard_header

T0 = 1_800_000_000
NOW = datetime.fromtimestamp(T0, UTC)
OWNER = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
TRUSTED = {key_id(OWNER.public_key()): OWNER.public_key()}
A, B = "0123456789abcdef" * 2, "f" * 32


def refusal(payload, keys=TRUSTED) -> Refused:
    with pytest.raises(Refused) as caught:
        verify_revocations(payload, keys, NOW)
    return caught.value


def test_revoke_keeps_a_sorted_validated_list(tmp_path):
    assert revocations.load_revoked(tmp_path) == []
    assert revocations.revoke(tmp_path, [B, " " + A.upper() + "\n"]) == [A, B]
    assert revocations.revoke(tmp_path, [A]) == []
    assert revocations.load_revoked(tmp_path) == [A, B]
    path = tmp_path / "revocations.json"
    assert json.loads(path.read_text()) == {"revoked": [A, B]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["revocations.json"]  # no temporary file left


@pytest.mark.parametrize("token", ["", "abc", "g" * 32, "0" * 31, "0" * 33, "0123-4567"])
def test_revoke_refuses_what_is_not_a_token_id(tmp_path, token):
    with pytest.raises(UserError, match="not a token id"):
        revocations.revoke(tmp_path, [A, token])
    assert revocations.load_revoked(tmp_path) == []  # all or nothing


@pytest.mark.parametrize(
    "content",
    ['{"revoked": ["ABC"]}', '{"revoked": "x"}', "[]", "{}", "not json", '{"revoked": [1]}', "[" * 100_000],
)
def test_a_damaged_list_file_is_a_user_error(tmp_path, content):
    (tmp_path / "revocations.json").write_text(content)
    with pytest.raises(UserError, match="revocations.json"):
        revocations.load_revoked(tmp_path)


def test_signed_list_verifies():
    payload = sign_revocations([B, A], OWNER, T0)
    got = verify_revocations(payload, TRUSTED, NOW)
    assert got.token_ids == {A, B}
    assert got.issued_at == T0
    assert got.issuer == key_id(OWNER.public_key()).hex()
    assert cbor2.loads(payload).tag == 18


def test_empty_list_verifies():
    assert verify_revocations(sign_revocations([], OWNER, T0), TRUSTED, NOW).token_ids == set()


def test_list_of_another_key_is_unknown_issuer():
    assert refusal(sign_revocations([A], OTHER, T0)).reason is Reason.UNKNOWN_ISSUER


def test_tampered_list_is_bad_signature():
    protected, unprotected, payload, signature = parts_of(sign_revocations([A, B], OWNER, T0))
    claims = cbor2.loads(payload)
    claims["revoked"] = claims["revoked"][:1]  # un-revoke B
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature]))
    assert refusal(forged).reason is Reason.BAD_SIGNATURE


def test_a_pass_is_not_a_revocation_list():
    text, _ = issue_pass(OWNER, "h", "n", T0, T0 + 60, T0)
    assert refusal(cose_of(text)).reason is Reason.MALFORMED


@pytest.mark.parametrize(
    "revoked",
    [None, "x", [b"short"], [A], [bytes(16)] * 2 + [1], list(range(3))],
)
def test_signed_but_bad_list_is_malformed(revoked):
    claims = {ISS: key_id(OWNER.public_key()).hex(), IAT: T0}
    if revoked is not None:
        claims["revoked"] = revoked
    header = standard_header(OWNER, {envelope.HEADER_TYP: envelope.REVOCATIONS_TYPE})
    assert refusal(build_cose(header, claims, OWNER)).reason is Reason.MALFORMED


@pytest.mark.parametrize(
    "payload",
    [b"", b"RVR1:ABC", "text", b"\xd2" + b"\x81" * 1000, bytes(MAX_MESSAGE_BYTES + 1), None],
)
def test_hostile_payloads_are_malformed(payload):
    assert refusal(payload).reason is Reason.MALFORMED


def test_largest_list_fits_the_message_limit():
    tokens = [f"{i:032x}" for i in range(MAX_REVOKED)]
    payload = sign_revocations(tokens, OWNER, T0)
    assert len(payload) <= MAX_MESSAGE_BYTES
    assert len(verify_revocations(payload, TRUSTED, NOW).token_ids) == MAX_REVOKED


def test_revoke_cli(tmp_path, capsys):
    home = str(tmp_path)
    assert run_cli("pass", "revoke", "--home", home, A, B.upper()) == 0
    out = capsys.readouterr().out
    assert f"revoked {A}" in out and f"revoked {B}" in out
    assert run_cli("pass", "revoke", "--home", home, A) == 0
    assert "1 token id(s) were revoked already" in capsys.readouterr().out
    with pytest.raises(UserError, match="not a token id"):
        run_cli("pass", "revoke", "--home", home, "nope")
    assert revocations.load_revoked(tmp_path) == [A, B]


def test_a_revoked_pass_leaves_the_published_list_a_day_after_it_expires(tmp_path):
    revocations.record_issued(tmp_path, A, T0 + 3600, T0)
    revocations.revoke(tmp_path, [A, B])  # B was issued elsewhere: its expiry is unknown
    assert revocations.in_force(tmp_path, T0 + 3600 + revocations.EXPIRED_FOR) == ([A, B], 0)
    assert revocations.in_force(tmp_path, T0 + 3601 + revocations.EXPIRED_FOR) == ([B], 1)
    assert stat.S_IMODE((tmp_path / "issued.json").stat().st_mode) == 0o600
    # a pass long expired is forgotten when the next one is issued
    revocations.record_issued(tmp_path, B, T0 + 90 * 86400, T0 + 30 * 86400)
    assert json.loads((tmp_path / "issued.json").read_text()) == {"expires": {B: T0 + 90 * 86400}}


@pytest.mark.parametrize("text", ['{"expires": {"xyz": 1}}', '{"expires": []}', "[1]", "not json",
                                  '{"expires": {"' + A + '": "soon"}}'])
def test_a_damaged_issued_file_is_named(tmp_path, text):
    (tmp_path / "issued.json").write_text(text)
    with pytest.raises(UserError, match="issued.json: not a list of issued passes"):
        revocations.in_force(tmp_path, T0)
