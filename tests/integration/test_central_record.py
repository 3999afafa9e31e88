"""The central side through its contract only: a real Mosquitto, the real
``ravao central`` commands, SQLite and a PostgreSQL the tests start. The
expected answers below are worked out by hand from the contract's rules."""

from __future__ import annotations

import json
import stat
import unicodedata
import uuid
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import text

from tests.support.central import Record, at, cccd, contract_event, events_topic, publish, publish_events, stream

LAN = cccd("046303001234", "Nguyễn Thị Lan", "2003-05-14", "F")  # the traced person
BINH = cccd("001090001111", "Trần Văn Bình", "1990-02-01", "M")
CHAU = cccd("046199002222", "Lê Thị Châu", "1999-07-07", "F")
DUNG = cccd("079085003333", "Phạm Văn Dũng", "1985-12-30", "M")
EM = cccd("048300004444", "Võ Văn Em", "2000-01-01", "M")
PHUC = cccd("046201005555", "Hồ Thị Phúc", "2001-03-03", "F")
BUS = {"device_id": "bus-01", "venue_id": "xe-hue", "vehicle": "75B-123.45", "route": "Huế–Đà Nẵng"}


def scenario() -> list[dict]:
    """Two doors of one hospital (in at door-01, out at door-02) and a bus."""
    door_in = {"device_id": "door-01", "direction": "in"}
    door_out = {"device_id": "door-02", "direction": "out"}
    return [
        contract_event(seq=1, ts=at(0), credential=LAN, **door_in),
        contract_event(seq=2, ts=at(10), credential=EM, result="fail", reason="expired", **door_in),
        # seq 3 of door-01 never arrives
        contract_event(seq=4, ts=at(30), credential=BINH, **door_in),
        contract_event(seq=5, ts=at(50), credential=CHAU, **door_in),
        contract_event(seq=1, ts=at(40), credential=DUNG, **door_out),  # an out with no in
        contract_event(seq=2, ts=at(60), credential=LAN, **door_out),
        contract_event(seq=3, ts=at(120), credential=BINH, **door_out),
        contract_event(seq=1, ts=at(240), credential=LAN, direction="in", **BUS),
        contract_event(seq=2, ts=at(250), credential=PHUC, direction="in", **BUS),
        contract_event(seq=3, ts=at(270), credential=LAN, direction="out", **BUS),
        contract_event(seq=4, ts=at(280), credential=PHUC, direction="out", **BUS),
    ]


def hostile(events: list[dict]) -> list[tuple[str, bytes | str]]:
    """What a broken or malicious client sends among them."""
    impostor = dict(events[0], event_id=str(uuid.uuid4()), seq=99)
    wrong_schema = dict(events[7], event_id=str(uuid.uuid4()), seq=98, schema="ravao.checkin/2")
    return [
        ("ravao/bv-tw-hue/door-01/events", b"not json at all"),
        ("ravao/bv-tw-hue/door-01/events", b"{" + b" " * (64 * 1024) + b"}"),
        ("ravao/bv-tw-hue/door-02/events", json.dumps(impostor)),  # says door-01, on door-02's topic
        (events_topic(events[7]), json.dumps(wrong_schema)),
        ("ravao/bv-tw-hue/door-01/status", b"\xff\xfe"),
    ]


@pytest.fixture
def record(tmp_path, broker, database_url):
    rec = Record(tmp_path / "central", database_url, broker.url)
    rec.ok("init")
    rec.start_collector()
    yield rec
    rec.close()


@pytest.fixture
def filled(record, broker):
    events = scenario()
    status = {"state": "online", "ts": "2026-11-27T07:59:00.000Z", "version": "0.1.0", "queue": 0}
    sent = publish(broker.port, [("ravao/bv-tw-hue/door-01/status", json.dumps(status))], retain=True)
    sent += publish_events(broker.port, events + [events[3]])  # Bình's in, delivered twice
    sent += publish(broker.port, hostile(events))
    assert sent == 1 + len(events) + 1 + 5
    assert record.wait_stored(len(events)), record.log()
    assert record.stop_collector() == 0, record.log()
    return record


