"""A device's events in time order: a trace's coverage reads the events of
each device at the traced places around the window, and the nearest ones
either side.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("events_device_ts", "events", ["venue_id", "device_id", "ts"])


def downgrade() -> None:
    op.drop_index("events_device_ts", table_name="events")
