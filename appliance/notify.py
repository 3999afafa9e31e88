"""The systemd notify protocol (sd_notify), a few lines of our own.

systemd passes the socket in ``NOTIFY_SOCKET``: a file system path, or an
abstract socket written with a leading ``@``. Messages are ``KEY=value``
lines in one datagram. Without the socket every method here does nothing, so
the daemon calls them unconditionally, on a laptop as under systemd.

Sending never raises and never blocks: the socket is non-blocking, and a
failure is logged once as a warning. The camera loop calls :meth:`watchdog`
on every frame; it sends at most once per half of ``WATCHDOG_USEC``, so a
loop that stops iterating stops the keep-alives and systemd restarts the
service.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("ravao.notify")


class Notifier:
    """Tells systemd about readiness, status, liveness and shutdown."""

    def __init__(
        self,
        address: str | None,
        watchdog_usec: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`address`: a path or ``@abstract`` name (None: disabled);
        `watchdog_usec`: the watchdog timeout (None: no keep-alives)."""
        self._address: bytes | None = None
        self._sock: socket.socket | None = None
        self._warned = False
        self._clock = clock
        self._last_ping: float | None = None
        self._interval = watchdog_usec / 2e6 if watchdog_usec else None
        if not address:
            return
        if address.startswith("@"):
            self._address = b"\0" + os.fsencode(address[1:])
        elif address.startswith("/"):
            self._address = os.fsencode(address)
        else:
            log.warning("NOTIFY_SOCKET=%r is neither a path nor @abstract; not notifying", address)
            return
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            sock.setblocking(False)
        except OSError as exc:
            log.warning("cannot open a socket to notify systemd: %s", exc)
            self._address = None
            return
        self._sock = sock

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for in the environment (``os.environ``
        unless given): ``NOTIFY_SOCKET``, ``WATCHDOG_USEC``, ``WATCHDOG_PID``."""
        env = os.environ if environ is None else environ
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC", "")
        if raw:
            try:
                usec = int(raw)
            except ValueError:
                usec = None
            if usec is None or usec <= 0:
                log.warning("WATCHDOG_USEC=%r is not a positive integer; watchdog off", raw)
                usec = None
        pid = env.get("WATCHDOG_PID", "")
        if usec and pid:
            try:
                ours = int(pid) == os.getpid()
            except ValueError:
                ours = False
            if not ours:
                usec = None  # the watchdog is meant for another process
        return cls(env.get("NOTIFY_SOCKET") or None, usec)

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to notify."""
        return self._sock is not None

    @property
    def watchdog_enabled(self) -> bool:
        """Whether systemd expects keep-alives from this process."""
        return self._sock is not None and self._interval is not None

    def ready(self, status: str | None = None) -> None:
        """Startup is complete (READY=1), optionally with a status line."""
        self._send("READY=1" if status is None else f"READY=1\nSTATUS={_one_line(status)}")

    def status(self, text: str) -> None:
        """A one-line state shown by ``systemctl status`` (line breaks become spaces)."""
        self._send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> None:
        """A keep-alive (WATCHDOG=1); cheap to call on every frame."""
        if self._sock is None or self._interval is None:
            return
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self._interval:
            return
        if self._send("WATCHDOG=1"):
            self._last_ping = now

    def stopping(self) -> None:
        """Shutdown has begun (STOPPING=1)."""
        self._send("STOPPING=1")

    def close(self) -> None:
        """Close the socket; later calls do nothing."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _send(self, message: str) -> bool:
        sock = self._sock
        if sock is None or self._address is None:
            return False
        try:
            sock.sendto(message.encode("utf-8", "replace"), self._address)
        except OSError as exc:  # full queue, no listener, path too long, ...
            if not self._warned:
                self._warned = True
                log.warning("cannot notify systemd (%s): %s; further failures are not logged",
                            message.split("=", 1)[0], exc)
            return False
        return True


def _one_line(text: str) -> str:
    # systemd drops a whole datagram that contains a NUL byte.
    return " ".join(text.replace("\0", "").splitlines()).strip()
