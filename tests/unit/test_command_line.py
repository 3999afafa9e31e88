"""The `ravao` command table: logging under -v keeps libraries' debug lines out."""

from __future__ import annotations

import logging

import pytest

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


@pytest.mark.parametrize("args", [
    ["run", "--config", "x.toml", "--drain-timeout", "nan"],
    ["run", "--config", "x.toml", "--drain-timeout", "inf"],
    ["run", "--config", "x.toml", "--drain-timeout", "-1"],
    ["pass", "publish-revocations", "--venue-id", "v", "--broker", "mqtt://h", "--timeout", "NaN"],
    ["central", "trace", "--case", "C", "--person", "cccd:046303001234", "--from", "2026-11-27T00:00:00Z",
     "--to", "2026-11-28T00:00:00Z", "--min-overlap", "nan"],
    ["central", "presence", "--venue", "v", "--from", "2026-11-27T00:00:00Z", "--to", "2026-11-28T00:00:00Z",
     "--step=-inf"],
])
def test_numbers_must_be_finite_and_not_negative(args, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(args)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "must be a finite number, 0 or more" in err and "Traceback" not in err, err