def test_init_is_idempotent_and_makes_a_private_key_file(tmp_path, database_url):
    rec = Record(tmp_path / "central", database_url, "mqtt://127.0.0.1:1")
    first = rec.ok("init")
    assert "key file created" in first
    key = rec.key_file.read_bytes()
    assert stat.S_IMODE(rec.key_file.stat().st_mode) == 0o600
    assert "key file kept" in rec.ok("init")
    assert rec.key_file.read_bytes() == key
    assert rec.json("fleet") == {"devices": []}


def test_the_ledger_counts_every_device_its_holes_and_what_it_rejected(filled):
    rows = {d["device_id"]: d for d in filled.json("fleet")["devices"]}
    assert rows["door-01"] == {"device_id": "door-01", "venue_id": "bv-tw-hue", "state": "online",
                               "status_ts": "2026-11-27T07:59:00.000Z", "queue": 0, "events": 4, "last_seq": 5,
                               "missing": [[3, 3]], "rejected": 3, "last_event_ts": "2026-11-27T08:50:00.000Z"}
    assert rows["door-02"] == {"device_id": "door-02", "venue_id": "bv-tw-hue", "state": None, "status_ts": None,
                               "queue": None, "events": 3, "last_seq": 3, "missing": [], "rejected": 1,
                               "last_event_ts": "2026-11-27T10:00:00.000Z"}
    assert rows["bus-01"]["events"] == 4 and rows["bus-01"]["missing"] == [] and rows["bus-01"]["rejected"] == 1
    assert set(rows) == {"door-01", "door-02", "bus-01"}
    assert len(filled.event_ids()) == len(set(filled.event_ids())) == 11  # Bình's repeat stored once


def test_a_trace_finds_the_visits_the_contacts_and_the_holes(filled):
    result = filled.json("trace", "--case", "HUE-2026-0012", "--person", "cccd:046303001234",
                         "--from", "2026-11-27T07:00:00Z", "--to", "2026-11-27T13:00:00+00:00")
    assert result["case"] == "HUE-2026-0012"
    assert {k: result["person"][k] for k in ("type", "id", "name", "dob")} == {
        "type": "cccd", "id": "046303001234", "name": "Nguyễn Thị Lan", "dob": "2003-05-14"}
    assert (result["from"], result["to"]) == ("2026-11-27T07:00:00.000Z", "2026-11-27T13:00:00.000Z")
    assert result["min_overlap_minutes"] == 15
    visits = sorted(result["visits"], key=lambda v: v["start"])
    assert [dict(v, devices=sorted(v["devices"])) for v in visits] == [
        {"venue_id": "bv-tw-hue", "vehicle": None, "route": None, "start": "2026-11-27T08:00:00.000Z",
         "end": "2026-11-27T09:00:00.000Z", "start_inferred": False, "end_inferred": False,
         "devices": ["door-01", "door-02"]},
        {"venue_id": "xe-hue", "vehicle": "75B-123.45", "route": "Huế–Đà Nẵng", "start": "2026-11-27T12:00:00.000Z",
         "end": "2026-11-27T12:30:00.000Z", "start_inferred": False, "end_inferred": False, "devices": ["bus-01"]},
    ]
    # Dũng: an out at 08:40 with no in, so from 07:40 (inferred): 40 minutes with Lan.
    # Bình: 08:30–10:00, 30 minutes. Phúc: on the bus 12:10–12:40, 20 minutes.
    # Châu: from 08:50, 10 minutes: under 15. Em: refused at the door, placed nowhere.
    contacts = [(c["person"]["name"], c["venue_id"], c["vehicle"], c["overlap_minutes"], c["first"], c["last"])
                for c in result["contacts"]]
    assert contacts == [
        ("Phạm Văn Dũng", "bv-tw-hue", None, 40.0, "2026-11-27T08:00:00.000Z", "2026-11-27T08:40:00.000Z"),
        ("Trần Văn Bình", "bv-tw-hue", None, 30.0, "2026-11-27T08:30:00.000Z", "2026-11-27T09:00:00.000Z"),
        ("Hồ Thị Phúc", "xe-hue", "75B-123.45", 20.0, "2026-11-27T12:10:00.000Z", "2026-11-27T12:30:00.000Z"),
    ]
    assert result["contacts"][1]["person"]["id"] == "001090001111"
    assert result["coverage"] == [{"device_id": "door-01", "venue_id": "bv-tw-hue", "missing": [[3, 3]],
                                   "offline": []}]
    entry = filled.json("audit")["entries"][-1]
    assert entry["action"] == "trace" and entry["case"] == "HUE-2026-0012" and entry["revealed"] == 4
    assert entry["query"] == {"person": "cccd:046303001234", "from": "2026-11-27T07:00:00.000Z",
                              "to": "2026-11-27T13:00:00.000Z"}
    assert entry["actor"].startswith("os:")


