"""Trace latency on a province-like month: 100,000 people, 2,000 venues (a
door with an "in" and an "out" device each), every person checking in and
out a few times a day at a handful of regular venues, busy venues busier.
10 million events in PostgreSQL, 1 million in SQLite (`--events`).

Each sample is a whole `trace` as the command line runs it (the traced
person's visits, everyone at those places, the contacts, the coverage, the
audit entry), for a random person over one day. The output ends with
PostgreSQL's EXPLAIN ANALYZE of the slowest sample's slowest reads.

    .venv/bin/python -m bench.trace [--pg-events N] [--sqlite-events N] [--samples S]

Writes bench/results/trace.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from ravao_central.config import TracingConfig
from ravao_central.database import ensure_partitions, migrate, open_database
from ravao_central.people import PersonRef
from ravao_central.privacy import Keyring
from ravao_central.record import EVENT_COLUMNS
from ravao_central.tracing import TraceQuery, trace
from tests.support.postgres import PostgresServer

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "trace.json"
MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
PEOPLE = 100_000
VENUES = 2_000
KEYS = Keyring.from_secret(b"t" * 32)


def person_id(n: int) -> str:
    return f"046{n:09d}"


def month(events: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """`events` check-ins (pairs of in and out), day by day: each person
    goes to a handful of regular venues, busy venues are busier, and every
    device numbers its events in time order, as a real one does."""
    rng = random.Random(seed)
    weights = [1 / (v + 10) for v in range(VENUES)]
    regular = [rng.choices(range(VENUES), weights, k=5) for _ in range(PEOPLE)]
    people = [(KEYS.pseudonym("cccd", person_id(n)), KEYS.seal(
        {"type": "cccd", "id": person_id(n), "name": f"Người {n}", "dob": "1990-01-01", "sex": "F"}))
        for n in range(PEOPLE)]
    received = datetime.now(UTC)
    seq: dict[str, int] = {}
    for day in range(DAYS):
        today = []
        for _ in range(events // 2 // DAYS):
            n = rng.randrange(PEOPLE)
            venue = f"v{rng.choice(regular[n]):04d}"
            start = MONTH_START + timedelta(days=day, minutes=rng.randrange(7 * 60, 21 * 60))
            today += [(start, n, venue, "in"), (start + timedelta(minutes=rng.randrange(10, 120)), n, venue, "out")]
        today.sort()
        for when, n, venue, direction in today:
            device = f"{venue}-{direction}"
            seq[device] = seq.get(device, 0) + 1
            yield {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "ts": when,
                   "received_at": received, "venue_id": venue, "device_id": device, "seq": seq[device],
                   "clock_synced": True, "direction": direction, "result": "pass", "reason": None,
                   "credential_type": "cccd", "person": people[n][0], "identity": people[n][1], "vehicle": None,
                   "route": None}


def load(engine: Engine, events: int) -> float:
    """Fill the record; seconds it took."""
    started = time.monotonic()
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            ensure_partitions(connection, [(MONTH_START + timedelta(days=d)).date() for d in range(DAYS + 1)])
        raw = engine.raw_connection()
        try:
            with raw.cursor().copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                for row in month(events):
                    copy.write_row([row[c] for c in EVENT_COLUMNS])
            raw.commit()
            # as autovacuum would in time: the visibility map lets reads use the indexes alone
            assert raw.driver_connection is not None
            raw.driver_connection.autocommit = True
            raw.cursor().execute("VACUUM (ANALYZE) events")
        finally:
            raw.close()
    else:
        from ravao_central.record import _insert_events  # the collector's own fast path

        batch: list[dict[str, Any]] = []
        with engine.begin() as connection:
            for row in month(events):
                batch.append(row)
                if len(batch) == 10_000:
                    _insert_events(connection, batch)
                    batch = []
            if batch:
                _insert_events(connection, batch)
            connection.exec_driver_sql("ANALYZE")
    return time.monotonic() - started


def latencies(engine: Engine, samples: int) -> list[tuple[float, TraceQuery]]:
    """Each sample's time (ms) and what it asked."""
    rng = random.Random(7)
    rules = TracingConfig()
    found = []
    for _ in range(samples):
        day = MONTH_START + timedelta(days=rng.randrange(1, DAYS - 1))
        query = TraceQuery("BENCH", PersonRef("cccd", person_id(rng.randrange(PEOPLE))), day, day + timedelta(days=1),
                           15)
        started = time.perf_counter()
        result = trace(engine, KEYS, rules, query, actor="bench")
        found.append(((time.perf_counter() - started) * 1000, query))
        assert result["case"] == "BENCH"
    return found


