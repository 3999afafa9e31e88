"""The camera thread's inbox: how other threads ask for a change.

paho's network thread (a revocation list) and gpiozero's callback thread (a
button press or hold) post a command here; the camera thread runs them
between frames. So the device's settings, directions and current uplink are
only ever changed by the camera thread. The uplinks' threads do read, for
the display and the status message, an immutable snapshot of what is in
force (`Daemon.Shown`), which the camera thread replaces whole; the retired
identities' uplinks are guarded by `Uplinks`' switching lock.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable

log = logging.getLogger("ravao")

Command = Callable[[], None]


class Inbox:
    """Commands for the camera thread, run in the order they were posted."""

    def __init__(self) -> None:
        self._commands: queue.SimpleQueue[tuple[str, Command]] = queue.SimpleQueue()

    def post(self, what: str, command: Command) -> None:
        """Ask the camera thread to run `command` (any thread; returns at once).
        `what` names it in the log should it fail."""
        self._commands.put((what, command))

    def pending(self) -> int:
        """How many commands wait to be run."""
        return self._commands.qsize()

    def run_pending(self) -> int:
        """Run every command posted so far (the camera thread only); a command
        that fails is logged and the others still run. Returns how many ran."""
        ran = 0
        while not self._commands.empty():  # the camera loop asks every frame: no exception when empty
            what, command = self._commands.get_nowait()  # only this thread takes from the queue
            try:
                command()
            except Exception:
                log.exception("%s failed", what)
            ran += 1
        return ran
