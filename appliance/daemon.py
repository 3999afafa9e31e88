"""The appliance daemon: the camera loop and everything around it.

One loop: frame → decode → decide → record (the one disk commit) → tell
the person. The uplink, the display and the buzzer run on their own threads,
so the loop never waits on the network or the hardware. Settings from a
setup QR take effect at once, without a restart.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from appliance.checkpoint import Checkpoint
from appliance.clock import clock_synced, rfc3339_ms, utc_now
from appliance.config import Config, MqttConfig, usable_state_dir
from appliance.credentials import Classifier
from appliance.decision import NOT_A_PERSON, Decision, Result
from appliance.decoder import make_decoder
from appliance.directions import ButtonDirection, Directions, FixedDirection, ToggleDirection
from appliance.feedback import Feedback, Notice
from appliance.feedback.factory import build_feedback
from appliance.notify import Notifier
from appliance.outbox import Outbox
from appliance.setup import SetupDesk, provisioned_config, route_of
from appliance.sources import FrameSource, SourceError, open_source, parse_source
from appliance.state import DeviceState
from appliance.trust import Keyring, formats_for
from appliance.uplink import Identity, Uplink, UplinkState
from appliance.wifi import WifiJoiner
from ravao_protocol import topics
from ravao_protocol.errors import UserError
from ravao_protocol.refusals import Refused
from ravao_protocol.revocations import verify_revocations
from ravao_protocol.settings import DeviceSettings

log = logging.getLogger("ravao")

OUTBOX_FILE = "outbox.sqlite3"
# Reopening a camera that failed: first wait, and the longest wait.
REOPEN_FIRST_S, REOPEN_MAX_S = 0.5, 30.0
PURGE_EVERY_S = 3600.0  # sent events past the retention are deleted this often
RATE_EVERY_S = 60.0  # the frame rate goes to the log this often


def directions_for(device: DeviceSettings | None, outbox: Outbox) -> Directions:
    """The direction policy of a device section."""
    if device is None or device.direction in ("in", "out"):
        return FixedDirection(device.direction if device else "in")
    if device.direction == "toggle":
        return ToggleDirection(outbox)
    return ButtonDirection()


class Daemon:
    """Runs one device from its config until stopped (or its finite source ends)."""

    def __init__(self, config: Config, *, feedback: Feedback | None = None, notifier: Notifier | None = None,
                 wifi: WifiJoiner | None = None) -> None:
        self.config = config
        state_dir = usable_state_dir(config.storage)
        self.outbox = Outbox(state_dir / OUTBOX_FILE)
        self.state = DeviceState(state_dir)
        self.keyring = Keyring(self.state, config.policy.trusted_keys)
        self.notifier = notifier or Notifier.from_env()
        self.decoder = make_decoder(config.decoder.backend)
        self.stopping = threading.Event()
        self.camera_ok = True
        self.storage_ok = True
        self._ready = False  # READY=1 goes to systemd with the first frame
        self._reset_requested = threading.Event()
        self._switching = threading.Lock()
        self.desk = SetupDesk(self.state, on_applied=self._provisioned, in_setup_mode=lambda: self.identity is None,
                              direction=lambda: self.directions.shown or "in", route=self._route, wifi=wifi)
        self.retired: dict[str, Uplink] = {}  # events topic of an identity left behind → its drain
        self.device, self.mqtt = provisioned_config(config, self.state)
        self.identity: Identity | None = None
        self.directions: Directions = FixedDirection("in")
        self.uplink: Uplink | None = None
        self.checkpoint = Checkpoint(
            Classifier(formats_for(config, self.state, self.keyring)),
            accept=config.policy.accept,
            dedupe_seconds=config.policy.dedupe_seconds,
            directions=self.directions,
            intercept=self.desk.intercept,
        )
        self._apply_settings()
        self.feedback = feedback or build_feedback(
            config, on_button_press=self.button_pressed, on_button_hold=self.button_held,
            venue=self.device.venue_name if self.device else "", direction=self.directions.shown)

    # -- settings -------------------------------------------------------

    def _apply_settings(self) -> None:
        """Put `self.device` and `self.mqtt` in force: identity, direction, uplink."""
        device = self.device
        self.identity = Identity(device.id, device.venue_id) if device else None
        self.directions = self.checkpoint.directions = directions_for(device, self.outbox)
        old, self.uplink = self.uplink, None
        if self.identity is not None:
            self.uplink = Uplink(self.outbox, self.identity, self.mqtt,
                                 on_change=self._uplink_changed, status_extra=self._status_extra)
            self.uplink.subscribe(topics.revocations(self.mqtt.topic_prefix, self.identity.venue_id),
                                  self._revocations)
        if old is not None:
            # Saying "offline" to the old broker takes network time: not on the camera loop.
            new = self.uplink
            threading.Thread(target=self._switch_uplink, args=(old, new), name="ravao-switch", daemon=True).start()

    def _switch_uplink(self, old: Uplink, new: Uplink | None) -> None:
        with self._switching:  # one switch at a time, in the order they were asked for
            old.stop()
            if new is not None and new is self.uplink and not self.stopping.is_set():
                new.start()
            self._start_retired()

    def _route(self) -> dict[str, Any] | None:
        """Where the current identity's events go: kept when the device leaves it."""
        return route_of(self.device, self.mqtt)

    def _start_retired(self) -> None:
        """Drain the unsent events of identities the device has left, each to its own broker."""
        current = self.uplink.events_topic if self.uplink is not None else None
        for route in self.state.retired_routes():
            topic = route["topic"]
            if topic in self.retired or self.stopping.is_set():
                continue
            if topic == current or not self.outbox.count_unsent_on(topic):
                self.state.drop_retired(topic)
                continue
            try:
                uplink = Uplink(self.outbox, Identity(route["device_id"], route["venue_id"]),
                                MqttConfig.model_validate(route["mqtt"]),
                                on_drained=partial(self._retired_drained, topic))
            except (KeyError, TypeError, ValidationError) as exc:
                log.error("cannot deliver the events left on %s: %s", topic, exc)
                continue
            log.info("delivering the events left on %s to their own broker", topic)
            self.retired[topic] = uplink
            uplink.start()

    def _retired_drained(self, topic: str) -> None:
        with self._switching:
            uplink = self.retired.pop(topic, None)
            if uplink is not None:
                uplink.stop()
            self.state.drop_retired(topic)

    def _provisioned(self) -> None:
        """A setup QR was applied (camera loop thread)."""
        self.device, self.mqtt = provisioned_config(self.config, self.state)
        self.keyring.refresh()
        started = self.uplink is None
        self._apply_settings()
        if started and self.uplink is not None:
            self.uplink.start()
        self._show_status()

    def _factory_reset(self) -> None:
        log.warning("factory reset: forgetting the owner key and the setup; unsent events are kept")
        self.state.factory_reset(retire=self._route())
        self.keyring.refresh()
        self.device, self.mqtt = provisioned_config(self.config, self.state)
        self._apply_settings()
        self._show_status()

    def _revocations(self, payload: bytes) -> None:
        """A revocation list arrived (paho thread): keep it if genuine and newer."""
        try:
            revoked = verify_revocations(payload, self.keyring(), utc_now())
        except Refused as refusal:
            log.warning("ignored a revocation list: %s", refusal)
            return
        if self.state.store_revocations(revoked.issuer, revoked.issued_at, revoked.token_ids):
            log.info("revocation list of %s: %d passes revoked", revoked.issuer, len(revoked.token_ids))
        else:
            log.debug("revocation list not newer than the one held")

    # -- running --------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        """Finish the current frame, then close cleanly (SIGTERM, SIGINT)."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def _purge_old_events(self) -> None:
        """Delete sent events past the retention, now and every hour (own thread)."""
        days = self.config.storage.retention_days
        while True:
            try:
                purged = self.outbox.purge_sent(days)
            except Exception:
                log.exception("could not delete old sent events")
            else:
                if purged:
                    log.info("deleted %d sent events older than %s days", purged, days)
            if self.stopping.wait(PURGE_EVERY_S):
                return

    def start_uplinks(self) -> None:
        """Connect to the broker, and drain what identities left behind to theirs."""
        with self._switching:
            if self.uplink is not None:
                self.uplink.start()
            else:
                log.warning("this device has no identity yet: waiting for a setup QR")
            self._start_retired()

    def run(self, drain_timeout: float = 10.0) -> int:
        """The daemon's life; returns the exit code."""
        purger = threading.Thread(target=self._purge_old_events, name="ravao-retention", daemon=True)
        purger.start()
        self.start_uplinks()
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
        self.stopping.set()
        with self._switching:
            for uplink in [self.uplink, *self.retired.values()]:
                if uplink is not None:
                    uplink.stop()
        self.feedback.close()
        self.outbox.close()
        self.state.close()

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
                if parse_source(self.config.camera.source).kind in ("images", "video"):
                    raise UserError(str(exc)) from None  # a file that is not there will not appear
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
            self._wait_to_reopen(delay)
            delay = min(delay * 2, REOPEN_MAX_S)
        return False

    def _wait_to_reopen(self, delay: float) -> None:
        # The watchdog keeps being fed: waiting for a lost camera is not a hang.
        deadline = time.monotonic() + delay
        while not self.stopping.is_set() and time.monotonic() < deadline:
            self.notifier.watchdog()
            self._reset_if_asked()
            self.stopping.wait(min(1.0, max(0.0, deadline - time.monotonic())))

    def _reset_if_asked(self) -> None:
        if self._reset_requested.is_set():
            self._reset_requested.clear()
            self._factory_reset()

    def scan_source(self, source: FrameSource) -> bool:
        """Scan every frame of an open source; True when a finite one ran out.

        Raises SourceError when the camera fails.
        """
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
                self._show_status()
            self.notifier.watchdog()
            self._reset_if_asked()
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
        mono, now = time.monotonic(), utc_now()
        return [self._act(decision, mono, now) for decision in self.checkpoint.frame(codes, mono, now)]

    def _act(self, decision: Decision, mono: float, now: datetime) -> Decision:
        if self.identity is None and decision.result is Result.PASS and decision.credential.type not in NOT_A_PERSON:
            # Nothing can be recorded before the setup QR, so nobody is told "pass".
            decision = replace(decision, result=Result.ERROR)
        if decision.result in (Result.PASS, Result.FAIL) and self.identity is not None:
            try:
                remember = self.directions.remember(decision.credential, decision.direction, now) \
                    if decision.result is Result.PASS else None
                event = self.outbox.record(self.identity.topic(self.mqtt.topic_prefix, "events"),
                                           self._event_fields(decision, now), remember)
            except Exception:
                log.exception("could not record the check-in")
                decision = replace(decision, result=Result.ERROR)
                if self.storage_ok:
                    self.storage_ok = False
                    self._show_status()
            else:
                decision = replace(decision, event=event)
                self.checkpoint.recorded(decision, mono)
                if not self.storage_ok:
                    self.storage_ok = True
                    self._show_status()
                if self.uplink is not None:
                    self.uplink.wake()
        self.feedback.decided(decision)
        return decision

    def _event_fields(self, decision: Decision, now: datetime) -> dict[str, Any]:
        device, identity = self.device, self.identity
        assert device is not None and identity is not None
        fields: dict[str, Any] = {
            "device_id": identity.device_id,
            "venue_id": identity.venue_id,
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
        """A short press (GPIO thread): in button mode, switch in ↔ out."""
        if isinstance(self.directions, ButtonDirection):
            log.info("button: next check-ins are %s", self.directions.toggle())
            self._show_status()

    def button_held(self) -> None:
        """The button held for `button_hold_seconds` (GPIO thread): factory reset,
        carried out by the camera loop before its next frame."""
        log.warning("button held: factory reset requested")
        self._reset_requested.set()

    # -- status ---------------------------------------------------------

    def _notice(self) -> Notice:
        if not self.storage_ok:
            return Notice.STORAGE_ERROR
        if not self.camera_ok:
            return Notice.CAMERA_LOST
        if self.identity is None:
            return Notice.SETUP
        return Notice.NONE

    def _status_extra(self) -> dict[str, Any]:
        device = self.device
        extra: dict[str, Any] = {"camera": "ok" if self.camera_ok else "lost",
                                 "storage": "ok" if self.storage_ok else "error"}
        if device is not None:
            extra["mode"] = device.mode
            extra["direction"] = self.directions.shown or device.direction
            if device.mode == "bus":
                extra["vehicle"], extra["route"] = device.vehicle, device.route
        return extra

    def _tell_status(self, online: bool, queue: int) -> Notice:
        notice = self._notice()
        self.feedback.status(online=online, queue=queue, notice=notice, direction=self.directions.shown,
                             venue=self.device.venue_name if self.device else "")
        return notice

    def _uplink_changed(self, state: UplinkState) -> None:
        self._tell_status(state.online, state.queue)

    def _show_status(self) -> None:
        uplink = self.uplink
        online = uplink.state.online if uplink else False
        notice = self._tell_status(online, self.outbox.count_unsent())
        self.notifier.status(notice.value or ("online" if online else "offline"))
        if uplink is not None:
            uplink.publish_status()
