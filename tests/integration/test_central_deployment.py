"""The collector's systemd unit: it parses, it is hardened, and it runs the
contract's command; the Pi's installer leaves it alone."""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.support.paths import REPO
from tests.support.process import run_ravao

UNIT = REPO / "systemd" / "central" / "ravao-central.service"


def settings() -> dict[str, str]:
    return {k: v for k, _, v in (line.partition("=") for line in UNIT.read_text().splitlines()
                                 if "=" in line and not line.startswith("#"))}


def test_the_unit_parses_and_is_hardened():
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (apt-get install systemd)"
    verify = subprocess.run([analyze, "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    problems = [line for line in verify.stderr.splitlines() if "is not executable" not in line and line.strip()]
    assert problems == []
    security = subprocess.run([analyze, "security", "--offline=true", str(UNIT)], capture_output=True, text=True,
                              timeout=60)
    score = float(re.search(r"Overall exposure level for ravao-central.service: ([0-9.]+)", security.stdout)[1])
    assert score <= 2.5


def test_the_unit_runs_the_collector_and_stops_it_with_sigterm():
    one = settings()
    assert one["ExecStart"].endswith("ravao central collect --config /etc/ravao/central.toml")
    assert one["KillSignal"] == "SIGTERM" and one["Restart"] == "on-failure"
    assert one["User"] == "ravao-central" and one["StateDirectory"] == "ravao-central"
    assert one["ProtectSystem"] == "strict" and one["NoNewPrivileges"] == "yes"


def test_the_pis_installer_does_not_install_it():
    install = (REPO / "firmware" / "install.sh").read_text()
    assert '"$SRC"/systemd/*.service' in install and "central" not in install


def test_a_device_without_the_central_extra_runs_ravao_and_is_told_how_to_get_it(tmp_path):
    """The Pi installs none of the central libraries: `ravao` must not need them."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nfor name in ('sqlalchemy', 'alembic', 'psycopg', 'openpyxl'):\n"
                       "    sys.modules[name] = None\n")
    env = {"PYTHONPATH": str(tmp_path)}
    assert run_ravao("--help", env=env).returncode == 0
    assert run_ravao("decode", "--help", env=env).returncode == 0
    config = tmp_path / "central.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n')
    done = run_ravao("central", "fleet", "--config", str(config), env=env)
    assert done.returncode == 1
    assert done.stderr.strip().endswith("pip install 'ravao[central]'") and len(done.stderr.splitlines()) == 1
