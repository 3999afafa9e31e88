"""Mosquitto accounts and ACL for a venue's devices and its owner.

``ravao broker-config`` reads a CSV of devices and writes a password file in
the format of ``mosquitto_passwd`` (mosquitto 2.x: ``$7$`` PBKDF2-SHA512) and
an ACL file: each device may publish only to its own ``events`` and
``status`` topics and read only its venue's ``revocations``; the owner may
publish and read the revocations of every venue listed, and read its
devices' events and status; the central collector, if it has an account,
reads every device's events and status and writes nothing. A third file,
``ravao.conf`` for ``/etc/mosquitto/conf.d/``, uses them and makes the broker
keep what it has not delivered yet (:func:`mosquitto_conf_file`).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.files import write_atomic
from ravao_protocol import fields, topics
from ravao_protocol.errors import UserError

PASSWD_FILE = "ravao.passwd"
ACL_FILE = "ravao.acl"
CONF_FILE = "ravao.conf"
DEFAULT_COLLECTOR_USER = "ravao-central"
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.x writes
SALT_BYTES = 12
COLUMNS = ("venue_id", "device_id", "password", "username")
REQUIRED_COLUMNS = COLUMNS[:3]
MAX_DEVICES_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DeviceAccount:
    """One device's broker account."""

    venue_id: str
    device_id: str
    password: str
    username: str = ""  # empty: "{venue_id}/{device_id}"

    @property
    def user(self) -> str:
        """The MQTT user name."""
        return self.username or f"{self.venue_id}/{self.device_id}"


def check_username(value: str) -> str:
    """A user name the password and ACL files can hold; ``ValueError`` otherwise."""
    fields.text(value, max_chars=128, required=True)
    if ":" in value or any(ch.isspace() for ch in value):
        raise ValueError("must have no ':' and no spaces")
    return value


def check_password(value: str) -> str:
    """A non-empty password with no control characters; ``ValueError`` otherwise."""
    return fields.text(value, max_chars=256, required=True)


def load_devices(path: str | Path) -> list[DeviceAccount]:
    """The devices in a CSV file with the header ``venue_id,device_id,password``
    and optionally ``username``; :class:`UserError` names the bad line.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_DEVICES_FILE_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{p}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_DEVICES_FILE_BYTES:
        raise UserError(f"{p}: larger than {MAX_DEVICES_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{p}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in COLUMNS]
        if unknown:
            raise UserError(f"{p}: unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})")
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise UserError(f"{p}: no {missing[0]!r} column in the header line")
        devices = [_device(p, reader.line_num, len(header), row) for row in reader]
    except csv.Error as exc:
        raise UserError(f"{p}:{reader.line_num}: {exc}") from None
    if not devices:
        raise UserError(f"{p}: lists no devices")
    return devices


def _device(path: Path, line: int, width: int, row: dict[str | None, str | None]) -> DeviceAccount:
    if None in row or None in row.values():
        raise UserError(f"{path}:{line}: expected {width} comma-separated fields")
    try:
        device = DeviceAccount(
            venue_id=_checked("venue_id", fields.ident, row["venue_id"]),
            device_id=_checked("device_id", fields.ident, row["device_id"]),
            password=_checked("password", check_password, row["password"]),
            username=row.get("username") or "",
        )
        _checked("username", check_username, device.user)
    except ValueError as exc:
        raise UserError(f"{path}:{line}: {exc}") from None
    return device


def _checked(name: str, check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


def password_line(
    username: str, password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS
) -> str:
    """One line of a mosquitto 2.x password file (no newline)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"{username}:$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def acl_text(devices: Sequence[DeviceAccount], owner_user: str, topic_prefix: str = "ravao",
             collector_user: str | None = None) -> str:
    """The mosquitto ACL file for `devices`, the owner account and, if named, the collector's."""
    p = topic_prefix
    lines = [
        "# Written by `ravao broker-config`. Devices publish only their own events and",
        "# status and read only their venue's revocation list; the owner publishes the",
        "# revocation lists and reads what its devices send; the collector reads every",
        "# device's events and status and writes nothing.",
        "",
    ]
    if collector_user:
        lines += [f"user {collector_user}", f"topic read {topics.events(p, '+', '+')}",
                  f"topic read {topics.status(p, '+', '+')}", ""]
    lines += [f"user {owner_user}"]
    for venue in sorted({d.venue_id for d in devices}):
        lines += [
            f"topic readwrite {topics.revocations(p, venue)}",
            f"topic readwrite {topics.issuer_revocations(p, venue, '+')}",
            f"topic read {topics.events(p, venue, '+')}",
            f"topic read {topics.status(p, venue, '+')}",
        ]
    for d in devices:
        lines += [
            "",
            f"user {d.user}",
            f"topic write {topics.events(p, d.venue_id, d.device_id)}",
            f"topic write {topics.status(p, d.venue_id, d.device_id)}",
            f"topic read {topics.revocations(p, d.venue_id)}",
            f"topic read {topics.issuer_revocations(p, d.venue_id, '+')}",
        ]
    return "\n".join(lines) + "\n"


