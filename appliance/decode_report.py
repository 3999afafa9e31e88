"""``ravao decode``: what the device would read and decide from image files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.clock import utc_now
from appliance.config import Config, usable_state_dir
from appliance.decision_path import build_decision_path
from appliance.directions import FixedDirection
from appliance.setup_desk import provisioned_config
from appliance.sources.simulated import load_gray
from appliance.state import DeviceState


def decode_report(paths: list[str], backend: str, config: Config) -> Iterator[dict[str, Any]]:
    """One report per image: ``{"file", "codes": [{"text", "type", "result", "reason"}]}``.

    Decided as the device of `config` would (its settings, trusted keys and
    state), changing nothing: a setup QR is checked, not applied.
    """
    state = DeviceState(usable_state_dir(config.storage))
    device, _ = provisioned_config(config, state)
    direction = device.direction if device and device.direction in ("in", "out") else "in"
    device_path = build_decision_path(config, state, FixedDirection(direction), in_setup_mode=lambda: device is None,
                                      dry_run=True, backend=backend, dedupe_seconds=0)
    for path in paths:
        report: dict[str, Any] = {"file": path, "codes": []}
        try:
            frame = load_gray(Path(path))
        except Exception as exc:  # PIL raises many types for unreadable files
            report["error"] = f"cannot read image: {exc}"
            yield report
            continue
        for code in device_path.decoder.decode(frame):
            decision = device_path.decide(code, 0.0, utc_now())
            report["codes"].append({
                "text": code.text,
                "type": decision.credential.type,
                "result": decision.result.value,
                "reason": decision.reason.value if decision.reason else None,
            })
        yield report
