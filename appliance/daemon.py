"""The appliance daemon: one device, from its config, until it is stopped.

One loop on one thread: frame → decode → decide → record (the one disk
commit) → tell the person. The uplinks, the display and the buzzer run on
threads of their own, so the loop never waits on the network or the
hardware; what those threads want changed reaches the loop through its
inbox. Settings from a setup QR take effect at once, without a restart.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np

from appliance.camera_loop import CameraLoop
from appliance.checkin_event import event_fields
from appliance.checkpoint import Checkpoint
from appliance.clock import utc_now
from appliance.config import Config, usable_state_dir
from appliance.decision import NOT_A_PERSON, Decision, Result
from appliance.decision_path import build_decision_path
from appliance.directions import ButtonDirection, Directions, FixedDirection, ToggleDirection
from appliance.feedback import Feedback, Notice
from appliance.feedback.factory import build_feedback
from appliance.inbox import Inbox
from appliance.notify import Notifier
from appliance.outbox import Outbox, OutboxLost
from appliance.retention import purge_old_events
from appliance.setup_desk import provisioned_config, route_of
from appliance.sources import FrameSource, SourceError, open_source, parse_source
from appliance.state import DeviceState
from appliance.status import notice_of, status_extra
from appliance.trust import keep_revocation_list
from appliance.uplink import Identity, Uplink, UplinkState
from appliance.uplinks import Uplinks
from appliance.wifi import WifiJoiner
from ravao_protocol import topics
from ravao_protocol.errors import UserError
from ravao_protocol.settings import DeviceSettings

log = logging.getLogger("ravao")

OUTBOX_FILE = "outbox.sqlite3"
STORAGE_CHECK_S = 5.0  # how often the camera thread checks that the outbox is still in place


def directions_for(device: DeviceSettings | None, outbox: Outbox) -> Directions:
    """The direction policy of a device section."""
    if device is None or device.direction in ("in", "out"):
        return FixedDirection(device.direction if device else "in")
    if device.direction == "toggle":
        return ToggleDirection(outbox)
    return ButtonDirection()


@dataclass(frozen=True)
class Shown:
    """The settings in force, as the display and the status message show
    them: kept by the camera thread, read whole by the uplink's threads."""

    device: DeviceSettings | None  # frozen
    direction: str  # "in" | "out" | "" (depends on the person)

    @property
    def venue(self) -> str:
        return self.device.venue_name if self.device else ""


