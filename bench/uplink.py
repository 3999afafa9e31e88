"""Uplink benchmark: events per second drained from a 10,000-event outbox
to a local Mosquitto (QoS 1, marked sent on PUBACK), beside `mosquitto_pub`
publishing the same payloads at QoS 1.

    .venv/bin/python bench/uplink.py [--events N] [--inflight N]

Writes bench/results/uplink.json and prints the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from appliance.config import MqttConfig  # noqa: E402
from appliance.outbox import Outbox  # noqa: E402
from appliance.uplink import Identity, Uplink  # noqa: E402
from broker import Broker  # noqa: E402
from samples import CARDS  # noqa: E402


def fill(box: Outbox, count: int) -> None:
    card = CARDS[0]
    for i in range(count):
        box.record("ravao/bench/dev/events", {
            "device_id": "dev", "venue_id": "bench", "ts": "2026-11-27T08:15:02.123Z", "clock_synced": True,
            "direction": "in", "result": "pass", "reason": None,
            "credential": {"type": "cccd", "id": card.id, "name": card.name, "dob": card.dob_iso, "sex": "M"},
        })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--inflight", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="ravao-bench-"))
    box = Outbox(work / "outbox.sqlite3")
    fill(box, args.events)
    payloads = [e.payload for e in box.unsent(limit=args.events)]
    with Broker(work / "broker") as broker:
        # The subscriber is a separate process, as the consumer is in real life.
        received_file = (work / "received.txt").open("wb")
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                                "-t", "ravao/bench/dev/events", "-C", str(args.events), "-W", "120"],
                               stdout=received_file)
        time.sleep(0.3)
        uplink = Uplink(box, Identity("dev", "bench"),
                        MqttConfig(url=broker.url, inflight=args.inflight, topic_prefix="ravao"))
        t = time.perf_counter()
        uplink.start()
        deadline = time.monotonic() + 300
        while box.count_unsent() and time.monotonic() < deadline:
            time.sleep(0.005)
        ours = time.perf_counter() - t
        left = box.count_unsent()
        uplink.stop()
        sub.wait(timeout=130)
        received_file.close()
        received = len((work / "received.txt").read_bytes().splitlines())

        lines = work / "payloads.txt"
        lines.write_bytes(b"\n".join(payloads) + b"\n")
        t = time.perf_counter()
        with lines.open("rb") as stdin:
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                            "-t", "ravao/bench/pub/events", "-l"], stdin=stdin, check=True, timeout=300)
        theirs = time.perf_counter() - t
    result = {
        "events": args.events,
        "inflight": args.inflight,
        "uplink_seconds": round(ours, 3),
        "uplink_events_per_s": round(args.events / ours),
        "undelivered": left,
        "subscriber_received": received,
        "mosquitto_pub_seconds": round(theirs, 3),
        "mosquitto_pub_events_per_s": round(args.events / theirs),
        "ratio": round(theirs / ours, 3),
    }
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "uplink.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
