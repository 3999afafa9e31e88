"""The owner's commands: ``owner``, ``setup-qr``, ``pass``, ``broker-config``.

:func:`register` adds them to the ``ravao`` command line; each handler takes
the parsed arguments, prints its result and returns the exit status, and
raises :class:`~appliance.errors.UserError` (one line) on bad input.
"""

from __future__ import annotations

import argparse
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from provisioning import broker, keys, revocations
from provisioning.files import write_atomic
from provisioning.publish import publish_retained
from provisioning.qrfile import ENDINGS, write_qr
from ravao_protocol import fields, topics
from ravao_protocol.errors import UserError
from ravao_protocol.keys import key_id_hex, public_pem
from ravao_protocol.numbers import finite_number
from ravao_protocol.passes import issue_pass
from ravao_protocol.revocations import normalize_token_id, sign_revocations
from ravao_protocol.settings import DIRECTIONS, MODES
from ravao_protocol.setup_qr import SetupSettings, make_setup_qr

DEFAULT_PASS_DAYS = 365
DEFAULT_SETUP_MINUTES = 15  # it carries the broker password: a photo of it sets up a device until it expires
MAX_SETUP_MINUTES = 24 * 60
MAX_PASS_DAYS = 100 * 366
DEFAULT_TOPIC_PREFIX = "ravao"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the owner's commands to the ``ravao`` subcommands."""
    _register_owner(subparsers)
    _register_setup_qr(subparsers)
    _register_pass(subparsers)
    _register_broker_config(subparsers)


def _home_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        metavar="DIR",
        type=Path,
        default=None,
        help="the owner's folder (default: $RAVAO_HOME, then ~/.config/ravao)",
    )


def _out_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        required=True,
        help=f"where to write the {what}; the ending decides the format: {', '.join(ENDINGS)} (the raw QR text)",
    )


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker", metavar="URL", required=True, help="mqtt://host[:port] or mqtts://host[:port] (TLS)"
    )
    parser.add_argument("--broker-user", metavar="U", default="", help="broker user name")
    parser.add_argument("--broker-password", metavar="P", default="", help="broker password")


def _home(args: argparse.Namespace) -> Path:
    return args.home if args.home is not None else keys.default_home()


def _nfc(text: str) -> str:
    """Names as one form of Unicode (a terminal may give NFD), as the devices show them."""
    return unicodedata.normalize("NFC", text)


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- owner


def _register_owner(subparsers: argparse._SubParsersAction) -> None:
    owner = subparsers.add_parser(
        "owner", help="the venue owner's signing key", description="The venue owner's signing key."
    )
    commands = owner.add_subparsers(dest="owner_command", metavar="COMMAND", required=True)
    init = commands.add_parser(
        "init",
        help="create the owner's signing key",
        description="Create the owner's Ed25519 signing key (owner.key, mode 0600, and owner.pub) "
        "in the home folder and print its key id. Never overwrites a key.",
    )
    _home_option(init)
    init.set_defaults(func=owner_init)
    pubkey = commands.add_parser(
        "pubkey",
        help="print the owner's public key (PEM)",
        description="Print the owner's public key (SubjectPublicKeyInfo PEM). A device that should trust this "
        "owner's passes without its setup QR takes it as a file: save it (ravao owner pubkey > owner.pub), copy "
        'the file to the device and list its path in the config: [policy] trusted_keys = ["/etc/ravao/owner.pub"].',
    )
    _home_option(pubkey)
    pubkey.set_defaults(func=owner_pubkey)


def owner_init(args: argparse.Namespace) -> int:
    """``ravao owner init``: create the key and print its id."""
    home = _home(args)
    kid = keys.init_owner(home)
    print(f"created {home / keys.PRIVATE_FILE} and {home / keys.PUBLIC_FILE}")
    print(kid.hex())
    return 0


def owner_pubkey(args: argparse.Namespace) -> int:
    """``ravao owner pubkey``: print the public key PEM."""
    print(public_pem(keys.load_owner(_home(args)).public_key()), end="")
    return 0


# ---------------------------------------------------------------- setup-qr


