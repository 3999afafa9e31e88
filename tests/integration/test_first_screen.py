"""The daemon's first idle screen already names the venue and the direction
the next check-in takes (it used to leave the direction out until the first
status change)."""

from __future__ import annotations

import pytest

from appliance.config import parse_config
from appliance.daemon import Daemon
from appliance.feedback.oled import OledFeedback


@pytest.mark.parametrize("direction", ["in", "out"])
def test_the_daemon_starts_its_display_with_its_direction(tmp_path, direction):
    toml = (f'[device]\nid = "door-01"\nvenue_id = "bv-hue"\nvenue_name = "Bệnh viện"\ndirection = "{direction}"\n'
            f'[storage]\nstate_dir = "{tmp_path / "state"}"\n[camera]\nsource = "images:{tmp_path}"\n'
            f'[display]\ndriver = "png:{tmp_path / "screens"}"\n')
    daemon = Daemon(parse_config(toml))
    try:
        (oled,) = [part for part in daemon.feedback.parts if isinstance(part, OledFeedback)]
        assert (oled.idle.venue, oled.idle.direction) == ("Bệnh viện", direction)
    finally:
        daemon.close()
