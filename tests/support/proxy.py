"""A small loopback TCP proxy for network-fault tests: starts late, stops,
stalls (accepts but forwards nothing), or delays every chunk."""

from __future__ import annotations

import selectors
import socket
import threading
import time

from tests.support.mosquitto import free_port


class Proxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target`. Bounded: every
    thread ends when the proxy is stopped."""

    def __init__(self, target: int, *, port: int | None = None) -> None:
        self.target = target
        self.port = port or free_port()
        self.stall = False  # accept connections but forward nothing
        self.delay = 0.0  # seconds added before forwarding each chunk
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Proxy:
        self._stop.clear()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        self._spawn(self._accept)
        return self

    def stop(self) -> None:
        """Close the listener and every connection through it."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for conn in self._conns:
            conn.close()
        self._conns.clear()

    def _spawn(self, fn, *args) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                client.close()
                continue
            self._conns += [client, upstream]
            self._spawn(self._pump, client, upstream)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.1):
                    if self.stall:
                        continue
                    try:
                        data = key.fileobj.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    if self.delay:
                        time.sleep(self.delay)
                    try:
                        key.data.sendall(data)
                    except OSError:
                        return
                if self.stall:
                    time.sleep(0.05)
        finally:
            sel.close()
            a.close()
            b.close()