def _register_setup_qr(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "setup-qr",
        help="make a signed setup QR for one device",
        description="Make a signed setup QR: shown to a device, it sets the device's identity, "
        "broker and Wi-Fi. A new device pins the key that signed it.",
    )
    _home_option(p)
    p.add_argument("--venue-id", metavar="ID", required=True, help="the venue's id (A-Z a-z 0-9 . _ -)")
    p.add_argument("--venue-name", metavar="NAME", required=True, help="the venue's name, for the display")
    p.add_argument("--device-id", metavar="ID", required=True, help="the device's id (A-Z a-z 0-9 . _ -)")
    _broker_options(p)
    p.add_argument(
        "--topic-prefix", metavar="PREFIX", default=DEFAULT_TOPIC_PREFIX, help="MQTT topic prefix (default: ravao)"
    )
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--broker-ca", metavar="FILE", type=Path, default=None,
                       help="mqtts://: the broker CA's certificate (PEM or DER), carried in the QR "
                            "(default: the device trusts its system's CAs)")
    trust.add_argument("--broker-cert-sha256", metavar="HEX", default="",
                       help="mqtts://: trust exactly the broker certificate with this SHA-256 (of its DER; "
                            "`openssl x509 -in broker.crt -outform DER | sha256sum`), whoever signed it")
    p.add_argument("--wifi-ssid", metavar="S", default="", help="Wi-Fi network name")
    p.add_argument("--wifi-psk", metavar="P", default="", help="Wi-Fi password (none: an open network)")
    p.add_argument("--mode", choices=MODES, default="door", help="door (default) or bus")
    p.add_argument("--direction", choices=DIRECTIONS, default="in", help="what a scan records (default: in)")
    p.add_argument("--vehicle", metavar="V", default="", help="bus mode: the plate number")
    p.add_argument("--route", metavar="R", default="", help="bus mode: the route name")
    p.add_argument(
        "--valid-minutes",
        metavar="N",
        type=int,
        default=DEFAULT_SETUP_MINUTES,
        help=f"how long the QR can be used (default: {DEFAULT_SETUP_MINUTES}, at most {MAX_SETUP_MINUTES})",
    )
    _out_option(p, "setup QR")
    p.set_defaults(func=setup_qr)


def setup_qr(args: argparse.Namespace) -> int:
    """``ravao setup-qr``: sign the settings and write the QR."""
    if not 1 <= args.valid_minutes <= MAX_SETUP_MINUTES:
        raise UserError(f"--valid-minutes must be between 1 and {MAX_SETUP_MINUTES}")
    private_key = keys.load_owner(_home(args))
    now = int(time.time())
    settings = SetupSettings(
        device_id=args.device_id,
        venue_id=args.venue_id,
        venue_name=_nfc(args.venue_name),
        broker_url=args.broker,
        broker_user=args.broker_user,
        broker_password=args.broker_password,
        wifi_ssid=args.wifi_ssid,
        wifi_psk=args.wifi_psk,
        mode=args.mode,
        direction=args.direction,
        vehicle=_nfc(args.vehicle),
        route=_nfc(args.route),
        topic_prefix=args.topic_prefix,
        broker_ca=broker_ca_pem(args.broker_ca) if args.broker_ca else "",
        broker_cert_sha256=args.broker_cert_sha256.replace(":", "").strip().lower(),
        issued_at=now,
        expires=now + 60 * args.valid_minutes,
    )
    out = write_qr(make_setup_qr(settings, private_key), args.out)
    print(
        f"setup QR for device {settings.device_id} of venue {settings.venue_id}, "
        f"usable until {_utc(settings.expires)}: {out}"
    )
    return 0


