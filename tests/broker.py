"""A real Mosquitto for the tests, on 127.0.0.1 and a free port, and a
subscriber that collects what it receives."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, *, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class Broker:
    """A mosquitto process with its own config; start, stop and restart it."""

    def __init__(self, workdir: Path, *, port: int | None = None, extra_conf: str = "",
                 anonymous: bool = True) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed: apt-get install mosquitto (the dev script does)")
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if anonymous else 'false'}\n"
            "persistence false\n"
            f"log_dest file {self.workdir / 'mosquitto.log'}\n"
            + extra_conf
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Subscriber:
    """A paho client that keeps every message on `topic` (QoS 1)."""

    def __init__(self, port: int, topic: str = "#", *, username: str = "", password: str = "",
                 echo: Callable[[str, bytes], None] | None = None) -> None:
        self.echo = echo
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscriber could not subscribe")

    def _on_message(self, client, userdata, msg) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload, msg.retain))
            self._cond.notify_all()
        if self.echo is not None:
            self.echo(msg.topic, msg.payload)

    def events(self) -> list[dict]:
        """Every check-in event received so far, as parsed JSON, in arrival order."""
        with self._cond:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/events")]

    def statuses(self) -> list[dict]:
        with self._cond:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/status")]

    def wait_events(self, count: int, timeout: float = 20.0) -> list[dict]:
        """Wait until `count` distinct event_ids arrived (or the timeout); return all events."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len({e["event_id"] for e in self._events_locked()}) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        return self.events()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until `count` messages of any kind arrived; True if they did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _events_locked(self) -> list[dict]:
        return [json.loads(p) for t, p, _ in self.messages if t.endswith("/events")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
