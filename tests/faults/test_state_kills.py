"""Device state written by a child process that is killed mid-write."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from appliance.state import DeviceState
from tests.support.process import REPO

WRITER = r"""
import sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from appliance.state import DeviceState
state = DeviceState(sys.argv[1])
key = Ed25519PrivateKey.generate().public_key()
n = state.last_setup_iat()
while True:
    n += 1
    if n % 2:
        state.apply_setup(key, {"device_id": f"d{n}", "venue_id": "v", "broker_url": "mqtt://x"}, n, "%032x" % n)
    else:
        state.store_revocations("issuer", n, frozenset({"%032x" % n}))
    print(n, flush=True)
"""


def test_kill_during_writes_leaves_old_or_new_state(tmp_path):
    rng = random.Random(3)
    state_dir = tmp_path / "state"
    last_done = 0
    for trial in range(30):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(state_dir)], cwd=REPO,
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.15, 0.6))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=10)
        done = [int(line) for line in out.split()]
        if done:
            last_done = done[-1]
        state = DeviceState(state_dir)
        try:
            iat, revoked_at = state.last_setup_iat(), state.revocations_issued_at()
            newest = max(iat, revoked_at)
            # The newest write on disk is the last one finished, or the one in progress.
            assert newest in (last_done, last_done + 1), (trial, newest, last_done)
            assert state.provisioned()["device_id"] == f"d{iat}"
            assert state.is_revoked(f"{revoked_at:032x}", "issuer") or revoked_at == 0
            last_done = newest
        finally:
            state.close()
    assert last_done > 30, "the writer should have written many states"