def explain(engine: Engine, query: TraceQuery, statements: int = 3) -> str:
    """PostgreSQL's EXPLAIN ANALYZE of the slowest reads of one trace, as it ran them."""
    ran: list[tuple[float, str, Any]] = []
    clock: list[float] = []

    def before(*_: Any) -> None:
        clock.append(time.perf_counter())

    def after(_connection: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        ran.append(((time.perf_counter() - clock.pop()) * 1000, statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        trace(engine, KEYS, TracingConfig(), query, actor="bench")
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    reads = [r for r in ran if r[1].lstrip().upper().startswith(("SELECT", "WITH"))]
    raw = engine.raw_connection()
    try:
        plans = []
        for _, statement, parameters in reads:  # the wall times include the other thread's: rank by PostgreSQL's own
            cursor = raw.cursor()
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            lines = [row[0] for row in cursor.fetchall()]
            took = float(re.search(r"Execution Time: ([0-9.]+) ms", lines[-1]).group(1))  # type: ignore[union-attr]
            plans.append((took, statement, lines))
        plans.sort(key=lambda plan: -plan[0])
        out = [f"{len(ran)} statements, {sum(r[0] for r in ran):.1f} ms from sending each to its last row "
               f"(two connections at once); the slowest in PostgreSQL:"]
        for took, statement, lines in plans[:statements]:
            out += [f"--- {took:.1f} ms: {' '.join(statement.split())[:100]} …", *lines]
        return "\n".join(out)
    finally:
        raw.close()


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": statistics.median(ordered), "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "max_ms": ordered[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-events", type=int, default=10_000_000)
    parser.add_argument("--sqlite-events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--keep", metavar="DIR", type=Path, default=None,
                        help="keep the loaded records in DIR and reuse them on the next run (skips loading)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, PostgresServer(args.keep and args.keep / "pg") as server:
        folder = args.keep or Path(tmp)
        for name, url, count in (("sqlite", f"sqlite:///{folder / f'month-{args.sqlite_events}.db'}",
                                  args.sqlite_events),
                                 ("postgresql", server.new_database(f"month_{args.pg_events}"), args.pg_events)):
            if args.only not in (None, name):
                continue
            engine = open_database(url)
            migrate(engine)
            with engine.connect() as connection:
                loaded = connection.exec_driver_sql("SELECT count(*) FROM events").scalar_one()
            seconds = load(engine, count) if loaded == 0 else 0.0
            print(f"{name}: {count:,} events loaded in {seconds:.0f} s", flush=True)
            samples = latencies(engine, args.samples)
            result[name] = {"events": count, "load_s": seconds, **summary([ms for ms, _ in samples])}
            print(f"{name}: trace p50 {result[name]['p50_ms']:.1f} ms, p99 {result[name]['p99_ms']:.1f} ms", flush=True)
            if name == "postgresql":
                result["explain"] = explain(engine, max(samples, key=lambda sample: sample[0])[1])
                print(result["explain"])
            engine.dispose()
    RESULTS.parent.mkdir(exist_ok=True)
    if args.only and RESULTS.exists():  # keep the other database's last numbers
        result = {**json.loads(RESULTS.read_text()), **result}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
