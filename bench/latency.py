"""Feedback latency: from the start of the camera loop's work on the frame
that decodes a code to the buzzer pin, and to the door relay pin, going high.

The whole daemon runs as on the device (decode, decide, the fsynced commit,
then the feedback), on gpiozero's MockFactory, whose pins keep a timestamped
history of their states. Each trial clears the pins' histories, calls
``daemon.scan(frame)`` at once, and reads when the pin first went high.
Trials alternate a valid ID card (pass: buzzer and relay) with a malformed
one (fail: buzzer only; the relay must stay low), each shown after empty
frames so that it is newly in view. The broker URL points at a free port
with nothing listening: the uplink keeps retrying beside the loop, as on a
bus without network.

    .venv/bin/python bench/latency.py [--trials N] [--backend zxing|zbar] [--display png|none]

Writes bench/results/latency.json and prints the numbers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import platform
import socket
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from appliance.checkpoint import GONE_AFTER_FRAMES
from appliance.config import parse_config
from appliance.daemon import Daemon
from appliance.decision import Result
from appliance.feedback.gpio import GpioFeedback
from appliance.sources.simulated import load_gray
from tests.support.samples import CARDS, MALFORMED_CARD, qr_png

REPO = Path(__file__).resolve().parent.parent

BUZZER, GREEN, RED, RELAY = 17, 27, 22, 23
GOAL_MS = 50.0
# How long after a trial its buzzer pattern has surely ended (fail: three beeps).
SETTLE_S = {Result.PASS: 0.15, Result.FAIL: 0.55}


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frame_of(text: str, folder: Path) -> np.ndarray:
    """A 640x480 grey camera frame with the QR of `text` in the middle."""
    qr = load_gray(qr_png(text, folder / "qr.png", scale=3))
    frame = np.full((480, 640), 200, dtype=np.uint8)
    top, left = (480 - qr.shape[0]) // 2, (640 - qr.shape[1]) // 2
    frame[top:top + qr.shape[0], left:left + qr.shape[1]] = qr
    return frame


def config_text(work: Path, backend: str, display: str) -> str:
    return (
        '[device]\nid = "bench"\nvenue_id = "bench"\nvenue_name = "Bệnh viện Trung ương Huế"\n'
        f'[decoder]\nbackend = "{backend}"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n'
        f'[storage]\nstate_dir = "{work / "state"}"\n'
        '[policy]\ndedupe_seconds = 0\n'
        f'[gpio]\npin_factory = "mock"\nbuzzer_pin = {BUZZER}\ngreen_led_pin = {GREEN}\n'
        f'red_led_pin = {RED}\nrelay_pin = {RELAY}\nrelay_seconds = 0.1\n'
        + (f'[display]\ndriver = "png:{work / "screens"}"\n' if display == "png" else "")
    )


def rise_after_clear(pin) -> float | None:
    """Seconds from the pin's clear_states() to its first rising edge, or None.

    MockPin keeps, with each state, the time since the state before it.
    """
    elapsed = 0.0
    for before, state in itertools.pairwise(pin.states):
        elapsed += state.timestamp
        if state.state and not before.state:
            return elapsed
    return None


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def summary(values_s: list[float]) -> dict:
    ms = sorted(v * 1000 for v in values_s)
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 3),
            "p95_ms": round(statistics.quantiles(ms, n=20)[18], 3), "max_ms": round(ms[-1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="trials of each kind (pass, fail); at least 50")
    parser.add_argument("--backend", default="zxing", choices=["zxing", "zbar"])
    parser.add_argument("--display", default="png", choices=["png", "none"],
                        help="png: the OLED feedback runs too, writing PNGs (default); none: GPIO only")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "latency.json")
    args = parser.parse_args()
    if args.trials < 50:
        parser.error("--trials must be at least 50")
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("ravao.uplink").setLevel(logging.CRITICAL)  # "connection refused", over and over

    work = Path(tempfile.mkdtemp(prefix="ravao-latency-"))
    frames = {Result.PASS: [frame_of(card.text(), work) for card in CARDS],
              Result.FAIL: [frame_of(MALFORMED_CARD.text(), work)]}
    empty = np.full((480, 640), 200, dtype=np.uint8)

    daemon = Daemon(parse_config(config_text(work, args.backend, args.display)))
    gpio = next(part for part in daemon.feedback.parts if isinstance(part, GpioFeedback))
    buzzer, relay = gpio.pin_factory.pin(BUZZER), gpio.pin_factory.pin(RELAY)
    if daemon.uplink is not None:
        daemon.uplink.start()

    rises: dict[str, list[float]] = {"pass_buzzer": [], "pass_relay": [], "fail_buzzer": [], "scan_returned": []}
    relay_on_fail = 0
    try:
        for trial in range(2 * args.trials):
            result = Result.PASS if trial % 2 == 0 else Result.FAIL
            choices = frames[result]
            frame = choices[trial // 2 % len(choices)]
            for _ in range(GONE_AFTER_FRAMES):  # the previous card leaves the view
                daemon.scan(empty)
            if not wait_for(lambda: not buzzer.state and not relay.state, timeout=5):
                raise SystemExit("the buzzer or relay did not go low between trials")
            buzzer.clear_states()
            relay.clear_states()
            started = time.monotonic()
            decisions = daemon.scan(frame)
            rises["scan_returned"].append(time.monotonic() - started)
            if [d.result for d in decisions] != [result]:
                raise SystemExit(f"trial {trial}: expected {result.value}, got {[d.result.value for d in decisions]}")
            if not wait_for(lambda: rise_after_clear(buzzer) is not None, timeout=5):
                raise SystemExit(f"trial {trial}: the buzzer never went high")
            settle = started + SETTLE_S[result]
            wait_for(lambda settle=settle: time.monotonic() > settle, timeout=5)
            rises[f"{result.value}_buzzer"].append(rise_after_clear(buzzer))
            if result is Result.PASS:
                if rise_after_clear(relay) is None:
                    raise SystemExit(f"trial {trial}: the relay never went high on a pass")
                rises["pass_relay"].append(rise_after_clear(relay))
            elif rise_after_clear(relay) is not None:
                relay_on_fail += 1
    finally:
        daemon.close()

    results = {
        "what": "ms from daemon.scan(frame) start (decode, decide, fsynced commit, feedback) to the pin going high",
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.machine()},
        "backend": args.backend,
        "display": args.display,
        "trials_each": args.trials,
        "goal_median_ms": GOAL_MS,
        **{name: summary(values) for name, values in rises.items()},
        "fail_relay_went_high": relay_on_fail,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    for name in ("pass_buzzer", "pass_relay", "fail_buzzer"):
        verdict = "meets" if results[name]["median_ms"] < GOAL_MS else "MISSES"
        print(f"{name}: median {results[name]['median_ms']} ms, p95 {results[name]['p95_ms']} ms "
              f"({verdict} the {GOAL_MS:.0f} ms goal)")
    print(f"fail_relay_went_high: {relay_on_fail} of {args.trials}")


if __name__ == "__main__":
    main()
