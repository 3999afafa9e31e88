"""Wi-Fi from a setup QR or a standard Wi-Fi QR, applied through NetworkManager.

A Wi-Fi QR is ``WIFI:T:WPA;S:<ssid>;P:<key>;H:true;;``. Values may carry the
backslash escapes of the ZXing convention (``\\;``, ``\\,``, ``\\:``,
``\\\\``, ``\\"``) and the ``%XX`` escapes of the WPA3 specification; both
are undone (a literal ``%`` followed by two hex digits is read as an escape).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from ravao_protocol.fields import wpa_key

log = logging.getLogger("ravao.wifi")

_PCT = re.compile(rb"%[0-9A-Fa-f]{2}")
NMCLI_TIMEOUT_S = 60


class WifiQRError(ValueError):
    """Not a usable Wi-Fi QR."""


@dataclass(frozen=True)
class WifiNetwork:
    """A network to join. `psk` empty: an open network."""

    ssid: str
    psk: str = ""
    hidden: bool = False


def _fields(body: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key, value, escaped, in_value = "", [], False, False
    for ch in body:
        if escaped:
            value.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif not in_value and ch == ":":
            in_value = True
        elif ch == ";":
            if key:
                fields[key.upper()] = "".join(value)
            key, value, in_value = "", [], False
        elif in_value:
            value.append(ch)
        else:
            key += ch
    if escaped or (key and in_value):
        raise WifiQRError("unterminated field")
    return fields


def _pct_decode(value: str) -> str:
    raw = value.encode("utf-8")
    if not _PCT.search(raw):
        return value
    decoded = _PCT.sub(lambda m: unquote_to_bytes(m.group(0)), raw)
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise WifiQRError("%-escapes that are not UTF-8") from None


def parse_wifi_qr(text: str) -> WifiNetwork:
    """The network in a ``WIFI:`` QR; WifiQRError if it is not one we can use."""
    if not text.startswith("WIFI:") or len(text) > 512:
        raise WifiQRError("not a Wi-Fi QR")
    fields = _fields(text[5:])
    ssid = _pct_decode(fields.get("S", ""))
    psk = _pct_decode(fields.get("P", ""))
    kind = fields.get("T", "WPA" if psk else "nopass").upper()
    if not ssid or len(ssid.encode("utf-8")) > 32:
        raise WifiQRError("the network name is missing or longer than 32 bytes")
    if kind in ("WPA", "WPA2", "WPA3", "SAE"):
        try:
            if not psk:
                raise ValueError("a WPA network has a key")
            wpa_key(psk)
        except ValueError:
            raise WifiQRError("a WPA key is 8-63 printable ASCII characters or 64 hex digits") from None
    elif kind == "NOPASS":
        psk = ""
    else:
        raise WifiQRError(f"Wi-Fi security {kind!r} is not supported")
    if any(ord(c) < 32 for c in ssid + psk):
        raise WifiQRError("control characters in the network name or key")
    return WifiNetwork(ssid, psk, fields.get("H", "").lower() == "true")


class WifiJoiner:
    """Joins networks with ``nmcli`` (the one on PATH), on a thread of its own."""

    def __init__(self, nmcli: str = "nmcli") -> None:
        self.nmcli = nmcli

    def join(self, network: WifiNetwork) -> threading.Thread:
        """Start joining `network`; returns at once (the thread, for tests)."""
        thread = threading.Thread(target=self._join, args=(network,), name="ravao-wifi", daemon=True)
        thread.start()
        return thread

    def _join(self, network: WifiNetwork) -> None:
        program = shutil.which(self.nmcli)
        if program is None:
            log.error("cannot join Wi-Fi %r: nmcli (NetworkManager) is not installed", network.ssid)
            return
        args = [program, "--wait", "30", "device", "wifi", "connect", network.ssid]
        if network.psk:
            args += ["password", network.psk]
        if network.hidden:
            args += ["hidden", "yes"]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=NMCLI_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.error("joining Wi-Fi %r failed: %s", network.ssid, exc)
            return
        if done.returncode == 0:
            log.info("joined Wi-Fi %r", network.ssid)
        else:
            log.error("joining Wi-Fi %r failed: %s", network.ssid, done.stderr.strip()[:200])
