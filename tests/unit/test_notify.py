"""appliance.notify against real Unix datagram sockets (path and abstract)."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass

import pytest

from appliance.notify import Notifier


@dataclass
class Listener:
    """The systemd side: a datagram socket and the NOTIFY_SOCKET value naming it."""

    sock: socket.socket
    env: str

    def recv(self, timeout: float = 2.0) -> str:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except TimeoutError:
            pytest.fail(f"no notify message within {timeout} s")

    def pending(self) -> list[str]:
        """Messages already queued, without waiting."""
        out = []
        self.sock.setblocking(False)
        while True:
            try:
                out.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return out

    def collect(self, seconds: float) -> list[tuple[float, str]]:
        """(monotonic time, message) for everything arriving within `seconds`."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                break
            out.append((time.monotonic(), data.decode()))
        return out


def _bind(kind: str) -> tuple[socket.socket, str, str | None]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "path":
        # tmp_path can exceed the 108-byte limit of a socket path.
        folder = tempfile.mkdtemp(prefix="ravao-notify-", dir="/tmp")
        path = os.path.join(folder, "notify")
        sock.bind(path)
        return sock, path, folder
    name = f"ravao-test-{uuid.uuid4().hex}"
    sock.bind("\0" + name)
    return sock, "@" + name, None


@pytest.fixture(params=["path", "abstract"])
def listener(request):
    sock, env, folder = _bind(request.param)
    yield Listener(sock, env)
    sock.close()
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_without_socket_every_method_is_a_no_op():
    n = Notifier.from_env({"WATCHDOG_USEC": "1000000"})
    assert not n.enabled
    assert not n.watchdog_enabled
    n.ready()
    n.status("scanning")
    n.watchdog()
    n.stopping()
    n.close()


def test_from_env_reads_os_environ(monkeypatch, listener):
    monkeypatch.setenv("NOTIFY_SOCKET", listener.env)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    n = Notifier.from_env()
    assert n.enabled and n.watchdog_enabled
    n.ready()
    assert listener.recv() == "READY=1"


def test_ready_status_stopping_arrive(listener):
    n = Notifier.from_env({"NOTIFY_SOCKET": listener.env})
    assert n.enabled
    n.ready()
    assert listener.recv() == "READY=1"
    n.status("online, 3 unsent")
    assert listener.recv() == "STATUS=online, 3 unsent"
    n.ready(status="scanning")
    assert listener.recv() == "READY=1\nSTATUS=scanning"
    n.stopping()
    assert listener.recv() == "STOPPING=1"
    n.close()
    n.ready()
    assert listener.pending() == []


def test_status_is_one_line(listener):
    n = Notifier.from_env({"NOTIFY_SOCKET": listener.env})
    n.status("camera lost\nretrying\r\nin 5 s\n")
    assert listener.recv() == "STATUS=camera lost retrying in 5 s"
    n.status("Bệnh viện\0 Huế")
    assert listener.recv() == "STATUS=Bệnh viện Huế"


def test_watchdog_message_arrives(listener):
    n = Notifier.from_env({"NOTIFY_SOCKET": listener.env, "WATCHDOG_USEC": "2000000"})
    assert n.watchdog_enabled
    n.watchdog()
    assert listener.recv() == "WATCHDOG=1"


def test_watchdog_sends_at_most_once_per_half_timeout(listener):
    clock = FakeClock()
    n = Notifier(listener.env, watchdog_usec=1_000_000, clock=clock)
    for _ in range(1000):
        n.watchdog()
    assert listener.pending() == ["WATCHDOG=1"]
    clock.now += 0.49
    n.watchdog()
    assert listener.pending() == []
    clock.now += 0.01
    for _ in range(10):
        n.watchdog()
    assert listener.pending() == ["WATCHDOG=1"]


@pytest.mark.parametrize("usec", ["", "0", "-5", "soon"])
def test_watchdog_off_without_a_valid_timeout(listener, usec):
    n = Notifier.from_env({"NOTIFY_SOCKET": listener.env, "WATCHDOG_USEC": usec})
    assert n.enabled and not n.watchdog_enabled
    n.watchdog()
    n.ready()
    assert listener.recv() == "READY=1"  # and no WATCHDOG=1 before it
    assert listener.pending() == []


