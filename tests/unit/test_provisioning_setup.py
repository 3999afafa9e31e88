"""Setup QRs: made, verified with and without a pinned key, and refused."""

import dataclasses
from datetime import UTC, datetime

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings

from provisioning.keys import load_owner
from ravao_protocol import envelope
from ravao_protocol.envelope import CTI, EXP, IAT, ISS, SETUP_PREFIX, SUB
from ravao_protocol.errors import UserError
from ravao_protocol.keys import key_id, spki_der
from ravao_protocol.passes import issue_pass
from ravao_protocol.refusals import Reason, Refused
from ravao_protocol.setup_qr import SetupSettings, make_setup_qr, setup_claims, verify_setup_qr
from tests.support.signed_codes import (
    assert_no_forgery,
    build_cose,
    cose_of,
    mutations,
    run_cli,
    standard_header,
    text_of,
)

T0 = 1_800_000_000
NOW = datetime.fromtimestamp(T0 + 60, UTC)
OWNER = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()

FULL = SetupSettings(
    device_id="door-01",
    venue_id="bv-tw-hue",
    venue_name="Bệnh viện Trung ương Huế",
    broker_url="mqtts://broker.example.vn:8883",
    broker_user="bv-tw-hue/door-01",
    broker_password="s3cret pass",
    wifi_ssid="BV-Staff",
    wifi_psk="matkhau123",
    mode="bus",
    direction="toggle",
    vehicle="75B-012.34",
    route="Huế - Đà Nẵng",
    topic_prefix="hue/ravao",
    issued_at=T0,
    expires=T0 + 3600,
)
MINIMAL = SetupSettings(device_id="d1", venue_id="v1", broker_url="mqtt://10.0.0.2", issued_at=T0, expires=T0 + 3600)


def refusal(text, pinned=None, now=NOW) -> Refused:
    with pytest.raises(Refused) as caught:
        verify_setup_qr(text, now, pinned)
    return caught.value


@pytest.mark.parametrize("settings", [FULL, MINIMAL], ids=["full", "minimal"])
def test_setup_qr_round_trip_without_and_with_pinned_key(settings):
    text = make_setup_qr(settings, OWNER)
    assert text.startswith("RVS1:")
    first = verify_setup_qr(text, NOW)  # a new device: pins the carried key
    assert first.settings == settings
    assert first.signer_id == key_id(OWNER.public_key()).hex()
    assert spki_der(first.signer) == spki_der(OWNER.public_key())
    assert len(first.token_id) == 32
    again = verify_setup_qr(text, NOW, pinned=first.signer)
    assert again.settings == settings


def test_defaults_stay_out_of_the_qr():
    claims = setup_claims(MINIMAL)
    assert set(claims) == {SUB, "venue_id", "broker", IAT, EXP}


def test_another_owners_setup_qr_is_refused_once_pinned():
    text = make_setup_qr(MINIMAL, OTHER)
    assert verify_setup_qr(text, NOW).signer_id == key_id(OTHER.public_key()).hex()  # new device: fine
    assert refusal(text, pinned=OWNER.public_key()).reason is Reason.UNKNOWN_ISSUER


def test_expired_setup_qr():
    text = make_setup_qr(MINIMAL, OWNER)
    assert refusal(text, now=datetime.fromtimestamp(T0 + 3600, UTC)).reason is Reason.EXPIRED


def test_setup_qr_made_on_a_clock_ahead_still_applies():
    """No nbf: a new device's clock is often behind (no network, no RTC) and
    the Wi-Fi it needs to set it is in the QR."""
    text = make_setup_qr(MINIMAL, OWNER)
    assert verify_setup_qr(text, datetime.fromtimestamp(T0 - 86400 * 30, UTC)).settings == MINIMAL


def _claims(change=None):
    claims = {
        ISS: key_id(OWNER.public_key()).hex(),
        SUB: "d1",
        "venue_id": "v1",
        "broker": "mqtt://h",
        IAT: T0,
        EXP: T0 + 3600,
        CTI: bytes(16),
    }
    claims.update(change or {})
    return claims


def _forged(claims, header_extra=None, signer=OWNER):
    extra = {envelope.HEADER_SIGNER_KEY: spki_der(OWNER.public_key()), **(header_extra or {})}
    return text_of(SETUP_PREFIX, build_cose(standard_header(OWNER, extra), claims, signer))


def test_forged_signature_with_carried_owner_key():
    assert verify_setup_qr(_forged(_claims()), NOW).settings.device_id == "d1"  # the helper's genuine case
    assert refusal(_forged(_claims(), signer=OTHER)).reason is Reason.BAD_SIGNATURE
    assert refusal(_forged(_claims(), signer=OTHER), pinned=OWNER.public_key()).reason is Reason.BAD_SIGNATURE


def test_carried_key_must_match_kid():
    header = {envelope.HEADER_SIGNER_KEY: spki_der(OTHER.public_key())}
    text = _forged(_claims(), header_extra=header)
    assert refusal(text).reason is Reason.UNKNOWN_ISSUER
    assert refusal(text, pinned=OWNER.public_key()).reason is Reason.UNKNOWN_ISSUER


@pytest.mark.parametrize(
    "carried",
    [None, b"", b"not a key", spki_der(generate_private_key(SECP256R1()).public_key()), b"\x30" * 300, "text"],
)
def test_missing_or_bad_carried_key_is_malformed(carried):
    header = standard_header(OWNER)
    if carried is not None:
        header[envelope.HEADER_SIGNER_KEY] = carried
    text = text_of(SETUP_PREFIX, build_cose(header, _claims(), OWNER))
    assert refusal(text).reason is Reason.MALFORMED


