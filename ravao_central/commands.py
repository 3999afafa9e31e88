"""The ``ravao central …`` commands. :func:`register` adds them to the
``ravao`` command line; each handler prints its result and returns the exit
status, raising :class:`UserError` (one line) on bad input.

The central side's libraries (SQLAlchemy, Alembic, psycopg, openpyxl) are an
extra, ``pip install 'ravao[central]'``: a device has none of them, so they
are imported only when a central command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from ravao_central.config import CentralConfig, config_path, load_central_config
from ravao_protocol.errors import UserError
from ravao_protocol.numbers import finite_number

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ravao_central.privacy import Keyring

log = logging.getLogger("ravao.central")

DEFAULT_STEP_MINUTES = 15


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``central`` and its subcommands to the ``ravao`` subcommands."""
    central = subparsers.add_parser("central", help="the province's side: collector, record, trace",
                                    description="The central side: the collector, the record and its questions.")
    sub = central.add_subparsers(dest="central_command", metavar="COMMAND", required=True)

    def command(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", metavar="FILE", default=None,
                       help="the central config (default: $RAVAO_CENTRAL_CONFIG, then /etc/ravao/central.toml)")
        p.set_defaults(func=_needing_the_extra(func), command_name=name)
        return p

    command("init", init, "create or upgrade the database schema, and the key file if missing")
    command("collect", collect, "take every event and status off the broker into the record (runs until stopped)")
    p = command("fleet", fleet, "the completeness ledger: one row per device ever heard from")
    p.add_argument("--json", action="store_true", help="print the contract's JSON")
    for name, func, what in (("trace", trace, "a person's visits and contacts in a window (audited)"),
                             ("export", export, "a trace written to a .csv or .xlsx file (audited)")):
        p = command(name, func, what)
        p.add_argument("--case", metavar="REF", help="the case this reveal is for (required)")
        p.add_argument("--person", metavar="P", required=True, help="cccd:ID or pass:ISSUER:HOLDER_ID")
        p.add_argument("--from", dest="start", metavar="ISO", required=True, help="start of the window (RFC 3339)")
        p.add_argument("--to", dest="end", metavar="ISO", required=True, help="end of the window (RFC 3339)")
        p.add_argument("--min-overlap", metavar="MIN", type=finite_number, default=None,
                       help="minutes shared at one place that make a contact (default: the config's)")
        if name == "trace":
            p.add_argument("--json", action="store_true", help="print the contract's JSON")
        else:
            p.add_argument("--out", metavar="FILE", required=True, help="the file to write (.csv or .xlsx)")
    p = command("presence", presence, "how many people were at a venue over time (counts only)")
    p.add_argument("--venue", metavar="ID", required=True)
    p.add_argument("--from", dest="start", metavar="ISO", required=True)
    p.add_argument("--to", dest="end", metavar="ISO", required=True)
    p.add_argument("--step", metavar="MIN", type=finite_number, default=DEFAULT_STEP_MINUTES,
                   help=f"minutes between points (default {DEFAULT_STEP_MINUTES})")
    p.add_argument("--json", action="store_true", help="print the contract's JSON")
    p = command("audit", audit_log, "the audit log of every reveal")
    p.add_argument("--json", action="store_true", help="print the contract's JSON")
    p.add_argument("--verify", action="store_true", help="check the hash chain; non-zero exit if it is broken")
    command("purge", purge, "delete events older than [retention] days")


# ---------------------------------------------------------------- plumbing

CENTRAL_LIBRARIES = ("sqlalchemy", "alembic", "psycopg", "openpyxl")


