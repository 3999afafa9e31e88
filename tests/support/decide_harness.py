"""The device's decision path without camera, outbox or network: decoded
bytes → Checkpoint.decide → Decision, wired the way appliance.daemon.Daemon
wires it (classifier from trust.formats_for, accept list, dedupe, directions,
SetupDesk.intercept over a real DeviceState). For the fuzz and attack tests
and bench/fuzz_atheris.py.
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.config import Config, parse_config
from appliance.daemon import directions_for
from appliance.decision import Decision, Result
from appliance.decision_path import build_decision_path
from appliance.decoder import DecodedCode, text_of
from appliance.setup_desk import provisioned_config
from appliance.state import DeviceState
from appliance.wifi import WifiJoiner, WifiQRError, parse_wifi_qr
from ravao_protocol.refusals import Reason
from ravao_protocol.setup_qr import SetupSettings, make_setup_qr

# A program that is on no PATH: a Wi-Fi QR that is (wrongly or rightly)
# joined only logs "nmcli is not installed"; nothing runs.
NO_NMCLI = "ravao-test-no-such-nmcli-program"

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z
NOW = datetime.fromtimestamp(T0, UTC)

# The reasons the contract allows on a fail.
CONTRACT_REASONS = frozenset(r.value for r in Reason)
assert CONTRACT_REASONS == {"unsupported", "malformed", "bad_signature", "unknown_issuer", "expired",
                            "not_yet_valid", "revoked", "not_accepted"}

# Exactly the keys of each credential type's event object (the contract's,
# plus the two opt-in CCCD fields).
CREDENTIAL_KEYS = {
    "cccd": {"type", "id", "name", "dob", "sex"},
    "pass": {"type", "id", "name", "token_id", "issuer"},
    "unknown": {"type", "sha256", "length"},
    "setup": {"type", "token_id", "issuer"},
    "wifi": {"type"},
}


def setup_settings(iat: int, *, device_id: str = "door-01", **extra: Any) -> SetupSettings:
    return SetupSettings(device_id=device_id, venue_id="bv-hue", venue_name="Bệnh viện Huế",
                         broker_url="mqtt://127.0.0.1:1", issued_at=iat, expires=iat + 3600, **extra)


def setup_qr(owner: Ed25519PrivateKey, iat: int, **extra: Any) -> str:
    return make_setup_qr(setup_settings(iat, **extra), owner)


class DecidePath:
    """One device's decide() path over a DeviceState in `state_dir`.

    `device=False`: a new device (no [device] section), in setup mode until a
    setup QR is applied. `privacy`: the [privacy] section's two switches.
    """

    def __init__(self, state_dir: Path, *, device: bool = True, address: bool = False, old_id: bool = False,
                 trusted_keys: tuple[Path, ...] = ()) -> None:
        toml = ""
        if device:
            toml += '[device]\nid = "door-01"\nvenue_id = "bv-hue"\nvenue_name = "Bệnh viện"\ndirection = "in"\n\n'
        toml += f'[storage]\nstate_dir = "{state_dir}"\n\n[camera]\nsource = "images:{state_dir}"\n\n'
        keys = ", ".join(f'"{p}"' for p in trusted_keys)
        toml += f"[policy]\ndedupe_seconds = 10\ntrusted_keys = [{keys}]\n\n"
        toml += f"[privacy]\ncccd_address = {str(address).lower()}\ncccd_old_id = {str(old_id).lower()}\n"
        self.config: Config = parse_config(toml)
        self.state_dir = Path(state_dir)
        self.state = DeviceState(self.state_dir)
        self.applied = 0
        self.device, self.mqtt = provisioned_config(self.config, self.state)
        # Fixed "in"/"out" or a button never touch the outbox (toggle would).
        assert self.device is None or self.device.direction != "toggle"
        self.path = build_decision_path(self.config, self.state, directions_for(self.device, None),  # type: ignore[arg-type]
                                        in_setup_mode=lambda: self.device is None, on_applied=self._provisioned,
                                        wifi=WifiJoiner(NO_NMCLI))
        self.checkpoint = self.path.checkpoint
        self._mono = 0.0

    def _provisioned(self) -> None:
        # What Daemon._provisioned does that matters to decide().
        self.applied += 1
        self.device, self.mqtt = provisioned_config(self.config, self.state)
        self.path.keyring.refresh()
        self.path.use_directions(directions_for(self.device, None))  # type: ignore[arg-type]

    @property
    def in_setup_mode(self) -> bool:
        return self.device is None

    def joins_wifi(self, text: str) -> bool:
        """Whether `text` is a Wi-Fi QR this device joins (the one genuinely
        valid input that random prefixes can make)."""
        if not (self.in_setup_mode and text.startswith("WIFI:")):
            return False
        try:
            parse_wifi_qr(text)
        except WifiQRError:
            return False
        return True

    def decide(self, raw: bytes, text: str | None = None, now: datetime = NOW) -> Decision:
        """The decision on `raw` newly shown (text as the decoders make it)."""
        self._mono += 1.0
        return self.checkpoint.decide(DecodedCode(raw, text_of(raw) if text is None else text), self._mono, now)

    def show(self, text: str, now: datetime = NOW) -> Decision:
        return self.decide(text.encode("utf-8"), text, now)

    # -- what must not change -------------------------------------------

    def snapshot(self) -> dict[str, bytes]:
        """Every file of the state folder, byte for byte."""
        if not self.state_dir.exists():
            return {}
        return {p.name: p.read_bytes() for p in sorted(self.state_dir.iterdir()) if p.is_file()}

    def pinned_pem(self) -> bytes | None:
        key = self.state.pinned_key()
        if key is None:
            return None
        return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def close(self) -> None:
        self.state.close()


def control_or_format(value: str) -> list[str]:
    """The characters of `value` in Unicode category C (Cc, Cf, Cs, Co, Cn)."""
    return [f"U+{ord(ch):04X}" for ch in value if unicodedata.category(ch)[0] == "C"]


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings_in(v)]
    return []


def check_credential(decision: Decision, raw: bytes, *, address: bool = False, old_id: bool = False) -> None:
    """What every decision's event credential must satisfy, whatever the input."""
    obj = decision.credential.event_object()
    kind = obj["type"]
    assert kind in CREDENTIAL_KEYS, f"unexpected credential type {kind!r}"
    allowed = set(CREDENTIAL_KEYS[kind])
    if kind == "cccd":
        allowed |= {"address"} if address else set()
        allowed |= {"old_id"} if old_id else set()
    assert set(obj) == allowed, f"{kind} credential keys {sorted(obj)} != {sorted(allowed)}"
    if kind == "unknown":
        assert obj["sha256"] == hashlib.sha256(raw).hexdigest() and obj["length"] == len(raw)
    for s in strings_in(obj):
        assert not control_or_format(s), (
            f"BUG: the event credential carries control/format characters {control_or_format(s)} in {s!r}")


def check_refused(decision: Decision, raw: bytes, **privacy: bool) -> None:
    """A fail with one of the contract's reasons, and a sound credential."""
    assert decision.result is Result.FAIL, f"{decision.result} for {raw[:80]!r}"
    assert decision.reason is not None and decision.reason.value in CONTRACT_REASONS, decision.reason
    assert decision.direction in ("in", "out")
    check_credential(decision, raw, **privacy)
