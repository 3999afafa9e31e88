"""Builds the device's feedback from its config: the log always, and the
GPIO parts and the display where the config names them."""

from __future__ import annotations

import logging
from collections.abc import Callable

from appliance.config import Config, GpioConfig
from appliance.feedback import FanOut, Feedback, LogFeedback
from appliance.feedback.fonts import FontMissing
from appliance.feedback.gpio import GpioError, GpioFeedback
from appliance.feedback.oled import DisplayError, OledFeedback

log = logging.getLogger("ravao.feedback")


def gpio_fitted(gpio: GpioConfig) -> bool:
    """Whether the config names any GPIO pin."""
    return any(pin is not None for pin in (gpio.buzzer_pin, gpio.green_led_pin, gpio.red_led_pin,
                                           gpio.relay_pin, gpio.button_pin))


def build_feedback(config: Config, *, on_button_press: Callable[[], None],
                   on_button_hold: Callable[[], None], venue: str | None = None, direction: str = "") -> Feedback:
    """Every feedback part the config asks for, driven as one. The first idle
    screen shows `venue` (default: the config's) and `direction` ("in" | "out"
    | "": it depends on the person).

    The GPIO comes first, so the beep and the door are not delayed by the
    others. A part that cannot be set up (no GPIO access, no display on the
    bus, the font missing) is logged as an error and left out: the device
    still records check-ins without it.
    """
    parts: list[Feedback] = []
    if gpio_fitted(config.gpio):
        try:
            parts.append(GpioFeedback(config.gpio, on_button_press=on_button_press, on_button_hold=on_button_hold))
        except GpioError as exc:
            log.error("%s; carrying on without the buzzer, LEDs, relay and button", exc)
    if config.display.driver != "none":
        if venue is None:
            venue = config.device.venue_name if config.device is not None else ""
        try:
            parts.append(OledFeedback(config.display, venue, direction=direction))
        except (DisplayError, FontMissing) as exc:
            log.error("%s; carrying on without the display", exc)
    parts.append(LogFeedback())
    return FanOut(parts)