class Daemon:
    """Runs one device. Its settings, directions and uplinks belong to the
    camera thread; other threads post to :attr:`inbox`.

    `open_camera` opens the frame source (default: the config's camera).
    """

    def __init__(self, config: Config, *, feedback: Feedback | None = None, notifier: Notifier | None = None,
                 wifi: WifiJoiner | None = None, open_camera: Callable[[], FrameSource] | None = None) -> None:
        self.config = config
        state_dir = usable_state_dir(config.storage)
        self.state = DeviceState(state_dir)
        self.outbox = Outbox(state_dir / OUTBOX_FILE, seq_mark=self.state)
        self.notifier = notifier or Notifier.from_env()
        self.inbox = Inbox()
        self.stopping = threading.Event()
        self.storage_ok = True
        self._storage_checked = time.monotonic()
        self.uplinks = Uplinks(self.outbox, self.state, self.stopping)
        self.device, self.mqtt = provisioned_config(config, self.state)
        self.identity: Identity | None = None
        self.directions: Directions = FixedDirection("in")
        self.path = build_decision_path(config, self.state, self.directions, on_applied=self._provisioned,
                                        in_setup_mode=lambda: self.identity is None, route=self._route, wifi=wifi)
        self.decoder = self.path.decoder
        mono = time.monotonic()
        for checkin in self.outbox.recent(self.checkpoint.dedupe_seconds):  # the windows go on across a restart
            self.checkpoint.remember(checkin.code, checkin.person, checkin.passed, mono - checkin.age)
        self._apply_settings(start=False)
        self.feedback = feedback or build_feedback(
            config, on_button_press=self.button_pressed, on_button_hold=self.button_held,
            venue=self.device.venue_name if self.device else "", direction=self.directions.shown)
        camera = config.camera
        self.camera = CameraLoop(
            open_camera or partial(open_source, camera.source, camera.width, camera.height, camera.fps),
            self.scan, inbox=self.inbox, notifier=self.notifier, stopping=self.stopping,
            finite_source=parse_source(camera.source).kind in ("images", "video"),
            on_camera=lambda ok: self.show_status())

    @property
    def checkpoint(self) -> Checkpoint:
        """The decision logic in force."""
        return self.path.checkpoint

    @property
    def uplink(self) -> Uplink | None:
        """The uplink of the identity in force (None before a setup QR)."""
        return self.uplinks.current

    # -- settings (camera thread) ----------------------------------------

    def _apply_settings(self, *, start: bool) -> None:
        """Put `self.device` and `self.mqtt` in force: identity, direction, uplink."""
        device = self.device
        self.identity = Identity(device.id, device.venue_id) if device else None
        self.directions = directions_for(device, self.outbox)
        self.path.use_directions(self.directions)
        self._snapshot()
        revocations = None
        if device is not None:
            prefix = self.mqtt.topic_prefix
            revocations = ((topics.revocations(prefix, device.venue_id),
                            topics.issuer_revocations(prefix, device.venue_id, "+")), self._revocations_arrived)
        self.uplinks.use(self.identity, self.mqtt, start=start, revocations=revocations,
                         on_change=self._uplink_changed,
                         status_extra=self._status_extra)

    def _route(self) -> dict[str, Any] | None:
        """Where the current identity's events go: kept when the device leaves it."""
        return route_of(self.device, self.mqtt)

    def _provisioned(self) -> None:
        """A setup QR was applied (camera thread, inside a decision)."""
        self.device, self.mqtt = provisioned_config(self.config, self.state)
        self.path.keyring.refresh()
        self._apply_settings(start=True)
        self.show_status()

    def _factory_reset(self) -> None:
        log.warning("factory reset: forgetting the owner key and the setup; unsent events are kept")
        self.state.factory_reset(retire=self._route())
        self.path.keyring.refresh()
        self.device, self.mqtt = provisioned_config(self.config, self.state)
        self._apply_settings(start=True)
        self.show_status()

    def _revocations_arrived(self, payload: bytes) -> None:
        """A revocation list arrived (paho's thread): checked on the camera thread."""
        self.inbox.post("a revocation list",
                        partial(keep_revocation_list, payload, self.path.keyring, self.state, utc_now))

    # -- running --------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        """Finish the current frame, then close cleanly (SIGTERM, SIGINT)."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the daemon cleanly."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def start_uplinks(self) -> None:
        """Connect to the broker, and deliver what identities left behind to theirs."""
        self.uplinks.start()

    def run(self, drain_timeout: float = 10.0) -> int:
        """The daemon's life; returns the exit code."""
        threading.Thread(target=purge_old_events, args=(self.outbox, self.config.storage.retention_days, self.stopping),
                         name="ravao-retention", daemon=True).start()
        self.start_uplinks()
        self.show_status()
        try:
            if self.camera_loop() and not self.stopping.is_set():
                self.inbox.run_pending()
                self.uplinks.wait_until_delivered(drain_timeout)
        finally:
            self.notifier.stopping()
            self.close()
        return 0

    def camera_loop(self) -> bool:
        """Scan until stopped; True when a finite source ran out of frames."""
        try:
            return self.camera.run()
        except SourceError as exc:  # a file source that is not there
            raise UserError(str(exc)) from None

    def scan_source(self, source: FrameSource) -> bool:
        """Scan every frame of an open source; True when a finite one ran out."""
        return self.camera.scan_source(source)

    def close(self) -> None:
        """Stop the uplinks, the display and the buzzer; close the files."""
        self.stopping.set()
        self.uplinks.close()
        self.feedback.close()
        self.outbox.close()
        self.state.close()

    # -- one frame --------------------------------------------------------

    def scan(self, frame: np.ndarray) -> list[Decision]:
        """Run the inbox, then decode one frame and act on every code newly in view."""
        self.inbox.run_pending()
        self._check_storage()
        try:
            codes = self.decoder.decode(frame)
        except Exception:
            log.exception("the decoder failed on a frame")
            return []
        mono, now = time.monotonic(), utc_now()
        return [self.act(decision, mono, now) for decision in self.checkpoint.frame(codes, mono, now)]

    def act(self, decision: Decision, mono: float, now: datetime) -> Decision:
        """Record `decision` (a pass or fail) and tell the person; an error
        instead if it cannot be recorded, never "pass"."""
        if self.identity is None and decision.result is Result.PASS and decision.credential.type not in NOT_A_PERSON:
            # Nothing can be recorded before the setup QR, so nobody is told "pass".
            decision = replace(decision, result=Result.ERROR)
        if decision.result in (Result.PASS, Result.FAIL) and self.identity is not None:
            try:
                remember = self.directions.remember(decision.credential, decision.direction, now) \
                    if decision.result is Result.PASS else None
                assert self.device is not None  # an identity comes with its device settings
                event = self.outbox.record(self.identity.topic(self.mqtt.topic_prefix, "events"),
                                           event_fields(decision, self.identity, self.device, now), remember,
                                           code=decision.code_key)
            except Exception as exc:
                self._storage_failed("could not record the check-in", exc)
                decision = replace(decision, result=Result.ERROR)
            else:
                decision = replace(decision, event=event)
                self.checkpoint.recorded(decision, mono)
                self._storage_changed(True)
                if self.uplink is not None:
                    self.uplink.wake()
        self.feedback.decided(decision)
        return decision

    # -- the button (gpiozero's thread) ------------------------------------

    def button_pressed(self) -> None:
        """A short press: in button mode, switch in ↔ out (on the camera thread)."""
        self.inbox.post("the button press", self._toggle_direction)

    def button_held(self) -> None:
        """The button held for `button_hold_seconds`: a factory reset, carried
        out by the camera thread before its next frame."""
        log.warning("button held: factory reset requested")
        self.inbox.post("the factory reset", self._factory_reset)

    def _toggle_direction(self) -> None:
        if isinstance(self.directions, ButtonDirection):
            log.info("button: next check-ins are %s", self.directions.toggle())
            self._snapshot()
            self.show_status()

    # -- status -----------------------------------------------------------

    def _uplink_changed(self, state: UplinkState) -> None:
        """The connection came or went, or the queue changed (the uplink's
        threads, for every event and acknowledgement): straight to the display,
        which reads only the camera thread's snapshot of what it shows."""
        self._tell_display(state.online, state.queue)

    def _tell_display(self, online: bool, queue: int) -> None:
        shown = self._shown
        notice = notice_of(storage_ok=self.storage_ok, camera_ok=self.camera.camera_ok,
                           has_identity=shown.device is not None)
        self.feedback.status(online=online, queue=queue, notice=notice, direction=shown.direction, venue=shown.venue)

    def _snapshot(self) -> None:
        """What the display shows of the settings in force, for other threads to read whole."""
        self._shown = Shown(self.device, self.directions.shown)

    def _check_storage(self) -> None:
        """Every few seconds, even with nobody at the door: is the outbox
        still the file at its path (put back if it was deleted)?"""
        mono = time.monotonic()
        if mono - self._storage_checked < STORAGE_CHECK_S:
            return
        self._storage_checked = mono
        try:
            self.outbox.check_in_place()
        except OutboxLost as exc:
            self._storage_failed("the outbox is lost", exc)

    def _storage_failed(self, what: str, exc: Exception) -> None:
        if self.storage_ok:  # one line when storage fails, not a traceback per refused scan
            log.error("%s (%s: %s): nobody is told pass until the outbox takes events again",
                      what, type(exc).__name__, exc)
        self._storage_changed(False)

    def _storage_changed(self, ok: bool) -> None:
        if ok != self.storage_ok:
            self.storage_ok = ok
            if ok:
                log.warning("the outbox takes events again")
            self.show_status()

    def show_status(self) -> None:
        """Tell the display, systemd and the broker how the device is."""
        uplink = self.uplink
        online = uplink.state.online if uplink else False
        self._tell_display(online, self.outbox.count_unsent())
        notice = self._notice()
        self.notifier.status(notice.value or ("online" if online else "offline"))
        if uplink is not None:
            uplink.publish_status()

    def _notice(self) -> Notice:
        return notice_of(storage_ok=self.storage_ok, camera_ok=self.camera.camera_ok,
                         has_identity=self.identity is not None)

    def _status_extra(self) -> dict[str, Any]:
        # Read on the uplink's threads: the camera thread's snapshot, and two flags.
        shown = self._shown
        return status_extra(shown.device, shown.direction, camera_ok=self.camera.camera_ok, storage_ok=self.storage_ok)
