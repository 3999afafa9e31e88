"""Uplink benchmark: events per second drained from a 10,000-event outbox
to a local Mosquitto (QoS 1, marked sent on PUBACK), beside `mosquitto_pub`
publishing the same payloads at QoS 1. Each has its own QoS 1 subscriber
taking every message while it runs, so the broker does the same work for both.

    .venv/bin/python bench/uplink.py [--events N] [--inflight N]

Writes bench/results/uplink.json (uplink-without-subscribers.json with
--without-subscribers) and prints the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from appliance.config import MqttConfig
from appliance.outbox import Outbox
from appliance.uplink import Identity, Uplink
from tests.support.broker import Broker
from tests.support.samples import CARDS

REPO = Path(__file__).resolve().parent.parent


def fill(box: Outbox, count: int) -> None:
    card = CARDS[0]
    for _ in range(count):
        box.record("ravao/bench/dev/events", {
            "device_id": "dev", "venue_id": "bench", "ts": "2026-11-27T08:15:02.123Z", "clock_synced": True,
            "direction": "in", "result": "pass", "reason": None,
            "credential": {"type": "cccd", "id": card.id, "name": card.name, "dob": card.dob_iso, "sex": "M"},
        })


def subscribed(broker: Broker, topic: str | None, events: int, out: Path,
               publish: Callable[[], None]) -> tuple[float, int | None]:
    """Time `publish()` while a QoS 1 subscriber (a separate process, as the
    consumer is in real life) takes `events` messages on `topic`.

    Returns the seconds `publish()` took and how many messages arrived
    (None with no subscriber: `topic` None)."""
    if topic is None:
        t = time.perf_counter()
        publish()
        return time.perf_counter() - t, None
    with out.open("wb") as received_file:
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                                "-t", topic, "-C", str(events), "-W", "120"], stdout=received_file)
        time.sleep(0.3)
        t = time.perf_counter()
        publish()
        took = time.perf_counter() - t
        sub.wait(timeout=130)
    return took, len(out.read_bytes().splitlines())


def one_run(work: Path, broker: Broker, events: int, inflight: int, subscribers: bool) -> dict:
    """InOrderPublisher a fresh outbox of `events`, then mosquitto_pub the same payloads,
    each with a subscriber taking every message, so the broker does the same work."""
    work.mkdir()
    box = Outbox(work / "outbox.sqlite3")
    fill(box, events)
    payloads = [e.payload for e in box.unsent(limit=events)]

    def publisher() -> None:
        uplink = Uplink(box, Identity("dev", "bench"), MqttConfig(url=broker.url, inflight=inflight))
        uplink.start()
        deadline = time.monotonic() + 300
        while box.count_unsent() and time.monotonic() < deadline:
            time.sleep(0.005)
        uplink.stop()

    ours, received = subscribed(broker, "ravao/bench/dev/events" if subscribers else None, events,
                                work / "received.txt", publisher)
    left = box.count_unsent()
    box.close()

    lines = work / "payloads.txt"
    lines.write_bytes(b"\n".join(payloads) + b"\n")

    def mosquitto_pub() -> None:
        with lines.open("rb") as stdin:
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                            "-t", "ravao/bench/pub/events", "-l"], stdin=stdin, check=True, timeout=300)

    theirs, theirs_received = subscribed(broker, "ravao/bench/pub/events" if subscribers else None, events,
                                         work / "pub-received.txt",
                                         mosquitto_pub)
    return {
        "uplink_events_per_s": round(events / ours),
        "undelivered": left,
        "subscriber_received": received,
        "mosquitto_pub_events_per_s": round(events / theirs),
        "mosquitto_pub_subscriber_received": theirs_received,
        "ratio": round(theirs / ours, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--inflight", type=int, default=MqttConfig().inflight,
                        help="events unacknowledged at once (default: the config's default)")
    parser.add_argument("--runs", type=int, default=5, help="runs; the median is reported")
    parser.add_argument("--without-subscribers", action="store_true",
                        help="no subscriber on either side: the broker only acknowledges")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="ravao-bench-"))
    # Unlimited queues, so a subscriber that falls behind loses nothing.
    with Broker(work / "broker", extra_conf="max_queued_messages 0\n") as broker:
        runs = [one_run(work / f"run{i}", broker, args.events, args.inflight, not args.without_subscribers)
                for i in range(args.runs)]
    ratios = sorted(r["ratio"] for r in runs)
    result = {
        "events": args.events,
        "inflight": args.inflight,
        "median_ratio": statistics.median(ratios),
        "median_uplink_events_per_s": statistics.median(r["uplink_events_per_s"] for r in runs),
        "median_mosquitto_pub_events_per_s": statistics.median(r["mosquitto_pub_events_per_s"] for r in runs),
        "subscribers": not args.without_subscribers,
        "all_delivered": all(r["undelivered"] == 0 and r["subscriber_received"] in (args.events, None)
                             and r["mosquitto_pub_subscriber_received"] in (args.events, None) for r in runs),
        "runs": runs,
    }
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    name = "uplink-without-subscribers.json" if args.without_subscribers else "uplink.json"
    (REPO / "bench" / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print("ratios:", ratios)


if __name__ == "__main__":
    main()