def test_a_lower_overlap_adds_the_short_contact_and_a_narrow_window_drops_the_bus(filled):
    result = filled.json("trace", "--case", "C-2", "--person", "cccd:046303001234", "--min-overlap", "5",
                         "--from", "2026-11-27T08:30:00Z", "--to", "2026-11-27T08:45:00Z")
    assert [v["venue_id"] for v in result["visits"]] == ["bv-tw-hue"]
    assert [(c["person"]["name"], c["overlap_minutes"]) for c in result["contacts"]] == [
        ("Phạm Văn Dũng", 40.0), ("Trần Văn Bình", 30.0), ("Lê Thị Châu", 10.0)]


def test_presence_counts_people_and_names_nobody(filled):
    result = filled.json("presence", "--venue", "bv-tw-hue", "--from", "2026-11-27T08:00:00Z",
                         "--to", "2026-11-27T10:00:00Z", "--step", "30")
    assert [(p["ts"], p["present"]) for p in result["points"]] == [
        ("2026-11-27T08:00:00.000Z", 2), ("2026-11-27T08:30:00.000Z", 3),
        ("2026-11-27T09:00:00.000Z", 2), ("2026-11-27T09:30:00.000Z", 2)]
    assert "Lan" not in json.dumps(result) and "046303001234" not in json.dumps(result)


def test_a_trace_needs_a_case_and_a_well_formed_person(filled):
    base = ["--from", "2026-11-27T07:00:00Z", "--to", "2026-11-27T13:00:00Z"]
    for args in (["--person", "cccd:046303001234"], ["--case", " ", "--person", "cccd:046303001234"],
                 ["--case", "C", "--person", "cccd:123"], ["--case", "C", "--person", "bob"]):
        done = filled.run("trace", *args, *base)
        assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert filled.json("audit")["entries"] == []


def test_the_audit_chain_shows_an_entry_altered_removed_or_reordered(filled):
    for case, end in (("A-1", "11:00"), ("A-2", "12:00"), ("A-3", "13:00")):
        filled.ok("trace", "--case", case, "--person", "cccd:046303001234", "--from", "2026-11-27T07:00:00Z",
                  "--to", f"2026-11-27T{end}:00Z")
    assert "3 entries" in filled.ok("audit", "--verify")
    engine = filled.engine()

    def tamper(sql: str) -> str:
        with engine.begin() as c:
            saved = [dict(r._mapping) for r in c.execute(text("SELECT * FROM audit"))]
            for statement in sql.split(";"):
                c.execute(text(statement))
        done = filled.run("audit", "--verify")
        with engine.begin() as c:  # put it back for the next tampering
            c.execute(text("DELETE FROM audit"))
            c.execute(text("INSERT INTO audit VALUES (:n, :ts, :actor, :action, :case_ref, :query, :revealed, "
                           ":hash)"), saved)
        assert done.returncode != 0
        return done.stderr

    try:
        assert "entry 2" in tamper("UPDATE audit SET revealed = 1 WHERE n = 2")
        assert "entry 1" in tamper("UPDATE audit SET case_ref = 'A-9' WHERE n = 1")
        assert "entry 2 is missing" in tamper("DELETE FROM audit WHERE n = 2")
        assert "entry 1" in tamper("UPDATE audit SET n = 0 WHERE n = 1; UPDATE audit SET n = 1 WHERE n = 2; "
                                   "UPDATE audit SET n = 2 WHERE n = 0")
        assert "entry 3" in tamper("UPDATE audit SET query = (SELECT query FROM audit WHERE n = 1) WHERE n = 3")
    finally:
        engine.dispose()
    assert "3 entries" in filled.ok("audit", "--verify")


