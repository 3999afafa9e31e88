"""Venue passes: issued, verified, and every way a forged or bad one fails."""

import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.credentials import Classifier
from appliance.credentials.venue_pass import VenuePassFormat
from provisioning.keys import load_owner
from ravao_protocol import envelope
from ravao_protocol.envelope import CTI, EXP, IAT, ISS, NBF, PASS_PREFIX, SETUP_PREFIX, SUB
from ravao_protocol.errors import UserError
from ravao_protocol.keys import key_id, key_id_hex
from ravao_protocol.passes import issue_pass, read_pass
from ravao_protocol.refusals import Reason, Refused
from ravao_protocol.setup_qr import SetupSettings, make_setup_qr
from tests.support.signed_codes import (
    assert_no_forgery,
    build_cose,
    cose_of,
    mutations,
    parts_of,
    run_cli,
    standard_header,
    text_of,
)

T0 = 1_800_000_000  # 2027-01-15
NOW = datetime.fromtimestamp(T0 + 3600, UTC)
OWNER = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()


def trusted(*private_keys):
    return {key_id(k.public_key()): k.public_key() for k in private_keys}


def issue(private_key=OWNER, nbf=T0, exp=T0 + 86400, holder="NV-0012", name="Nguyễn Thị Hoa"):
    return issue_pass(private_key, holder, name, nbf, exp, T0)


def read(text, keys=None, now=NOW, revoked=()):
    """`revoked`: the token ids on the owner's list."""
    fmt = VenuePassFormat(lambda: keys if keys is not None else trusted(OWNER),
                          lambda t, issuer: issuer == key_id_hex(OWNER.public_key()) and t in revoked)
    return fmt.read(text.encode(), text, now)


def refusal(text, **kw) -> Refused:
    with pytest.raises(Refused) as caught:
        read(text, **kw)
    return caught.value


def test_genuine_pass_reads_as_its_holder():
    text, venue_pass = issue()
    assert text.startswith("RVP1:") and len(text) < 400
    credential = read(text)
    assert credential.type == "pass"
    assert credential.id == "NV-0012" and credential.name == "Nguyễn Thị Hoa"
    assert credential.event_object() == {
        "type": "pass",
        "id": "NV-0012",
        "name": "Nguyễn Thị Hoa",
        "token_id": venue_pass.token_id,
        "issuer": key_id(OWNER.public_key()).hex(),
    }
    assert len(venue_pass.token_id) == 32 and venue_pass.token_id == venue_pass.token_id.lower()


def test_pass_issued_by_the_cli_verifies(tmp_path, capsys):
    home = tmp_path / "owner"
    assert run_cli("owner", "init", "--home", str(home)) == 0
    capsys.readouterr()
    out = tmp_path / "pass.txt"
    assert (
        run_cli(
            "pass",
            "issue",
            "--home",
            str(home),
            "--holder-id",
            "SV-7",
            "--name",
            "Lê Văn Minh",
            "--valid-days",
            "30",
            "--out",
            str(out),
        )
        == 0
    )
    token_id = capsys.readouterr().out.splitlines()[-1]
    text = out.read_text().strip()
    owner = load_owner(home)
    now = datetime.now(UTC)
    credential = read(text, keys=trusted(owner), now=now)
    assert credential.fields["token_id"] == token_id
    assert (credential.id, credential.name) == ("SV-7", "Lê Văn Minh")
    assert refusal(text, keys=trusted(owner), now=now + timedelta(days=31)).reason is Reason.EXPIRED


def test_changed_base45_character_fails():
    text, _ = issue()
    body = text[len(PASS_PREFIX) :]
    for i in (0, len(body) // 2, len(body) - 1):
        changed = body[:i] + ("B" if body[i] != "B" else "C") + body[i + 1 :]
        assert refusal(PASS_PREFIX + changed).reason in (Reason.MALFORMED, Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("index", [0, 31, 63])
def test_changed_signature_byte_fails_as_bad_signature(index):
    text, _ = issue()
    protected, unprotected, payload, signature = parts_of(cose_of(text))
    forged = bytearray(signature)
    forged[index] ^= 0x01
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, bytes(forged)]))
    assert refusal(text_of(PASS_PREFIX, cose)).reason is Reason.BAD_SIGNATURE


