"""The uplink over TLS with passwords and a client certificate, against a
real Mosquitto with a CA this test makes."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.broker import Broker, Subscriber
from tests.support.device_harness import Device
from tests.support.mosquitto import free_port
from tests.support.samples import CARDS


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key, cert) -> None:
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_ca(folder: Path, name: str) -> tuple:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    _write(folder / name, key, cert)
    return key, cert


def issue_cert(folder: Path, name: str, ca: tuple, *, hosts: list[str] = (), client: bool = False) -> None:
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30)))
    if hosts:
        alt = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    _write(folder / name, key, builder.sign(ca_key, hashes.SHA256()))


@pytest.fixture
def pki(tmp_path):
    folder = tmp_path / "pki"
    folder.mkdir()
    ca = make_ca(folder, "ca")
    make_ca(folder, "other-ca")
    issue_cert(folder, "server", ca, hosts=["127.0.0.1", "localhost"])
    issue_cert(folder, "wrong-host", ca, hosts=["broker.example.org"])
    issue_cert(folder, "device", ca, client=True)
    return folder


def tls_broker(tmp_path: Path, pki: Path, server: str = "server") -> Broker:
    passwd = tmp_path / f"passwd-{server}"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "door-01", "mật-khẩu-1"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "reader", "reader-pw"], check=True)
    tls_port = free_port()
    broker = Broker(tmp_path / f"broker-{server}", extra_conf=(
        "allow_anonymous false\n"
        f"password_file {passwd}\n"
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {pki / 'ca.pem'}\ncertfile {pki / server}.pem\nkeyfile {pki / server}.key\n"
        "require_certificate true\n"))
    broker.tls_port = tls_port
    return broker


def device_toml(state: Path, port: int, pki: Path, *, ca: str = "ca", host: str = "127.0.0.1",
                password: str = "mật-khẩu-1") -> str:
    return (
        '[device]\nid = "door-01"\nvenue_id = "bv-hue"\n\n'
        f'[mqtt]\nurl = "mqtts://{host}:{port}"\nusername = "door-01"\npassword = "{password}"\n'
        f'ca_file = "{pki / ca}.pem"\ncert_file = "{pki / "device"}.pem"\nkey_file = "{pki / "device"}.key"\n\n'
        f'[storage]\nstate_dir = "{state}"\n\n[camera]\nsource = "images:{state}"\n'
    )


def test_tls_with_password_and_client_certificate(tmp_path, pki):
    with tls_broker(tmp_path, pki) as broker:
        sub = Subscriber(broker.port, "ravao/#", username="reader", password="reader-pw")
        dev = Device(tmp_path, device_toml(tmp_path / "state", broker.tls_port, pki))
        try:
            assert dev.wait_until(lambda: dev.daemon.uplink.state.online)
            dev.show(CARDS[0].text())
            (event,) = sub.wait_events(1)
            assert event["credential"]["name"] == CARDS[0].name
        finally:
            dev.close()
            sub.close()


@pytest.mark.parametrize("case, reason", [("wrong CA",
                                           "TLS verification failed (self-signed certificate in certificate chain)"),
                                          ("wrong host name", "TLS verification failed (IP address mismatch"),
                                          ("wrong password", "the broker refused the connection: Not authorized")])
def test_tls_refusals_keep_events_unsent(tmp_path, pki, case, reason, caplog):
    server = "wrong-host" if case == "wrong host name" else "server"
    with tls_broker(tmp_path, pki, server) as broker:
        toml = device_toml(tmp_path / "state", broker.tls_port, pki, ca="other-ca" if case == "wrong CA" else "ca",
                           password="nope" if case == "wrong password" else "mật-khẩu-1")
        dev = Device(tmp_path, toml)
        try:
            dev.show(CARDS[0].text())
            time.sleep(2.0)  # a few connection attempts
            assert not dev.daemon.uplink.state.online
            assert dev.daemon.outbox.count_unsent() == 1
            said = [r.getMessage() for r in caplog.records if "cannot reach the broker" in r.getMessage()]
            assert len(said) == 1 and reason in said[0], said  # once, however often it retried
        finally:
            dev.close()
