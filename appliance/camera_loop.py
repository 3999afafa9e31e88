"""The camera loop: open the source, hand every frame on, reopen a camera
that was lost, feed the watchdog, and run the inbox between frames."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from appliance.inbox import Inbox
from appliance.notify import Notifier
from appliance.sources import FrameSource, SourceError

log = logging.getLogger("ravao")

# Reopening a camera that failed: first wait, and the longest wait.
REOPEN_FIRST_S, REOPEN_MAX_S = 0.5, 30.0
RATE_EVERY_S = 60.0  # the frame rate goes to the log this often


class CameraLoop:
    """Frames from `open_camera()` to `on_frame`, until `stopping` is set.

    `finite_source` says whether a source that cannot be opened is a file
    (an error for the person) or a camera (waited for and reopened).
    `on_camera(ok)` is told when the camera is lost and when it is back.
    """

    def __init__(self, open_camera: Callable[[], FrameSource], on_frame: Callable[[np.ndarray], object], *,
                 inbox: Inbox, notifier: Notifier, stopping: threading.Event, finite_source: bool,
                 on_camera: Callable[[bool], None]) -> None:
        self.open_camera = open_camera
        self.on_frame = on_frame
        self.inbox = inbox
        self.notifier = notifier
        self.stopping = stopping
        self.finite_source = finite_source
        self.on_camera = on_camera
        self.camera_ok = True
        self._ready = False  # READY=1 goes to systemd with the first frame

    def run(self) -> bool:
        """Scan until stopped; True when a finite source ran out of frames.
        A file source that cannot be opened raises its :class:`SourceError`."""
        delay = REOPEN_FIRST_S
        while not self.stopping.is_set():
            try:
                source = self.open_camera()
            except SourceError as exc:
                if self.finite_source:
                    raise  # a file that is not there will not appear
                self._lost(str(exc))
            else:
                try:
                    if self.scan_source(source):
                        return True
                    if self.camera_ok:  # a live camera that stopped: reopen it at once
                        delay = REOPEN_FIRST_S
                except SourceError as exc:
                    self._lost(str(exc))
                finally:
                    source.close()
            self._wait_to_reopen(delay)
            delay = min(delay * 2, REOPEN_MAX_S)
        return False

    def scan_source(self, source: FrameSource) -> bool:
        """Scan every frame of an open source; True when a finite one ran out.
        Raises SourceError when the camera fails."""
        frames, since = 0, time.monotonic()
        for frame in source.frames():
            frames += 1
            if frames % 64 == 0 and time.monotonic() - since >= RATE_EVERY_S:
                elapsed = time.monotonic() - since
                log.info("camera loop: %d frames in %.0f s (%.1f fps)", frames, elapsed, frames / elapsed)
                frames, since = 0, time.monotonic()
            if not self._ready:
                self.notifier.ready()
                self._ready = True
            if not self.camera_ok:
                self.camera_ok = True
                log.info("camera is back")
                self.on_camera(True)
            self.notifier.watchdog()
            self.on_frame(frame)  # runs the inbox first
            if self.stopping.is_set():
                return False
        if source.finite:
            return True
        self._lost("the camera stopped delivering frames")
        return False

    def _lost(self, why: str) -> None:
        log.error("camera: %s", why)
        if self.camera_ok:
            self.camera_ok = False
            self.on_camera(False)

    def _wait_to_reopen(self, delay: float) -> None:
        # The watchdog keeps being fed and the inbox run: waiting for a lost camera is not a hang.
        deadline = time.monotonic() + delay
        while not self.stopping.is_set() and time.monotonic() < deadline:
            self.notifier.watchdog()
            self.inbox.run_pending()
            self.stopping.wait(min(1.0, max(0.0, deadline - time.monotonic())))
