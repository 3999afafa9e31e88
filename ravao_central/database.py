"""Opening the record's database and keeping its schema current.

SQLite (the default, no server): WAL, ``synchronous=FULL`` (a committed
batch survives a power cut before it is acknowledged to the broker), a busy
timeout so the collector and a trace can share the file. PostgreSQL through
psycopg 3: the events table is partitioned by day, and the partitions are
made here, ahead of time and for any day an event names.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ravao_protocol.errors import UserError

MIGRATIONS = Path(__file__).parent / "migrations"
DAYS_AHEAD = 7
"""How many days of partitions ahead of today the collector keeps made."""


def open_database(url: str) -> Engine:
    """An engine for the config's ``database.url``; :class:`UserError` for a bad URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"database.url {url!r} is not a database URL") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        return _sqlite_engine(parsed.database or "")
    if parsed.drivername != "postgresql+psycopg":
        raise UserError(f"database.url: {parsed.drivername!r} is not supported (sqlite or postgresql)")
    engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})

    @event.listens_for(engine, "connect")
    def _no_jit(dbapi_connection: Any, _record: Any) -> None:
        # A read across a month of day partitions is costed above jit_above_cost,
        # and compiling it (200+ ms) costs far more than running it (a few ms).
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        dbapi_connection.commit()

    return engine


def _sqlite_engine(path: str) -> Engine:
    if not path or path == ":memory:":
        raise UserError("database.url: SQLite needs a file (sqlite:////var/lib/ravao-central/central.db)")
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return engine


def is_postgresql(engine: Engine | Connection) -> bool:
    """Whether the record is in PostgreSQL (else SQLite)."""
    return engine.dialect.name == "postgresql"


def migrate(engine: Engine, to: str = "head") -> None:
    """Create the schema or bring it to the newest version, or to revision
    `to` (Alembic; idempotent)."""
    from alembic import command  # only init needs Alembic: the other commands start faster
    from alembic.config import Config as AlembicConfig

    if engine.dialect.name == "sqlite":
        _create_private(Path(engine.url.database or ""))
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, to)
    except SQLAlchemyError as exc:
        raise UserError(f"database: cannot create or upgrade the schema: {one_line(exc)}") from None
    if is_postgresql(engine):
        with engine.begin() as connection:
            ensure_partitions(connection, days_around(datetime.now(UTC).date()))


def _create_private(path: Path) -> None:
    """The SQLite file (and its folder), readable by its owner only: it holds
    pseudonyms and sealed identities, and its WAL and journal take its mode."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise UserError(f"database.url: cannot create {str(path)!r}: {exc.strerror}") from None


def one_line(exc: BaseException) -> str:
    """A database error as one short line (SQLAlchemy's own text runs to many)."""
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split())[:300]


def days_around(today: date) -> list[date]:
    """Today, yesterday, and :data:`DAYS_AHEAD` days ahead."""
    return [today + timedelta(days=n) for n in range(-1, DAYS_AHEAD + 1)]


def partition_name(day: date) -> str:
    """The name of the events partition that holds `day` (UTC)."""
    return f"events_{day:%Y%m%d}"


def ensure_partitions(connection: Connection, days: Iterable[date]) -> None:
    """Make the day partitions of events that do not exist yet (PostgreSQL)."""
    for day in sorted(set(days)):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        connection.execute(text(
            f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF events "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')"))


def drop_partitions_before(connection: Connection, cutoff: date) -> int:
    """Drop every events partition whose whole day is before `cutoff`; how many."""
    rows = connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'")).scalars().all()
    dropped = 0
    for name in rows:
        try:
            day = datetime.strptime(name, "events_%Y%m%d").date()
        except ValueError:
            continue
        if day < cutoff:
            connection.execute(text(f"DROP TABLE {name}"))
            dropped += 1
    return dropped
