"""The ``ravao`` command table: every side registers its commands here.

Every command explains itself with ``--help``; bad input gives one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import PackageNotFoundError, version

from appliance import commands as device_commands
from provisioning import commands as owner_commands
from ravao_central import commands as central_commands
from ravao_protocol.errors import UserError

log = logging.getLogger("ravao")


class OneLineParser(argparse.ArgumentParser):
    """argparse, with usage mistakes reported on one line (``--help`` shows the usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    try:
        return version("ravao")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The whole ``ravao`` command line."""
    parser = OneLineParser(prog="ravao",
                           description="QR check-in: the device, the venue owner's tools, and the central side.")
    parser.add_argument("--version", action="version", version=f"ravao {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    device_commands.register(sub)
    owner_commands.register(sub)
    central_commands.register(sub)
    return parser


# Libraries whose debug lines (PIL's PNG chunks, paho's packets, Alembic's plugins) are noise even with -v.
QUIET_LOGGERS = ("PIL", "paho", "asyncio", "urllib3", "alembic")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Run one ``ravao`` command; the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"ravao: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the promise: one line, never a traceback
        log.debug("unexpected error", exc_info=True)
        print(f"ravao: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