def check_accounts(devices: Sequence[DeviceAccount], owner_user: str, collector_user: str | None = None) -> None:
    """Refuse two accounts with one user name, or one device listed twice."""
    if collector_user == owner_user:
        raise UserError(f"user name {owner_user!r} is used twice")
    seen: set[str] = {owner_user} | ({collector_user} if collector_user else set())
    places: set[tuple[str, str]] = set()
    for d in devices:
        if d.user in seen:
            raise UserError(f"user name {d.user!r} is used twice")
        if (d.venue_id, d.device_id) in places:
            raise UserError(f"device {d.device_id!r} of venue {d.venue_id!r} is listed twice")
        seen.add(d.user)
        places.add((d.venue_id, d.device_id))


def write_broker_config(
    out_dir: str | Path,
    devices: Sequence[DeviceAccount],
    owner_user: str,
    owner_password: str,
    topic_prefix: str = "ravao",
    collector: tuple[str, str] | None = None,
) -> tuple[Path, Path]:
    """Write the password file (0600) and the ACL file (0644) into `out_dir`;
    `collector` is the collector's (user, password), if it gets an account."""
    checks: list[tuple[str, Callable[[Any], Any], str]] = [
        ("owner user", check_username, owner_user),
        ("owner password", check_password, owner_password),
        ("topic prefix", fields.topic_prefix, topic_prefix),
    ]
    if collector:
        checks += [("collector user", check_username, collector[0]),
                   ("collector password", check_password, collector[1])]
    for name, check, value in checks:
        try:
            check(value)
        except ValueError as exc:
            raise UserError(f"{name}: {exc}") from None
    collector_user = collector[0] if collector else None
    check_accounts(devices, owner_user, collector_user)
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {folder}: {exc.strerror}") from None
    accounts = [(owner_user, owner_password)] + ([collector] if collector else [])
    passwd = passwd_text(accounts + [(d.user, d.password) for d in devices])
    write_atomic(folder / PASSWD_FILE, passwd.encode("utf-8"), 0o600)
    write_atomic(folder / ACL_FILE, acl_text(devices, owner_user, topic_prefix, collector_user).encode("utf-8"), 0o644)
    return folder / PASSWD_FILE, folder / ACL_FILE


def passwd_text(accounts: Iterable[tuple[str, str]]) -> str:
    """A whole password file for (user, password) pairs."""
    return "".join(password_line(user, password) + "\n" for user, password in accounts)


def mosquitto_conf(passwd_path: Path, acl_path: Path) -> str:
    """The lines of mosquitto.conf that use the written files."""
    return (f"allow_anonymous false\npassword_file {passwd_path.resolve()}\nacl_file {acl_path.resolve()}\n"
            "# A connection with a client id already in use disconnects the other client (and\n"
            "# publishes its last will): with each client's user name as its id, an account can\n"
            "# only replace its own session. So each collector of a shared group needs its own account.\n"
            "use_username_as_clientid true\n")


