"""broker-config's password and ACL files, loaded by a real Mosquitto; and
publish-revocations against it."""

import base64
import ipaddress
import shutil
import socket
import stat
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from provisioning import broker, keys
from ravao_protocol.errors import UserError
from ravao_protocol.keys import key_id, key_id_hex
from ravao_protocol.revocations import verify_revocations
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.signed_codes import run_cli

WAIT = 5.0  # seconds: the bound on every wait for the broker


class Peer:
    """A paho client (MQTT 3.1.1, as the devices speak) that records what it receives."""

    def __init__(self, mosq: Mosquitto, user: str, password: str, client_id: str = "",
                 will: tuple[str, bytes] | None = None) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.granted: list[int] = []
        self.disconnects = 0
        self._lock = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        self.client.username_pw_set(user, password)
        if will:
            self.client.will_set(*will, qos=1, retain=True)
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.connect_rc = None
        self._connected = threading.Event()
        self.client.connect(mosq.host, mosq.port)
        self.client.loop_start()
        assert self._connected.wait(WAIT), "no CONNACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connect_rc = reason_code
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._lock:
            self.disconnects += 1

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.received.append((message.topic, message.payload))
            self._lock.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._lock:
            self.granted.extend(rc.value for rc in reason_codes)
            self._lock.notify_all()

    def subscribe(self, topic: str) -> int:
        """Subscribe and return the SUBACK code (0-2 granted QoS, 128 refused)."""
        before = len(self.granted)
        self.client.subscribe(topic, qos=1)
        with self._lock:
            assert self._lock.wait_for(lambda: len(self.granted) > before, WAIT), "no SUBACK"
            return self.granted[before]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish with QoS 1 and wait for the PUBACK (3.1.1: sent even when the ACL drops it)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(WAIT)
        assert info.is_published(), f"no PUBACK for {topic}"

    def wait_until(self, predicate) -> bool:
        """Whether `predicate()` became true within WAIT seconds."""
        with self._lock:
            return self._lock.wait_for(predicate, WAIT)

    def wait_for(self, topic: str, payload: bytes) -> bool:
        return self.wait_until(lambda: (topic, payload) in self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


DEVICES_CSV = """venue_id,device_id,password
bv,door-01,pw-a
bv,door-02,pw-b
cho,gate,pw-c
"""


@pytest.fixture
def broker_files(tmp_path, capsys):
    devices = tmp_path / "devices.csv"
    devices.write_text(DEVICES_CSV)
    out = tmp_path / "broker"
    assert (
        run_cli(
            "broker-config",
            "--devices",
            str(devices),
            "--owner-user",
            "owner",
            "--owner-password",
            "own-pw",
            "--out-dir",
            str(out),
        )
        == 0
    )
    printed = capsys.readouterr().out
    conf = "".join(line + "\n" for line in printed.splitlines() if not line.startswith(("#", "wrote")))
    return out, conf


@pytest.fixture
def mosq(tmp_path, broker_files):
    _, conf = broker_files
    with Mosquitto(tmp_path, extra_conf=conf) as running:
        yield running


@pytest.fixture
def peers(mosq):
    opened = []

    def open_peer(user, password, **options):
        peer = Peer(mosq, user, password, **options)
        opened.append(peer)
        return peer

    yield open_peer
    for peer in opened:
        peer.close()



def publish(home, broker_url, *extra, venues=("bv",)):
    """`ravao pass publish-revocations` for the owner in `home`."""
    return run_cli("pass", "publish-revocations", "--home", str(home), "--venue-id", *venues,
                   "--broker", broker_url, *extra)

def test_files_have_modes_and_the_conf_lines_name_them(broker_files):
    out, conf = broker_files
    assert stat.S_IMODE((out / "ravao.passwd").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "ravao.acl").stat().st_mode) == 0o644
    assert f"password_file {(out / 'ravao.passwd').resolve()}" in conf
    assert "allow_anonymous false" in conf
    lines = (out / "ravao.passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["owner", "bv/door-01", "bv/door-02", "cho/gate"]
    assert all("pw-" not in line for line in lines)


def test_password_line_matches_mosquitto_passwd(tmp_path):
    tool = shutil.which("mosquitto_passwd")
    assert tool, "mosquitto_passwd is not installed"
    path = tmp_path / "pw"
    subprocess.run([tool, "-c", "-b", str(path), "alice", "Mật khẩu 1"], check=True, capture_output=True, timeout=10)
    theirs = path.read_text().strip()
    salt = base64.b64decode(theirs.split("$")[3])
    assert broker.password_line("alice", "Mật khẩu 1", salt=salt) == theirs


def test_accounts_log_in_only_with_their_passwords(mosq):
    for user, password in (("bv/door-01", "pw-a"), ("owner", "own-pw")):
        peer = Peer(mosq, user, password)
        assert peer.connect_rc == 0
        peer.close()
    for user, password in (("bv/door-01", "pw-b"), ("owner", "pw-a"), ("nobody", "x")):
        peer = Peer(mosq, user, password)
        assert peer.connect_rc.is_failure
        peer.close()


def test_a_device_account_cannot_knock_another_device_off_with_its_client_id(peers):
    # Client ids are predictable; the broker gives each client its user name as its id instead.
    owner = peers("owner", "own-pw")
    assert owner.subscribe("ravao/bv/door-02/status") == 1
    b = peers("bv/door-02", "pw-b", client_id="ravao-bv-door-02", will=("ravao/bv/door-02/status", b"offline"))
    a = peers("bv/door-01", "pw-a", client_id="ravao-bv-door-02")
    assert a.connect_rc == 0
    b.publish("ravao/bv/door-02/status", b"online", retain=True)
    assert owner.wait_for("ravao/bv/door-02/status", b"online")
    assert b.disconnects == 0
    assert ("ravao/bv/door-02/status", b"offline") not in owner.received
    again = peers("bv/door-02", "pw-b", client_id="anything")  # its own account does take its session over
    assert b.wait_until(lambda: b.disconnects >= 1)
    assert owner.wait_for("ravao/bv/door-02/status", b"offline")
    assert again.connect_rc == 0


def test_acl_devices_publish_only_their_own_topics(peers):
    owner = peers("owner", "own-pw")
    assert owner.subscribe("ravao/bv/+/events") == 1
    assert owner.subscribe("ravao/bv/revocations") == 1
    a = peers("bv/door-01", "pw-a")
    b = peers("bv/door-02", "pw-b")
    other_venue = peers("cho/gate", "pw-c")

    b.publish("ravao/bv/door-01/events", b"b as a")  # into A's topic
    b.publish("ravao/bv/revocations", b"b revokes")
    other_venue.publish("ravao/bv/door-01/events", b"cho as a")
    a.publish("ravao/bv/revocations", b"a revokes")
    # Markers, published after the attempts on the same connections: the
    # broker handles one connection's messages in order and queues them to
    # the subscriber in order, so once the markers are in, anything the ACL
    # let through would be in too.
    a.publish("ravao/bv/door-01/events", b"a own")
    b.publish("ravao/bv/door-02/events", b"b own")
    assert owner.wait_for("ravao/bv/door-01/events", b"a own")
    assert owner.wait_for("ravao/bv/door-02/events", b"b own")
    assert other_venue.subscribe("ravao/cho/revocations") == 1
    other_venue.publish("ravao/cho/gate/status", b"online", retain=True)

    assert ("ravao/bv/door-01/events", b"b as a") not in owner.received
    assert ("ravao/bv/door-01/events", b"cho as a") not in owner.received
    assert not [m for m in owner.received if m[0] == "ravao/bv/revocations"]


def test_acl_devices_read_only_their_venues_revocations(peers):
    a = peers("bv/door-01", "pw-a")
    # Mosquitto 2.0 grants any subscription and applies the ACL on delivery.
    for topic in ("ravao/bv/revocations", "ravao/cho/revocations", "ravao/bv/door-02/events", "ravao/#"):
        assert a.subscribe(topic) in (1, 128)
    owner = peers("owner", "own-pw")
    c = peers("cho/gate", "pw-c")
    owner.publish("ravao/cho/revocations", b"cho list", retain=True)
    c.publish("ravao/cho/gate/events", b"cho event")
    c.publish("ravao/cho/gate/status", b"cho status")
    owner.publish("ravao/bv/revocations", b"bv list", retain=True)  # the marker, last
    assert a.wait_for("ravao/bv/revocations", b"bv list")
    assert {message for message in a.received} == {("ravao/bv/revocations", b"bv list")}


def test_publish_revocations_reaches_devices_signed(tmp_path, peers, mosq, capsys):
    home = tmp_path / "owner-home"
    run_cli("owner", "init", "--home", str(home))
    token = "ab" * 16
    run_cli("pass", "revoke", "--home", str(home), token)
    done = publish(home, mosq.url, "--broker-user", "owner", "--broker-password", "own-pw", venues=("bv", "cho"))
    assert done == 0
    assert "published 1 revoked token id(s) to ravao/cho/revocations" in capsys.readouterr().out

    device = peers("cho/gate", "pw-c")  # subscribes after the publish: the list is retained
    assert device.subscribe("ravao/cho/revocations") == 1
    assert device.wait_until(lambda: device.received)
    topic, payload = device.received[0]
    owner_key = keys.load_owner(home).public_key()
    got = verify_revocations(payload, {key_id(owner_key): owner_key}, datetime.now(UTC))
    assert got.token_ids == {token}


def test_publish_revocations_refused_for_a_device_account(tmp_path, mosq):
    home = tmp_path / "owner-home"
    run_cli("owner", "init", "--home", str(home))
    with pytest.raises(UserError, match="refused ravao/bv/revocations: Not authorized"):
        publish(home, mosq.url, "--broker-user", "bv/door-01", "--broker-password", "pw-a")
    with pytest.raises(UserError, match="refused the login"):
        publish(home, mosq.url, "--broker-user", "owner", "--broker-password", "wrong")


def test_publish_revocations_unreachable_broker(tmp_path):
    home = tmp_path / "owner-home"
    run_cli("owner", "init", "--home", str(home))
    started = time.monotonic()
    with pytest.raises(UserError, match="cannot reach the broker at 127.0.0.1"):
        publish(home, f"mqtt://127.0.0.1:{free_port()}", "--timeout", "2")
    assert time.monotonic() - started < 5
    with pytest.raises(UserError, match="mqtt:// or mqtts://"):
        publish(home, "http://x")
    with pytest.raises(UserError, match="--venue-id"):
        run_cli("pass", "publish-revocations", "--home", str(home), "--venue-id", "a/b", "--broker", "mqtt://x")


@pytest.mark.parametrize(
    "content, message",
    [
        ("venue_id,device_id\nv,d\n", "no 'password' column"),
        ("venue_id,device_id,password,colour\nv,d,p,red\n", "unknown column 'colour'"),
        ("venue_id,device_id,password\n", "lists no devices"),
        ("venue_id,device_id,password\nv,d\n", ":2: expected 3"),
        ("venue_id,device_id,password\nv,d,p,extra\n", ":2: expected 3"),
        ("venue_id,device_id,password\nv,d/x,p\n", ":2: device_id"),
        ("venue_id,device_id,password\nv,d,\n", ":2: password"),
        ("venue_id,device_id,password,username\nv,d,p,a:b\n", ":2: username"),
        ("venue_id,device_id,password\nv,d,p\nv,d,q\n", "used twice"),
        ("venue_id,device_id,password,username\nv,d,p,owner\n", "used twice"),
    ],
)
def test_bad_devices_file(tmp_path, content, message):
    path = tmp_path / "devices.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        run_cli("broker-config", "--devices", str(path), "--owner-password", "x", "--out-dir", str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_devices_file_with_user_names_and_bom(tmp_path):
    path = tmp_path / "devices.csv"
    path.write_bytes('\ufeffvenue_id,device_id,password,username\nv,d,"p,1",dev-d\nv,e,p2,\n'.encode())
    devices = broker.load_devices(path)
    assert [(d.user, d.password) for d in devices] == [("dev-d", "p,1"), ("v/e", "p2")]
    acl = broker.acl_text(devices, "boss", "pre")
    assert "user dev-d\ntopic write pre/v/d/events\ntopic write pre/v/d/status\ntopic read pre/v/revocations" in acl
    assert "user boss\ntopic readwrite pre/v/revocations" in acl


def test_publish_revocations_silent_broker_times_out(tmp_path):
    home = tmp_path / "owner-home"
    run_cli("owner", "init", "--home", str(home))
    with socket.socket() as silent:  # accepts TCP (the kernel does) and never answers MQTT
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(UserError, match="did not answer within 1 s"):
            publish(home, f"mqtt://127.0.0.1:{port}", "--timeout", "1")
        assert time.monotonic() - started < 4


def _tls_files(folder):
    """A CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.now(UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {name: folder / f"{name}.pem" for name in ("ca", "server", "server-key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["server"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths["server-key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def test_publish_revocations_over_tls(tmp_path, capsys):
    home = tmp_path / "owner-home"
    run_cli("owner", "init", "--home", str(home))
    tls = _tls_files(tmp_path)
    conf = f"allow_anonymous true\ncafile {tls['ca']}\ncertfile {tls['server']}\nkeyfile {tls['server-key']}\n"
    with Mosquitto(tmp_path, extra_conf=conf) as mosq:
        url = f"mqtts://127.0.0.1:{mosq.port}"
        assert (
            publish(home, url, "--ca-file", str(tls["ca"]))
            == 0
        )
        assert "ravao/bv/revocations" in capsys.readouterr().out
        with pytest.raises(UserError, match="cannot reach the broker"):  # the system CAs do not know this one
            run_cli("pass", "publish-revocations", "--home", str(home), "--venue-id", "bv", "--broker", url)
        with pytest.raises(UserError, match="CA file"):
            publish(home, url, "--ca-file", str(tmp_path / "missing.pem"))


def test_each_owners_list_also_goes_to_its_own_topic_which_only_owners_write(tmp_path, peers, mosq):
    home = tmp_path / "owner-home"
    run_cli("owner", "init", "--home", str(home))
    run_cli("pass", "revoke", "--home", str(home), "cd" * 16)
    assert publish(home, mosq.url, "--broker-user", "owner", "--broker-password", "own-pw") == 0
    issuer = key_id_hex(keys.load_owner(home).public_key())
    device, other_venue = peers("bv/door-01", "pw-a"), peers("cho/gate", "pw-c")
    device.publish(f"ravao/bv/revocations/{'0' * 16}", b"a device's list", retain=True)
    for peer in (device, other_venue):
        peer.subscribe("ravao/bv/revocations/+")
    assert device.wait_until(lambda: device.received)
    assert [topic for topic, _ in device.received] == [f"ravao/bv/revocations/{issuer}"]
    assert device.received[0][1] == mosq_retained(peers, "ravao/bv/revocations")
    assert not other_venue.received  # another venue's device reads none of it


def mosq_retained(peers, topic: str) -> bytes:
    """The retained message on `topic`, as the owner reads it."""
    owner = peers("owner", "own-pw")
    owner.subscribe(topic)
    assert owner.wait_until(lambda: owner.received)
    return owner.received[0][1]
