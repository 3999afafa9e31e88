"""The record: events, statuses, devices, rejections, audit.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ravao_central.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("venue_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("clock_synced", sa.Boolean, nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("result", sa.String(4), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("credential_type", sa.String(16), nullable=False),
        sa.Column("person", sa.LargeBinary(32), nullable=False),
        sa.Column("identity", sa.LargeBinary, nullable=False),
        sa.Column("vehicle", sa.String(64)),
        sa.Column("route", sa.String(64)),
        sa.PrimaryKeyConstraint("event_id", "ts", name="events_pkey"),
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_index("events_person_ts", "events", ["person", "ts"])
    op.create_index("events_place_ts", "events", ["venue_id", "ts"])
    op.create_index("events_device_seq", "events", ["venue_id", "device_id", "seq"])
    if sqlite:
        # Not partitioned: the event id alone can be unique, even against a
        # device that reuses an id with another ts.
        op.create_index("events_event_id", "events", ["event_id"], unique=True)

    op.create_table(
        "statuses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("venue_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("queue", sa.BigInteger, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
    )
    op.create_index("statuses_device", "statuses", ["venue_id", "device_id", "received_at"])

    op.create_table(
        "devices",
        sa.Column("venue_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("first_heard", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(8)),
        sa.Column("status_ts", UtcDateTime()),
        sa.Column("queue", sa.BigInteger),
        sa.Column("version", sa.String(64)),
        sa.Column("rejected", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("venue_id", "device_id", name="devices_pkey"),
    )

    op.create_table(
        "rejections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("venue_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("why", sa.String(200), nullable=False),
    )
    op.create_index("rejections_device", "rejections", ["venue_id", "device_id"])

    op.create_table(
        "audit",
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("case_ref", sa.String(128), nullable=False),
        sa.Column("query", sa.LargeBinary, nullable=False),
        sa.Column("revealed", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit", "rejections", "devices", "statuses", "events"):
        op.drop_table(table)