def test_export_writes_csv_and_xlsx_and_is_audited(filled, tmp_path):
    window = ["--person", "cccd:046303001234", "--from", "2026-11-27T07:00:00Z", "--to", "2026-11-27T13:00:00Z"]
    filled.ok("export", "--case", "E-1", *window, "--out", str(tmp_path / "trace.csv"))
    filled.ok("export", "--case", "E-1", *window, "--out", str(tmp_path / "trace.xlsx"))
    rows = (tmp_path / "trace.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("kind,person_type,person_id")
    assert sum(r.startswith("visit,") for r in rows) == 2 and sum(r.startswith("contact,") for r in rows) == 3
    assert any("Trần Văn Bình" in r for r in rows)
    book = openpyxl.load_workbook(tmp_path / "trace.xlsx")
    assert book.sheetnames == ["visits", "contacts", "coverage"]
    assert [r[3] for r in book["contacts"].iter_rows(min_row=2, values_only=True)] == [
        "Phạm Văn Dũng", "Trần Văn Bình", "Hồ Thị Phúc"]
    assert stat.S_IMODE((tmp_path / "trace.csv").stat().st_mode) == 0o600
    assert [e["action"] for e in filled.json("audit")["entries"]] == ["export", "export"]
    done = filled.run("export", "--case", "E-1", *window, "--out", str(tmp_path / "trace.pdf"))
    assert done.returncode != 0 and ".csv or .xlsx" in done.stderr


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


def test_no_plain_personal_data_anywhere_in_the_database(filled, request):
    filled.ok("trace", "--case", "P-1", "--person", "cccd:046303001234", "--from", "2026-11-27T07:00:00Z",
              "--to", "2026-11-27T13:00:00Z")
    if filled.database_url.startswith("sqlite"):
        files = _files_under(Path(filled.database_url.removeprefix("sqlite:///")).parent)
        assert any(f.name.endswith("-wal") for f in files) or len(files) >= 1
    else:
        server = request.getfixturevalue("postgres_server")
        server.psql("CHECKPOINT")
        files = _files_under(server.data)
    secrets = []
    for person in (LAN, BINH, CHAU, DUNG, EM, PHUC):
        secrets += [person["id"], person["name"], unicodedata.normalize("NFD", person["name"]), person["dob"],
                    person["name"].split(maxsplit=1)[1]]  # the names without the family name too
    blobs = b"".join(_contents(f) for f in files)
    assert len(blobs) > 10_000
    found = [s for s in secrets if s.encode("utf-8") in blobs or s.encode("utf-16-le") in blobs]
    assert found == []
    assert b"bv-tw-hue" in blobs  # the search does see the record's plain, non-personal columns


def _contents(path: Path) -> bytes:
    # A running server removes files of its own as it goes (pg_internal.init):
    # one gone before it is read holds nothing any more.
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def test_purge_drops_what_is_older_than_the_retention(filled):
    assert "nothing" in filled.ok("purge")  # 30 days: the scenario's 2026-11-27 stays
    assert filled.stored() == 11
    with filled.config.open("a") as config:
        config.write("\n[retention]\ndays = 1\n")
    assert "older than 1 days" in filled.ok("purge")
    assert filled.stored() == 0
    assert {d["device_id"] for d in filled.json("fleet")["devices"]} == {"door-01", "door-02", "bus-01"}


def test_two_collectors_in_a_shared_group_split_the_stream_and_store_it_once(tmp_path, broker):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = Record(tmp_path / "one", url, broker.url, mqtt='shared_group = "ravao"\n')
    second = Record(tmp_path / "two", url, broker.url, mqtt='shared_group = "ravao"\n', key_file=first.key_file)
    first.ok("init")
    events = stream(devices=4, per_device=250)
    try:
        first.start_collector()
        second.start_collector()
        assert publish_events(broker.port, events) == len(events)
        assert first.wait_stored(len(events), timeout=60), first.log() + second.log()
        assert first.stop_collector() == 0 and second.stop_collector() == 0
    finally:
        first.close()
        second.close()
    assert len(first.event_ids()) == len(set(first.event_ids())) == len(events)
    shares = [int(r.log().rsplit("stopped: ", 1)[1].split(" events")[0]) for r in (first, second)]
    assert sum(shares) == len(events) and min(shares) > 0, shares
