"""Config mistakes through the real `ravao` command line: one line, no traceback."""

from __future__ import annotations

import pytest

from tests.support.process import run_ravao


def test_command_line_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[storage]\nretention_dayz = 3\n')
    for args in (["run", "--config", str(bad)], ["run", "--config", str(tmp_path / "missing.toml")],
                 ["decode", "--config", str(bad), "x.png"]):
        done = run_ravao(*args)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "storage.retention_dayz: unknown key" in run_ravao("run", "--config", str(bad)).stderr


@pytest.mark.parametrize("command", ["run", "factory-reset"])
@pytest.mark.parametrize("where, says", [("a-file", "is a file, not a folder"),
                                         ("a-file/state", "cannot be created: Not a directory")])
def test_an_unusable_state_dir_names_the_setting(tmp_path, command, where, says):
    (tmp_path / "a-file").write_text("")
    config = tmp_path / "device.toml"
    config.write_text(f'[storage]\nstate_dir = "{tmp_path / where}"\n[camera]\nsource = "images:{tmp_path}"\n')
    done = run_ravao(command, "--config", str(config))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"ravao: storage.state_dir = {str(tmp_path / where)!r} {says}"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_damaged_outbox_stops_the_daemon_with_what_to_do(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "outbox.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x07" * 8000)
    config = tmp_path / "device.toml"
    config.write_text(f'[storage]\nstate_dir = "{state}"\n[camera]\nsource = "images:{tmp_path}"\n')
    done = run_ravao("run", "--config", str(config))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"outbox {state / 'outbox.sqlite3'} is damaged" in done.stderr and ".recover" in done.stderr
