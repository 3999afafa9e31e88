"""Unit tests run no process and open no network connection: both are
refused here, so a test that needs them belongs in tests/integration or
tests/faults."""

from __future__ import annotations

import socket
import subprocess

import pytest


class NotInAUnitTest(RuntimeError):
    """A unit test tried to start a process or reach the network."""


@pytest.fixture(autouse=True)
def no_processes_or_network(monkeypatch):
    def refuse_process(*args, **kwargs):
        raise NotInAUnitTest(f"a unit test started a process: {args[:1]}")

    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise NotInAUnitTest(f"a unit test connected to {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(subprocess, "Popen", refuse_process)
    monkeypatch.setattr(socket.socket, "connect", connect)
