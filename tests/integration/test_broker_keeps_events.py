"""broker-config for the central side: the collector's read-only account,
and ravao.conf, which a real Mosquitto accepts (alone and in Debian's
conf.d), which lets a collector hold more than 20 messages unacknowledged,
and which keeps a stopped collector's messages across a broker restart."""

from __future__ import annotations

import stat
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from provisioning import broker
from tests.integration.test_provisioning_broker import DEVICES_CSV, WAIT, Peer
from tests.support.mosquitto import Mosquitto
from tests.support.signed_codes import run_cli
from tests.support.waiting import wait_for

COLLECTOR = broker.DEFAULT_COLLECTOR_USER
SESSION_EXPIRY_S = 8 * 24 * 3600  # what `ravao central collect` asks for


def broker_config(tmp_path, out, *extra):
    devices = tmp_path / "devices.csv"
    devices.write_text(DEVICES_CSV)
    assert run_cli("broker-config", "--devices", str(devices), "--owner-password", "own-pw",
                   "--collector-password", "col-pw", "--out-dir", str(out), *extra) == 0
    return out


@pytest.fixture
def written(tmp_path, capsys):
    out = broker_config(tmp_path, tmp_path / "broker", "--persistence-location", f"{tmp_path}/store/")
    (tmp_path / "store").mkdir()
    assert "5 accounts" in capsys.readouterr().out
    return out


class Collector(Peer):
    """A paho client logged in as the collector, recording what it receives
    (as :class:`Peer` does); MQTT 5 or 3.1.1, optionally with a persistent
    session and manual acks."""

    def __init__(self, mosq: Mosquitto, protocol: int, client_id: str = "", *, persistent: bool = False,
                 manual_ack: bool = False) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.acks: list[int] = []  # reason codes of the PUBACKs to its own publishes
        self.granted: list[int] = []
        self._lock = threading.Condition()
        v5 = protocol == mqtt.MQTTv5
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                                  clean_session=None if v5 else not persistent, manual_ack=manual_ack)
        self.client.username_pw_set(COLLECTOR, "col-pw")
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        connected = threading.Event()
        self.client.on_connect = lambda *_: connected.set()
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
            self.client.connect(mosq.host, mosq.port, clean_start=not persistent, properties=props)
        else:
            self.client.connect(mosq.host, mosq.port)
        self.client.loop_start()
        assert connected.wait(WAIT), "no CONNACK"

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self.acks.append(reason_code.value)
            self._lock.notify_all()

    def subscribe(self, topic: str) -> int:
        """Subscribe QoS 1; the SUBACK's code (1 granted, 128 or more refused)."""
        before = len(self.granted)
        self.client.subscribe(topic, qos=1)
        return self.wait(lambda: len(self.granted) > before, "no SUBACK") and self.granted[before]

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish QoS 1; the PUBACK's reason code (MQTT 5: 135 = not authorised; 3.1.1: always 0)."""
        before = len(self.acks)
        self.client.publish(topic, payload, qos=1)
        return self.wait(lambda: len(self.acks) > before, "no PUBACK") and self.acks[before]

    def wait(self, predicate, what: str = "", timeout: float = WAIT) -> bool:
        with self._lock:
            done = self._lock.wait_for(predicate, timeout)
        assert done or not what, what
        return done


def test_ravao_conf_is_written_and_says_what_each_setting_protects(written):
    conf = (written / broker.CONF_FILE).read_text()
    assert stat.S_IMODE((written / broker.CONF_FILE).stat().st_mode) == 0o644
    for line in ("persistence true", "autosave_interval 60", "max_queued_messages 100000",
                 "max_queued_bytes 268435456", "persistent_client_expiration 14d", "max_inflight_messages 4000",
                 "allow_anonymous false"):
        assert line + "\n" in conf
    lines = conf.splitlines()
    for name in ("persistence", "autosave_interval", "max_queued_messages", "max_queued_bytes",
                 "persistent_client_expiration", "max_inflight_messages"):
        n = next(i for i, line in enumerate(lines) if line.startswith(name + " "))
        assert lines[n - 1].startswith("#"), f"{name} comes without its reason"


def test_without_a_location_it_leaves_debians_own_in_place(tmp_path):
    text = broker.mosquitto_conf_file(tmp_path / "p", tmp_path / "a")
    assert "\npersistence_location" not in text and "Debian" in text


def test_ravao_conf_drops_into_a_debian_layout_and_a_second_location_is_refused(tmp_path, capsys):
    # Debian 12's /etc/mosquitto/mosquitto.conf, with its folders moved here.
    var_lib, conf_d = tmp_path / "var-lib-mosquitto", tmp_path / "conf.d"
    var_lib.mkdir()
    conf_d.mkdir()
    main = f"persistence true\npersistence_location {var_lib}/\ninclude_dir {conf_d}\n"
    (conf_d / broker.CONF_FILE).write_text((broker_config(tmp_path, tmp_path / "a") / broker.CONF_FILE).read_text())
    mosq = Mosquitto(tmp_path, extra_conf=main).start()
    try:
        collector = Collector(mosq, mqtt.MQTTv5)
        assert collector.subscribe("ravao/+/+/events") == 1  # the accounts are loaded
        collector.close()
    finally:
        mosq.stop()
    assert (var_lib / "mosquitto.db").exists()
    assert "Error" not in mosq.log()
    with_location = broker_config(tmp_path, tmp_path / "b", "--persistence-location", str(tmp_path / "store"))
    (conf_d / broker.CONF_FILE).write_text((with_location / broker.CONF_FILE).read_text())
    with pytest.raises(RuntimeError, match="Duplicate persistence_location"):
        Mosquitto(tmp_path, extra_conf=main).start()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["3.1.1", "5"])
