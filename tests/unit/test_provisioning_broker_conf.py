"""broker-config's collector account and ravao.conf, without a broker: what
is written for which options, and bad input refused before any file is
written. The broker's side is in tests/integration/test_broker_keeps_events.py."""

from __future__ import annotations

import pytest

from provisioning import broker
from ravao_protocol.errors import UserError
from tests.support.signed_codes import run_cli

DEVICES_CSV = "venue_id,device_id,password\nbv,door-01,pw-a\ncho,gate,pw-c\n"
SETTINGS = ("persistence", "autosave_interval", "max_queued_messages", "max_queued_bytes",
            "persistent_client_expiration", "max_inflight_messages")


@pytest.fixture
def devices(tmp_path):
    path = tmp_path / "devices.csv"
    path.write_text(DEVICES_CSV)
    return path


def config(devices, out, *extra):
    return run_cli("broker-config", "--devices", str(devices), "--owner-password", "own-pw",
                   "--out-dir", str(out), *extra)


def test_without_a_collector_password_there_is_no_collector_account_and_it_says_so(tmp_path, devices, capsys):
    out = tmp_path / "out"
    assert config(devices, out) == 0
    printed = capsys.readouterr().out
    assert "(3 accounts)" in printed
    assert "# no --collector-password: no account for the central collector\n" in printed
    assert broker.DEFAULT_COLLECTOR_USER not in (out / broker.PASSWD_FILE).read_text()
    assert broker.DEFAULT_COLLECTOR_USER not in (out / broker.ACL_FILE).read_text()
    assert (out / broker.CONF_FILE).exists()  # the persistence settings are written all the same


@pytest.mark.parametrize("user", [None, "collector-1"])
def test_a_collector_password_gives_the_collector_a_read_only_account(tmp_path, devices, capsys, user):
    out = tmp_path / "out"
    extra = ("--collector-password", "col-pw") + (("--collector-user", user) if user else ())
    assert config(devices, out, *extra) == 0
    name = user or broker.DEFAULT_COLLECTOR_USER
    printed = capsys.readouterr().out
    assert "(4 accounts)" in printed and "no --collector-password" not in printed
    assert [line.split(":")[0] for line in (out / broker.PASSWD_FILE).read_text().splitlines()] == [
        "owner", name, "bv/door-01", "cho/gate"]
    acl = (out / broker.ACL_FILE).read_text()
    assert f"\nuser {name}\ntopic read ravao/+/+/events\ntopic read ravao/+/+/status\n\n" in acl


def test_the_collectors_topics_follow_the_prefix(tmp_path, devices):
    out = tmp_path / "out"
    assert config(devices, out, "--collector-password", "col-pw", "--topic-prefix", "hue/v1") == 0
    acl = (out / broker.ACL_FILE).read_text()
    assert "topic read hue/v1/+/+/events\ntopic read hue/v1/+/+/status\n" in acl


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--collector-user", "c"), "--collector-user needs --collector-password"),
        (("--collector-password", ""), "collector password: must not be empty"),
        (("--collector-password", "p", "--collector-user", ""), "collector user: must not be empty"),
        (("--collector-password", "p", "--collector-user", "a b"), "collector user: must have no ':'"),
        (("--collector-password", "p", "--collector-user", "owner"), "'owner' is used twice"),
        (("--collector-password", "p", "--collector-user", "bv/door-01"), "'bv/door-01' is used twice"),
        (("--persistence-location", "store/"), "persistence location: must be an absolute path"),
        (("--persistence-location", "/srv/x\nallow_anonymous true"), "persistence location: contains control"),
        (("--persistence-location", ""), "persistence location: must not be empty"),
    ],
)
def test_bad_collector_or_location_is_refused_before_any_file_is_written(tmp_path, devices, extra, message):
    out = tmp_path / "out"
    with pytest.raises(UserError, match=message) as caught:
        config(devices, out, *extra)
    assert "\n" not in str(caught.value)
    assert not out.exists()


def test_every_setting_in_ravao_conf_comes_with_its_reason(tmp_path):
    lines = broker.mosquitto_conf_file(tmp_path / "p", tmp_path / "a", "/srv/mosquitto/").splitlines()
    assert "persistence_location /srv/mosquitto/" in lines
    for name in SETTINGS:
        [n] = [i for i, line in enumerate(lines) if line.split(" ")[0] == name]
        assert lines[n - 1].startswith("#"), f"{name} comes without its reason"


def test_the_queue_is_sized_for_a_day_of_a_busy_site_and_bytes_do_not_bite_first():
    busy_day = 20 * 2_500  # the arithmetic in the file's comment
    assert broker.MAX_QUEUED_MESSAGES >= 2 * busy_day
    event_bytes = 1_000  # the contract's events are about 400 bytes
    assert broker.MAX_QUEUED_BYTES >= broker.MAX_QUEUED_MESSAGES * event_bytes
    assert broker.MAX_QUEUED_BYTES < 2**31  # Mosquitto reads it as an int
    assert broker.MAX_INFLIGHT >= 1000 and broker.MAX_INFLIGHT <= 65535


def test_a_bad_location_is_refused_by_the_library_too(tmp_path):
    with pytest.raises(UserError, match="absolute"):
        broker.mosquitto_conf_file(tmp_path / "p", tmp_path / "a", "relative")
