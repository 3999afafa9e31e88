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
