"""The camera loop: a failing camera is reopened, and systemd's watchdog is
fed by the loop itself."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import numpy as np

from appliance import camera_loop
from appliance.feedback import Notice, RecordingFeedback
from appliance.notify import Notifier
from appliance.sources import SourceError
from appliance.sources.simulated import load_gray
from tests.support.device_harness import Device, device_toml
from tests.support.samples import CARDS, qr_png


class FlakyCamera:
    """Fails to open `fail_opens` times, then delivers `frames` and ends."""

    opened = 0

    def __init__(self, frames: list[np.ndarray], fail_opens: int) -> None:
        FlakyCamera.opened += 1
        if FlakyCamera.opened <= fail_opens:
            raise SourceError(f"camera unplugged (attempt {FlakyCamera.opened})")
        self.finite = True
        self._frames = frames

    def frames(self) -> Iterator[np.ndarray]:
        yield from self._frames

    def close(self) -> None:
        pass


def test_camera_that_fails_three_times_then_recovers(tmp_path, monkeypatch):
    monkeypatch.setattr(camera_loop, "REOPEN_FIRST_S", 0.01)
    card = load_gray(qr_png(CARDS[0].text(), tmp_path / "c.png"))
    FlakyCamera.opened = 0
    feedback = RecordingFeedback()
    live_camera = device_toml(tmp_path / "state", "mqtt://127.0.0.1:1").replace(
        f'source = "images:{tmp_path / "state"}"', 'source = "v4l2:/dev/video9"')
    dev = Device(tmp_path, live_camera, feedback=feedback,
                 open_camera=lambda: FlakyCamera([card] * 3, fail_opens=3))
    try:
        assert dev.daemon.camera_loop() is True
    finally:
        dev.close()
    assert FlakyCamera.opened == 4
    notices = [args[2] for kind, args in feedback.calls if kind == "status"]
    assert Notice.CAMERA_LOST in notices and notices[-1] is Notice.NONE
    decided = [d for kind, d in feedback.calls if kind == "decided"]
    assert [d.credential.id for d in decided] == [CARDS[0].id]


def test_watchdog_comes_from_the_camera_loop(tmp_path):
    """WATCHDOG=1 flows while frames flow, stops while the loop hangs (the
    uplink and other threads still running), and resumes after."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(0.05)
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "40000"})  # at most every 20 ms
    messages: list[tuple[float, str]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            messages.append((time.monotonic(), data.decode()))  # the time it came, not when the wait began

    hang, release = threading.Event(), threading.Event()
    marks: dict[str, float] = {}

    class StallingCamera:
        finite = True

        def frames(self):
            for i in range(200):
                time.sleep(0.005)
                yield np.full((32, 32), 255, np.uint8)
                if i == 100:
                    marks["hang"] = time.monotonic()
                    hang.set()
                    release.wait(10)  # the camera loop hangs here
                    marks["release"] = time.monotonic()

    reader = threading.Thread(target=read)
    reader.start()
    dev = Device(tmp_path, device_toml(tmp_path / "state", "mqtt://127.0.0.1:1"), notifier=notifier)
    try:
        camera = StallingCamera()
        camera.close = lambda: None
        loop = threading.Thread(target=dev.daemon.scan_source, args=(camera,))
        loop.start()
        assert hang.wait(20)
        time.sleep(1.0)
        release.set()
        loop.join(20)
        assert not loop.is_alive()
        time.sleep(0.1)
    finally:
        release.set()
        done.set()
        reader.join(5)
        dev.close()
        sock.close()
    feeds = [t for t, m in messages if m == "WATCHDOG=1"]
    assert messages[0][1] == "READY=1"
    before = [t for t in feeds if t < marks["hang"]]
    # A feed sent just before the hang may reach the reader a little after it.
    during = [t for t in feeds if marks["hang"] + 0.1 < t < marks["release"]]
    after = [t for t in feeds if t > marks["release"]]
    assert len(before) >= 5 and len(after) >= 5, (len(before), len(after))
    assert during == [], "a hung camera loop must stop feeding the watchdog"


def test_a_fault_while_deciding_is_an_error_for_the_person_not_a_crash(tmp_path, monkeypatch):
    feedback = RecordingFeedback()
    dev = Device(tmp_path, device_toml(tmp_path / "state", "mqtt://127.0.0.1:1"), feedback=feedback)
    try:
        def broken(*args):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(dev.daemon.state, "pinned_key", broken)  # read by the setup desk and the keyring
        (d,) = dev.show("RVS1:6BFOXN*TS0BI$ZDFRH")
        from appliance.decision import Result

        assert d.result is Result.ERROR and d.event is None
        assert [kind for kind, _ in feedback.calls if kind == "decided"] == ["decided"]
        (card,) = dev.show(CARDS[1].text())
        assert card.result is Result.PASS, "the loop goes on"
    finally:
        dev.close()
