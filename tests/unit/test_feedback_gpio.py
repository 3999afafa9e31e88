"""GpioFeedback on gpiozero's MockFactory: whole pin state histories for each
result, the relay's safety (crash, close, exit), and the button."""

from __future__ import annotations

import itertools
import sys
import threading
import time

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from appliance.config import GpioConfig
from appliance.decision import Decision, Result
from appliance.feedback.gpio import BEEP_S, ERROR_BEEP_S, GpioError, GpioFeedback, make_pin_factory
from ravao_protocol.credential import Credential
from tests.support.waiting import wait_for

BUZZER, GREEN, RED, RELAY, BUTTON = 17, 27, 22, 23, 24
LIGHT_S = 0.3  # the LEDs' time, shortened for the tests
F, T = False, True


def config(**overrides) -> GpioConfig:
    pins = dict(pin_factory="mock", buzzer_pin=BUZZER, green_led_pin=GREEN, red_led_pin=RED,
                relay_pin=RELAY, relay_seconds=0.2)
    return GpioConfig(**{**pins, **overrides})


def decision(result: Result, *, recorded: bool = True) -> Decision:
    """A decision as the daemon hands it over: a pass or fail carries its event."""
    event = {"seq": 1} if recorded and result in (Result.PASS, Result.FAIL) else None
    return Decision(result, Credential("cccd", "001192004567", name="Nguyễn Thị Hồng Nhung"), "in", event=event)


def states(factory: MockFactory, pin: int) -> list[bool]:
    return [s.state for s in factory.pin(pin).states]


def durations(factory: MockFactory, pin: int, value: bool) -> list[float]:
    """How long the pin stayed at `value` each time it left it (MockPin keeps,
    with each state, the time since the change before it)."""
    history = factory.pin(pin).states
    return [later.timestamp for earlier, later in itertools.pairwise(history) if earlier.state == value]


@pytest.fixture
def factory():
    return MockFactory()


@pytest.fixture
def make(factory):
    made = []

    def make(**overrides) -> GpioFeedback:
        fb = GpioFeedback(config(**overrides), pin_factory=factory, light_seconds=LIGHT_S)
        made.append(fb)
        return fb

    yield make
    for fb in made:
        fb.close()


PATTERNS = {
    #                  buzzer                    green          red            relay
    Result.PASS:      ([F, T, F],                [F, T, F],     [F],           [F, T, F]),
    Result.FAIL:      ([F, T, F, T, F, T, F],    [F],           [F, T, F],     [F]),
    Result.DUPLICATE: ([F, T, F],                [F, T, F],     [F],           [F]),
    Result.ERROR:     ([F, T, F],                [F],           [F, T, F],     [F]),
}
BEEPS = {Result.PASS: [BEEP_S], Result.FAIL: [BEEP_S] * 3, Result.DUPLICATE: [0.04], Result.ERROR: [ERROR_BEEP_S]}


@pytest.mark.parametrize("result", list(PATTERNS), ids=lambda r: r.value)
def test_each_result_plays_its_whole_pattern(make, factory, result):
    fb = make()
    fb.decided(decision(result))
    assert fb.wait_idle(timeout=3)
    assert [states(factory, pin) for pin in (BUZZER, GREEN, RED, RELAY)] == list(PATTERNS[result])
    # Each on-time is measured from the change before it, which may itself have been late.
    for expected, seen in zip(BEEPS[result], durations(factory, BUZZER, True), strict=True):
        assert expected - 0.01 <= seen < expected + 0.1


def test_a_duplicate_of_someone_who_passed_opens_the_door_again(make, factory):
    fb = make()
    again = Decision(Result.DUPLICATE, Credential("cccd", "001192004567"), "in", passed_before=True)
    fb.decided(again)
    assert fb.wait_idle(timeout=3)
    assert [states(factory, pin) for pin in (BUZZER, GREEN, RED, RELAY)] == [[F, T, F], [F, T, F], [F], [F, T, F]]


def test_the_relay_is_held_for_relay_seconds_on_pass(make, factory):
    fb = make(relay_seconds=0.5)
    fb.decided(decision(Result.PASS))
    assert fb.wait_idle(timeout=3)
    [held] = durations(factory, RELAY, True)
    assert 0.5 <= held < 0.6


def test_decided_returns_while_the_pattern_plays(make):
    fb = make()
    fb.decided(decision(Result.ERROR))  # a 0.8 s beep
    assert not fb.wait_idle(timeout=0), "decided() waited for the pattern"
    assert fb.wait_idle(timeout=3)


def test_a_new_decision_cuts_the_previous_pattern_short(make, factory):
    fb = make()
    fb.decided(decision(Result.ERROR))
    assert wait_for(lambda: factory.pin(BUZZER).state)
    time.sleep(0.1)
    fb.decided(decision(Result.FAIL))
    assert fb.wait_idle(timeout=3)
    assert states(factory, BUZZER) == [F, T, F, T, F, T, F, T, F]
    assert durations(factory, BUZZER, True)[0] < ERROR_BEEP_S / 2
    assert states(factory, RED) == [F, T, F, T, F]


def test_a_refusal_right_after_a_pass_leaves_the_door_open_its_full_time(make, factory):
    fb = make(relay_seconds=0.5)
    fb.decided(decision(Result.PASS))
    assert wait_for(lambda: factory.pin(RELAY).state)
    fb.decided(decision(Result.FAIL))
    assert fb.wait_idle(timeout=3)
    assert states(factory, RELAY) == [F, T, F]
    assert durations(factory, RELAY, True)[0] >= 0.5