def broker_ca_pem(path: Path) -> str:
    """The CA certificate in `path` (PEM or DER) as PEM text, to carry in a setup QR."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"--broker-ca {path}: cannot read: {exc.strerror}") from None
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        raise UserError(f"--broker-ca {path}: not a certificate (PEM or DER)") from None
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise UserError(f"--broker-ca {path}: not a CA certificate (give the CA that signed the broker's, "
                        "or pin the broker's own with --broker-cert-sha256)")
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


# ---------------------------------------------------------------- pass


def _register_pass(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser(
        "pass", help="venue passes: issue, revoke, publish revocations", description="Venue passes."
    )
    commands = group.add_subparsers(dest="pass_command", metavar="COMMAND", required=True)

    issue = commands.add_parser(
        "issue",
        help="issue a signed venue pass",
        description="Issue a signed venue pass (staff, resident, student) and print its token id "
        "as the last line. Times are ISO 8601; without a zone they are local time.",
    )
    _home_option(issue)
    issue.add_argument("--holder-id", metavar="ID", required=True, help="the holder's id (staff number, …)")
    issue.add_argument("--name", metavar="NAME", required=True, help="the holder's name")
    issue.add_argument(
        "--valid-days",
        metavar="N",
        type=int,
        default=None,
        help=f"valid from now for N days (default: {DEFAULT_PASS_DAYS})",
    )
    issue.add_argument("--valid-from", metavar="ISO", default=None, help="start of validity (default: now)")
    issue.add_argument(
        "--valid-until",
        metavar="ISO",
        default=None,
        help=f"end of validity (default: {DEFAULT_PASS_DAYS} days after the start)",
    )
    _out_option(issue, "pass")
    issue.set_defaults(func=pass_issue)

    revoke = commands.add_parser(
        "revoke",
        help="add token ids to the revocation list",
        description="Add passes (by token id) to the owner's revocation list. "
        "Devices learn of it from `ravao pass publish-revocations`.",
    )
    _home_option(revoke)
    revoke.add_argument("token_ids", metavar="TOKEN_ID", nargs="+", help="32 hex digits, as `pass issue` printed")
    revoke.set_defaults(func=pass_revoke)

    publish = commands.add_parser(
        "publish-revocations",
        help="publish the signed revocation list to the broker",
        description="Publish the owner-signed revocation list, retained, QoS 1, to "
        "{topic_prefix}/{venue_id}/revocations of each venue, and wait for the broker to acknowledge it.",
    )
    _home_option(publish)
    publish.add_argument(
        "--venue-id", metavar="ID", nargs="+", action="extend", required=True, help="the venues to publish to"
    )
    _broker_options(publish)
    publish.add_argument(
        "--ca-file", metavar="FILE", default="", help="CA certificate(s) for mqtts:// (default: the system's)"
    )
    publish.add_argument(
        "--topic-prefix", metavar="PREFIX", default=DEFAULT_TOPIC_PREFIX, help="MQTT topic prefix (default: ravao)"
    )
    publish.add_argument(
        "--timeout", metavar="S", type=finite_number, default=10.0, help="seconds to wait for the broker (default: 10)"
    )
    publish.set_defaults(func=pass_publish_revocations)


def _parse_time(text: str, flag: str) -> int:
    """An ISO 8601 date or time from a person; no zone = local time."""
    try:
        return int(datetime.fromisoformat(text.strip()).astimezone().timestamp())
    except (ValueError, OverflowError, OSError):
        raise UserError(f"{flag}: not an ISO 8601 date or time: {text!r}") from None


def _pass_window(args: argparse.Namespace, now: int) -> tuple[int, int]:
    if args.valid_days is not None:
        if args.valid_from is not None or args.valid_until is not None:
            raise UserError("--valid-days goes without --valid-from and --valid-until")
        if not 1 <= args.valid_days <= MAX_PASS_DAYS:
            raise UserError(f"--valid-days must be between 1 and {MAX_PASS_DAYS}")
        return now, now + 86400 * args.valid_days
    start = now if args.valid_from is None else _parse_time(args.valid_from, "--valid-from")
    end = (
        start + 86400 * DEFAULT_PASS_DAYS
        if args.valid_until is None
        else _parse_time(args.valid_until, "--valid-until")
    )
    if end <= now:
        raise UserError("--valid-until is in the past")
    if end <= start:
        raise UserError("--valid-until must be after --valid-from")
    return start, end


def pass_issue(args: argparse.Namespace) -> int:
    """``ravao pass issue``: sign a pass, write it, print its token id last."""
    now = int(time.time())
    start, end = _pass_window(args, now)
    private_key = keys.load_owner(_home(args))
    text, venue_pass = issue_pass(private_key, _nfc(args.holder_id), _nfc(args.name), start, end, now)
    revocations.record_issued(_home(args), venue_pass.token_id, end, now)
    out = write_qr(text, args.out)
    print(f"pass for {venue_pass.name} ({venue_pass.holder_id}), valid {_utc(start)} to {_utc(end)}: {out}")
    print(venue_pass.token_id)
    return 0


def pass_revoke(args: argparse.Namespace) -> int:
    """``ravao pass revoke``: add token ids to the owner's list."""
    home = _home(args)
    added = revocations.revoke(home, args.token_ids)
    for token in added:
        print(f"revoked {token}")
    already = len({normalize_token_id(t) for t in args.token_ids}) - len(added)
    if already:
        print(f"{already} token id(s) were revoked already")
    print("devices learn of it from `ravao pass publish-revocations`")
    return 0