def test_changed_claim_fails_as_bad_signature():
    text, _ = issue()
    protected, unprotected, payload, signature = parts_of(cose_of(text))
    claims = cbor2.loads(payload)
    claims[EXP] = T0 + 10 * 365 * 86400
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature]))
    assert refusal(text_of(PASS_PREFIX, cose)).reason is Reason.BAD_SIGNATURE


def test_pass_of_another_owner_is_unknown_issuer():
    text, _ = issue(OTHER)
    assert refusal(text).reason is Reason.UNKNOWN_ISSUER
    assert read(text, keys=trusted(OWNER, OTHER)).id == "NV-0012"  # a trusted_keys owner


def test_kid_of_a_trusted_key_with_another_signer_is_bad_signature():
    claims = {ISS: key_id(OWNER.public_key()).hex(), SUB: "x", EXP: T0 + 9999, CTI: bytes(16)}
    cose = build_cose(standard_header(OWNER), claims, OTHER)
    assert refusal(text_of(PASS_PREFIX, cose)).reason is Reason.BAD_SIGNATURE


def test_expired_pass_fails_and_still_says_whose_it_was():
    text, venue_pass = issue(nbf=T0 - 7200, exp=T0)
    refused = refusal(text)
    assert refused.reason is Reason.EXPIRED
    assert refused.credential is not None and refused.credential.fields["token_id"] == venue_pass.token_id
    # exp is the first second it is no longer valid (RFC 8392)
    assert refusal(text, now=datetime.fromtimestamp(T0, UTC)).reason is Reason.EXPIRED
    assert read(text, now=datetime.fromtimestamp(T0 - 1, UTC)).id == "NV-0012"


def test_pass_not_yet_valid():
    text, _ = issue(nbf=T0 + 86400, exp=T0 + 2 * 86400)
    refused = refusal(text)
    assert refused.reason is Reason.NOT_YET_VALID
    assert refused.credential is not None and refused.credential.id == "NV-0012"


def test_revoked_pass_fails_with_its_credential():
    text, venue_pass = issue()
    refused = refusal(text, revoked={venue_pass.token_id})
    assert refused.reason is Reason.REVOKED
    assert refused.credential.fields["name"] == "Nguyễn Thị Hoa"


def test_other_prefix_fails():
    text, _ = issue()
    body = text[len(PASS_PREFIX) :]
    for prefix in ("RVS1:", "HC1:", "RVP2:", "rvp1:", ""):
        with pytest.raises(Refused) as caught:
            envelope.verify(prefix + body, PASS_PREFIX, trusted(OWNER), NOW)
        assert caught.value.reason is Reason.MALFORMED


def test_setup_qr_content_cannot_pass_as_a_pass():
    """The same owner signs both; the signed typ keeps them apart."""
    setup = make_setup_qr(
        SetupSettings(device_id="NV-0012", venue_id="v", broker_url="mqtt://h", issued_at=T0, expires=T0 + 86400),
        OWNER,
    )
    as_pass = PASS_PREFIX + setup[len(SETUP_PREFIX) :]
    assert refusal(as_pass).reason is Reason.MALFORMED


@pytest.mark.parametrize("alg", [-7, -35, -37, 5, 0, "EdDSA", None])
def test_algorithm_other_than_eddsa_is_malformed(alg):
    header = standard_header(OWNER, {envelope.HEADER_ALG: alg})
    claims = {ISS: key_id(OWNER.public_key()).hex(), SUB: "x", EXP: T0 + 9999, CTI: bytes(16)}
    text = text_of(PASS_PREFIX, build_cose(header, claims, OWNER))
    refused = refusal(text)
    assert refused.reason is Reason.MALFORMED and "EdDSA" in refused.detail


def test_alg_or_kid_in_unprotected_header_is_malformed():
    claims = {ISS: key_id(OWNER.public_key()).hex(), SUB: "x", EXP: T0 + 9999, CTI: bytes(16)}
    header = {envelope.HEADER_ALG: envelope.ALG_EDDSA}
    moved_kid = build_cose(header, claims, OWNER, unprotected={4: key_id(OWNER.public_key())})
    assert refusal(text_of(PASS_PREFIX, moved_kid)).reason is Reason.MALFORMED
    alg_none = build_cose(standard_header(OWNER), claims, OWNER, unprotected={1: -8})
    assert refusal(text_of(PASS_PREFIX, alg_none)).reason is Reason.MALFORMED


