"""build_feedback: which parts a config gives, and a part that cannot start."""

from __future__ import annotations

import sys

from appliance.config import parse_config
from appliance.feedback import LogFeedback
from appliance.feedback.factory import build_feedback
from appliance.feedback.gpio import GpioFeedback
from appliance.feedback.oled import OledFeedback

DEVICE = '[device]\nid = "door-01"\nvenue_id = "bv-tw-hue"\nvenue_name = "Bệnh viện Trung ương Huế"\n'


def build(text: str):
    return build_feedback(parse_config(text), on_button_press=lambda: None, on_button_hold=lambda: None)


def kinds(feedback) -> list[type]:
    return [type(part) for part in feedback.parts]


def test_without_pins_or_display_only_the_log():
    fb = build(DEVICE)
    assert kinds(fb) == [LogFeedback]
    fb.close()


def test_pins_and_a_display_give_every_part_gpio_first(tmp_path):
    fb = build(DEVICE + f'[gpio]\npin_factory = "mock"\nbuzzer_pin = 17\nrelay_pin = ""\n'
                        f'[display]\ndriver = "png:{tmp_path}"\n')
    try:
        assert kinds(fb) == [GpioFeedback, OledFeedback, LogFeedback]
        gpio, oled, _ = fb.parts
        assert gpio.parts.keys() == {"buzzer"} and gpio.button is None
        assert oled.venue == "Bệnh viện Trung ương Huế"
    finally:
        fb.close()


def test_a_button_alone_is_enough_for_gpio():
    fb = build(DEVICE + '[gpio]\npin_factory = "mock"\nbutton_pin = 24\n')
    try:
        assert kinds(fb) == [GpioFeedback, LogFeedback]
    finally:
        fb.close()


def test_a_device_without_identity_shows_no_venue(tmp_path):
    fb = build(f'[display]\ndriver = "png:{tmp_path}"\n')
    try:
        assert fb.parts[0].venue == ""
    finally:
        fb.close()


def test_parts_that_cannot_start_are_left_out_with_an_error(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "lgpio", None)
    monkeypatch.delitem(sys.modules, "gpiozero.pins.lgpio", raising=False)
    fb = build(DEVICE + '[gpio]\nbuzzer_pin = 17\n[display]\ndriver = "sh1106"\ni2c_port = 9\n')
    assert kinds(fb) == [LogFeedback]
    assert "lgpio is not installed" in caplog.text
    assert "carrying on without the buzzer, LEDs, relay and button" in caplog.text
    assert "cannot open sh1106 on I2C bus 9" in caplog.text
    fb.close()


def test_the_display_starts_with_the_venue_and_direction_it_is_given(tmp_path):
    fb = build_feedback(parse_config(DEVICE + f'[display]\ndriver = "png:{tmp_path}"\n'),
                        on_button_press=lambda: None, on_button_hold=lambda: None,
                        venue="Chợ Đông Ba", direction="out")
    try:
        assert (fb.parts[0].idle.venue, fb.parts[0].idle.direction) == ("Chợ Đông Ba", "out")
    finally:
        fb.close()
