"""The door relay goes off when the program exits, in a real child process."""

from __future__ import annotations

import subprocess
import sys

RELAY = 23  # BCM


def test_the_relay_goes_off_when_the_program_exits_without_close():
    script = f"""
import atexit, sys, time
from gpiozero.pins.mock import MockFactory
from appliance.config import GpioConfig
from ravao_protocol.credential import Credential
from appliance.decision import Decision, Result
from appliance.feedback.gpio import GpioFeedback
factory = MockFactory()
# atexit runs handlers last-in first-out: this one runs after the feedback's own.
atexit.register(lambda: print([s.state for s in factory.pin({RELAY}).states]))
fb = GpioFeedback(GpioConfig(relay_pin={RELAY}, relay_seconds=30), pin_factory=factory)
fb.decided(Decision(Result.PASS, Credential("cccd", "1"), "in", event={{"seq": 1}}))
deadline = time.monotonic() + 5
while not factory.pin({RELAY}).state and time.monotonic() < deadline:
    time.sleep(0.01)
sys.exit(0)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[False, True, False]"