def _needing_the_extra(func: Any) -> Any:
    """`func`, with a missing central library reported as one line that says how to install it."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in CENTRAL_LIBRARIES:
                raise
            raise UserError(f"the central side is not installed ({exc.name} is missing): "
                            "pip install 'ravao[central]'") from None

    run.__doc__ = func.__doc__
    return run



def _config(args: argparse.Namespace) -> CentralConfig:
    return load_central_config(config_path(args.config))


def _engine(config: CentralConfig) -> Engine:
    from ravao_central.database import open_database

    return open_database(config.database.url)


def _keys(config: CentralConfig) -> Keyring:
    from ravao_central.privacy import load_keyring

    return load_keyring(config.privacy.key_file)


def _ready(config: CentralConfig) -> Engine:
    """The engine of a database that `init` made (refusing one it did not, in one line)."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from ravao_central.database import one_line

    engine = _engine(config)
    try:
        if not inspect(engine).has_table("events"):
            raise UserError(f"{engine.url.render_as_string()}: no record here yet (run `ravao central init`)")
    except SQLAlchemyError as exc:
        raise UserError(f"database: {one_line(exc)}") from None
    return engine


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


# ---------------------------------------------------------------- commands


def init(args: argparse.Namespace) -> int:
    """``central init``: the schema at its newest version, and the key file."""
    from ravao_central.database import migrate
    from ravao_central.privacy import create_key_file

    config = _config(args)
    engine = _engine(config)
    migrate(engine)
    made = create_key_file(config.privacy.key_file)
    _keys(config)
    print(f"record ready: {engine.url.render_as_string()}")
    print(f"key file {'created' if made else 'kept'}: {config.privacy.key_file}"
          + (" (keep a copy somewhere safe: without it no identity can be read back)" if made else ""))
    return 0


def collect(args: argparse.Namespace) -> int:
    """``central collect``: until SIGTERM or SIGINT."""
    from ravao_central.collector import Collector
    from ravao_central.mqtt_intake import MqttIntake

    config = _config(args)
    engine = _ready(config)
    collector = Collector(MqttIntake(config.mqtt), engine, _keys(config), config.mqtt.topic_prefix,
                          config.retention.days)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: storing what is held, then stopping", signal.Signals(signum).name)
        collector.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return collector.run()


def fleet(args: argparse.Namespace) -> int:
    """``central fleet``: the completeness ledger."""
    from ravao_central import record
    from ravao_central.times import rfc3339

    engine = _ready(_config(args))
    with engine.connect() as connection:
        rows = record.fleet(connection)
    devices: list[dict[str, Any]] = [{"device_id": r.device_id, "venue_id": r.venue_id, "state": r.state,
                "status_ts": rfc3339(r.status_ts) if r.status_ts else None, "queue": r.queue, "events": r.events,
                "last_seq": r.last_seq, "missing": [list(m) for m in r.missing], "rejected": r.rejected,
                "last_event_ts": rfc3339(r.last_event_ts) if r.last_event_ts else None} for r in rows]
    if args.json:
        _print_json({"devices": devices})
        return 0
    print(f"{'venue':<20} {'device':<20} {'state':<8} {'events':>8} {'last seq':>8} {'rejected':>8}  missing")
    for d in devices:
        missing = ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in d["missing"]) or "none"
        print(f"{d['venue_id']:<20} {d['device_id']:<20} {d['state'] or '?':<8} {d['events']:>8} "
              f"{d['last_seq']:>8} {d['rejected']:>8}  {missing}")
    if not devices:
        print("no device heard from yet")
    return 0


def _trace(args: argparse.Namespace) -> dict[str, Any]:
    from ravao_central.audit import command_line_actor
    from ravao_central.people import parse_person
    from ravao_central.times import parse_time
    from ravao_central.tracing import TraceQuery, trace

    case = (args.case or "").strip()
    if not case:
        raise UserError("--case REF is required: every reveal is recorded against a case")
    if len(case) > 128 or not case.isprintable():
        raise UserError("--case: at most 128 printable characters")
    config = _config(args)
    person = parse_person(args.person)
    start, end = parse_time(args.start, "--from"), parse_time(args.end, "--to")
    if end <= start:
        raise UserError("--to must be after --from")
    overlap = config.tracing.min_overlap_minutes if args.min_overlap is None else args.min_overlap
    if not 0 <= overlap <= 24 * 60:
        raise UserError("--min-overlap: between 0 and 1440 minutes")
    engine = _ready(config)
    return trace(engine, _keys(config), config.tracing, TraceQuery(case, person, start, end, overlap),
                 actor=command_line_actor(), action=args.command_name)