def test_cwt_tag_61_around_the_cose_is_accepted_and_untagged_is_not():
    claims = {ISS: key_id(OWNER.public_key()).hex(), SUB: "H-1", EXP: T0 + 9999, CTI: bytes(16), "name": "A"}
    cose = build_cose(standard_header(OWNER), claims, OWNER)
    assert read(text_of(PASS_PREFIX, cbor2.dumps(cbor2.CBORTag(61, cbor2.loads(cose))))).id == "H-1"
    untagged = build_cose(standard_header(OWNER), claims, OWNER, tag=None)
    assert refusal(text_of(PASS_PREFIX, untagged)).reason is Reason.MALFORMED


@pytest.mark.parametrize(
    "change, detail",
    [
        ({ISS: "0000000000000000"}, "iss"),
        ({SUB: 12}, "sub"),
        ({SUB: ""}, "holder id"),
        ({SUB: "x" * 65}, "holder id"),
        ({SUB: "a\x1b[2Jb"}, "holder id"),
        ({"name": b"bytes"}, "name"),
        ({"name": "n" * 129}, "name"),
        ({EXP: "tomorrow"}, "exp"),
        ({EXP: 1.5e9}, "exp"),
        ({EXP: True}, "exp"),
        ({EXP: 2**64 - 1}, "exp"),
        ({EXP: 2**70}, "CBOR"),  # a bignum tag: refused while decoding
        ({NBF: -1}, "nbf"),
        ({CTI: bytes(15)}, "cti"),
        ({CTI: "00" * 16}, "cti"),
        ({IAT: None}, "iat"),
    ],
)
def test_genuine_signature_over_bad_claims_is_malformed(change, detail):
    claims = {ISS: key_id(OWNER.public_key()).hex(), SUB: "H-1", EXP: T0 + 9999, CTI: bytes(16), IAT: T0, **change}
    refused = refusal(text_of(PASS_PREFIX, build_cose(standard_header(OWNER), claims, OWNER)))
    assert refused.reason is Reason.MALFORMED
    assert detail in refused.detail
    assert refused.credential is None


@pytest.mark.parametrize("missing, detail", [(SUB, "sub"), (EXP, "exp"), (CTI, "cti"), (ISS, "iss")])
def test_missing_required_claim_is_malformed(missing, detail):
    claims = {ISS: key_id(OWNER.public_key()).hex(), SUB: "H-1", EXP: T0 + 9999, CTI: bytes(16)}
    del claims[missing]
    refused = refusal(text_of(PASS_PREFIX, build_cose(standard_header(OWNER), claims, OWNER)))
    assert refused.reason is Reason.MALFORMED and detail in refused.detail


@pytest.mark.parametrize(
    "cose",
    [
        b"",
        b"\x01",
        cbor2.dumps([1, 2, 3, 4]),
        cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, ["text", {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", [], b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", {}, b""])),
        cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", {}, None, b""])),
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({True: -8}), {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8, 4: b"12345678", 2: [99]}), {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8, 4: "kid"}), {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(cbor2.CBORTag(1, 0)), {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8, 4: b"12345678", 16: "application/x"}), {}, b"", b""])),
        b"\xd2\x84" + b"\x81" * 200,  # deep nesting
        b"\xd2\x9f\xff",  # indefinite array
        b"\xd2\x84\x40\xa2\x01\x01\x01\x02\x40\x40",  # duplicate map key
        cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", {}, b"", b""])) + b"\x00",  # trailing byte
        cbor2.dumps(cbor2.CBORTag(35, "(a+)+$")),  # regex tag
        cbor2.dumps(cbor2.CBORTag(2, b"\xff" * 2000)),  # bignum
    ],
)
def test_bad_cose_structure_is_malformed(cose):
    assert refusal(text_of(PASS_PREFIX, cose)).reason is Reason.MALFORMED


def test_unknown_kid_before_signature():
    claims = {ISS: "00", SUB: "x", EXP: T0 + 9999, CTI: bytes(16)}
    cose = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8, 4: b"\x00" * 8}), {}, cbor2.dumps(claims), b"sig"]))
    assert refusal(text_of(PASS_PREFIX, cose)).reason is Reason.UNKNOWN_ISSUER


@pytest.mark.parametrize(
    "text",
    [
        "RVP1:",
        "RVP1:A",
        "RVP1:GGW",
        "RVP1:abc",
        "RVP1:Ã…Ã…Ã…",
        "RVP1:" + base45.b45encode(b"not zlib").decode(),
        "RVP1:" + base45.b45encode(zlib.compress(b"x" * 50)[:-3]).decode(),  # truncated
        "RVP1:" + base45.b45encode(zlib.compress(b"x") + b"junk").decode(),  # bytes after the stream
        "RVP1:" + base45.b45encode(zlib.compress(b"x", wbits=-15)).decode(),  # raw deflate, no zlib header
    ],
)
def test_bad_encoding_is_malformed(text):
    assert refusal(text).reason is Reason.MALFORMED


