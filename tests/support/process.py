"""The `ravao` command line as a real process, and a simulated device's config text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

RAVAO = [sys.executable, "-m", "ravao"]


def device_config(state_dir: Path, source: str, broker_url: str, *, backend: str = "zxing",
                  device: str = 'id = "door-01"\nvenue_id = "bv-tw-hue"\nvenue_name = "Bệnh viện Trung ương Huế"\n',
                  extra: str = "") -> str:
    """A config file's text for a simulated device."""
    return (
        (f"[device]\n{device}\n" if device else "")
        + f'[camera]\nsource = "{source}"\n\n'
        + f'[decoder]\nbackend = "{backend}"\n\n'
        + f'[mqtt]\nurl = "{broker_url}"\n\n'
        + f'[storage]\nstate_dir = "{state_dir}"\n\n'
        + extra
    )


def run_ravao(*args: str, timeout: float = 60, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`ravao ARGS…` as a separate process; output captured as text."""
    return subprocess.run([*RAVAO, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})}, **kwargs)
