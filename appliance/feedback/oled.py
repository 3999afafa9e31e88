"""The 128x64 OLED (SSD1306 or SH1106 on I2C, through luma.oled), or a folder
of PNG files standing in for it.

The screen is drawn and written on the display's own thread: decided() and
status() only note what to show. A result stays up for ``result_seconds``,
then the idle screen comes back; the idle clock is redrawn each minute.
Only a screen that differs from the one shown is written. A display that
fails is logged once and otherwise ignored until it works again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from PIL import Image

from appliance.clock import clock_synced
from appliance.config import DisplayConfig
from appliance.decision import Decision, Result
from appliance.feedback import Notice
from appliance.feedback.fonts import font
from appliance.feedback.screens import (
    HEIGHT,
    SMALL,
    WIDTH,
    DuplicateScreen,
    ErrorScreen,
    FailScreen,
    IdleScreen,
    PassScreen,
    Screen,
    render,
)

log = logging.getLogger("ravao.feedback.oled")


class DisplayError(Exception):
    """The display could not be opened; the message names the problem."""


class PngFolder:
    """A stand-in for the panel (``png:DIR``): each image shown becomes
    DIR/000001.png, DIR/000002.png, …, numbered on from what is there."""

    size = (WIDTH, HEIGHT)
    mode = "1"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        numbers = [int(p.stem) for p in folder.glob("*.png") if p.stem.isdigit()]
        self.next = max(numbers, default=0) + 1

    def display(self, image: Image.Image) -> None:
        path = self.folder / f"{self.next:06d}.png"
        partial = path.with_suffix(".tmp")
        image.save(partial, format="PNG")
        os.replace(partial, path)  # a viewer never sees half a file
        self.next += 1

    def cleanup(self) -> None:
        pass


def open_display(config: DisplayConfig):
    """The device ``config.driver`` names: a luma.oled panel or a PngFolder."""
    try:
        if config.driver.startswith("png:"):
            return PngFolder(Path(config.driver[4:]))
        from luma.core.interface.serial import i2c
        from luma.oled.device import sh1106, ssd1306

        serial = i2c(port=config.i2c_port, address=config.i2c_address)
        # luma's sh1106 handles the controller's 132-column RAM offset itself.
        return {"ssd1306": ssd1306, "sh1106": sh1106}[config.driver](serial, width=WIDTH, height=HEIGHT)
    except Exception as exc:
        where = "" if config.driver.startswith("png:") else \
            f" on I2C bus {config.i2c_port} at 0x{config.i2c_address:02x}"
        raise DisplayError(f"display: cannot open {config.driver}{where}: {exc}") from None


UNKNOWN_TIME = "--:--"


def synced_local_time() -> datetime | None:
    """The local time, or None while the clock is not synchronised."""
    return datetime.now() if clock_synced() else None


class OledFeedback:
    """Feedback on the OLED named by `config.driver`, or on `device` (any
    luma device in mode "1", e.g. luma.core.device.dummy in tests).

    `venue_name` heads the idle screen; `clock` gives the local time for it,
    or None while the time is not known (the idle screen then shows --:--
    rather than a time that may be days off, as on a bus with no network).
    """

    def __init__(self, config: DisplayConfig, venue_name: str, *, direction: str = "", device=None,
                 clock: Callable[[], datetime | None] = synced_local_time) -> None:
        font(SMALL)  # a missing font fails here, at start, with the package to install
        self.device = device if device is not None else open_display(config)
        self.language = config.language
        self.result_seconds = config.result_seconds
        self.clock = clock
        self._cond = threading.Condition()
        self._idle = IdleScreen(venue=venue_name, clock="", direction=direction)
        self._result: Screen | None = None
        self._result_until = 0.0
        self._changed = True
        self._closed = False
        self._faulty = False
        self._worker = threading.Thread(target=self._run, name="ravao-oled", daemon=True)
        self._worker.start()

    @property
    def venue(self) -> str:
        """The venue name that heads the idle screen."""
        return self._idle.venue

    @property
    def idle(self) -> IdleScreen:
        """What the idle screen shows now (its clock aside)."""
        return self._idle

    # -- the Feedback protocol -------------------------------------------

    def decided(self, decision: Decision) -> None:
        """Show the result screen for `decision` (returns at once)."""
        self._note(result=result_screen(decision))

    def status(self, *, online: bool, queue: int, notice: Notice = Notice.NONE, direction: str = "",
               venue: str = "") -> None:
        """Update what the idle screen shows (returns at once); `venue`, when
        given, replaces the venue name (a setup QR moved the device)."""
        idle = dict(online=online, unsent=queue, notice=notice, direction=direction)
        if venue:
            idle["venue"] = venue
        self._note(idle=idle)

    def close(self) -> None:
        """Stop the display thread and let the panel go (luma clears it)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout=5)
        try:
            self.device.cleanup()
        except Exception:
            log.exception("could not release the display")

    # -- the display thread -------------------------------------------------

    def _note(self, *, result: Screen | None = None, idle: dict | None = None) -> None:
        with self._cond:
            if result is not None:
                self._result, self._result_until = result, time.monotonic() + self.result_seconds
            if idle is not None:
                self._idle = replace(self._idle, **idle)
            self._changed = True
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # a bug here must not take the camera loop down with it
            log.exception("the display thread failed; the screen stays as it is")

    def _loop(self) -> None:
        shown: Screen | None = None
        while True:
            with self._cond:
                while not (self._changed or self._closed):
                    if not self._cond.wait(max(self._until_next_change(), 0.0)):
                        self._changed = True  # the result's time is up, or a new minute
                if self._closed:
                    return
                self._changed = False
                screen = self._screen_now()
            if screen != shown:
                shown = screen if self._show(screen) else None

    def _screen_now(self) -> Screen:
        if self._result is not None and time.monotonic() < self._result_until:
            return self._result
        self._result = None
        now = self.clock()
        return replace(self._idle, clock=now.strftime("%H:%M") if now is not None else UNKNOWN_TIME)

    def _until_next_change(self) -> float:
        """Seconds until the result screen ends, or else until the next minute."""
        if self._result is not None:
            return self._result_until - time.monotonic()
        now = self.clock() or datetime.now()
        return 60.0 - now.second - now.microsecond / 1e6

    def _show(self, screen: Screen) -> bool:
        try:
            self.device.display(render(screen, self.language))
        except Exception:
            if not self._faulty:
                log.exception("the display failed; carrying on without it until it works again")
                self._faulty = True
            return False
        if self._faulty:
            log.info("the display works again")
            self._faulty = False
        return True


def result_screen(decision: Decision) -> Screen:
    """The screen that shows `decision`."""
    name = decision.credential.name
    if decision.result is Result.PASS:
        return PassScreen(name=name, direction=decision.direction)
    if decision.result is Result.FAIL:
        return FailScreen(reason=decision.reason)
    if decision.result is Result.DUPLICATE:
        return DuplicateScreen(name=name)
    return ErrorScreen()
