"""broker-config for the central side: the collector's read-only account,
and ravao.conf, which a real Mosquitto accepts and which keeps a stopped
collector's messages across a broker restart."""

from __future__ import annotations

import stat
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from provisioning import broker
from tests.integration.test_provisioning_broker import DEVICES_CSV, Peer
from tests.support.mosquitto import Mosquitto
from tests.support.signed_codes import run_cli
from tests.support.waiting import wait_for


@pytest.fixture
def written(tmp_path, capsys):
    devices = tmp_path / "devices.csv"
    devices.write_text(DEVICES_CSV)
    out = tmp_path / "broker"
    assert run_cli("broker-config", "--devices", str(devices), "--owner-password", "own-pw",
                   "--collector-password", "col-pw", "--out-dir", str(out),
                   "--persistence-location", f"{tmp_path}/store/") == 0
    (tmp_path / "store").mkdir()
    assert "5 accounts" in capsys.readouterr().out
    return out


def test_ravao_conf_is_written_and_says_what_each_setting_protects(written):
    conf = (written / broker.CONF_FILE).read_text()
    assert stat.S_IMODE((written / broker.CONF_FILE).stat().st_mode) == 0o644
    for line in ("persistence true", "autosave_interval 60", "max_queued_messages 100000",
                 "persistent_client_expiration 14d", "max_inflight_messages 4000", "allow_anonymous false"):
        assert line + "\n" in conf
    lines = conf.splitlines()
    for name in ("persistence", "autosave_interval", "max_queued_messages", "persistent_client_expiration",
                 "max_inflight_messages"):
        n = next(i for i, line in enumerate(lines) if line.startswith(name + " "))
        assert lines[n - 1].startswith("#"), f"{name} comes without its reason"


def test_without_a_location_it_leaves_debians_own_in_place(tmp_path):
    text = broker.mosquitto_conf_file(tmp_path / "p", tmp_path / "a")
    assert "\npersistence_location" not in text and "Debian" in text


def test_the_collector_reads_every_devices_events_and_status_and_writes_nothing(tmp_path, written):
    conf = (written / broker.CONF_FILE).read_text()
    with Mosquitto(tmp_path, extra_conf=conf) as mosq:
        collector = Peer(mosq, broker.DEFAULT_COLLECTOR_USER, "col-pw")
        owner = Peer(mosq, "owner", "own-pw")
        device = Peer(mosq, "cho/gate", "pw-c")
        try:
            for topic in ("ravao/+/+/events", "ravao/+/+/status"):
                assert collector.subscribe(topic) == 1
            assert owner.subscribe("ravao/bv/#") == 1 and device.subscribe("ravao/cho/revocations") == 1
            collector.publish("ravao/bv/door-01/events", b"forged by the collector")
            collector.publish("ravao/cho/revocations", b"forged list")
            device.publish("ravao/cho/gate/events", b"gate event")
            device.publish("ravao/cho/gate/status", b"gate status")
            assert collector.wait_for("ravao/cho/gate/status", b"gate status")
            assert ("ravao/cho/gate/events", b"gate event") in collector.received
            owner.publish("ravao/bv/revocations", b"marker")  # after the forgeries, on the owner's own link
            assert owner.wait_for("ravao/bv/revocations", b"marker")
            assert ("ravao/bv/door-01/events", b"forged by the collector") not in owner.received
            assert ("ravao/cho/revocations", b"forged list") not in device.received
            assert ("ravao/bv/door-01/events", b"forged by the collector") not in collector.received
        finally:
            for peer in (collector, owner, device):
                peer.close()


def test_a_stopped_collectors_messages_survive_a_broker_restart(tmp_path, written):
    conf = (written / broker.CONF_FILE).read_text()
    mosq = Mosquitto(tmp_path, extra_conf=conf).start()
    client_id = f"collector-{uuid.uuid4().hex[:6]}"
    got: list[bytes] = []

    def session() -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                        clean_session=False)
        c.username_pw_set(broker.DEFAULT_COLLECTOR_USER, "col-pw")
        c.on_message = lambda _c, _u, m: got.append(m.payload)
        c.connect(mosq.host, mosq.port)
        c.loop_start()
        return c

    try:
        first = session()
        first.subscribe("ravao/+/+/events", qos=1)
        assert wait_for(lambda: first.is_connected(), timeout=5)
        first.disconnect()
        first.loop_stop()
        device = Peer(mosq, "bv/door-01", "pw-a")
        for n in range(20):
            device.publish("ravao/bv/door-01/events", f"event {n}".encode())
        device.close()
        mosq.stop()  # SIGTERM: mosquitto writes its store
        assert any((tmp_path / "store").iterdir())
        mosq.start()
        second = session()
        try:
            assert wait_for(lambda: len(got) >= 20, timeout=10), got
        finally:
            second.disconnect()
            second.loop_stop()
        assert sorted(got) == sorted(f"event {n}".encode() for n in range(20))
    finally:
        mosq.stop()
