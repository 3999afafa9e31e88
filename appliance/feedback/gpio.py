"""The buzzer, the LEDs, the door relay and the button, over gpiozero.

Every decision becomes a short pattern of pin changes, played by one worker
thread so that :meth:`GpioFeedback.decided` returns at once. A new decision
cuts the buzzer and LED pattern of the previous one short; the door relay
keeps its own timer, so a refused code right behind a person who passed
does not shut the door in their face. The relay goes off on close(), at
interpreter exit, and whenever the worker dies.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from gpiozero import LED, Button, Buzzer, OutputDevice

from appliance.config import GpioConfig
from appliance.decision import Decision, Result
from appliance.feedback import Notice

log = logging.getLogger("ravao.feedback.gpio")

BEEP_S = 0.1  # one short beep
DUPLICATE_BEEP_S = 0.04
ERROR_BEEP_S = 0.8
LIGHT_S = 2.0  # how long the green or red LED stays on after a result
BRIEF_LIGHT_S = 0.3  # the green LED on a duplicate
BUTTON_BOUNCE_S = 0.05  # contact bounce: one press must not count as two

INDICATORS = ("buzzer", "green", "red")


class GpioError(Exception):
    """The GPIO parts could not be set up; the message names the problem."""


class Step(NamedTuple):
    """Set part `part` on or off `at` seconds after the pattern starts."""

    at: float
    part: str  # "buzzer" | "green" | "red" | "relay"
    on: bool


def beeps(count: int, on_s: float, off_s: float = BEEP_S) -> list[Step]:
    """`count` beeps of `on_s` seconds, `off_s` apart."""
    steps = []
    for i in range(count):
        start = i * (on_s + off_s)
        steps += [Step(start, "buzzer", True), Step(start + on_s, "buzzer", False)]
    return steps


def light(part: str, seconds: float) -> list[Step]:
    """`part` on now and off after `seconds`."""
    return [Step(0.0, part, True), Step(seconds, part, False)]


def pattern(result: Result, *, relay_s: float | None, light_s: float = LIGHT_S) -> list[Step]:
    """What the buzzer, LEDs and relay do for `result`: the relay opens for
    `relay_s` seconds (None: not at all; the caller decides, see
    :attr:`Decision.opens_door`)."""
    # The relay right after the buzzer: both measured by bench/latency.py.
    door = light("relay", relay_s) if relay_s is not None else []
    if result is Result.PASS:
        return sorted(beeps(1, BEEP_S) + door + light("green", light_s), key=lambda s: s.at)
    if result is Result.FAIL:
        return sorted(beeps(3, BEEP_S) + light("red", light_s), key=lambda s: s.at)
    if result is Result.DUPLICATE:
        return sorted(beeps(1, DUPLICATE_BEEP_S) + door + light("green", BRIEF_LIGHT_S), key=lambda s: s.at)
    return sorted(beeps(1, ERROR_BEEP_S) + light("red", light_s), key=lambda s: s.at)


def make_pin_factory(name: str):
    """The gpiozero pin factory called `name` in the config."""
    try:
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory
            return LGPIOFactory()
        if name == "rpigpio":
            from gpiozero.pins.rpigpio import RPiGPIOFactory
            return RPiGPIOFactory()
        if name == "mock":
            from gpiozero.pins.mock import MockFactory
            return MockFactory()
    except ImportError as exc:
        package = {"lgpio": "lgpio (pip install 'ravao[pi]', or apt install python3-lgpio)",
                   "rpigpio": "RPi.GPIO (pip install 'ravao[rpigpio]')"}[name]
        raise GpioError(f"gpio.pin_factory = {name}: {exc.name or name} is not installed: install {package}") from None
    except Exception as exc:  # no GPIO chip: not a Pi, or no access to /dev/gpiochip*
        raise GpioError(f"gpio.pin_factory = {name}: cannot open the GPIO: {exc}") from None
    raise GpioError(f"gpio.pin_factory: unknown factory {name!r}")


class GpioFeedback:
    """Feedback on the GPIO pins named in `config`; parts without a pin are not fitted.

    `pin_factory` overrides ``config.pin_factory`` (a gpiozero factory object,
    e.g. a MockFactory in tests); it is kept as :attr:`pin_factory`, so the
    pins' state history can be read back from it. `on_button_press` runs on a
    press shorter than ``button_hold_seconds``, `on_button_hold` once when the
    button is held that long; both on gpiozero's threads.
    """

    def __init__(self, config: GpioConfig, *, pin_factory=None,
                 on_button_press: Callable[[], None] | None = None,
                 on_button_hold: Callable[[], None] | None = None,
                 light_seconds: float = LIGHT_S) -> None:
        self.config = config
        self.light_seconds = light_seconds
        self.pin_factory = pin_factory if pin_factory is not None else make_pin_factory(config.pin_factory)
        self.parts: dict = {}
        self.button = None
        try:
            for part, cls, pin, kwargs in (
                ("relay", OutputDevice, config.relay_pin, {"active_high": config.relay_active_high}),
                ("buzzer", Buzzer, config.buzzer_pin, {}),
                ("green", LED, config.green_led_pin, {}),
                ("red", LED, config.red_led_pin, {}),
            ):
                if pin is not None:
                    self.parts[part] = cls(pin, initial_value=False, pin_factory=self.pin_factory, **kwargs)
            if config.button_pin is not None:
                self.button = Button(config.button_pin, hold_time=config.button_hold_seconds,
                                     bounce_time=BUTTON_BOUNCE_S, pin_factory=self.pin_factory)
        except Exception as exc:  # a pin in use twice, a bad pin number, no access
            self._close_parts()
            raise GpioError(f"gpio: {exc}") from None
        if self.button is not None:
            self._wire_button(on_button_press, on_button_hold)
        self._cond = threading.Condition()
        self._next: list[Step] | None = None  # the pattern waiting for the worker
        self._plan: list[tuple[float, str, bool]] = []  # (monotonic time, part, on), in time order
        self._closed = False
        self._worker = self._start_worker()
        atexit.register(self.close)

    # -- the Feedback protocol -------------------------------------------

    def decided(self, decision: Decision) -> None:
        """Play the pattern for `decision` (returns at once).

        The door opens only for :attr:`Decision.opens_door`: a person's pass
        that was recorded (a device in setup mode records nothing; a setup
        QR is no person).
        """
        relay_s = self.config.relay_seconds if decision.opens_door else None
        steps = pattern(decision.result, relay_s=relay_s, light_s=self.light_seconds)
        with self._cond:
            if self._closed:
                return
            self._next = steps
            if not self._worker.is_alive():
                log.error("the GPIO worker had stopped: starting it again")
                self._worker = self._start_worker()
            self._cond.notify_all()

    def status(self, *, online: bool, queue: int, notice: Notice = Notice.NONE, direction: str = "",
               venue: str = "") -> None:
        """The LEDs show results only: nothing to do."""

    def close(self) -> None:
        """Stop the worker, switch everything off (the relay first) and release the pins."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        atexit.unregister(self.close)
        if self._worker is not threading.current_thread():
            self._worker.join(timeout=2)
        self._all_off()
        self._close_parts()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the last pattern has played out; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._next is not None or self._plan:
                left = deadline - time.monotonic()
                if left <= 0 or not self._worker.is_alive():
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    # -- the worker -------------------------------------------------------

    def _start_worker(self) -> threading.Thread:
        worker = threading.Thread(target=self._run, name="ravao-gpio", daemon=True)
        worker.start()
        return worker

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._closed and self._next is None and not self._due():
                        self._cond.wait(self._plan[0][0] - time.monotonic() if self._plan else None)
                    if self._closed:
                        return
                    if self._next is not None:
                        self._start(self._next)
                        self._next = None
                    due, self._plan = self._split_due()
                for _, part, on in due:
                    self.parts[part].value = on
                with self._cond:
                    self._cond.notify_all()  # for wait_idle
        except Exception:
            log.exception("the GPIO worker failed")
        finally:
            # Whatever happened, the door does not stay open.
            with self._cond:
                self._plan = []
                self._next = None
                self._cond.notify_all()
            self._all_off()

    def _start(self, steps: list[Step]) -> None:
        """Replace the plan: indicators off now, then the new pattern's `steps`;
        the relay's pending steps stay unless the new pattern drives it."""
        now = time.monotonic()
        drives_relay = any(s.part == "relay" for s in steps)
        kept = [p for p in self._plan if p[1] == "relay" and not drives_relay]
        new = [(now + s.at, s.part, s.on) for s in steps if s.part in self.parts]
        # Switching off what is already off changes no pin, so this costs nothing.
        stop = [(now, part, False) for part in INDICATORS if part in self.parts]
        self._plan = stop + sorted(kept + new, key=lambda p: p[0])

    def _due(self) -> bool:
        return bool(self._plan) and self._plan[0][0] <= time.monotonic()

    def _split_due(self) -> tuple[list, list]:
        now = time.monotonic()
        cut = next((i for i, p in enumerate(self._plan) if p[0] > now), len(self._plan))
        return self._plan[:cut], self._plan[cut:]

    def _all_off(self) -> None:
        for name, part in self.parts.items():  # the relay is first
            try:
                part.off()
            except Exception:
                log.exception("could not switch the %s off", name)

    def _close_parts(self) -> None:
        for part in [*self.parts.values(), self.button]:
            if part is not None:
                try:
                    part.close()
                except Exception:
                    log.exception("could not release %s", part)

    # -- the button -------------------------------------------------------

    def _wire_button(self, on_press: Callable[[], None] | None, on_hold: Callable[[], None] | None) -> None:
        held = False

        def pressed() -> None:
            nonlocal held
            held = False

        def hold() -> None:
            nonlocal held
            held = True
            _call(on_hold, "hold")

        def released() -> None:
            if not held:
                _call(on_press, "press")

        button = self.button
        assert button is not None  # this is only called when a button is fitted
        button.when_pressed = pressed
        button.when_held = hold
        button.when_released = released


def _call(callback: Callable[[], None] | None, what: str) -> None:
    """Run a button callback; its failure is logged, never raised into gpiozero."""
    if callback is None:
        return
    try:
        callback()
    except Exception:
        log.exception("the button %s handler failed", what)