# A busy site: a hospital's 20 doors, 2,500 check-ins each a day, is 50,000
# events a day; twice that rides out a day's outage of the collector with
# room to spare. Measured with Mosquitto 2.0.11: 100,000 queued events of
# 380 bytes take about 70 MB of the broker's memory and a 48 MB store file.
MAX_QUEUED_MESSAGES = 100_000
# 256 MiB: ordinary events reach MAX_QUEUED_MESSAGES long before this (38 MB
# of payload); it bites only when messages are unusually large.
MAX_QUEUED_BYTES = 256 * 1024 * 1024
AUTOSAVE_SECONDS = 60
CLIENT_EXPIRATION = "14d"
MAX_INFLIGHT = 4000


def check_persistence_location(value: str) -> str:
    """An absolute folder for ``persistence_location``; ``ValueError`` otherwise."""
    fields.text(value, max_chars=4096, required=True)
    if not value.startswith("/"):
        raise ValueError("must be an absolute path")
    return value


def mosquitto_conf_file(passwd_path: Path, acl_path: Path, persistence_location: str | None = None) -> str:
    """``ravao.conf`` for ``/etc/mosquitto/conf.d/``: the accounts, and the
    settings that keep undelivered messages, each with what it protects."""
    if persistence_location is not None:
        try:
            check_persistence_location(persistence_location)
        except ValueError as exc:
            raise UserError(f"persistence location: {exc}") from None
    location = (f"persistence_location {persistence_location}\n" if persistence_location else
                "# persistence_location: Debian's /etc/mosquitto/mosquitto.conf sets /var/lib/mosquitto/\n"
                "# (a second one is an error; give --persistence-location where the main file has none).\n")
    return (
        "# Written by `ravao broker-config`. Copy to /etc/mosquitto/conf.d/.\n"
        + mosquitto_conf(passwd_path, acl_path)
        + "\n# Keep sessions and queued messages on disk (mosquitto.db), so a broker restart\n"
        "# does not lose what the collector has not taken yet.\n"
        "persistence true\n" + location
        + f"# Write the store every {AUTOSAVE_SECONDS} s (and at a clean stop, SIGTERM): a power cut or a\n"
        f"# SIGKILL of the broker loses what was queued in the last {AUTOSAVE_SECONDS} s at most. Each save\n"
        "# rewrites the whole store (48 MB with a full queue), so shorter costs more disk writes.\n"
        f"autosave_interval {AUTOSAVE_SECONDS}\n"
        "# A stopped collector's queue (the default, 1,000, is minutes of a busy site):\n"
        "# 20 doors x 2,500 check-ins a day = 50,000 a day; twice that rides out a day's outage,\n"
        "# in about 70 MB of the broker's memory. Messages beyond it are dropped by the broker\n"
        "# (the ledger then shows them missing).\n"
        f"max_queued_messages {MAX_QUEUED_MESSAGES}\n"
        "# The same queue in bytes of payload: protects the broker's memory from a flood of large\n"
        f"# messages (100,000 ordinary events are 38 MB); beyond it messages are dropped too.\n"
        f"max_queued_bytes {MAX_QUEUED_BYTES}\n"
        "# Forget a session (and its queue) after this long without its client: a client that\n"
        "# asked for a persistent session and never came back cannot hold memory forever.\n"
        "# Caps every session; the collector asks for 8 days (MQTT 5), which is under it, and a\n"
        "# 3.1.1 collector (clean session off) gets these 14 days.\n"
        f"persistent_client_expiration {CLIENT_EXPIRATION}\n"
        "# Messages in flight to one subscriber: the collector acknowledges in batches of up to\n"
        "# 1,000 after each commit, and the default 20 would hold it to 20 per commit. Applies to\n"
        "# MQTT 3.1.1 clients and MQTT 5 clients that send no Receive Maximum (the collector sends\n"
        "# its own, 4,000); Mosquitto also announces it to MQTT 5 publishers as its Receive Maximum.\n"
        f"max_inflight_messages {MAX_INFLIGHT}\n"
    )
