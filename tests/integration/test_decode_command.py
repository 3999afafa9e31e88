"""`ravao decode`: text, type and decision per code, without a broker."""

from __future__ import annotations

import json

import pytest

from tests.support.process import run_ravao
from tests.support.samples import CARDS, MALFORMED_CARD, qr_png


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_json_report(tmp_path, backend):
    card = qr_png(CARDS[3].text(nfd=True), tmp_path / "card.png")
    bad = qr_png(MALFORMED_CARD.text(), tmp_path / "bad.png")
    text = qr_png("xin chào", tmp_path / "text.png")
    blank = tmp_path / "blank.png"
    __import__("PIL.Image").Image.new("L", (64, 64), 255).save(blank)
    done = run_ravao("decode", "--backend", backend, "--json", str(card), str(bad), str(text), str(blank))
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["file"] for r in reports] == [str(card), str(bad), str(text), str(blank)]
    assert reports[0]["codes"] == [{"text": CARDS[3].text(nfd=True), "type": "cccd", "result": "pass", "reason": None}]
    assert reports[1]["codes"] == [{"text": MALFORMED_CARD.text(), "type": "unknown", "result": "fail",
                                    "reason": "malformed"}]
    assert reports[2]["codes"] == [{"text": "xin chào", "type": "unknown", "result": "fail",
                                    "reason": "unsupported"}]
    assert reports[3]["codes"] == []


def test_config_policy_applies(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[policy]\naccept = ["pass"]\n[storage]\nstate_dir = "%s"\n' % (tmp_path / "state"))
    card = qr_png(CARDS[0].text(), tmp_path / "card.png")
    done = run_ravao("decode", "--config", str(config), "--json", str(card))
    assert json.loads(done.stdout)["codes"][0]["reason"] == "not_accepted"


def test_human_output_and_unreadable_file(tmp_path):
    card = qr_png(CARDS[0].text(), tmp_path / "card.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG garbage")
    done = run_ravao("decode", str(card), str(junk))
    assert done.returncode == 1
    assert "cccd → pass" in done.stdout and CARDS[0].name in done.stdout
    assert f"{junk}: cannot read image" in done.stdout
    assert "Traceback" not in done.stderr


def test_setup_qr_is_checked_not_applied(tmp_path):
    home = tmp_path / "owner"
    assert run_ravao("owner", "init", "--home", str(home)).returncode == 0
    png = tmp_path / "setup.png"
    done = run_ravao("setup-qr", "--home", str(home), "--venue-id", "cho-dong-ba", "--venue-name", "Chợ Đông Ba",
                     "--device-id", "door-07", "--broker", "mqtt://127.0.0.1:1883", "--out", str(png))
    assert done.returncode == 0, done.stderr
    config = tmp_path / "c.toml"
    state = tmp_path / "state"
    config.write_text(f'[storage]\nstate_dir = "{state}"\n')
    for extra in ([], ["--config", str(config)]):
        done = run_ravao("decode", "--json", *extra, str(png))
        (code,) = json.loads(done.stdout)["codes"]
        assert (code["type"], code["result"], code["reason"]) == ("setup", "pass", None)
    assert not (state / "state.json").exists(), "decode changes nothing"


def test_a_pass_from_an_untrusted_key_says_how_to_trust_it(tmp_path):
    home = tmp_path / "owner"
    assert run_ravao("owner", "init", "--home", str(home)).returncode == 0
    pass_png = tmp_path / "pass.png"
    issued = run_ravao("pass", "issue", "--home", str(home), "--holder-id", "NV-0042", "--name", "Nhung",
                       "--out", str(pass_png))
    assert issued.returncode == 0, issued.stderr
    done = run_ravao("decode", str(pass_png))
    assert "→ fail (unknown_issuer)" in done.stdout
    assert "policy.trusted_keys" in done.stderr and "ravao owner pubkey > owner.pub" in done.stderr
    assert "Traceback" not in done.stderr
    # Trusted through the file the hint names, it passes.
    (tmp_path / "owner.pub").write_text(run_ravao("owner", "pubkey", "--home", str(home)).stdout)
    config = tmp_path / "device.toml"
    config.write_text(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n'
                      f'[policy]\ntrusted_keys = ["{tmp_path / "owner.pub"}"]\n')
    trusted = run_ravao("decode", "--config", str(config), str(pass_png))
    assert "pass → pass" in trusted.stdout, trusted.stdout + trusted.stderr
    assert "trusted_keys" not in trusted.stderr