def pass_publish_revocations(args: argparse.Namespace) -> int:
    """``ravao pass publish-revocations``: sign the list and publish it to each venue."""
    for value, check, flag in [(v, fields.ident, "--venue-id") for v in args.venue_id] + [
        (args.topic_prefix, fields.topic_prefix, "--topic-prefix")
    ]:
        try:
            check(value)
        except ValueError as exc:
            raise UserError(f"{flag} {value!r}: {exc}") from None
    if not 0 < args.timeout <= 600:
        raise UserError("--timeout must be between 0 and 600 seconds")
    home = _home(args)
    private_key = keys.load_owner(home)
    now = int(time.time())
    tokens, expired = revocations.in_force(home, now)
    payload = sign_revocations(tokens, private_key, now)
    issuer = key_id_hex(private_key.public_key())
    # the first topic, which every owner of a venue shares, and the owner's own
    revocation_topics = [topic for venue in dict.fromkeys(args.venue_id) for topic in (
        topics.revocations(args.topic_prefix, venue), topics.issuer_revocations(args.topic_prefix, venue, issuer))]
    publish_retained(
        args.broker,
        [(topic, payload) for topic in revocation_topics],
        username=args.broker_user,
        password=args.broker_password,
        ca_file=args.ca_file,
        timeout=args.timeout,
    )
    for topic in revocation_topics:
        print(f"published {len(tokens)} revoked token id(s) to {topic}")
    if expired:
        print(f"{expired} revoked pass(es) expired more than a day ago: no longer on the list")
    return 0


# ---------------------------------------------------------------- broker-config


def _register_broker_config(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "broker-config",
        help="write Mosquitto accounts, ACL and persistence settings for the devices",
        description="Write a Mosquitto password file (ravao.passwd) and ACL file (ravao.acl) for the "
        "devices listed in a CSV file (header: venue_id,device_id,password[,username]; the user name "
        "defaults to VENUE_ID/DEVICE_ID), for the owner's account and, with --collector-password, for "
        "the central collector; write ravao.conf for /etc/mosquitto/conf.d/ (the accounts, and "
        "persistence and queue settings that keep a stopped collector's messages, each with a comment); "
        "and print the mosquitto.conf lines that use the two files. Each device may publish only its own "
        "events and status and read only its venue's revocations; the owner publishes revocations and "
        "reads events and status; the collector reads every device's events and status and writes nothing. "
        "Without --collector-password the collector gets no account.",
    )
    p.add_argument("--devices", metavar="FILE", type=Path, required=True, help="CSV file of devices")
    p.add_argument("--owner-user", metavar="U", default="owner", help="the owner's broker user name (default: owner)")
    p.add_argument("--owner-password", metavar="P", required=True, help="the owner's broker password")
    p.add_argument(
        "--out-dir", metavar="DIR", type=Path, required=True,
        help="where to write ravao.passwd, ravao.acl and ravao.conf",
    )
    p.add_argument(
        "--topic-prefix", metavar="PREFIX", default=DEFAULT_TOPIC_PREFIX, help="MQTT topic prefix (default: ravao)"
    )
    p.add_argument("--collector-user", metavar="U", default=None,
                   help="the central collector's broker user name (default: "
                   f"{broker.DEFAULT_COLLECTOR_USER}; needs --collector-password)")
    p.add_argument("--collector-password", metavar="P", default=None,
                   help="the central collector's broker password; without it the collector gets no account")
    p.add_argument("--persistence-location", metavar="DIR", default=None,
                   help="an absolute folder for Mosquitto's store, as a persistence_location line in ravao.conf "
                   "(default: none, since Debian's mosquitto.conf sets /var/lib/mosquitto/ and a second one "
                   "is an error)")
    p.set_defaults(func=broker_config)


def broker_config(args: argparse.Namespace) -> int:
    """``ravao broker-config``: write the password, ACL and ravao.conf files."""
    if args.collector_user is not None and args.collector_password is None:
        raise UserError("--collector-user needs --collector-password")
    devices = broker.load_devices(args.devices)
    collector_user = broker.DEFAULT_COLLECTOR_USER if args.collector_user is None else args.collector_user
    collector = (collector_user, args.collector_password) if args.collector_password is not None else None
    if args.persistence_location is not None:  # checked before any file is written
        try:
            broker.check_persistence_location(args.persistence_location)
        except ValueError as exc:
            raise UserError(f"persistence location: {exc}") from None
    passwd, acl = broker.write_broker_config(
        args.out_dir, devices, args.owner_user, args.owner_password, args.topic_prefix, collector
    )
    conf = passwd.parent / broker.CONF_FILE
    write_atomic(conf, broker.mosquitto_conf_file(passwd, acl, args.persistence_location).encode(), 0o644)
    accounts = len(devices) + 1 + (collector is not None)
    print(f"wrote {passwd} ({accounts} accounts), {acl} and {conf}")
    if collector is None:
        print("# no --collector-password: no account for the central collector")
    print(f"# for mosquitto.conf (the files must be readable by the mosquitto user), or copy {conf.name}")
    print("# to /etc/mosquitto/conf.d/: it also keeps queued messages on disk")
    print(broker.mosquitto_conf(passwd, acl), end="")
    return 0
