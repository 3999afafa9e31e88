"""The collector's writer with a test double for the transport (messages
from a list, acknowledgements counted) and a real SQLite record: every
message is acknowledged once, after its batch is stored; duplicates and
hostile messages change nothing else."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ravao_central import collector as collector_module
from ravao_central.collector import Collector
from ravao_central.database import migrate, open_database
from ravao_central.mqtt_intake import Message
from ravao_central.privacy import Keyring
from ravao_central.record import fleet
from ravao_central.schema import events
from tests.support.central import T0, at, cccd, contract_event, events_topic
from tests.support.waiting import wait_for

KEYS = Keyring.from_secret(b"s" * 32)


class ListIntake:
    """A transport that hands over a fixed list and records acknowledgements."""

    def __init__(self, messages: list[Message], stored_first: callable = None) -> None:
        self.inbox: queue.Queue[Message] = queue.Queue()
        for m in messages:
            self.inbox.put(m)
        self.acked: list[Message] = []
        self.stored_first = stored_first
        self.stopped = False

    def start(self) -> None: ...
    def stop_taking(self) -> None: ...

    def stop(self) -> None:
        self.stopped = True

    def ack(self, messages: list[Message]) -> int:
        if self.stored_first is not None:
            self.stored_first(messages)
        self.acked += messages
        return len(messages)


def message(topic: str, payload: bytes, mid: int) -> Message:
    return Message(topic, payload, T0, mid, 1, 0)


def record_at(path: Path):
    engine = open_database(f"sqlite:///{path}")
    migrate(engine)
    return engine


def stored_ids(engine) -> list[str]:
    with engine.connect() as c:
        return [r[0] for r in c.execute(select(events.c.event_id))]


def test_a_batch_is_acknowledged_only_after_it_is_committed(tmp_path):
    engine = record_at(tmp_path / "r.db")
    sent = [contract_event(seq=n, ts=at(n), credential=cccd("046303001234", "Lan")) for n in range(1, 8)]
    messages = [message(events_topic(e), json.dumps(e).encode(), n) for n, e in enumerate(sent, 1)]

    def stored_first(acked: list[Message]) -> None:
        ids = set(stored_ids(engine))  # read on another connection: committed, not just written
        assert all(json.loads(m.payload)["event_id"] in ids for m in acked)

    intake = ListIntake(messages, stored_first)
    worker = Collector(intake, engine, KEYS, "ravao", 30)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert wait_for(lambda: len(intake.acked) == len(messages), timeout=10)
    finally:
        worker.stop()
        thread.join(10)
    assert [m.mid for m in intake.acked] == list(range(1, 8)) and intake.stopped
    assert sorted(stored_ids(engine)) == sorted(e["event_id"] for e in sent)


def test_what_is_held_at_stop_is_stored_and_acknowledged(tmp_path, monkeypatch):
    monkeypatch.setattr(collector_module, "BATCH_MAX", 3)
    engine = record_at(tmp_path / "r.db")
    sent = [contract_event(seq=n, ts=at(n), credential=cccd("046303001234", "Lan")) for n in range(1, 11)]
    intake = ListIntake([message(events_topic(e), json.dumps(e).encode(), n) for n, e in enumerate(sent, 1)])
    worker = Collector(intake, engine, KEYS, "ravao", 30)
    worker.stop()
    assert worker.run() == 0
    assert len(intake.acked) == 10 and len(stored_ids(engine)) == 10


payloads = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(["{}", "[]", "null", '{"schema": "ravao.checkin/1"}']).map(str.encode),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(valid=st.lists(st.integers(1, 40), min_size=0, max_size=40), junk=st.lists(payloads, max_size=10),
       junk_topics=st.lists(st.text(max_size=40), max_size=5), data=st.data())
def test_any_mix_of_events_repeats_and_junk_is_stored_once_and_acknowledged_once(tmp_path, valid, junk,
                                                                                  junk_topics, data):
    engine = record_at(tmp_path / f"{uuid.uuid4().hex}.db")
    people = [cccd(f"04630300{n:04d}", f"Người {n}") for n in range(5)]
    by_seq = {seq: contract_event(seq=seq, ts=at(seq), credential=people[seq % 5]) for seq in set(valid)}
    messages = [(events_topic(by_seq[s]), json.dumps(by_seq[s]).encode()) for s in valid]
    messages += [("ravao/bv-tw-hue/door-01/events", j) for j in junk]
    messages += [(t, b"{}") for t in junk_topics]
    order = data.draw(st.permutations(range(len(messages))))
    intake = ListIntake([message(*messages[i], mid) for mid, i in enumerate(order, 1)])
    worker = Collector(intake, engine, KEYS, "ravao", 30)
    worker.stop()
    assert worker.run() == 0
    assert sorted(m.mid for m in intake.acked) == list(range(1, len(messages) + 1))
    assert sorted(stored_ids(engine)) == sorted(e["event_id"] for e in by_seq.values())
    with engine.connect() as c:
        rows = {r.device_id: r for r in fleet(c)}
        assert c.execute(select(func.count()).select_from(events)).scalar_one() == len(by_seq)
    if junk:
        assert rows["door-01"].rejected == len(junk)
    if by_seq:
        top = max(by_seq)
        assert rows["door-01"].last_seq == top
        assert sum(b - a + 1 for a, b in rows["door-01"].missing) == top - len(by_seq)
    engine.dispose()