def test_oversized_text_is_refused_before_any_decoding(monkeypatch):
    text, _ = issue()

    def must_not_run(*args, **kwargs):
        raise AssertionError("an oversized code reached the base45 decoder")

    monkeypatch.setattr(envelope.base45, "b45decode", must_not_run)
    for big in (text + "A" * 4096, "RVP1:" + "A" * 10_000_000):
        assert refusal(big).reason is Reason.MALFORMED


@lru_cache(maxsize=1)
def big_zlib_bomb() -> bytes:
    """256 MiB of zeros, about 250 KB compressed."""
    compressor = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    return b"".join([compressor.compress(chunk) for _ in range(256)] + [compressor.flush()])


def test_zlib_bomb_is_refused_without_inflating_it():
    # The largest bomb that fits in a QR text: 2.5 MB of zeros.
    small_bomb = "RVP1:" + base45.b45encode(zlib.compress(bytes(2_500_000), 9)).decode()
    assert len(small_bomb) <= 4096
    refused = refusal(small_bomb)
    assert refused.reason is Reason.MALFORMED and "inflates beyond" in refused.detail
    # inflate() itself stops at its limit: a 256 MiB bomb never takes more memory than that.
    bomb = big_zlib_bomb()
    tracemalloc.start()
    try:
        with pytest.raises(Refused, match="inflates beyond"):
            envelope.inflate(bomb, envelope.MAX_COSE_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(bomb) + (1 << 20), peak  # the input and a little, not the 256 MiB it inflates to


def test_classifier_turns_refusals_into_reasons():
    text, _ = issue()
    classifier = Classifier([VenuePassFormat(lambda: trusted(OWNER))])
    credential, reason = classifier.classify(text.encode(), text, NOW)
    assert reason is None and credential.id == "NV-0012"
    forged = text[:-2] + ("AB" if text[-2:] != "AB" else "AC")
    credential, reason = classifier.classify(forged.encode(), forged, NOW)
    assert reason in (Reason.MALFORMED, Reason.BAD_SIGNATURE) and credential.type == "unknown"


def test_claims_only_rvp1():
    fmt = VenuePassFormat(lambda: {})
    assert fmt.claims(b"RVP1:X", "RVP1:X")
    assert not fmt.claims(b"RVS1:X", "RVS1:X")
    assert not fmt.claims(b"079201001234|", "079201001234|")


def test_naive_now_is_a_programming_error():
    text, _ = issue()
    with pytest.raises(ValueError, match="timezone-aware"):
        read(text, now=datetime(2027, 1, 1))


# ------------------------------------------------------------ mutations

VALID_PASS, _ = issue(OWNER, nbf=T0 - 86400, exp=T0 + 86400)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations(VALID_PASS))
def test_mutated_pass_never_verifies(mutated):
    assert_no_forgery(mutated, VALID_PASS, lambda t: read(t, now=datetime.fromtimestamp(T0, UTC)))


def test_unmutated_pass_verifies_in_the_mutation_setting():
    """The property above would pass vacuously if the original were refused."""
    assert read(VALID_PASS, now=datetime.fromtimestamp(T0, UTC)).id == "NV-0012"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_cose_bytes_are_refused_without_crashing(cose):
    with pytest.raises(Refused):
        read_pass(text_of(PASS_PREFIX, cose), trusted(OWNER))


@pytest.mark.parametrize("name", ["\u202eAn Văn Trần", "Trần Văn An\u200f", "Trần\u200bVăn"])
def test_a_name_with_bidi_or_format_characters_is_refused(name):
    """Signed or not, a name that could reorder or hide text on the screen or in an event is malformed."""
    claims = {ISS: key_id(OWNER.public_key()).hex(), SUB: "NV-0012", "name": name, NBF: T0, EXP: T0 + 86400,
              IAT: T0, CTI: bytes(16)}
    forged = text_of(PASS_PREFIX, build_cose(standard_header(OWNER), claims, OWNER))
    assert refusal(forged).reason is Reason.MALFORMED
    with pytest.raises(UserError, match="control or format"):
        issue(name=name)
