"""The whole system's main job, simulated: a local Mosquitto, a folder of QR
images, `ravao run` over them, every event as a subscriber received it, the
central collector storing them, and the record answering: the ledger, a
trace of one person with the contacts found, the audit log and an export.

Run through `tests/dev.sh demo`. Everything is written under demo-out/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from tests.support.broker import Broker, Subscriber
from tests.support.central import Record, publish
from tests.support.paths import REPO
from tests.support.samples import CARDS, MALFORMED_CARD, qr_png

OUT = REPO / "demo-out"


def make_images(folder: Path) -> list[str]:
    """The scenes shown to the camera, in order; returns their descriptions."""
    folder.mkdir(parents=True)
    scenes = []
    for i, card in enumerate(CARDS[:5]):
        qr_png(card.text(nfd=i == 3), folder / f"{len(scenes):02d}-card.png", eci=i == 2)
        scenes.append(f"ID card of {card.name}" + (" (NFD text)" if i == 3 else "") + (" (with ECI)" if i == 2 else ""))
    qr_png(CARDS[0].text(), folder / f"{len(scenes):02d}-card-again.png")
    scenes.append(f"the same card of {CARDS[0].name} again, seconds later")
    qr_png(MALFORMED_CARD.text(), folder / f"{len(scenes):02d}-malformed.png")
    scenes.append("an ID card whose number contradicts its sex")
    qr_png("https://example.vn/khuyen-mai?ma=12345", folder / f"{len(scenes):02d}-text.png")
    scenes.append("a random web-link QR")
    return scenes


def show_message(topic: str, payload: bytes) -> None:
    """One line per message, as the subscriber receives it."""
    body = json.loads(payload)
    if not topic.endswith("/events"):
        print(f"  ← {topic}: state={body['state']} queue={body['queue']}", flush=True)
        return
    event = body
    cred = event["credential"]
    who = cred.get("name") or f"sha256 {cred.get('sha256', '')[:12]}…"
    print(f"  ← broker got seq {event['seq']}: {event['result'].upper():4} {event['direction']:3} "
          f"{cred['type']:7} {who}" + (f" ({event['reason']})" if event["reason"] else ""), flush=True)


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    scenes = make_images(OUT / "images")
    print("== scenes shown to the camera (each for 10 frames, at 30 frames a second):")
    for i, scene in enumerate(scenes):
        print(f"  {i:2d}. {scene}")

    with Broker(OUT / "broker") as broker:
        record = Record(OUT / "central", f"sqlite:///{OUT / 'central' / 'central.db'}", broker.url)
        print(f"\n== the central side: ravao central init --config {record.config}")
        print(indent(record.ok("init")))
        record.start_collector()
        print(f"== ravao central collect is running (log: {record.collector_log})")
        sub = Subscriber(broker.port, "ravao/#", echo=show_message)
        config = OUT / "device.toml"
        config.write_text(
            '[device]\nid = "door-01"\nvenue_id = "bv-tw-hue"\nvenue_name = "Bệnh viện Trung ương Huế"\n'
            'direction = "in"\n\n'
            f'[camera]\nsource = "images:{OUT / "images"}?hold=10&gap=5&fps=30"\n\n'
            f'[mqtt]\nurl = "{broker.url}"\n\n'
            f'[storage]\nstate_dir = "{OUT / "state"}"\n\n'
            f'[display]\ndriver = "png:{OUT / "screens"}"\n'
        )
        print(f"\n== mosquitto on 127.0.0.1:{broker.port}; running: ravao run --config {config}\n"
              "   (log lines: what the person at the door is told; ← lines: what the subscriber received)\n",
              flush=True)
        done = subprocess.run([sys.executable, "-m", "ravao", "run", "--config", str(config)], cwd=REPO)
        time.sleep(0.3)
        sub.close()
        forged = publish(broker.port, [("ravao/bv-tw-hue/door-01/events", b'{"schema": "forged"}')])
        print(f"\n== someone else publishes {forged} forged message on door-01's topic")
        stored = record.wait_stored(len(sub.events()), timeout=30)
        time.sleep(0.5)
        print(f"== stopping the collector (SIGTERM): exit {record.stop_collector()}; "
              f"{'every' if stored else 'NOT every'} event is in the record")

    events = sub.events()
    print(f"\n== {len(events)} events, seq {[e['seq'] for e in events]}; full payloads:")
    for e in events:
        print("  " + json.dumps(e, ensure_ascii=False))
    screens = sorted((OUT / "screens").glob("*.png"))
    print(f"\n== {len(screens)} screens the OLED showed, as PNG files in {OUT / 'screens'}")
    code = show_record(record, events)
    print(f"\nravao run exited with {done.returncode}; files in {OUT}")
    return done.returncode or code


def indent(text: str) -> str:
    return "\n".join("  " + line for line in text.rstrip().splitlines())


def shifted(ts: str, minutes: int) -> str:
    """An event's RFC 3339 time moved by `minutes`."""
    when = datetime.fromisoformat(ts) + timedelta(minutes=minutes)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def show_record(record: Record, events: list[dict]) -> int:
    """The central side's answers, through its command line."""
    print(f"\n== ravao central fleet --config {record.config}  (the completeness ledger)")
    print(indent(record.ok("fleet")))
    first = next(e for e in events if e["result"] == "pass" and e["credential"]["type"] == "cccd")
    person = f"cccd:{first['credential']['id']}"
    times = sorted(e["ts"] for e in events)
    window = ["--from", shifted(times[0], -10), "--to", shifted(times[-1], 1)]
    print(f"\n== ravao central trace --case DEMO-1 --person {person} {' '.join(window)}")
    print("   (no exit was scanned: each visit ends after the default dwell, 60 minutes, inferred;\n"
          "    the device stopped at the end of the run: its last will marks it offline from then on)")
    print(indent(record.ok("trace", "--case", "DEMO-1", "--person", person, *window)))
    trace = json.loads(record.ok("trace", "--case", "DEMO-1", "--person", person, *window, "--json"))
    (OUT / "trace.json").write_text(json.dumps(trace, ensure_ascii=False, indent=2))
    export = OUT / "trace.xlsx"
    record.ok("export", "--case", "DEMO-1", "--person", person, *window, "--out", str(export))
    print(f"\n== the same trace as JSON in {OUT / 'trace.json'}, exported to {export}")
    print("\n== ravao central audit  (every reveal, hash-chained)")
    print(indent(record.ok("audit")))
    print(indent(record.ok("audit", "--verify")))
    ledger = json.loads(record.ok("fleet", "--json"))["devices"]
    complete = all(not d["missing"] for d in ledger) and sum(d["events"] for d in ledger) == len(events)
    print(f"\n== {len(trace['contacts'])} contacts found; the ledger is {'complete' if complete else 'INCOMPLETE'}")
    return 0 if complete and trace["contacts"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