@pytest.mark.parametrize(
    "change, detail",
    [
        ({SUB: "door/01"}, "device_id"),
        ({SUB: "x" * 65}, "device_id"),
        ({"venue_id": "+"}, "venue_id"),
        ({"venue_id": 5}, "venue_id"),
        ({"broker": "http://h"}, "broker_url"),
        ({"broker": "mqtt://h/path"}, "broker_url"),
        ({"mode": "train"}, "mode"),
        ({"direction": "up"}, "direction"),
        ({"wifi_ssid": "x" * 33}, "wifi_ssid"),
        ({"wifi_ssid": "Ở" * 11}, "wifi_ssid"),  # 11 characters, 33 bytes of UTF-8
        ({"wifi_ssid": "n", "wifi_psk": "short"}, "wifi_psk"),
        ({"wifi_psk": "longenough"}, "Wi-Fi"),
        ({"broker_password": "p"}, "broker user"),
        ({"vehicle": "75B"}, "bus mode"),
        ({"venue_name": "a\nb"}, "venue_name"),
        ({"venue_name": "n" * 129}, "venue_name"),
        ({"topic_prefix": "a/#"}, "topic_prefix"),
        ({"topic_prefix": ""}, "topic_prefix"),
        ({EXP: T0 - 1}, "expires before"),
    ],
)
def test_genuine_but_bad_settings_are_malformed(change, detail):
    refused = refusal(_forged(_claims(change)))
    assert refused.reason is Reason.MALFORMED
    assert detail in refused.detail


@pytest.mark.parametrize("missing", [SUB, "venue_id", "broker", IAT, EXP])
def test_missing_required_setting_is_malformed(missing):
    claims = _claims()
    del claims[missing]
    assert refusal(_forged(claims)).reason is Reason.MALFORMED


def test_pass_content_cannot_pass_as_setup_qr():
    text, _ = issue_pass(OWNER, "d1", "x", T0, T0 + 3600, T0)
    assert refusal(SETUP_PREFIX + text[len("RVP1:") :]).reason is Reason.MALFORMED


@pytest.mark.parametrize(
    "change, message",
    [
        ({"device_id": "a b"}, "device id"),
        ({"broker_url": "tcp://h"}, "broker url"),
        ({"wifi_psk": "1234567"}, "wifi psk"),
        ({"broker_password": "p", "broker_user": ""}, "broker user"),
        ({"mode": "door", "vehicle": "75B"}, "bus mode"),
        ({"venue_name": "x" * 3000}, "venue name"),
    ],
)
def test_making_a_setup_qr_with_bad_settings_is_a_user_error(change, message):
    with pytest.raises(UserError, match=message):
        make_setup_qr(dataclasses.replace(FULL, **change), OWNER)


def test_setup_qr_cli_writes_a_verifiable_qr(tmp_path, capsys):
    home = tmp_path / "home"
    run_cli("owner", "init", "--home", str(home))
    out = tmp_path / "setup.txt"
    code = run_cli(
        "setup-qr",
        "--home",
        str(home),
        "--venue-id",
        "bv",
        "--venue-name",
        "Bệnh viện",
        "--device-id",
        "bus-7",
        "--broker",
        "mqtt://192.168.1.5:1883",
        "--broker-user",
        "bv/bus-7",
        "--broker-password",
        "pw",
        "--wifi-ssid",
        "Xe buyt",
        "--wifi-psk",
        "12345678",
        "--mode",
        "bus",
        "--direction",
        "button",
        "--vehicle",
        "75B-012.34",
        "--route",
        "Số 1",
        "--valid-minutes",
        "5",
        "--out",
        str(out),
    )
    assert code == 0
    got = verify_setup_qr(out.read_text().strip(), datetime.now(UTC), pinned=load_owner(home).public_key())
    s = got.settings
    assert (s.device_id, s.venue_id, s.venue_name, s.broker_url) == (
        "bus-7",
        "bv",
        "Bệnh viện",
        "mqtt://192.168.1.5:1883",
    )
    assert (s.broker_user, s.broker_password, s.wifi_ssid, s.wifi_psk) == ("bv/bus-7", "pw", "Xe buyt", "12345678")
    assert (s.mode, s.direction, s.vehicle, s.route, s.topic_prefix) == ("bus", "button", "75B-012.34", "Số 1", "ravao")
    assert s.expires - s.issued_at == 300
    assert "bus-7" in capsys.readouterr().out


VALID_SETUP = make_setup_qr(FULL, OWNER)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations(VALID_SETUP))
def test_mutated_setup_qr_never_verifies(mutated):
    def verify(text):
        verify_setup_qr(text, NOW)
        verify_setup_qr(text, NOW, pinned=OWNER.public_key())

    assert_no_forgery(mutated, VALID_SETUP, verify)


def test_unmutated_setup_qr_verifies_in_the_mutation_setting():
    assert verify_setup_qr(VALID_SETUP, NOW, pinned=OWNER.public_key()).settings == FULL
    assert cbor2.loads(cose_of(VALID_SETUP)).tag == 18


def test_setup_qr_is_short_lived_by_default(tmp_path):
    # It carries the broker password: a photo of it sets up a device of this owner until it expires.
    home = tmp_path / "home"
    run_cli("owner", "init", "--home", str(home))
    out = tmp_path / "setup.txt"
    command = ["setup-qr", "--home", str(home), "--venue-id", "v", "--venue-name", "V", "--device-id", "d",
               "--broker", "mqtt://10.0.0.2", "--out", str(out)]
    run_cli(*command)
    s = verify_setup_qr(out.read_text().strip(), datetime.now(UTC)).settings
    assert s.expires - s.issued_at == 15 * 60
    with pytest.raises(UserError, match="between 1 and 1440"):
        run_cli(*command, "--valid-minutes", str(24 * 60 + 1))
