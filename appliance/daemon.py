"""The appliance daemon: the camera loop and everything around it.

One loop: frame → decode → decide → record (the one disk commit) → tell
the person. The uplink, the display and the buzzer run on their own threads,
so the loop never waits on the network or the hardware.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from appliance.checkpoint import Checkpoint, FixedDirection
from appliance.clock import clock_synced, rfc3339_ms, utc_now
from appliance.config import Config
from appliance.credentials import Classifier
from appliance.credentials.cccd import CccdFormat
from appliance.decision import Decision, Result
from appliance.decoder import make_decoder
from appliance.feedback import Feedback, Notice
from appliance.feedback.factory import build_feedback
from appliance.notify import Notifier
from appliance.outbox import Outbox
from appliance.sources import FrameSource, SourceError, open_source
from appliance.uplink import Identity, Uplink, UplinkState

log = logging.getLogger("ravao")

OUTBOX_FILE = "outbox.sqlite3"
# Reopening a camera that failed: first wait, and the longest wait.
REOPEN_FIRST_S, REOPEN_MAX_S = 0.5, 30.0


def formats_for(config: Config) -> list:
    """The credential formats this device reads, most specific first."""
    privacy = config.privacy
    return [CccdFormat(send_address=privacy.cccd_address, send_old_id=privacy.cccd_old_id)]


class Daemon:
    """Runs one device from its config until stopped (or its finite source ends)."""

    def __init__(self, config: Config, *, feedback: Feedback | None = None, notifier: Notifier | None = None) -> None:
        self.config = config
        self.state_dir = Path(config.storage.state_dir)
        self.outbox = Outbox(self.state_dir / OUTBOX_FILE)
        self.feedback = feedback or build_feedback(
            config, on_button_press=self.button_pressed, on_button_hold=self.button_held)
        self.notifier = notifier or Notifier.from_env()
        self.decoder = make_decoder(config.decoder.backend)
        self.stopping = threading.Event()
        self.camera_ok = True
        self._ready = False  # READY=1 goes to systemd with the first frame
        device = config.device
        self.identity = Identity(device.id, device.venue_id) if device else None
        self.checkpoint = Checkpoint(
            Classifier(formats_for(config)),
            accept=config.policy.accept,
            dedupe_seconds=config.policy.dedupe_seconds,
            directions=FixedDirection(device.direction if device and device.direction in ("in", "out") else "in"),
        )
        self.uplink: Uplink | None = None
        if self.identity is not None:
            self.uplink = Uplink(self.outbox, self.identity, config.mqtt,
                                 on_change=self._uplink_changed, status_extra=self._status_extra)

    # -- running --------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        """Finish the current frame, then close cleanly (SIGTERM, SIGINT)."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def run(self, drain_timeout: float = 10.0) -> int:
        """The daemon's life; returns the exit code."""
        purged = self.outbox.purge_sent(self.config.storage.retention_days)
        if purged:
            log.info("deleted %d sent events older than %s days", purged, self.config.storage.retention_days)
        if self.uplink is not None:
            self.uplink.start()
        else:
            log.warning("this device has no identity yet: waiting for a setup QR")
        self._show_status()
        try:
            finished = self._camera_loop()
            if finished and not self.stopping.is_set():
                self._drain(drain_timeout)
        finally:
            self.notifier.stopping()
            self.close()
        return 0

    def close(self) -> None:
        if self.uplink is not None:
            self.uplink.stop()
        self.feedback.close()
        self.outbox.close()

    def _open_source(self) -> FrameSource:
        cam = self.config.camera
        return open_source(cam.source, cam.width, cam.height, cam.fps)

    def _camera_loop(self) -> bool:
        """Scan until stopped; True when a finite source ran out of frames."""
        delay = REOPEN_FIRST_S
        while not self.stopping.is_set():
            try:
                source = self._open_source()
            except SourceError as exc:
                self._camera_lost(str(exc))
            else:
                try:
                    if self.scan_source(source):
                        return True
                    if self.camera_ok:  # a live camera that stopped: reopen it at once
                        delay = REOPEN_FIRST_S
                except SourceError as exc:
                    self._camera_lost(str(exc))
                finally:
                    source.close()
            self.stopping.wait(delay)
            delay = min(delay * 2, REOPEN_MAX_S)
        return False

    def scan_source(self, source: FrameSource) -> bool:
        """Scan every frame of an open source; True when a finite one ran out.

        Raises SourceError when the camera fails.
        """
        for frame in source.frames():
            if not self._ready:
                self.notifier.ready()
                self._ready = True
            if not self.camera_ok:
                self.camera_ok = True
                log.info("camera is back")
                self._show_status()
            self.notifier.watchdog()
            self.scan(frame)
            if self.stopping.is_set():
                return False
        if source.finite:
            return True
        self._camera_lost("the camera stopped delivering frames")
        return False

    def _camera_lost(self, why: str) -> None:
        log.error("camera: %s", why)
        if self.camera_ok:
            self.camera_ok = False
            self._show_status()

    def scan(self, frame) -> list[Decision]:
        """Decode one frame and act on every code newly in view."""
        try:
            codes = self.decoder.decode(frame)
        except Exception:
            log.exception("the decoder failed on a frame")
            return []
        if not codes:
            self.checkpoint.frame([], time.monotonic(), utc_now())
            return []
        mono, now = time.monotonic(), utc_now()
        shown = []
        for decision in self.checkpoint.frame(codes, mono, now):
            shown.append(self._act(decision, mono, now))
        return shown

    def _act(self, decision: Decision, mono: float, now) -> Decision:
        if decision.result in (Result.PASS, Result.FAIL) and self.identity is not None:
            try:
                event = self.outbox.record(
                    self.identity.topic(self.config.mqtt.topic_prefix, "events"),
                    self._event_fields(decision, now),
                )
            except Exception:
                log.exception("could not record the check-in")
                decision = replace(decision, result=Result.ERROR)
            else:
                decision = replace(decision, event=event)
                self.checkpoint.recorded(decision, mono)
                if self.uplink is not None:
                    self.uplink.wake()
        self.feedback.decided(decision)
        return decision

    def _event_fields(self, decision: Decision, now) -> dict[str, Any]:
        device = self.config.device
        assert device is not None and self.identity is not None
        fields: dict[str, Any] = {
            "device_id": self.identity.device_id,
            "venue_id": self.identity.venue_id,
            "ts": rfc3339_ms(now),
            "clock_synced": clock_synced(),
            "direction": decision.direction,
            "result": "pass" if decision.result is Result.PASS else "fail",
            "reason": decision.reason.value if decision.reason else None,
            "credential": decision.credential.event_object(),
        }
        if device.mode == "bus":
            fields["vehicle"] = device.vehicle
            fields["route"] = device.route
        return fields

    def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.uplink is not None and not self.stopping.is_set():
            left = self.outbox.count_unsent()
            if left == 0:
                log.info("every event is delivered")
                return
            if time.monotonic() >= deadline:
                log.warning("%d events not delivered within %ss; they stay in the outbox", left, timeout)
                return
            self.stopping.wait(0.05)

    # -- the button -------------------------------------------------------

    def button_pressed(self) -> None:
        """A short press of the button (called from the GPIO thread)."""
        log.info("button pressed")

    def button_held(self) -> None:
        """The button held down for `button_hold_seconds` (called from the GPIO thread)."""
        log.warning("button held: factory reset requested")

    # -- status ---------------------------------------------------------

    def _notice(self) -> Notice:
        if self.identity is None:
            return Notice.SETUP
        if not self.camera_ok:
            return Notice.CAMERA_LOST
        return Notice.NONE

    def _status_extra(self) -> dict[str, Any]:
        device = self.config.device
        extra: dict[str, Any] = {"camera": "ok" if self.camera_ok else "lost"}
        if device is not None:
            extra["mode"] = device.mode
            if device.mode == "bus":
                extra["vehicle"], extra["route"] = device.vehicle, device.route
        return extra

    def _uplink_changed(self, state: UplinkState) -> None:
        self.feedback.status(online=state.online, queue=state.queue, notice=self._notice())

    def _show_status(self) -> None:
        online = self.uplink.state.online if self.uplink else False
        notice = self._notice()
        self.feedback.status(online=online, queue=self.outbox.count_unsent(), notice=notice)
        self.notifier.status(notice.value or ("online" if online else "offline"))
        if self.uplink is not None:
            self.uplink.publish_status()
