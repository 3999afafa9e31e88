"""The `ravao` command table: logging under -v keeps libraries' debug lines out."""

from __future__ import annotations

import logging

from ravao import cli


def test_verbose_logs_ours_at_debug_and_libraries_at_warning(monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    for name in ("PIL.PngImagePlugin", "paho.mqtt.client"):
        monkeypatch.setattr(logging.getLogger(name.split(".")[0]), "level", logging.NOTSET)
    cli._setup_logging(verbose=True)
    assert logging.getLogger("ravao.uplink").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("PIL.PngImagePlugin").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("paho.mqtt.client").isEnabledFor(logging.INFO)
    assert logging.getLogger("PIL.PngImagePlugin").isEnabledFor(logging.WARNING)


def test_every_side_registers_its_commands():
    commands = cli.build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert {"run", "decode", "factory-reset", "owner", "setup-qr", "pass", "broker-config"} <= set(commands)
