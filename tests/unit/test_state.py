"""The device state file: every write whole, across kills and torn files."""

from __future__ import annotations

import json
import logging

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.state import DeviceState


def test_a_torn_state_file_falls_back_to_the_previous_good_one(tmp_path, caplog):
    key = Ed25519PrivateKey.generate().public_key()
    state = DeviceState(tmp_path)
    state.apply_setup(key, {"device_id": "first"}, 1, "a" * 32)
    state.apply_setup(key, {"device_id": "second"}, 2, "b" * 32)
    state.close()
    whole = state.path.read_bytes()
    state.path.write_bytes(whole[: len(whole) // 2])  # torn in the middle
    with caplog.at_level(logging.WARNING, logger="ravao.state"):
        again = DeviceState(tmp_path)
        assert again.provisioned() == {"device_id": "first"}
    assert "damaged" in caplog.text and "previous state" in caplog.text
    assert (tmp_path / "state.json.damaged").read_bytes() == whole[: len(whole) // 2]


def test_state_file_is_private(tmp_path):
    state = DeviceState(tmp_path)
    state.factory_reset()
    assert state.path.stat().st_mode & 0o777 == 0o600


OWNER_ID, OTHER_ID = "a" * 16, "b" * 16
T1, T2 = "1" * 32, "2" * 32


def test_each_signer_has_its_own_revocation_list(tmp_path):
    state = DeviceState(tmp_path)
    assert state.store_revocations(OWNER_ID, 100, frozenset({T1}))
    # a newer list of another signer neither replaces it nor revokes the owner's passes
    assert state.store_revocations(OTHER_ID, 200, frozenset({T2}))
    assert state.is_revoked(T1, OWNER_ID) and not state.is_revoked(T1, OTHER_ID)
    assert state.is_revoked(T2, OTHER_ID) and not state.is_revoked(T2, OWNER_ID)
    assert not state.store_revocations(OWNER_ID, 100, frozenset())  # not newer than the owner's own
    assert state.revocations_issued_at(OWNER_ID) == 100 and state.revocations_issued_at() == 200
    state.close()
    again = DeviceState(tmp_path)
    assert again.is_revoked(T1, OWNER_ID) and again.is_revoked(T2, OTHER_ID)
    again.close()


def test_the_single_list_of_an_earlier_version_stays_its_signers(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"device": {"1": {
        "revocations": {"issuer": OWNER_ID, "issued_at": 100, "token_ids": [T1]}}}}))
    state = DeviceState(tmp_path)
    assert state.is_revoked(T1, OWNER_ID) and not state.is_revoked(T1, OTHER_ID)
    assert state.revocations_issued_at(OWNER_ID) == 100
    assert state.store_revocations(OTHER_ID, 200, frozenset())
    assert state.is_revoked(T1, OWNER_ID)
    state.close()
