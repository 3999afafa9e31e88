"""The device state file: every write whole, across kills and torn files."""

from __future__ import annotations

import json
import logging

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=6)
WRONG = [
    {"device": []}, {"device": {"1": []}}, {"device": {"1": {"owner": "x"}}},
    {"device": {"1": {"owner": {"public_key": 7}}}}, {"device": {"1": {"owner": {"public_key": "not a key"}}}},
    {"device": {"1": {"setup": {"iat": "soon"}}}}, {"device": {"1": {"setup": {"settings": [1]}}}},
    {"device": {"1": {"revocations": {"token_ids": "abc"}}}},
    {"device": {"1": {"revocations": {"by_issuer": {"a": {"issued_at": []}}}}}},
    {"device": {"1": {"retired": {"t": 3}}}},
    {"device": {"1": {"seq": {"reserved": -1}}}}, {"device": {"1": {"seq": {"reserved": "100"}}}},
]


def good_state_with_a_backup(folder):
    key = Ed25519PrivateKey.generate().public_key()
    state = DeviceState(folder)
    state.apply_setup(key, {"device_id": "first"}, 1, "a" * 32)
    state.apply_setup(key, {"device_id": "second"}, 2, "b" * 32)  # the first is now state.json.bak
    state.close()
    return state.path


@pytest.mark.parametrize("wrong", WRONG)
def test_a_state_file_of_the_wrong_shape_falls_back_to_the_backup(tmp_path, wrong, caplog):
    path = good_state_with_a_backup(tmp_path)
    path.write_text(json.dumps(wrong))
    with caplog.at_level(logging.ERROR, logger="ravao.state"):
        again = DeviceState(tmp_path)
    assert again.provisioned() == {"device_id": "first"} and again.last_setup_iat() == 1
    assert again.pinned_key() is not None
    assert f"state file {path} is damaged" in caplog.text
    again.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(part=st.sampled_from(["owner", "setup", "revocations", "retired"]), value=JSON | st.dictionaries(
    st.sampled_from(["public_key", "settings", "iat", "reset", "issuer", "issued_at", "token_ids", "by_issuer"]),
    JSON, max_size=3), backup=st.booleans())
def test_no_state_document_stops_the_device_from_starting(tmp_path_factory, part, value, backup):
    folder = tmp_path_factory.mktemp("state")
    path = good_state_with_a_backup(folder)
    if not backup:
        path.with_name(path.name + ".bak").unlink()
    doc = json.loads(path.read_text())
    doc["device"]["1"][part] = value
    path.write_text(json.dumps(doc))
    state = DeviceState(folder)  # never an exception
    state.pinned_key(), state.provisioned(), state.last_setup_iat(), state.was_reset(), state.retired_routes()
    state.is_revoked("1" * 32, "a" * 16), state.revocations_issued_at()
    state.close()


def test_the_seq_mark_survives_a_restart_and_a_factory_reset(tmp_path):
    state = DeviceState(tmp_path)
    assert state.seq_reserved() == 0
    state.reserve_seq(200)
    state.factory_reset()
    state.close()
    again = DeviceState(tmp_path)
    assert again.seq_reserved() == 200, "a reset device must not give seq 1 again"
    again.close()
