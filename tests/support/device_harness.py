"""An in-process device for tests: a real Daemon, real decoder and outbox,
fed frames of real QR images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance.config import parse_config
from appliance.daemon import Daemon
from appliance.decision import Decision
from appliance.sources.simulated import load_gray
from tests.support.samples import qr_png
from tests.support.waiting import wait_for

BLANK = np.full((64, 64), 255, np.uint8)


class Device:
    """A Daemon driven frame by frame, its uplink started."""

    def __init__(self, tmp: Path, toml: str, **kw) -> None:
        self.tmp = tmp
        self.daemon = Daemon(parse_config(toml), **kw)
        self.count = 0
        self.daemon.start_uplinks()

    def show(self, text: str, *, eci: bool = False) -> list[Decision]:
        """Show a QR of `text` for two frames, then take it away."""
        self.count += 1
        frame = load_gray(qr_png(text, self.tmp / f"shown-{self.count}.png", eci=eci, scale=3))
        decisions = self.daemon.scan(frame) + self.daemon.scan(frame)
        for _ in range(4):
            self.daemon.scan(BLANK)
        return decisions

    def through_camera_loop(self, text: str) -> None:
        """One frame showing `text`, through the camera loop itself (which also
        carries out a factory reset asked for by the button)."""
        from appliance.sources import open_source

        self.count += 1
        folder = self.tmp / f"camera-{self.count}"
        folder.mkdir()
        qr_png(text, folder / "frame.png")
        self.daemon.scan_source(open_source(f"images:{folder}?fps=0&hold=1&gap=0"))

    def wait_until(self, predicate, timeout: float = 15.0) -> bool:
        """Wait for `predicate`, running the daemon's inbox meanwhile: here the
        test's thread is the camera thread."""
        return wait_for(lambda: self.daemon.inbox.run_pending() >= 0 and predicate(), timeout, interval=0.05)

    def close(self) -> None:
        self.daemon.close()


def device_toml(state_dir: Path, broker_url: str | None, *, device: bool = True, extra: str = "") -> str:
    text = ""
    if device:
        text += '[device]\nid = "door-01"\nvenue_id = "bv-hue"\nvenue_name = "Bệnh viện"\n\n'
    if broker_url:
        text += f'[mqtt]\nurl = "{broker_url}"\n\n'
    text += f'[storage]\nstate_dir = "{state_dir}"\n\n[camera]\nsource = "images:{state_dir}"\n\n'
    return text + extra