def test_a_pass_that_was_not_recorded_does_not_open_the_door(make, factory):
    fb = make()  # e.g. a device in setup mode, which has no identity to record under
    fb.decided(decision(Result.PASS, recorded=False))
    assert fb.wait_idle(timeout=3)
    assert states(factory, BUZZER) == [F, T, F]
    assert states(factory, RELAY) == [F]


def test_an_active_low_relay_is_driven_low_to_open(make, factory):
    fb = make(relay_active_high=False)
    assert states(factory, RELAY) == [F, T]  # off = high from the start
    fb.decided(decision(Result.PASS))
    assert fb.wait_idle(timeout=3)
    assert states(factory, RELAY) == [F, T, F, T]
    fb.close()
    assert states(factory, RELAY) == [F, T, F, T]


def test_close_switches_the_relay_off_at_once(make, factory):
    fb = make(relay_seconds=30)
    fb.decided(decision(Result.PASS))
    assert wait_for(lambda: factory.pin(RELAY).state)
    fb.close()  # while 29 s of the pulse are left
    assert states(factory, RELAY) == [F, T, F]
    fb.decided(decision(Result.PASS))  # after close: ignored, no error
    assert states(factory, RELAY) == [F, T, F]


class ShortedPin(MockPin):
    """A pin whose driver fails whenever it is switched on."""

    def _set_state(self, value):
        if value:
            raise OSError("LED shorted")
        super()._set_state(value)


def test_the_relay_goes_off_when_the_worker_crashes(make, factory, caplog):
    factory.pin(GREEN, pin_class=ShortedPin)  # the green LED is switched on after the relay
    fb = make(relay_seconds=30)
    fb.decided(decision(Result.PASS))
    assert wait_for(lambda: len(states(factory, RELAY)) == 3, timeout=2)
    assert states(factory, RELAY) == [F, T, F]
    assert states(factory, BUZZER) == [F, T, F]
    assert "the GPIO worker failed" in caplog.text
    # The next decision gets a new worker.
    fb.decided(decision(Result.FAIL))
    assert fb.wait_idle(timeout=3)
    assert states(factory, RED) == [F, T, F]
    assert states(factory, RELAY) == [F, T, F]




def test_parts_that_are_not_fitted_are_left_alone(factory):
    fb = GpioFeedback(GpioConfig(buzzer_pin=BUZZER), pin_factory=factory)
    try:
        fb.decided(decision(Result.PASS))
        # Done with the beep: nothing waits on the 2 s LED or the 3 s relay that are not there.
        assert fb.wait_idle(timeout=1)
        assert states(factory, BUZZER) == [F, T, F]
        assert {info.name for info in factory.pins} == {f"GPIO{BUZZER}"}
    finally:
        fb.close()


def test_two_parts_on_one_pin_is_a_clear_error(factory):
    with pytest.raises(GpioError, match="gpio:.*GPIO17"):
        GpioFeedback(GpioConfig(buzzer_pin=BUZZER, red_led_pin=BUZZER), pin_factory=factory)


def test_a_missing_gpio_library_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "lgpio", None)  # as on a laptop without it
    monkeypatch.delitem(sys.modules, "gpiozero.pins.lgpio", raising=False)
    with pytest.raises(GpioError, match=r"lgpio is not installed: install lgpio"):
        make_pin_factory("lgpio")


# -- the button ----------------------------------------------------------------


class Presses:
    def __init__(self) -> None:
        self.short, self.held = [], []
        self.any = threading.Event()

    def press(self) -> None:
        self.short.append(time.monotonic())
        self.any.set()

    def hold(self) -> None:
        self.held.append(time.monotonic())
        self.any.set()


@pytest.fixture
def button():
    """A feedback with only a button, held after 0.3 s (the 10 s default is the same code)."""
    factory = MockFactory(pin_class=MockPin)
    presses = Presses()
    fb = GpioFeedback(GpioConfig(button_pin=BUTTON, button_hold_seconds=0.3), pin_factory=factory,
                      on_button_press=presses.press, on_button_hold=presses.hold)
    yield factory.pin(BUTTON), presses
    fb.close()


def test_a_short_press(button):
    pin, presses = button
    pin.drive_low()
    time.sleep(0.05)
    pin.drive_high()
    assert presses.any.wait(2)
    time.sleep(0.5)  # past the hold time: no hold may follow
    assert (len(presses.short), len(presses.held)) == (1, 0)


def test_a_hold_fires_once_and_is_not_also_a_press(button):
    pin, presses = button
    pressed = time.monotonic()
    pin.drive_low()
    assert presses.any.wait(2)
    assert presses.held and presses.held[0] - pressed >= 0.3
    time.sleep(0.7)  # held well past twice the hold time
    pin.drive_high()
    time.sleep(0.2)
    assert (len(presses.short), len(presses.held)) == (0, 1)


def test_a_failing_button_handler_does_not_break_the_button():
    factory = MockFactory(pin_class=MockPin)
    calls = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("handler bug")

    fb = GpioFeedback(GpioConfig(button_pin=BUTTON), pin_factory=factory, on_button_press=broken)
    try:
        pin = factory.pin(BUTTON)
        for _ in range(2):
            pin.drive_low()
            pin.drive_high()
        assert calls == [1, 1]
    finally:
        fb.close()
