"""The config file: the contract's example loads; every mistake is one line naming the key."""

from __future__ import annotations

import re

import pytest

from appliance.config import ConfigError, load_config, parse_config

CONTRACT_EXAMPLE = '''
[device]
id = "door-01"
venue_id = "bv-tw-hue"
venue_name = "Bệnh viện Trung ương Huế"
mode = "door"
direction = "in"
vehicle = ""
route = ""

[camera]
source = "picamera2"
width = 640
height = 480
fps = 30

[decoder]
backend = "zxing"

[mqtt]
url = "mqtt://127.0.0.1:1883"
username = ""
password = ""
ca_file = ""
cert_file = ""
key_file = ""
topic_prefix = "ravao"

[storage]
state_dir = "/var/lib/ravao"
retention_days = 14

[policy]
accept = ["cccd", "pass"]
dedupe_seconds = 10
trusted_keys = []
'''


def test_contract_example_loads():
    config = parse_config(CONTRACT_EXAMPLE)
    assert config.device.venue_name == "Bệnh viện Trung ương Huế"
    assert config.camera.source == "picamera2" and config.decoder.backend == "zxing"
    assert config.policy.accept == ["cccd", "pass"] and config.storage.retention_days == 14


def test_no_device_section_means_waiting_for_setup():
    assert parse_config("").device is None


@pytest.mark.parametrize("text, message", [
    ('[mqtt]\nurll = "x"\n', "mqtt.urll: unknown key"),
    ('[camra]\nsource = "picamera2"\n', "camra: unknown key"),
    ('[decoder]\nbackend = "opencv"\n', "decoder.backend:"),
    ('[camera]\nwidth = "wide"\n', "camera.width:"),
    ('[camera]\nsource = "usb:0"\n', "camera.source: unknown camera source"),
    ('[camera]\nsource = "images:/x?hold=0"\n', "camera.source: camera source option hold='0' is out of range"),
    ('[camera]\nsource = "images:/x?speed=2"\n', "camera.source: camera source option 'speed'"),
    ('[mqtt]\nurl = "http://broker"\n', "mqtt.url: broker URL must start with mqtt://"),
    ('[mqtt]\nurl = "mqtt://broker:99999"\n', "mqtt.url: broker URL has a bad port"),
    ('[device]\nid = "a/b"\nvenue_id = "v"\n', "device.id:"),
    ('[device]\nvenue_id = "v"\n', "device.id: Field required"),
    ('[policy]\naccept = ["cccd", "passport"]\n', "policy.accept.1:"),
    ('[gpio]\nbuzzer_pin = "x"\n', "gpio.buzzer_pin:"),
    ("[device\n", "not valid TOML"),
    ("[storage]\nretention_days = inf\n", "storage.retention_days: must be a finite number"),
    ("[policy]\ndedupe_seconds = nan\n", "policy.dedupe_seconds: must be a finite number"),
    ("[camera]\nfps = -inf\n", "camera.fps: must be a finite number"),
])
def test_bad_config_names_the_key(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "device.toml")
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith("device.toml: ")
    assert message in line


def test_empty_pin_means_not_fitted():
    config = parse_config('[gpio]\nbuzzer_pin = ""\nrelay_pin = 23\n')
    assert config.gpio.buzzer_pin is None and config.gpio.relay_pin == 23


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[device]\nid = "\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)




def test_every_mistake_is_named_at_once():
    text = '[camera]\nfps = "fast"\nwidth = 99999\n\n[mqtt]\nurl = "http://x"\nkeepalive = 1.5\n\n[polcy]\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "device.toml")
    message = str(caught.value)
    assert "\n" not in message
    for part in ("camera.fps: must be a number (not 'fast')", "camera.width:", "mqtt.url: broker URL must start",
                 "mqtt.keepalive: must be a whole number", "polcy: unknown key"):
        assert part in message, (part, message)


@pytest.mark.parametrize("source, message", [
    ("images:/x?fps=fast", "fps='fast' is not a number"),
    ("images:/x?hold=two", "hold='two' is not a whole number"),
    ("images:/x?fps=nan", "fps='nan' is out of range"),
    ("images:/x?fps=5000", "fps='5000' is out of range (0 to 1000)"),
])
def test_source_options_say_what_is_wrong(source, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(f'[camera]\nsource = "{source}"\n')
