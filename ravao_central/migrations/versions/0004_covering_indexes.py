"""In PostgreSQL, the indexes a trace reads by place and by device carry the
columns it needs, so those reads never visit the table (index-only scans):
who passed a place when and which way; a device's ``seq`` over time.
SQLite keeps the plain indexes (it has no INCLUDE, and needs none at its scale).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PLACE_COLUMNS = ["person", "direction", "result", "vehicle", "device_id"]
DEVICE_COLUMNS = ["seq"]


def _rebuild(name: str, columns: list[str], include: list[str]) -> None:
    op.drop_index(name, table_name="events")
    op.create_index(name, "events", columns, postgresql_include=include)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rebuild("events_place_ts", ["venue_id", "ts"], PLACE_COLUMNS)
    _rebuild("events_device_ts", ["venue_id", "device_id", "ts"], DEVICE_COLUMNS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rebuild("events_place_ts", ["venue_id", "ts"], [])
    _rebuild("events_device_ts", ["venue_id", "device_id", "ts"], [])
