"""The owner's commands, run as the `ravao` command line runs them."""

import stat
import time
import unicodedata
from datetime import UTC, datetime

import pytest
import zxingcpp
from PIL import Image

from provisioning import keys
from ravao_protocol.errors import UserError
from ravao_protocol.keys import key_id, key_id_hex
from ravao_protocol.passes import read_pass
from tests.support.signed_codes import run_cli


@pytest.fixture
def home(tmp_path, capsys):
    folder = tmp_path / "owner"
    run_cli("owner", "init", "--home", str(folder))
    capsys.readouterr()
    return folder


def trusted(home):
    public_key = keys.load_owner(home).public_key()
    return {key_id(public_key): public_key}


def issue(home, out, *extra):
    return run_cli(
        "pass", "issue", "--home", str(home), "--holder-id", "NV-1", "--name", "Trần Văn B", "--out", str(out), *extra
    )


def test_owner_init_prints_key_id_and_refuses_a_second_time(tmp_path, capsys):
    assert run_cli("owner", "init", "--home", str(tmp_path)) == 0
    kid = capsys.readouterr().out.splitlines()[-1]
    assert kid == key_id_hex(keys.load_owner(tmp_path).public_key())
    with pytest.raises(UserError, match="already exists"):
        run_cli("owner", "init", "--home", str(tmp_path))


def test_owner_pubkey_prints_owner_pub(home, capsys):
    assert run_cli("owner", "pubkey", "--home", str(home)) == 0
    assert capsys.readouterr().out == (home / "owner.pub").read_text()


def test_home_defaults_to_ravao_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAVAO_HOME", str(tmp_path / "env-home"))
    run_cli("owner", "init")
    assert (tmp_path / "env-home" / "owner.key").exists()


def test_commands_need_an_owner_key(tmp_path):
    with pytest.raises(UserError, match="owner init"):
        issue(tmp_path / "empty", tmp_path / "p.txt")


@pytest.mark.parametrize("ending", [".png", ".svg", ".PNG"])
def test_pass_image_decodes_to_the_pass(home, tmp_path, capsys, ending):
    out = tmp_path / f"pass{ending}"
    assert issue(home, out) == 0
    token_id = capsys.readouterr().out.splitlines()[-1]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    if ending == ".svg":
        assert out.read_text().lstrip().startswith(("<?xml", "<svg"))
        return
    decoded = zxingcpp.read_barcodes(Image.open(out))
    assert len(decoded) == 1
    venue_pass = read_pass(decoded[0].text, trusted(home))
    assert venue_pass.token_id == token_id and venue_pass.name == "Trần Văn B"


def test_pass_issue_with_dates(home, tmp_path, capsys):
    out = tmp_path / "p.txt"
    assert issue(home, out, "--valid-from", "2020-01-01T00:00:00Z", "--valid-until", "2099-12-31T23:59:59+07:00") == 0
    venue_pass = read_pass(out.read_text().strip(), trusted(home))
    assert venue_pass.not_before == int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
    assert venue_pass.expires == int(datetime(2099, 12, 31, 16, 59, 59, tzinfo=UTC).timestamp())
    assert capsys.readouterr().out.splitlines()[-1] == venue_pass.token_id


def test_pass_issue_default_validity_is_a_year(home, tmp_path):
    out = tmp_path / "p.txt"
    before = int(time.time())
    issue(home, out)
    venue_pass = read_pass(out.read_text().strip(), trusted(home))
    assert before <= venue_pass.not_before <= before + 5
    assert venue_pass.expires - venue_pass.not_before == 365 * 86400


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--valid-days", "5", "--valid-from", "2030-01-01"], "--valid-days goes without"),
        (["--valid-days", "5", "--valid-until", "2030-01-01"], "--valid-days goes without"),
        (["--valid-days", "0"], "--valid-days must be"),
        (["--valid-from", "2030-01-02", "--valid-until", "2030-01-01"], "after --valid-from"),
        (["--valid-until", "2001-01-01"], "in the past"),
        (["--valid-from", "next tuesday"], "not an ISO 8601"),
    ],
)
def test_pass_issue_bad_validity(home, tmp_path, extra, message):
    out = tmp_path / "p.txt"
    with pytest.raises(UserError, match=message):
        issue(home, out, *extra)
    assert not out.exists()


@pytest.mark.parametrize("name", ["pass.jpg", "pass", "pass.png.bak"])
def test_unknown_ending_is_a_user_error(home, tmp_path, name):
    with pytest.raises(UserError, match=r"must end in \.png, \.svg, \.txt"):
        issue(home, tmp_path / name)


def test_missing_output_folder_is_a_user_error(home, tmp_path):
    with pytest.raises(UserError, match="cannot write"):
        issue(home, tmp_path / "no" / "such" / "p.txt")


def test_bad_holder_id_is_a_user_error(home, tmp_path):
    with pytest.raises(UserError, match="holder id"):
        run_cli(
            "pass", "issue", "--home", str(home), "--holder-id", "", "--name", "x", "--out", str(tmp_path / "p.txt")
        )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--valid-minutes", "0"], "--valid-minutes"),
        (["--broker-password", "p"], "broker user"),
        (["--wifi-psk", "12345678"], "Wi-Fi"),
        (["--vehicle", "75B"], "bus mode"),
        (["--topic-prefix", "a/+"], "topic prefix"),
    ],
)
def test_setup_qr_bad_flags(home, tmp_path, extra, message):
    with pytest.raises(UserError, match=message):
        run_cli(
            "setup-qr",
            "--home",
            str(home),
            "--venue-id",
            "v",
            "--venue-name",
            "V",
            "--device-id",
            "d",
            "--broker",
            "mqtt://h",
            "--out",
            str(tmp_path / "s.png"),
            *extra,
        )


@pytest.mark.parametrize(
    "argv",
    [
        ["owner", "init"],
        ["owner", "pubkey"],
        ["setup-qr"],
        ["pass", "issue"],
        ["pass", "revoke"],
        ["pass", "publish-revocations"],
        ["broker-config"],
    ],
)
def test_every_command_explains_itself(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        run_cli(*argv, "--help")
    assert caught.value.code == 0
    assert "--home" in capsys.readouterr().out or argv == ["broker-config"]


def test_mutually_required_arguments_are_argparse_errors(capsys):
    with pytest.raises(SystemExit) as caught:
        run_cli("pass", "issue", "--holder-id", "x")
    assert caught.value.code == 2
    assert "--name" in capsys.readouterr().err


def test_names_are_stored_in_nfc(home, tmp_path):
    out = tmp_path / "p.txt"
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hoa")
    run_cli("pass", "issue", "--home", str(home), "--holder-id", "x", "--name", nfd, "--out", str(out))
    assert read_pass(out.read_text().strip(), trusted(home)).name == unicodedata.normalize("NFC", nfd)
