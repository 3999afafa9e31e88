"""Shared fixtures: a real Mosquitto per test that needs one."""

from __future__ import annotations

import pytest

from tests.support.broker import Broker, Subscriber


@pytest.fixture
def broker(tmp_path):
    with Broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def subscriber(broker):
    sub = Subscriber(broker.port)
    yield sub
    sub.close()


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL for the session, started by the tests (never the system's)."""
    from tests.support.postgres import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database for the record: a SQLite file, or a new database in the tests' PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'record' / 'central.db'}"
    return request.getfixturevalue("postgres_server").new_database()
