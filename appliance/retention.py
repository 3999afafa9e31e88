"""Retention: sent events older than `storage.retention_days` are deleted."""

from __future__ import annotations

import logging
import threading

from appliance.outbox import Outbox

log = logging.getLogger("ravao")

PURGE_EVERY_S = 3600.0  # sent events past the retention are deleted this often


def purge_old_events(outbox: Outbox, days: float, stopping: threading.Event) -> None:
    """Delete sent events past the retention, now and every hour, until
    `stopping` is set (its own thread)."""
    while True:
        try:
            purged = outbox.purge_sent(days)
        except Exception:
            log.exception("could not delete old sent events")
        else:
            if purged:
                log.info("deleted %d sent events older than %s days", purged, days)
        if stopping.wait(PURGE_EVERY_S):
            return
