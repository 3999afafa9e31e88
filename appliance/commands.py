"""The device's commands: ``run``, ``decode``, ``factory-reset``.

:func:`register` adds them to the ``ravao`` command line (:mod:`ravao.cli`);
each handler takes the parsed arguments, prints its result and returns the
exit status, and raises a one-line error (:class:`ConfigError`,
:class:`~ravao_protocol.errors.UserError`) on bad input.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from appliance.config import Config, StorageConfig, load_config, usable_state_dir
from appliance.decoder import BACKENDS
from ravao_protocol.numbers import finite_number


def cmd_run(args: argparse.Namespace) -> int:
    import faulthandler

    from appliance.daemon import Daemon

    faulthandler.enable()  # a hang killed by the watchdog leaves every thread's stack in the journal

    config = load_config(args.config)
    daemon = Daemon(config)
    daemon.install_signal_handlers()
    return daemon.run(drain_timeout=args.drain_timeout)


def cmd_decode(args: argparse.Namespace) -> int:
    from appliance.decode_report import decode_report

    with tempfile.TemporaryDirectory(prefix="ravao-decode-") as scratch:
        # Without a config: a new device's settings, with an empty state of its own.
        config = load_config(args.config) if args.config else Config(storage=StorageConfig(state_dir=scratch))
        return _print_reports(decode_report(args.images, args.backend or config.decoder.backend, config), args.json)


def _print_reports(reports, as_json: bool) -> int:
    status = 0
    for report in reports:
        if as_json:
            print(json.dumps(report, ensure_ascii=False))
        else:
            if "error" in report:
                print(f"{report['file']}: {report['error']}")
            elif not report["codes"]:
                print(f"{report['file']}: no QR code")
            for code in report["codes"]:
                why = f" ({code['reason']})" if code["reason"] else ""
                print(f"{report['file']}: {code['type']} → {code['result']}{why}\n  {code['text']!r}")
        if "error" in report:
            status = 1
    return status


def cmd_factory_reset(args: argparse.Namespace) -> int:
    from appliance.setup_desk import provisioned_config, route_of
    from appliance.state import DeviceState

    config = load_config(args.config)
    state = DeviceState(usable_state_dir(config.storage))
    state.factory_reset(retire=route_of(*provisioned_config(config, state)))
    state.close()
    print(f"factory reset done in {config.storage.state_dir}: the owner key and the setup are forgotten; "
          "unsent events are kept and still go to the broker they were recorded for. "
          "Start the daemon again (systemctl start ravao).")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the device's commands to the ``ravao`` subcommands."""
    run = sub.add_parser("run", help="run the appliance daemon",
                         description="Run the appliance: scan, decide, record, publish.")
    run.add_argument("--config", required=True, metavar="FILE", help="the device's TOML config file")
    run.add_argument("--drain-timeout", type=finite_number, default=10.0, metavar="S",
                     help="with a finite simulated source: wait up to S seconds for the outbox to drain (default 10)")
    run.set_defaults(func=cmd_run)

    decode = sub.add_parser("decode", help="decode QR images and show what the device would decide",
                            description="Decode the QR codes in image files; print the text, the credential "
                                        "type and the decision, without a broker.")
    decode.add_argument("--backend", choices=list(BACKENDS),
                        help="decoder (default: the config's, else zxing)")
    decode.add_argument("--config", metavar="FILE", help="decide with this device's settings and state")
    decode.add_argument("--json", action="store_true", help="one JSON object per image")
    decode.add_argument("images", nargs="+", metavar="IMAGE")
    decode.set_defaults(func=cmd_decode)

    reset = sub.add_parser("factory-reset", help="forget the owner key and the setup QR's settings",
                           description="Clear the pinned owner key, the provisioned settings and the revocation "
                                       "list; unsent events are kept. The device then waits for a setup QR.")
    reset.add_argument("--config", required=True, metavar="FILE",
                       help="the device's TOML config file (stop the daemon first: systemctl stop ravao)")
    reset.set_defaults(func=cmd_factory_reset)