def trace(args: argparse.Namespace) -> int:
    """``central trace``: visits and contacts of one person, audited."""
    result = _trace(args)
    if args.json:
        _print_json(result)
        return 0
    person = result["person"]
    print(f"case {result['case']}: {person.get('name') or person.get('id')} ({person['type']}), "
          f"{result['from']} – {result['to']}")
    print(f"visits ({len(result['visits'])}):")
    for v in result["visits"]:
        place = v["venue_id"] + (f" bus {v['vehicle']}" if v["vehicle"] else "")
        print(f"  {place:<28} {v['start']} – {v['end']}"
              f"{'  (start inferred)' if v['start_inferred'] else ''}{'  (end inferred)' if v['end_inferred'] else ''}")
    print(f"contacts ({len(result['contacts'])}, at least {result['min_overlap_minutes']} minutes together):")
    for c in result["contacts"]:
        who = c["person"]
        place = c["venue_id"] + (f" bus {c['vehicle']}" if c["vehicle"] else "")
        print(f"  {who.get('name', '?'):<24} {who['type']}:{who.get('id', '?'):<14} {place:<24} "
              f"{c['overlap_minutes']:>6} min  {c['first']} – {c['last']}")
    if result["coverage"]:
        print("the record has holes here:")
        for h in result["coverage"]:
            print(f"  {h['venue_id']}/{h['device_id']}: missing seq {h['missing'] or 'none'}, "
                  f"offline {h['offline'] or 'never'}")
    else:
        print("coverage: the record is complete for this trace")
    return 0


def export(args: argparse.Namespace) -> int:
    """``central export``: the trace written to a file, audited."""
    from ravao_central.export import write_export

    path = write_export(_trace(args), args.out)
    print(f"wrote {path}")
    return 0


def presence(args: argparse.Namespace) -> int:
    """``central presence``: counts of people present, no identities."""
    from ravao_central.times import parse_time
    from ravao_central.tracing import venue_presence
    from ravao_protocol import fields

    config = _config(args)
    try:
        venue = fields.ident(args.venue)
    except ValueError as exc:
        raise UserError(f"--venue: {exc}") from None
    start, end = parse_time(args.start, "--from"), parse_time(args.end, "--to")
    if end <= start:
        raise UserError("--to must be after --from")
    if not 1 <= args.step <= 24 * 60 or (end - start) / timedelta(minutes=args.step) > 10_000:
        raise UserError("--step: between 1 and 1440 minutes, and at most 10,000 points")
    result = venue_presence(_ready(config), config.tracing, venue, start, end, timedelta(minutes=args.step))
    if args.json:
        _print_json(result)
        return 0
    for point in result["points"]:
        print(f"{point['ts']}  {point['present']:>5}  {'#' * min(point['present'], 60)}")
    return 0


def audit_log(args: argparse.Namespace) -> int:
    """``central audit``: the log; ``--verify`` checks its chain."""
    from ravao_central import audit

    config = _config(args)
    engine = _ready(config)
    keys = _keys(config)
    with engine.connect() as connection:
        problem = audit.verify(connection, keys) if args.verify else None
        found = audit.entries(connection, keys)
    if args.json:
        _print_json({"entries": [e.as_json() for e in found]})
    elif not args.verify:
        for e in found:
            print(f"{e.n:>5} {e.as_json()['ts']} {e.actor:<16} {e.action:<7} case {e.case}: "
                  f"{e.query.get('person', '?')} {e.query.get('from', '')} – {e.query.get('to', '')}, "
                  f"{e.revealed} revealed")
    if args.verify:
        if problem:
            print(f"ravao: audit log broken: {problem}", file=sys.stderr)
            return 1
        if not args.json:
            print(f"audit log intact: {len(found)} entries, chain verified")
    return 0


def purge(args: argparse.Namespace) -> int:
    """``central purge``: what is older than the retention goes now."""
    from ravao_central.retention import purge as remove_old

    config = _config(args)
    gone = remove_old(_ready(config), config.retention.days)
    print(f"removed {gone or 'nothing'} (older than {config.retention.days} days)")
    return 0
