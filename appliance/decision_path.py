"""The decision path, built in one place: decode → classify → verify → decide.

The daemon, ``ravao decode`` and the tests all get theirs from
:func:`build_decision_path`, so what a device decides and what ``decode``
says it would decide cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.checkpoint import Checkpoint
from appliance.config import Config
from appliance.credentials import Classifier
from appliance.decision import Decision
from appliance.decoder import DecodedCode, Decoder, make_decoder
from appliance.directions import Directions
from appliance.setup_desk import SetupDesk
from appliance.state import DeviceState
from appliance.trust import Keyring, formats_for
from appliance.wifi import WifiJoiner


@dataclass
class DecisionPath:
    """One device's decoder, trusted keys, setup desk and checkpoint."""

    decoder: Decoder
    keyring: Keyring
    desk: SetupDesk
    checkpoint: Checkpoint

    def decide(self, code: DecodedCode, mono: float, now: datetime) -> Decision:
        """The decision on one code newly shown."""
        return self.checkpoint.decide(code, mono, now)

    def use_directions(self, directions: Directions) -> None:
        """Decide directions with `directions` from now on (a setup QR changed them)."""
        self.checkpoint.directions = directions


def build_decision_path(
    config: Config,
    state: DeviceState,
    directions: Directions,
    *,
    in_setup_mode: Callable[[], bool],
    on_applied: Callable[[], None] = lambda: None,
    route: Callable[[], dict[str, Any] | None] = lambda: None,
    wifi: WifiJoiner | None = None,
    dry_run: bool = False,
    backend: str | None = None,
    dedupe_seconds: float | None = None,
) -> DecisionPath:
    """The decision path of the device that `config` and `state` describe.

    `dry_run` decides as the device would and changes nothing (a setup QR is
    checked, not applied); `backend` and `dedupe_seconds` override the config's.
    """
    keyring = Keyring(state, config.policy.trusted_keys)
    checkpoint: Checkpoint
    desk = SetupDesk(state, on_applied=on_applied, in_setup_mode=in_setup_mode,
                     direction=lambda: checkpoint.directions.shown or "in", route=route, wifi=wifi, dry_run=dry_run)
    checkpoint = Checkpoint(
        Classifier(formats_for(config, state, keyring)),
        accept=config.policy.accept,
        dedupe_seconds=config.policy.dedupe_seconds if dedupe_seconds is None else dedupe_seconds,
        directions=directions,
        intercept=desk.intercept,
    )
    return DecisionPath(make_decoder(backend or config.decoder.backend), keyring, desk, checkpoint)
