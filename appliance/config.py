"""The device's TOML config file: one typed model per section.

Unknown keys are errors that name the key; :func:`load_config` turns every
problem into one :class:`ConfigError` line for the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ravao_protocol.configfile import ConfigError, load_toml, parse_toml
from ravao_protocol.settings import BrokerSettings, DeviceSettings


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Pin = int | None


def _pin(value: object) -> object:
    """A BCM pin number; "" (the contract's "not connected") becomes None."""
    if value == "" or value is None:
        return None
    return value


class CameraConfig(Section):
    """Where frames come from: picamera2, v4l2:/dev/videoN, images:DIR, video:FILE."""

    source: str = "picamera2"
    width: int = Field(640, ge=16, le=4096)
    height: int = Field(480, ge=16, le=4096)
    fps: float = Field(30, gt=0, le=120)

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        from appliance.sources import parse_source

        parse_source(value)  # raises ValueError naming the problem
        return value


class DecoderConfig(Section):
    """Which QR decoder reads the frames."""

    backend: Literal["zxing", "zbar", "zxing+zbar"] = "zxing"


class MqttConfig(BrokerSettings):
    """The broker the device sends its events to (``[mqtt]``): the shared broker
    settings, and how this device connects."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    keepalive: int = Field(30, ge=5, le=3600)
    inflight: int = Field(100, ge=1, le=1000)  # events published and not yet acknowledged

    @model_validator(mode="after")
    def _cert_and_key(self) -> MqttConfig:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together")
        return self


class StorageConfig(Section):
    """Where the outbox and the device state live."""

    state_dir: str = "/var/lib/ravao"
    retention_days: float = Field(14, ge=0)


def usable_state_dir(storage: StorageConfig) -> Path:
    """The state folder, created if missing; a :class:`ConfigError` naming
    ``storage.state_dir`` if it cannot be used."""
    path = Path(storage.state_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"storage.state_dir = {str(path)!r} is a file, not a folder") from None
    except OSError as exc:
        raise ConfigError(f"storage.state_dir = {str(path)!r} cannot be created: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"storage.state_dir = {str(path)!r} is not writable by this user")
    return path


class PolicyConfig(Section):
    """What passes."""

    accept: list[Literal["cccd", "pass"]] = ["cccd", "pass"]
    dedupe_seconds: float = Field(10, ge=0, le=86400)
    trusted_keys: list[str] = []


class PrivacyConfig(Section):
    """Personal data beyond the contract's minimum, sent only when asked for."""

    cccd_address: bool = False
    cccd_old_id: bool = False


class GpioConfig(Section):
    """Buzzer, LEDs, door relay and button (BCM numbers; "" = not fitted)."""

    pin_factory: Literal["lgpio", "rpigpio", "mock"] = "lgpio"
    buzzer_pin: Pin = None
    green_led_pin: Pin = None
    red_led_pin: Pin = None
    relay_pin: Pin = None
    relay_active_high: bool = True
    relay_seconds: float = Field(3.0, gt=0, le=60)
    button_pin: Pin = None
    button_hold_seconds: float = Field(10.0, gt=0, le=120)

    _empty_pins = field_validator(
        "buzzer_pin", "green_led_pin", "red_led_pin", "relay_pin", "button_pin", mode="before"
    )(_pin)


class DisplayConfig(Section):
    """The OLED: none, ssd1306, sh1106, or png:DIR (each new screen as a PNG)."""

    driver: str = "none"
    i2c_port: int = Field(1, ge=0, le=20)
    i2c_address: int = Field(0x3C, ge=0x03, le=0x77)
    language: Literal["vi", "en"] = "vi"
    result_seconds: float = Field(3.0, gt=0, le=60)

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value in ("none", "ssd1306", "sh1106") or (value.startswith("png:") and len(value) > 4):
            return value
        raise ValueError("must be none, ssd1306, sh1106 or png:DIR")


class Config(Section):
    """The whole config file."""

    device: DeviceSettings | None = None  # absent on a new device: it waits for a setup QR
    camera: CameraConfig = CameraConfig()
    decoder: DecoderConfig = DecoderConfig()
    mqtt: MqttConfig = MqttConfig()
    storage: StorageConfig = StorageConfig()
    policy: PolicyConfig = PolicyConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    gpio: GpioConfig = GpioConfig()
    display: DisplayConfig = DisplayConfig()


def parse_config(text: str, origin: str = "config") -> Config:
    """Parse TOML text into a :class:`Config`, or raise :class:`ConfigError`."""
    return parse_toml(text, Config, origin)


def load_config(path: str | Path) -> Config:
    """Read and check the config file at `path`."""
    return load_toml(path, Config)
