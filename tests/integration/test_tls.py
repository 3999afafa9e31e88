"""The uplink over TLS with passwords and a client certificate, against a
real Mosquitto with a CA this test makes."""

from __future__ import annotations

import datetime
import ipaddress
import random
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.support.broker import Broker, Subscriber
from tests.support.device_harness import Device
from tests.support.mosquitto import free_port
from tests.support.process import run_ravao
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


def tls_broker(tmp_path: Path, pki: Path, server: str = "server", *, client_certificates: bool = True) -> Broker:
    passwd = tmp_path / f"passwd-{server}"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "door-01", "mật-khẩu-1"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "reader", "reader-pw"], check=True)
    tls_port = free_port()
    broker = Broker(tmp_path / f"broker-{server}", extra_conf=(
        "allow_anonymous false\n"
        f"password_file {passwd}\n"
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {pki / 'ca.pem'}\ncertfile {pki / server}.pem\nkeyfile {pki / server}.key\n"
        f"require_certificate {'true' if client_certificates else 'false'}\n"))
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


# A device set up by QR has no CA file, and no client certificate either.


def setup_qr_text(tmp_path: Path, port: int, *trust: str) -> str:
    home, out = tmp_path / "owner", tmp_path / "setup.txt"
    if not home.exists():
        assert run_ravao("owner", "init", "--home", str(home)).returncode == 0
    done = run_ravao("setup-qr", "--home", str(home), "--venue-id", "bv-hue", "--venue-name", "Bệnh viện",
                     "--device-id", "door-01", "--broker", f"mqtts://127.0.0.1:{port}", "--broker-user", "door-01",
                     "--broker-password", "mật-khẩu-1", *trust, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out.read_text().strip()


def certificate_sha256(pem: Path) -> str:
    return x509.load_pem_x509_certificate(pem.read_bytes()).fingerprint(hashes.SHA256()).hex()


@pytest.mark.parametrize("trust, online, said", [
    pytest.param("ca", True, None, id="the CA carried in the QR"),
    pytest.param("ca-der", True, None, id="the CA as DER"),
    pytest.param("pin", True, None, id="the broker certificate pinned"),
    pytest.param("wrong pin", False, "not the pinned", id="another certificate pinned"),
    pytest.param("nothing", False, "TLS verification failed (self-signed certificate in certificate chain)",
                 id="the system's trust store, which has not the private CA"),
])
def test_a_device_set_up_by_qr_checks_the_broker(tmp_path, pki, trust, online, said, caplog):
    (pki / "ca.der").write_bytes(x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER))
    options = {"ca": ("--broker-ca", str(pki / "ca.pem")), "ca-der": ("--broker-ca", str(pki / "ca.der")),
               "pin": ("--broker-cert-sha256", certificate_sha256(pki / "server.pem")),
               "wrong pin": ("--broker-cert-sha256", certificate_sha256(pki / "wrong-host.pem")),
               "nothing": ()}[trust]
    with tls_broker(tmp_path, pki, client_certificates=False) as broker:
        sub = Subscriber(broker.port, "ravao/#", username="reader", password="reader-pw")
        dev = Device(tmp_path, f'[storage]\nstate_dir = "{tmp_path / "state"}"\n\n'
                               f'[camera]\nsource = "images:{tmp_path}"\n')
        try:
            (d,) = dev.show(setup_qr_text(tmp_path, broker.tls_port, *options))
            assert d.result.value == "pass"
            dev.show(CARDS[0].text())
            if online:
                assert dev.wait_until(lambda: dev.daemon.uplink.state.online)
                events = sub.wait_events(2)
                assert [e["credential"].get("name") for e in events if e["credential"]["type"] == "cccd"] == [
                    CARDS[0].name]
            else:
                time.sleep(2.0)  # a few connection attempts
                assert not dev.daemon.uplink.state.online
                assert dev.daemon.outbox.count_unsent() == 2  # the setup and the card, kept
                tried = [r.getMessage() for r in caplog.records if "cannot reach the broker" in r.getMessage()]
                assert tried and said in tried[0], tried
        finally:
            dev.close()
            sub.close()


def test_setup_qr_takes_only_a_ca_certificate(tmp_path, pki):
    home = tmp_path / "owner"
    assert run_ravao("owner", "init", "--home", str(home)).returncode == 0
    common = ("setup-qr", "--home", str(home), "--venue-id", "v", "--venue-name", "V", "--device-id", "d",
              "--broker", "mqtts://broker.example.org", "--out", str(tmp_path / "q.txt"))
    for path, says in ((pki / "server.pem", "not a CA certificate"), (pki / "server.key", "not a certificate"),
                       (tmp_path / "none.pem", "cannot read")):
        done = run_ravao(*common, "--broker-ca", str(path))
        assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr, done.stderr
    big_ca = tmp_path / "big-ca.pem"  # a CA certificate the QR cannot hold
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    now = datetime.datetime.now(datetime.UTC)
    noise = random.Random(1)  # names that do not compress
    names = x509.SubjectAlternativeName([x509.DNSName(f"{noise.randbytes(20).hex()}.example.org") for _ in range(30)])
    big = (x509.CertificateBuilder().subject_name(_name("big")).issuer_name(_name("big")).public_key(key.public_key())
           .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .add_extension(names, critical=False).sign(key, hashes.SHA256()))
    big_ca.write_bytes(big.public_bytes(serialization.Encoding.PEM))
    done = run_ravao(*common, "--broker-ca", str(big_ca))
    assert done.returncode != 0 and "too large for a QR code" in done.stderr, done.stderr
    done = run_ravao(*common, "--broker-cert-sha256", "12ab")
    assert done.returncode != 0 and "64 lowercase hex digits" in done.stderr, done.stderr
