"""Deployment checks: systemd units, their exposure score, shell scripts, and
firmware/install.sh run twice in a staging root.

Needs the apt packages systemd (systemd-analyze, systemctl, systemd-sysusers)
and shellcheck; when not run as root, also fakeroot (file owners). A missing
tool fails the test with the package to install.

Also a script: ``python tests/test_deployment.py stage ROOT RUNS OUT`` runs
install.sh RUNS times into ROOT and writes each run's output and the tree
after it to OUT (JSON); the tests run it under fakeroot when not root, so
that the owners it sets can be seen.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

INSTALL = REPO / "firmware" / "install.sh"
UNITS = sorted(p for p in (REPO / "systemd").iterdir()
               if p.suffix in (".service", ".socket", ".timer", ".path", ".target", ".mount"))
DOCS = REPO / "docs" / "deployment.md"
UNIT_DIR = "usr/local/lib/systemd/system"
MAX_EXPOSURE = 2.5

# A Raspberry Pi OS Bookworm image as install.sh finds it (trimmed).
SEED = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000:,,,:/home/pi:/bin/bash\n",
    "etc/group": "root:x:0:\nvideo:x:44:pi\npi:x:1000:\ngpio:x:997:pi\ni2c:x:998:pi\n",
    "boot/firmware/config.txt": (
        "# For more options and information see\n# http://rptl.io/configtxt\n\n"
        "#dtparam=i2c_arm=on\n#dtparam=spi=on\n\n"
        "# Automatically load overlays for detected cameras\ncamera_auto_detect=1\n\n"
        "[cm5]\ndtoverlay=dwc2,dr_mode=host\n\n[all]\n"
    ),
}


def tool(name: str, package: str) -> str:
    """The path of a command the test needs, or a failure naming its package."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: apt-get install {package}", pytrace=False)
    return path