def test_watchdog_pid_of_another_process_disables_keepalives(listener):
    env = {"NOTIFY_SOCKET": listener.env, "WATCHDOG_USEC": "1000000"}
    ours = Notifier.from_env({**env, "WATCHDOG_PID": str(os.getpid())})
    assert ours.watchdog_enabled
    other = Notifier.from_env({**env, "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.enabled and not other.watchdog_enabled
    other.watchdog()
    other.ready()
    assert listener.recv() == "READY=1"


def test_unusable_address_disables(caplog):
    with caplog.at_level(logging.WARNING, logger="ravao.notify"):
        n = Notifier.from_env({"NOTIFY_SOCKET": "relative/notify", "WATCHDOG_USEC": "1000000"})
    assert not n.enabled and not n.watchdog_enabled
    assert "NOTIFY_SOCKET" in caplog.text
    n.ready()


def test_send_failure_never_raises_and_warns_once(caplog, tmp_path):
    n = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens"),
                           "WATCHDOG_USEC": "1000000"})
    with caplog.at_level(logging.WARNING, logger="ravao.notify"):
        n.ready()
        n.status("x")
        n.watchdog()
        n.stopping()
    warnings = [r for r in caplog.records if r.name == "ravao.notify"]
    assert len(warnings) == 1
    assert "READY" in warnings[0].getMessage()


def test_failed_keepalive_is_retried_on_the_next_call():
    sock, env, folder = _bind("path")
    sock.close()
    os.unlink(env)  # nobody listens yet
    try:
        clock = FakeClock()
        n = Notifier(env, watchdog_usec=10_000_000, clock=clock)
        n.watchdog()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(env)
        n.watchdog()  # same instant: the failed one does not count
        assert Listener(sock, env).recv() == "WATCHDOG=1"
        sock.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_never_blocks_when_the_queue_is_full(caplog, listener):
    n = Notifier.from_env({"NOTIFY_SOCKET": listener.env})

    def flood() -> None:
        for i in range(5000):  # far beyond net.unix.max_dgram_qlen; nobody reads
            n.status(f"message {i}")

    with caplog.at_level(logging.WARNING, logger="ravao.notify"):
        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        sender.join(timeout=3)
        assert not sender.is_alive(), "status() blocked on a full socket queue"
    assert len([r for r in caplog.records if r.name == "ravao.notify"]) == 1
    assert listener.pending()[0] == "STATUS=message 0"


def test_a_stalled_loop_stops_the_keepalives(listener):
    """A camera loop that calls watchdog() per frame, then hangs on purpose:
    the keep-alives stop, as systemd needs to see to restart the service."""
    timeout = 0.4  # WATCHDOG_USEC in seconds
    n = Notifier.from_env({"NOTIFY_SOCKET": listener.env, "WATCHDOG_USEC": str(int(timeout * 1e6))})
    stall, stalled, release, done = (threading.Event() for _ in range(4))
    frames = 0

    def camera_loop() -> None:
        nonlocal frames
        deadline = time.monotonic() + 10
        while not done.is_set() and time.monotonic() < deadline:
            n.watchdog()
            frames += 1
            if stall.is_set():
                stalled.set()
                release.wait(timeout=5)  # the hang
                stall.clear()
            time.sleep(0.005)  # a frame

    loop = threading.Thread(target=camera_loop, daemon=True)
    loop.start()
    try:
        running = listener.collect(1.0)
        assert all(msg == "WATCHDOG=1" for _, msg in running)
        # about one every timeout/2, not one per frame (~200 frames here)
        assert 3 <= len(running) <= 6, running
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(running)]
        assert max(gaps) < timeout, gaps

        stall.set()
        assert stalled.wait(timeout=2)
        listener.pending()  # keep-alives sent before the hang began
        frames_at_hang = frames
        quiet = listener.collect(2.5 * timeout)
        assert quiet == [], "keep-alives went on while the loop was stuck"
        assert frames == frames_at_hang

        release.set()
        resumed = listener.collect(1.0)
        assert resumed and resumed[0][1] == "WATCHDOG=1"
    finally:
        release.set()
        done.set()
        loop.join(timeout=2)
    assert not loop.is_alive()