def test_the_collector_reads_every_devices_events_and_status_and_writes_nothing(tmp_path, written, protocol):
    conf = (written / broker.CONF_FILE).read_text()
    with Mosquitto(tmp_path, extra_conf=conf) as mosq:
        collector = Collector(mosq, protocol)
        owner = Peer(mosq, "owner", "own-pw")
        device = Peer(mosq, "cho/gate", "pw-c")
        door = Peer(mosq, "bv/door-01", "pw-a")
        try:
            assert collector.subscribe("$share/ravao/ravao/+/+/events") == 1  # as with a shared_group
            assert collector.subscribe("ravao/+/+/status") == 1
            # Mosquitto 2.0 grants any subscription and applies the ACL on delivery.
            assert collector.subscribe("ravao/bv/revocations") in (1, 128, 135)
            assert owner.subscribe("ravao/bv/#") == 1 and device.subscribe("ravao/cho/revocations") == 1
            owner.publish("ravao/bv/revocations", b"bv list")  # before the devices' messages below
            refused = 135 if protocol == mqtt.MQTTv5 else 0  # 3.1.1 has no way to say it
            assert collector.publish("ravao/bv/door-01/events", b"forged by the collector") == refused
            assert collector.publish("ravao/bv/door-01/status", b"forged status") == refused
            assert collector.publish("ravao/cho/revocations", b"forged list") == refused
            for peer, venue, name in ((device, "cho", "gate"), (door, "bv", "door-01")):
                peer.publish(f"ravao/{venue}/{name}/events", f"{name} event".encode())
                peer.publish(f"ravao/{venue}/{name}/status", f"{name} status".encode())
            assert collector.wait(lambda: len(collector.received) >= 4)
            assert sorted(collector.received) == sorted([
                ("ravao/cho/gate/events", b"gate event"), ("ravao/cho/gate/status", b"gate status"),
                ("ravao/bv/door-01/events", b"door-01 event"), ("ravao/bv/door-01/status", b"door-01 status")])
            # Everything the collector might have been sent came before the devices' messages.
            owner.publish("ravao/bv/revocations", b"marker")  # after the forgeries, on the owner's own link
            assert owner.wait_for("ravao/bv/revocations", b"marker")
            assert ("ravao/bv/revocations", b"bv list") in owner.received
            assert not [m for m in owner.received + device.received if m[1].startswith(b"forged")]
            assert not [m for m in collector.received if m[1].startswith(b"forged")]
        finally:
            for peer in (collector, owner, device, door):
                peer.close()


@pytest.mark.parametrize("with_ravao_conf, in_flight", [(True, 200), (False, 20)], ids=["ravao.conf", "default"])
def test_a_collector_may_hold_many_messages_unacknowledged(tmp_path, written, with_ravao_conf, in_flight):
    """A 3.1.1 subscriber that acknowledges nothing yet (as the collector before a
    commit) gets every message with ravao.conf, and 20 with Mosquitto's default."""
    conf = (written / broker.CONF_FILE).read_text()
    if not with_ravao_conf:
        conf = "".join(line + "\n" for line in conf.splitlines() if not line.startswith("max_inflight_messages"))
    with Mosquitto(tmp_path, extra_conf=conf) as mosq:
        collector = Collector(mosq, mqtt.MQTTv311, manual_ack=True)
        device = Peer(mosq, "bv/door-01", "pw-a")
        try:
            assert collector.subscribe("ravao/+/+/events") == 1
            for n in range(200):
                device.publish("ravao/bv/door-01/events", f"event {n}".encode())
            assert collector.wait(lambda: len(collector.received) >= in_flight), len(collector.received)
            if in_flight < 200:  # the rest waits at the broker for acknowledgements
                assert not collector.wait(lambda: len(collector.received) > in_flight, timeout=1.0)
            assert len(collector.received) == in_flight
        finally:
            collector.close()
            device.close()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["3.1.1", "5"])
def test_a_stopped_collectors_messages_survive_a_broker_restart(tmp_path, written, protocol):
    conf = (written / broker.CONF_FILE).read_text()
    mosq = Mosquitto(tmp_path, extra_conf=conf).start()
    client_id = f"collector-{uuid.uuid4().hex[:6]}"
    try:
        first = Collector(mosq, protocol, client_id, persistent=True)
        assert first.subscribe("ravao/+/+/events") == 1
        first.close()
        device = Peer(mosq, "bv/door-01", "pw-a")
        for n in range(20):
            device.publish("ravao/bv/door-01/events", f"event {n}".encode())
        device.close()
        mosq.stop()  # SIGTERM: mosquitto writes its store
        assert (tmp_path / "store" / "mosquitto.db").stat().st_size > 0
        mosq.start()
        second = Collector(mosq, protocol, client_id, persistent=True)
        try:
            assert wait_for(lambda: len(second.received) >= 20, timeout=WAIT), second.received
        finally:
            second.close()
        assert sorted(p for _, p in second.received) == sorted(f"event {n}".encode() for n in range(20))
    finally:
        mosq.stop()