def listing(root: Path) -> dict[str, dict]:
    """Every path under root: type, mode, owner ids, mtime and content digest."""
    out: dict[str, dict] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            st = path.lstat()
            entry = {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                     "mtime_ns": st.st_mtime_ns}
            if stat.S_ISLNK(st.st_mode):
                entry.update(type="link", target=os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                entry.update(type="dir")
            else:
                entry.update(type="file", sha256=hashlib.sha256(path.read_bytes()).hexdigest())
            out[str(path.relative_to(root))] = entry
    return out


def stage(root: Path, runs: int) -> list[dict]:
    """Run install.sh `runs` times into root; output, exit code and tree of each."""
    results = []
    for _ in range(runs):
        proc = subprocess.run([str(INSTALL), "--root", str(root), "--no-apt"],
                              capture_output=True, text=True, timeout=120)
        results.append({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                        "tree": listing(root)})
    return results


def seed(root: Path) -> None:
    for rel, text in SEED.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def id_names(root: Path, file: str) -> dict[int, str]:
    names = {}
    for line in (root / "etc" / file).read_text().splitlines():
        fields = line.split(":")
        names[int(fields[2])] = fields[0]
    return names


def unit_settings(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, repeated keys kept."""
    section, out = "", []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def setting(path: Path, key: str) -> list[str]:
    return [v for _, k, v in unit_settings(path) if k == key]


class Staged:
    """install.sh run twice into a seeded staging root."""

    def __init__(self, root: Path, runs: list[dict]) -> None:
        self.root = root
        self.runs = runs
        self.tree = runs[-1]["tree"]
        self.users = id_names(root, "passwd")
        self.groups = id_names(root, "group")

    def owner(self, rel: str) -> str:
        e = self.tree[rel]
        return f"{self.users.get(e['uid'], e['uid'])}:{self.groups.get(e['gid'], e['gid'])}"


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Staged:
    for name, package in (("systemd-sysusers", "systemd"), ("systemctl", "systemd")):
        tool(name, package)
    base = tmp_path_factory.mktemp("staging")
    root = base / "root"
    seed(root)
    out = base / "runs.json"
    cmd = [sys.executable, "-m", "tests.integration.test_deployment", "stage", str(root), "2", str(out)]
    if os.geteuid() != 0:
        # chown needs root; fakeroot records the owners install.sh sets for the listing
        cmd = [tool("fakeroot", "fakeroot"), *cmd]
    subprocess.run(cmd, check=True, timeout=300, cwd=REPO)
    runs = json.loads(out.read_text())
    for run in runs:
        assert run["rc"] == 0, run["stdout"] + run["stderr"]
    return Staged(root, runs)


def test_a_second_install_changes_nothing(staged):
    first, second = staged.runs
    assert first["stdout"].splitlines()[-1] != "install.sh: nothing changed"
    assert second["stdout"].splitlines()[-1] == "install.sh: nothing changed"
    before, after = first["tree"], second["tree"]
    assert sorted(set(after) - set(before)) == [], "created by the second run"
    assert sorted(set(before) - set(after)) == [], "removed by the second run"
    assert {p: (before[p], after[p]) for p in before if before[p] != after[p]} == {}


def test_installed_tree(staged):
    repo = {
        f"{UNIT_DIR}/{u.name}": (u, 0o644, "root:root") for u in UNITS
    } | {
        "etc/ravao/config.toml": (REPO / "firmware/config.toml", 0o640, "root:ravao"),
        "usr/local/lib/sysusers.d/ravao.conf": (REPO / "firmware/ravao.sysusers", 0o644, "root:root"),
        "etc/polkit-1/rules.d/10-ravao-wifi.rules": (REPO / "firmware/10-ravao-wifi.rules", 0o644, "root:root"),
        "etc/systemd/system.conf.d/ravao-watchdog.conf": (REPO / "firmware/system-watchdog.conf", 0o644, "root:root"),
        "etc/modules-load.d/ravao.conf": (REPO / "firmware/modules-load.conf", 0o644, "root:root"),
        "usr/local/share/doc/ravao/deployment.md": (DOCS, 0o644, "root:root"),
    }
    for rel, (source, mode, owner) in repo.items():
        entry = staged.tree.get(rel)
        assert entry is not None, f"{rel} not installed"
        assert entry["type"] == "file"
        assert entry["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest(), rel
        assert (oct(entry["mode"]), staged.owner(rel)) == (oct(mode), owner), rel

    dirs = {"etc/ravao": (0o755, "root:root"), "var/lib/ravao": (0o700, "ravao:ravao")}
    for rel, (mode, owner) in dirs.items():
        assert staged.tree[rel]["type"] == "dir"
        assert (oct(staged.tree[rel]["mode"]), staged.owner(rel)) == (oct(mode), owner), rel

    for unit in UNITS:
        if setting(unit, "WantedBy"):
            link = staged.tree[f"etc/systemd/system/multi-user.target.wants/{unit.name}"]
            assert link["type"] == "link"
            assert link["target"] == f"/{UNIT_DIR}/{unit.name}"

    # nothing else: only the user database (and the backups systemd-sysusers
    # keeps of it), and no stray folders
    userdb = {"etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"}
    known = set(repo) | set(SEED) | userdb | {f + "-" for f in userdb} | {"etc/.pwd.lock"} | {
        f"etc/systemd/system/multi-user.target.wants/{u.name}" for u in UNITS} | set(dirs)
    stray = [p for p, e in staged.tree.items()
             if p not in known and not (e["type"] == "dir" and any(k.startswith(p + "/") for k in known))]
    assert stray == []
    assert "opt" not in staged.tree  # no venv in a staging root


def test_user_and_groups(staged):
    passwd = {f[0]: f for f in (line.split(":") for line in (staged.root / "etc/passwd").read_text().splitlines())}
    group = {f[0]: f for f in (line.split(":") for line in (staged.root / "etc/group").read_text().splitlines())}
    user = passwd["ravao"]
    assert int(user[2]) < 1000, "a system user"
    assert user[3] == group["ravao"][2]
    assert (user[5], user[6]) == ("/var/lib/ravao", "/usr/sbin/nologin")
    assert passwd["pi"] == "pi:x:1000:1000:,,,:/home/pi:/bin/bash".split(":")
    for name, gid in (("video", "44"), ("gpio", "997"), ("i2c", "998")):
        assert group[name][2] == gid, "an existing group keeps its id"
        assert group[name][3].split(",") == ["pi", "ravao"]


def test_boot_config_fragment_added_once(staged):
    text = (staged.root / "boot/firmware/config.txt").read_text()
    fragment = (REPO / "firmware/boot-config.txt").read_text()
    assert text == SEED["boot/firmware/config.txt"] + "\n" + fragment
    lines = [line for line in fragment.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "[all]", "the settings must not land in a model filter such as [cm5]"
    assert {"camera_auto_detect=1", "dtparam=i2c_arm=on", "dtparam=watchdog=on"} <= set(lines)


def test_an_existing_config_is_never_overwritten(tmp_path):
    root = tmp_path / "root"
    seed(root)
    first = subprocess.run([str(INSTALL), "--root", str(root), "--no-apt"],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    config = root / "etc/ravao/config.toml"
    edited = config.read_text().replace('backend = "zxing"', 'backend = "zbar"')
    config.write_text(edited)
    second = subprocess.run([str(INSTALL), "--root", str(root), "--no-apt"],
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert config.read_text() == edited
    assert "kept /etc/ravao/config.toml" in second.stdout


@pytest.mark.parametrize("args, message", [
    (["--root", "{tmp}"], "--no-apt"),
    (["--frobnicate"], "unknown option: --frobnicate"),
    (["--root"], "--root needs a directory"),
])
def test_install_refuses_bad_options(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path / "root")) for a in args]
    proc = subprocess.run([str(INSTALL), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "root").exists()


def test_install_help():
    proc = subprocess.run([str(INSTALL), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--root DIR" in proc.stdout and "--no-apt" in proc.stdout


def _verify_root(staged: Staged, dest: Path) -> Path:
    """The staged tree plus the host's systemd units (for the targets the unit
    depends on) and a stand-in at each Exec path (the venv is not built here)."""
    host_units = Path("/usr/lib/systemd/system")
    if not (host_units / "multi-user.target").exists():
        pytest.fail("systemd's own units not found in /usr/lib/systemd/system: apt-get install systemd",
                    pytrace=False)
    shutil.copytree(staged.root, dest, symlinks=True)
    shutil.copytree(host_units, dest / "usr/lib/systemd/system", symlinks=True, dirs_exist_ok=True)
    for unit in UNITS:
        for key in ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost"):
            for value in setting(unit, key):
                program = value.lstrip("-@:+!").split()[0]
                assert program.startswith("/"), f"{unit.name}: {key} needs an absolute path"
                stub = dest / program.lstrip("/")
                if not stub.exists():
                    stub.parent.mkdir(parents=True, exist_ok=True)
                    stub.write_text("#!/bin/sh\nexit 0\n")
                    stub.chmod(0o755)
    return dest


def _verify(root: Path, unit: str) -> subprocess.CompletedProcess:
    analyze = tool("systemd-analyze", "systemd")
    return subprocess.run([analyze, "verify", f"--root={root}", unit],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("unit", [u.name for u in UNITS])
def test_systemd_analyze_verify(staged, tmp_path, unit):
    root = _verify_root(staged, tmp_path / "root")
    assert (root / UNIT_DIR / unit).read_bytes() == (REPO / "systemd" / unit).read_bytes()
    proc = _verify(root, unit)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_systemd_analyze_verify_catches_a_broken_unit(staged, tmp_path):
    """The check above is worth something: an invalid setting shows on stderr."""
    root = _verify_root(staged, tmp_path / "root")
    unit = root / UNIT_DIR / "ravao.service"
    unit.write_text(unit.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    assert "Failed to parse service restart specifier" in _verify(root, "ravao.service").stderr


def _exposure(unit: Path) -> tuple[float, str]:
    analyze = tool("systemd-analyze", "systemd")
    proc = subprocess.run([analyze, "security", "--offline=true", str(unit)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    m = re.search(rf"Overall exposure level for {re.escape(unit.name)}: ([0-9.]+) (\w+)", proc.stdout)
    assert m, proc.stdout[-500:]
    return float(m.group(1)), m.group(2)


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"], ids=lambda u: u.name)
def test_exposure_score(unit):
    score, verdict = _exposure(unit)
    assert score <= MAX_EXPOSURE, f"{unit.name}: exposure {score} {verdict}"


def test_exposure_score_in_the_docs_is_current():
    score, verdict = _exposure(REPO / "systemd/ravao.service")
    m = re.search(r"security --offline=true systemd/ravao\.service`: \*\*([0-9.]+) (\w+)\*\*", DOCS.read_text())
    assert m, "docs/deployment.md must state the exposure score"
    assert (float(m.group(1)), m.group(2)) == (score, verdict)


def test_unit_has_what_the_appliance_needs():
    unit = REPO / "systemd/ravao.service"
    one = {k: v for _, k, v in unit_settings(unit)}
    assert one["Type"] == "notify"
    assert one["NotifyAccess"] == "main"
    assert float(one["WatchdogSec"]) > 0
    assert one["Restart"] == "on-failure"
    assert one["StateDirectory"] == one["ConfigurationDirectory"] == one["User"] == "ravao"
    assert one["WorkingDirectory"] == f"/var/lib/{one['StateDirectory']}"
    assert f"--config /etc/{one['ConfigurationDirectory']}/config.toml" in one["ExecStart"]
    assert set(one["SupplementaryGroups"].split()) == {"video", "gpio", "i2c"}
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert one[key] == "yes", key
    assert one["ProtectSystem"] == "strict"
    assert one["DevicePolicy"] == "closed"
    allowed = {v.split()[0] for v in setting(unit, "DeviceAllow")}
    assert {"char-video4linux", "char-media", "char-dma_heap", "char-gpiochip", "char-i2c"} <= allowed

    sysusers = (REPO / "firmware/ravao.sysusers").read_text().splitlines()
    assert f"u {one['User']} " in "\n".join(sysusers)
    members = {line.split()[2] for line in sysusers if line.startswith(f"m {one['User']} ")}
    assert members == set(one["SupplementaryGroups"].split())


def test_config_template_is_valid():
    from appliance.config import load_config, parse_config

    template = REPO / "firmware/config.toml"
    config = load_config(template)
    assert config.device is None, "a new device waits for its setup QR"
    assert config.storage.state_dir == "/var/lib/ravao"
    assert config.gpio.pin_factory == "lgpio"

    # the commented-out [device] section is a working example
    text = template.read_text()
    block = re.search(r"^# \[device\]\n(?:# .*\n)+", text, re.M)
    assert block, "the template shows [device] commented out"
    uncommented = text.replace(block.group(0), re.sub(r"^# ", "", block.group(0), flags=re.M))
    assert parse_config(uncommented, "template with [device]").device.id == "door-01"


def test_wiring_table_matches_the_template():
    from appliance.config import load_config

    gpio = load_config(REPO / "firmware/config.toml").gpio
    rows = re.findall(r"^\| (\d+) \| (\d+) \| [^|]*`(\w+_pin)`", DOCS.read_text(), re.M)
    wired = {key: int(bcm) for bcm, _, key in rows}
    configured = {k: v for k, v in gpio.model_dump().items() if k.endswith("_pin") and v is not None}
    assert wired == configured


def _shell_scripts() -> list[str]:
    git = tool("git", "git")
    files = subprocess.run([git, "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.splitlines()
    scripts = []
    for rel in files:
        path = REPO / rel
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as f:
            first = f.readline(200)
        if rel.endswith((".sh", ".bash")) or re.match(rb"#!\s*\S*/(env\s+)?(ba|da|k)?sh\b", first):
            scripts.append(rel)
    return scripts


def test_shellcheck_clean():
    shellcheck = tool("shellcheck", "shellcheck")
    scripts = _shell_scripts()
    assert "firmware/install.sh" in scripts
    problems = []
    for rel in scripts:
        proc = subprocess.run([shellcheck, "--external-sources", rel], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            problems.append(proc.stdout + proc.stderr)
    assert not problems, "\n".join(problems)


def test_install_script_is_executable():
    assert os.stat(INSTALL).st_mode & 0o111 == 0o111


if __name__ == "__main__" and sys.argv[1:2] == ["stage"]:
    _, _, root_arg, runs_arg, out_arg = sys.argv
    Path(out_arg).write_text(json.dumps(stage(Path(root_arg), int(runs_arg))))
