"""A real Mosquitto broker for tests, on 127.0.0.1 and a free port.

    with Mosquitto(tmp_path, extra_conf="allow_anonymous true\\n") as broker:
        client.connect(broker.host, broker.port)

The config file is ``listener PORT 127.0.0.1``, ``persistence false``, and
`extra_conf` (password_file, acl_file, allow_anonymous, …). The broker's log
is in ``broker.log_path``; :meth:`Mosquitto.log` reads it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """Starts ``mosquitto -c CONF`` on entry, waits until it accepts
    connections, and stops it on exit."""

    host = "127.0.0.1"

    def __init__(self, tmp_path: str | Path, port: int | None = None, extra_conf: str = "") -> None:
        self.binary = shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
        )
        if self.binary is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.dir = Path(tmp_path)
        self.port = port or free_port()
        self.conf_path = self.dir / f"mosquitto-{self.port}.conf"
        self.log_path = self.dir / f"mosquitto-{self.port}.log"
        self.extra_conf = extra_conf
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://{self.host}:{self.port}"

    def log(self) -> str:
        """What the broker has logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _write_conf(self) -> None:
        lines = [f"listener {self.port} {self.host}", "persistence false", "log_dest stderr", "log_type all"]
        if os.geteuid() == 0:
            # Run as root would drop to the mosquitto user, who cannot read
            # files under the test's private tmp_path.
            lines.append("user root")
        self.conf_path.write_text("\n".join(lines) + "\n" + self.extra_conf + "\n")

    def start(self) -> Mosquitto:
        """Start the broker and wait until its port accepts connections."""
        self._write_conf()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.conf_path)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not accept connections within {START_TIMEOUT} s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
