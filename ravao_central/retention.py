"""Keeping the record no longer than ``[retention] days``: events older go
(in PostgreSQL, whole past days as partitions, then the older part of the
cutoff's day), with the statuses and rejections of that age. The ledger's
devices and the audit log stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete

from ravao_central.database import drop_partitions_before, is_postgresql
from ravao_central.schema import events, rejections, statuses


def purge(engine: Engine, days: int, now: datetime | None = None) -> str:
    """Remove what is older than `days`; a short account of what went ("" for nothing)."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    with engine.begin() as connection:
        parts = []
        if is_postgresql(connection):  # whole past days go as partitions, the rest of the cutoff's day row by row
            dropped = drop_partitions_before(connection, cutoff.date())
            if dropped:
                parts.append(f"{dropped} day partitions")
        count = connection.execute(delete(events).where(events.c.ts < cutoff)).rowcount
        if count:
            parts.append(f"{count} events")
        gone = " and ".join(parts)
        connection.execute(delete(statuses).where(statuses.c.received_at < cutoff))
        connection.execute(delete(rejections).where(rejections.c.received_at < cutoff))
    return gone
