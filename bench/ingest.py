"""Ingest benchmark: events a second from a publisher, through a local
Mosquitto and the real collector (`ravao central collect`), to committed
rows, in SQLite and in PostgreSQL, beside two limits measured in the same
run: a bare paho subscriber that only counts (the MQTT side's limit in
Python here) and the database's own limit for the same rows (psycopg
``COPY`` for PostgreSQL; one executemany transaction for SQLite).

The publisher runs in its own process, as a fleet of devices would; broker,
publisher and collector share this machine's cores.

    .venv/bin/python -m bench.ingest [--events N] [--runs R]

Writes bench/results/ingest.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ravao_central.database import ensure_partitions, migrate, open_database
from ravao_central.intake import EventRow, sort_message
from ravao_central.privacy import Keyring
from ravao_central.schema import events as events_table
from tests.support.broker import Broker
from tests.support.central import Record, events_topic, publish, stream
from tests.support.postgres import PostgresServer

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "ingest.json"
KEEPING = "max_queued_messages 1000000\nmax_inflight_messages 4000\n"
DEVICES = 20


def payloads(count: int) -> list[tuple[str, bytes]]:
    events = stream(devices=DEVICES, per_device=count // DEVICES)
    return [(events_topic(e), json.dumps(e, ensure_ascii=False).encode()) for e in events]


def publisher_main(port: int, count: int) -> None:
    """The publisher process: every message QoS 1, as fast as the broker takes them."""
    messages = payloads(count)
    started = time.monotonic()
    acknowledged = publish(port, messages, client_id="bench-devices", timeout=600)
    print(json.dumps({"acknowledged": acknowledged, "seconds": time.monotonic() - started}), flush=True)


def start_publisher(port: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.ingest", "--publish", str(port), str(count)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)


def bare_subscriber(broker: Broker, count: int) -> float:
    """Events a second that a paho subscriber (MQTT 5, QoS 1, automatic acks) merely counts."""
    received = 0
    done = threading.Event()
    first: list[float] = []

    def on_message(_c, _u, _m) -> None:
        nonlocal received
        if not first:
            first.append(time.monotonic())
        received += 1
        if received >= count:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-counter", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.connect("127.0.0.1", broker.port)
    client.subscribe("ravao/+/+/events", qos=1)
    client.loop_start()
    time.sleep(0.5)
    started = time.monotonic()
    publisher = start_publisher(broker.port, count)
    done.wait(600)
    elapsed = time.monotonic() - started
    publisher.wait(600)
    client.disconnect()
    client.loop_stop()
    return received / elapsed


def rows(count: int) -> list[dict]:
    keys = Keyring.from_secret(b"b" * 32)
    now = datetime.now(UTC)
    found = []
    for topic, payload in payloads(count):
        item = sort_message(topic, payload, now, "ravao", keys)
        assert isinstance(item, EventRow)
        found.append(item.values)
    return found


def database_limit(url: str, count: int) -> float:
    """Rows a second the database takes the collector's rows at, with nothing else in the way."""
    engine = open_database(url)
    migrate(engine)
    values = rows(count)
    columns = [c.name for c in events_table.columns]
    started = time.monotonic()
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            ensure_partitions(connection, {row["ts"].date() for row in values})
        started = time.monotonic()
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY events ({', '.join(columns)}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row([row[c] for c in columns])
            raw.commit()
        finally:
            raw.close()
    else:
        with engine.begin() as connection:
            connection.execute(events_table.insert(), values)
    elapsed = time.monotonic() - started
    engine.dispose()
    return count / elapsed


def collector_rate(broker: Broker, url: str, folder: Path, count: int) -> dict:
    """Events a second from the first publish to the last committed row, through `ravao central collect`."""
    record = Record(folder, url, broker.url)
    record.ok("init")
    record.start_collector()
    try:
        started = time.monotonic()
        publisher = start_publisher(broker.port, count)
        assert record.wait_stored(count, timeout=900), record.log()[-2000:]
        elapsed = time.monotonic() - started
        published = json.loads(publisher.communicate(timeout=600)[0])
        assert record.stop_collector() == 0
    finally:
        record.close()
    return {"events_per_s": count / elapsed, "seconds": elapsed, "publisher_s": published["seconds"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--publish", nargs=2, type=int, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        publisher_main(*args.publish)
        return 0
    count = args.events // DEVICES * DEVICES
    runs: dict[str, list[float]] = {"mqtt_limit": [], "sqlite_limit": [], "postgresql_limit": [],
                                    "sqlite": [], "postgresql": []}
    with tempfile.TemporaryDirectory() as tmp, PostgresServer() as server:
        base = Path(tmp)
        for run in range(args.runs):
            with Broker(base / f"broker-{run}", extra_conf=KEEPING) as broker:
                runs["mqtt_limit"].append(bare_subscriber(broker, count))
            runs["sqlite_limit"].append(database_limit(f"sqlite:///{base / f'limit-{run}.db'}", count))
            runs["postgresql_limit"].append(database_limit(server.new_database(), count))
            for name, url in (("sqlite", f"sqlite:///{base / f'record-{run}.db'}"),
                              ("postgresql", server.new_database())):
                with Broker(base / f"broker-{name}-{run}", extra_conf=KEEPING) as broker:
                    runs[name].append(collector_rate(broker, url, base / f"central-{name}-{run}", count)
                                      ["events_per_s"])
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in runs.items()), flush=True)
    median = {k: statistics.median(v) for k, v in runs.items()}
    result = {"events": count, "runs": runs, "median": median,
              "ratio_sqlite": median["sqlite"] / min(median["mqtt_limit"], median["sqlite_limit"]),
              "ratio_postgresql": median["postgresql"] / min(median["mqtt_limit"], median["postgresql_limit"])}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{count:,} events, median of {args.runs} runs (events/s):")
    print("| into | collector | MQTT limit (bare subscriber) | database limit | collector / lower limit |")
    print("| --- | --- | --- | --- | --- |")
    for name in ("sqlite", "postgresql"):
        print(f"| {name} | {median[name]:,.0f} | {median['mqtt_limit']:,.0f} | {median[name + '_limit']:,.0f} | "
              f"{result['ratio_' + name]:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
