"""The appliance's main job, simulated: a local Mosquitto, a folder of QR
images, `ravao run` over them, and every event as a subscriber received it.

Run through `tests/dev.sh demo`. Everything is written under demo-out/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.support.broker import Broker, Subscriber
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

    events = sub.events()
    print(f"\n== {len(events)} events, seq {[e['seq'] for e in events]}; full payloads:")
    for e in events:
        print("  " + json.dumps(e, ensure_ascii=False))
    screens = sorted((OUT / "screens").glob("*.png"))
    print(f"\n== {len(screens)} screens the OLED showed, as PNG files in {OUT / 'screens'}")
    print(f"\nravao exited with {done.returncode}; files in {OUT}")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
