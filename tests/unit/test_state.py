"""The device state file: every write whole, across kills and torn files."""

from __future__ import annotations

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
