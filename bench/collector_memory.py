"""The collector's memory over a long stream: `ravao central collect` into
SQLite while a publisher process sends events at a steady rate for
`--minutes`; the collector's resident memory (VmRSS) every 30 seconds.

    .venv/bin/python -m bench.collector_memory [--minutes 10] [--rate 500]

Writes bench/results/collector-memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.broker import Broker
from tests.support.central import Record, events_topic, publish, stream

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "collector-memory.json"
SAMPLE_S = 30.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def publisher_main(port: int, rate: int, seconds: float) -> None:
    """Publish `rate` events a second for `seconds`, in slices of a tenth of a second."""
    per_slice = max(1, rate // 10)
    slices = int(seconds * 10)
    events = stream(devices=20, per_device=per_slice * slices // 20 + 1)
    started = time.monotonic()
    for n in range(slices):
        chunk = events[n * per_slice:(n + 1) * per_slice]
        publish(port, [(events_topic(e), json.dumps(e)) for e in chunk], client_id="bench-stream")
        time.sleep(max(0.0, started + (n + 1) / 10 - time.monotonic()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--publish", nargs=3, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        publisher_main(int(args.publish[0]), int(args.publish[1]), args.publish[2])
        return 0
    seconds = args.minutes * 60
    samples = []
    with tempfile.TemporaryDirectory() as tmp, Broker(Path(tmp) / "broker",
                                                      extra_conf="max_inflight_messages 4000\n") as broker:
        record = Record(Path(tmp) / "central", f"sqlite:///{Path(tmp) / 'record.db'}", broker.url)
        record.ok("init")
        collector = record.start_collector()
        publisher = subprocess.Popen([sys.executable, "-m", "bench.collector_memory", "--publish", str(broker.port),
                                      str(args.rate), str(seconds)], cwd=REPO)
        started = time.monotonic()
        try:
            while publisher.poll() is None and time.monotonic() - started < seconds + 60:
                samples.append({"s": round(time.monotonic() - started), "rss_mb": round(rss_mb(collector.pid), 1),
                                "stored": record.stored()})
                print(samples[-1], flush=True)
                time.sleep(SAMPLE_S)
            publisher.wait(60)
            time.sleep(2)
            samples.append({"s": round(time.monotonic() - started), "rss_mb": round(rss_mb(collector.pid), 1),
                            "stored": record.stored()})
            assert record.stop_collector() == 0
        finally:
            record.close()
    warm = [s["rss_mb"] for s in samples[2:]] or [s["rss_mb"] for s in samples]
    result = {"minutes": args.minutes, "rate": args.rate, "samples": samples, "max_mb": max(warm),
              "first_warm_mb": warm[0], "last_mb": warm[-1]}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"RSS after warm-up {warm[0]} MB → {warm[-1]} MB at the end, at most {max(warm)} MB; "
          f"{samples[-1]['stored']:,} events stored")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
