"""SQLite: the events' times in the one text form that queries bind.

Before this revision the collector's fast path stored a time with no
fraction of a second as ``2026-11-27 08:30:00`` while queries compare with
``2026-11-27 08:30:00.000000``, so a bound equal to an event's time missed
it. PostgreSQL stores ``timestamptz`` and is unaffected.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for column in ("ts", "received_at"):
            op.execute(f"UPDATE events SET {column} = {column} || '.000000' WHERE length({column}) = 19")


def downgrade() -> None:
    """Nothing to undo: the longer form is what SQLAlchemy itself writes."""
