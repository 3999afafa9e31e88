"""Setup QRs (and, on a device not yet set up, Wi-Fi QRs): the owner's way
to give a device its identity, broker and network without a keyboard.

A setup QR is applied only if it is genuine, in date, signed by the pinned
owner key (the first one accepted pins its key), and newer than the last one
applied; otherwise nothing changes and the code fails like any other.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from appliance.config import Config, MqttConfig
from appliance.credentials import unknown_credential
from appliance.decision import Decision, Result
from appliance.decoder import DecodedCode
from appliance.state import DeviceState
from appliance.wifi import WifiJoiner, WifiNetwork, WifiQRError, parse_wifi_qr
from ravao_protocol import topics
from ravao_protocol.credential import Credential
from ravao_protocol.envelope import SETUP_PREFIX
from ravao_protocol.refusals import Reason, Refused
from ravao_protocol.settings import DeviceSettings
from ravao_protocol.setup_qr import SetupQR, SetupSettings, verify_setup_qr

log = logging.getLogger("ravao.setup")


def provisioned_config(config: Config, state: DeviceState) -> tuple[DeviceSettings | None, MqttConfig]:
    """The device section and broker in force: the last setup QR's, else the
    config file's; none after a factory reset until the next setup QR."""
    settings = state.provisioned()
    if settings:
        try:
            return settings_to_config(settings, config.mqtt)
        except (ValidationError, KeyError, TypeError) as exc:
            log.error("stored setup settings are unusable (%s); waiting for a setup QR", exc)
            return None, config.mqtt
    if state.was_reset():
        return None, config.mqtt
    return config.device, config.mqtt


def route_of(device: DeviceSettings | None, mqtt: MqttConfig) -> dict[str, Any] | None:
    """Where an identity's events go (its events topic and broker), as kept
    in the device state when the device leaves that identity."""
    if device is None:
        return None
    return {"topic": topics.events(mqtt.topic_prefix, device.venue_id, device.id), "device_id": device.id,
            "venue_id": device.venue_id, "mqtt": mqtt.model_dump()}


def settings_to_config(settings: dict[str, Any], mqtt: MqttConfig) -> tuple[DeviceSettings, MqttConfig]:
    """A setup QR's settings (as the state keeps them) as the config sections
    they replace; ``ValidationError`` or ``TypeError`` if they are unusable."""
    applied = SetupSettings(**{"issued_at": 0, "expires": 0, **settings})
    broker = MqttConfig.model_validate({**mqtt.model_dump(), **applied.broker().model_dump()})
    return applied.device(), broker


def setup_credential(qr: SetupQR) -> Credential:
    """What an event says of an applied setup QR: which token, whose key."""
    return Credential(type="setup", id=qr.token_id, name=qr.settings.venue_name or qr.settings.venue_id,
                      fields={"token_id": qr.token_id, "issuer": qr.signer_id})


class SetupDesk:
    """Recognises setup and Wi-Fi QRs among the codes shown to the camera."""

    def __init__(
        self,
        state: DeviceState,
        *,
        on_applied: Callable[[], None],
        in_setup_mode: Callable[[], bool],
        direction: Callable[[], str],
        route: Callable[[], dict[str, Any] | None] = lambda: None,
        wifi: WifiJoiner | None = None,
        dry_run: bool = False,
    ) -> None:
        self.state = state
        self.route = route  # the current identity's route, kept when a setup QR moves the device
        self.on_applied = on_applied
        self.in_setup_mode = in_setup_mode
        self.direction = direction
        self.wifi = wifi or WifiJoiner()
        self.dry_run = dry_run  # decide as the device would, change nothing (`ravao decode`)

    def intercept(self, code: DecodedCode, now: datetime) -> Decision | None:
        """The decision for a setup or Wi-Fi QR; None for any other code."""
        if code.text.startswith(SETUP_PREFIX):
            return self._setup(code, now)
        if code.text.startswith("WIFI:") and self.in_setup_mode():
            return self._wifi(code)
        return None

    def _fail(self, code: DecodedCode, refusal: Refused) -> Decision:
        log.warning("setup QR refused: %s", refusal)
        return Decision(Result.FAIL, unknown_credential(code.raw), self.direction(), refusal.reason)

    def _setup(self, code: DecodedCode, now: datetime) -> Decision:
        try:
            qr = verify_setup_qr(code.text, now, self.state.pinned_key())
            if qr.settings.issued_at <= self.state.last_setup_iat():
                raise Refused(Reason.EXPIRED, "older than the setup QR already applied")
        except Refused as refusal:
            return self._fail(code, refusal)
        settings = dataclasses.asdict(qr.settings)
        try:
            device, _ = settings_to_config(settings, MqttConfig())
        except ValidationError as exc:
            why = exc.errors()[0]["msg"]
            return self._fail(code, Refused(Reason.MALFORMED, f"settings the device cannot use: {why}"))
        if self.dry_run:
            return Decision(Result.PASS, setup_credential(qr), self.direction())
        leaving = self.route()
        new_topic = topics.events(qr.settings.topic_prefix, device.venue_id, device.id)
        retire = leaving if leaving is not None and leaving["topic"] != new_topic else None
        self.state.apply_setup(qr.signer, settings, qr.settings.issued_at, qr.token_id, retire=retire)
        log.info("setup QR %s applied: device %s of venue %s, broker %s", qr.token_id, device.id, device.venue_id,
                 qr.settings.broker_url)
        if qr.settings.wifi_ssid:
            self.wifi.join(WifiNetwork(qr.settings.wifi_ssid, qr.settings.wifi_psk))
        self.on_applied()
        return Decision(Result.PASS, setup_credential(qr), self.direction())

    def _wifi(self, code: DecodedCode) -> Decision:
        try:
            network = parse_wifi_qr(code.text)
        except WifiQRError as exc:
            return self._fail(code, Refused(Reason.MALFORMED, str(exc)))
        log.info("Wi-Fi QR for %r", network.ssid)
        if not self.dry_run:
            self.wifi.join(network)
        cred = unknown_credential(code.raw)
        return Decision(Result.PASS, Credential(type="wifi", id=cred.id, name=network.ssid), self.direction())
