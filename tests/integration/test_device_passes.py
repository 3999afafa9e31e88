"""Venue passes at the device: issued by the CLI, verified offline, revoked
over a real Mosquitto."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from appliance.decision import Result
from provisioning.keys import load_owner
from ravao_protocol.keys import key_id_hex
from ravao_protocol.passes import issue_pass
from ravao_protocol.refusals import Reason
from tests.support.device_harness import Device, device_toml
from tests.support.process import run_ravao
from tests.support.signed_codes import cose_of, text_of


def issue(home, *extra) -> tuple[str, str]:
    out = home / f"pass-{len(list(home.glob('pass-*')))}.txt"
    done = run_ravao("pass", "issue", "--home", str(home), "--holder-id", "NV-0042", "--name", "Trần Thị Ổn",
                     "--out", str(out), *extra)
    assert done.returncode == 0, done.stderr
    return out.read_text().strip(), done.stdout.strip().splitlines()[-1]


@pytest.fixture
def owner(tmp_path):
    home = tmp_path / "owner"
    assert run_ravao("owner", "init", "--home", str(home)).returncode == 0
    return home


@pytest.fixture
def device(tmp_path, broker, owner):
    extra = f'[policy]\ndedupe_seconds = 0\ntrusted_keys = ["{owner / "owner.pub"}"]\n'
    dev = Device(tmp_path, device_toml(tmp_path / "state", broker.url, extra=extra))
    assert dev.wait_until(lambda: dev.daemon.uplink.state.online)
    yield dev
    dev.close()


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_pass_passes_with_the_contract_credential(device, owner, subscriber):
    text, token = issue(owner)
    assert len(token) == 32 and int(token, 16) >= 0
    (d,) = device.show(text)
    assert d.result is Result.PASS
    issuer = run_ravao("owner", "init", "--home", str(owner)).stderr  # refuses, and names nothing secret
    assert "exist" in issuer
    (event,) = subscriber.wait_events(1)
    cred = event["credential"]
    assert cred["type"] == "pass" and cred["id"] == "NV-0042" and cred["name"] == "Trần Thị Ổn"
    assert cred["token_id"] == token and len(cred["issuer"]) == 16
    assert event["result"] == "pass" and event["reason"] is None


def flip_signature_byte(text: str) -> str:
    import cbor2

    cose = cbor2.loads(cose_of(text))
    body = list(cose.value)
    body[3] = bytes([body[3][0] ^ 1]) + body[3][1:]
    return text_of(text[:5], cbor2.dumps(cbor2.CBORTag(cose.tag, body)))


def test_forged_and_out_of_date_passes_fail(device, owner, tmp_path, subscriber):
    good, _ = issue(owner)
    other = tmp_path / "other"
    assert run_ravao("owner", "init", "--home", str(other)).returncode == 0
    foreign, _ = issue(other)
    now = int(time.time())
    expired, _ = issue_pass(load_owner(owner), "NV-0042", "Trần Thị Ổn", now - 10 * 86400, now - 86400,
                            now - 10 * 86400)
    future, _ = issue(owner, "--valid-from", iso(timedelta(days=2)), "--valid-until", iso(timedelta(days=30)))
    cases = [
        (flip_signature_byte(good), Reason.BAD_SIGNATURE),
        (foreign, Reason.UNKNOWN_ISSUER),
        (expired, Reason.EXPIRED),
        (future, Reason.NOT_YET_VALID),
        ("RVQ1:" + good[5:], Reason.UNSUPPORTED),
        ("RVS1:" + good[5:], Reason.MALFORMED),  # a pass's content shown as a setup QR
    ]
    for text, reason in cases:
        (d,) = device.show(text)
        assert (d.result, d.reason) == (Result.FAIL, reason), text[:12]
    events = subscriber.wait_events(len(cases))
    assert [e["reason"] for e in sorted(events, key=lambda e: e["seq"])] == [r.value for _, r in cases]
    # Out-of-date but genuine passes still say whose they are; forged ones say nothing.
    by_reason = {e["reason"]: e["credential"] for e in events}
    assert by_reason["expired"]["type"] == "pass" and by_reason["expired"]["id"] == "NV-0042"
    assert by_reason["bad_signature"]["type"] == "unknown"
    assert by_reason["unknown_issuer"]["type"] == "unknown"


def test_one_changed_character_of_the_signature_fails(device, owner):
    good, _ = issue(owner)
    # The last base45 characters carry the end of the compressed signature.
    for pos in (len(good) - 3, len(good) - 10):
        changed = good[:pos] + ("A" if good[pos] != "A" else "B") + good[pos + 1:]
        (d,) = device.show(changed)
        assert d.result is Result.FAIL
        assert d.reason in (Reason.BAD_SIGNATURE, Reason.MALFORMED)


def issuer(home) -> str:
    """The key id of the owner whose home is `home`."""
    return key_id_hex(load_owner(home).public_key())


def test_revoked_pass_fails_from_the_next_frame(device, owner, broker, subscriber):
    text, token = issue(owner)
    (d,) = device.show(text)
    assert d.result is Result.PASS
    assert run_ravao("pass", "revoke", "--home", str(owner), token).returncode == 0
    done = run_ravao("pass", "publish-revocations", "--home", str(owner), "--venue-id", "bv-hue",
                     "--broker", broker.url)
    assert done.returncode == 0, done.stderr
    assert device.wait_until(lambda: device.daemon.state.is_revoked(token, issuer(owner)))
    (d,) = device.show(text)
    assert (d.result, d.reason) == (Result.FAIL, Reason.REVOKED)
    # The list holds across a restart, without the broker.
    state_dir = device.daemon.config.storage.state_dir
    device.close()
    again = Device(device.tmp, device_toml(state_dir, "mqtt://127.0.0.1:1", extra=(
        f'[policy]\ntrusted_keys = ["{owner / "owner.pub"}"]\n')))
    try:
        (d,) = again.show(text)
        assert d.reason is Reason.REVOKED
    finally:
        again.close()


def test_a_list_signed_by_another_key_is_ignored(device, tmp_path, owner, broker):
    text, token = issue(owner)
    other = tmp_path / "mallory"
    assert run_ravao("owner", "init", "--home", str(other)).returncode == 0
    assert run_ravao("pass", "revoke", "--home", str(other), token).returncode == 0
    done = run_ravao("pass", "publish-revocations", "--home", str(other), "--venue-id", "bv-hue",
                     "--broker", broker.url)
    assert done.returncode == 0
    # Then a genuine list about another pass: once the device holds it, it has
    # also handled (and ignored) the forged one that came before on the same topic.
    _, other_token = issue(owner)
    assert run_ravao("pass", "revoke", "--home", str(owner), other_token).returncode == 0
    assert run_ravao("pass", "publish-revocations", "--home", str(owner), "--venue-id", "bv-hue",
                     "--broker", broker.url).returncode == 0
    assert device.wait_until(lambda: device.daemon.state.is_revoked(other_token, issuer(owner)))
    assert not device.daemon.state.is_revoked(token, issuer(owner))
    assert not device.daemon.state.is_revoked(token, issuer(other))
    (d,) = device.show(text)
    assert d.result is Result.PASS



def test_a_second_trusted_issuer_cannot_undo_the_owners_revocations(tmp_path, broker, owner):
    second = tmp_path / "second"
    assert run_ravao("owner", "init", "--home", str(second)).returncode == 0
    extra = (f'[policy]\ndedupe_seconds = 0\ntrusted_keys = ["{owner / "owner.pub"}", '
             f'"{second / "owner.pub"}"]\n')
    device = Device(tmp_path, device_toml(tmp_path / "state", broker.url, extra=extra))
    try:
        assert device.wait_until(lambda: device.daemon.uplink.state.online)
        (text, token), (kept_text, kept_token), (other_text, other_token) = issue(owner), issue(owner), issue(second)
        publish = ("pass", "publish-revocations", "--venue-id", "bv-hue", "--broker", broker.url)
        assert run_ravao("pass", "revoke", "--home", str(owner), token).returncode == 0
        assert run_ravao(*publish, "--home", str(owner)).returncode == 0
        assert device.wait_until(lambda: device.daemon.state.is_revoked(token, issuer(owner)))
        # a newer list from the second key, which also names a pass of the
        # owner's: it speaks for the second key's own passes only
        time.sleep(1.1)  # a list is newer by its iat, in whole seconds
        assert run_ravao("pass", "revoke", "--home", str(second), other_token, kept_token).returncode == 0
        done = run_ravao(*publish, "--home", str(second))
        assert done.returncode == 0, done.stderr
        assert device.wait_until(lambda: device.daemon.state.is_revoked(other_token, issuer(second)))
        assert [device.show(t)[0].reason for t in (text, kept_text, other_text)] == [
            Reason.REVOKED, None, Reason.REVOKED]
        # the second key clears its list: its own pass passes again, the owner's stays revoked
        (second / "revocations.json").write_text('{"revoked": []}')
        time.sleep(1.1)
        assert run_ravao(*publish, "--home", str(second)).returncode == 0
        assert device.wait_until(lambda: not device.daemon.state.is_revoked(other_token, issuer(second)))
        assert [device.show(t)[0].result for t in (text, other_text)] == [Result.FAIL, Result.PASS]
    finally:
        device.close()
