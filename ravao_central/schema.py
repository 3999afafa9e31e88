"""The record's tables, one schema for SQLite and PostgreSQL (SQLAlchemy Core).

No column holds personal data in plain text: people are ``person``
pseudonyms (32-byte HMACs), their identity fields are ``identity`` (sealed,
see :mod:`ravao_central.privacy`), and the audit log's queries are sealed too.
The migrations in ``ravao_central/migrations`` create these tables; change
both together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    TypeDecorator,
)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC (SQLite keeps it as text with no
    offset; PostgreSQL as ``timestamptz``), read back aware in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be stored")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return as_utc(value)


def as_utc(value: datetime | str | None) -> datetime | None:
    """A datetime read from either database as an aware UTC one (an aggregate
    such as ``max(ts)`` loses the column's type: SQLite then gives text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

IDENT = 64  # the id rule's longest id

events = Table(
    "events", metadata,
    Column("event_id", String(36), nullable=False),
    Column("ts", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("venue_id", String(IDENT), nullable=False),
    Column("device_id", String(IDENT), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("clock_synced", Boolean, nullable=False),
    Column("direction", String(3), nullable=False),
    Column("result", String(4), nullable=False),
    Column("reason", String(32)),
    Column("credential_type", String(16), nullable=False),
    Column("person", LargeBinary(32), nullable=False),
    Column("identity", LargeBinary, nullable=False),
    Column("vehicle", String(IDENT)),
    Column("route", String(IDENT)),
    # In PostgreSQL the table is partitioned by day on ts, and a unique key
    # must contain the partition key: (event_id, ts). A redelivery is the
    # same payload, so the same ts, so the same partition: the key catches it.
    PrimaryKeyConstraint("event_id", "ts", name="events_pkey"),
    Index("events_person_ts", "person", "ts"),
    # PostgreSQL's carry what a trace reads by place and by device (migration 0004)
    Index("events_place_ts", "venue_id", "ts",
          postgresql_include=["person", "direction", "result", "vehicle", "device_id"]),
    Index("events_device_seq", "venue_id", "device_id", "seq"),
    Index("events_device_ts", "venue_id", "device_id", "ts", postgresql_include=["seq"]),
    postgresql_partition_by="RANGE (ts)",
)

statuses = Table(
    "statuses", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("venue_id", String(IDENT), nullable=False),
    Column("device_id", String(IDENT), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("ts", UtcDateTime(), nullable=False),
    Column("state", String(8), nullable=False),
    Column("queue", BigInteger, nullable=False),
    Column("version", String(64), nullable=False),
    Index("statuses_device", "venue_id", "device_id", "received_at"),
)

devices = Table(
    "devices", metadata,
    Column("venue_id", String(IDENT), nullable=False),
    Column("device_id", String(IDENT), nullable=False),
    Column("first_heard", UtcDateTime(), nullable=False),
    Column("state", String(8)),
    Column("status_ts", UtcDateTime()),
    Column("queue", BigInteger),
    Column("version", String(64)),
    Column("rejected", BigInteger, nullable=False, default=0),
    PrimaryKeyConstraint("venue_id", "device_id", name="devices_pkey"),
)

rejections = Table(
    "rejections", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("venue_id", String(IDENT), nullable=False),
    Column("device_id", String(IDENT), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("topic", String(512), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("why", String(200), nullable=False),
    Index("rejections_device", "venue_id", "device_id"),
)

audit = Table(
    "audit", metadata,
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("ts", UtcDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("case_ref", String(128), nullable=False),
    Column("query", LargeBinary, nullable=False),
    Column("revealed", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)
