"""Pipeline benchmark: frames per second of the whole camera loop on a
simulated 640x480 source (decode, decide, record, feedback, uplink beside
it, against a local Mosquitto), and its cost over the bare decoder calls.

By default each card is shown for 30 frames with 30 empty frames between
(a person every two seconds at 30 fps); every showing is a check-in whose
commit (fsync) the loop waits for, as it must. The commit's own cost is
reported beside.

    .venv/bin/python bench/pipeline.py [--rounds N] [--backend zxing|zbar]

Writes bench/results/pipeline.json and prints the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from appliance.config import parse_config
from appliance.daemon import Daemon
from appliance.outbox import Outbox
from appliance.sources import open_source
from tests.support.broker import Broker
from tests.support.samples import CARDS, qr_png

REPO = Path(__file__).resolve().parent.parent


def make_scenes(folder: Path) -> None:
    """Each card as a QR in the middle of a 640x480 frame."""
    folder.mkdir()
    for i, card in enumerate(CARDS):
        qr = Image.open(qr_png(card.text(), folder / "tmp.png", scale=3)).convert("L")
        canvas = Image.new("L", (640, 480), 200)
        canvas.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
        canvas.save(folder / f"{i:02d}.png")
    (folder / "tmp.png").unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", default="zxing")
    parser.add_argument("--hold", type=int, default=30, help="frames each card is shown (default 30: one second)")
    parser.add_argument("--gap", type=int, default=30, help="empty frames between cards (default 30)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="ravao-bench-"))
    make_scenes(work / "scenes")
    source = f"images:{work / 'scenes'}?hold={args.hold}&gap={args.gap}&fps=0"
    loop_s, bare_s = [], []
    with Broker(work / "broker") as broker:
        for r in range(args.rounds):
            config = parse_config(
                f'[device]\nid = "bench"\nvenue_id = "bench"\n[camera]\nsource = "{source}"\n'
                f'[decoder]\nbackend = "{args.backend}"\n[mqtt]\nurl = "{broker.url}"\n'
                f'[storage]\nstate_dir = "{work / f"state{r}"}"\n[policy]\ndedupe_seconds = 0\n')
            daemon = Daemon(config)
            daemon.uplink.start()
            camera = open_source(source)  # images decoded to frames before the clock starts
            t = time.perf_counter()
            daemon.scan_source(camera)
            loop_s.append(time.perf_counter() - t)
            daemon.close()

            frames = list(camera.frames())
            decoder = daemon.decoder
            t = time.perf_counter()
            for frame in frames:
                decoder.decode(frame)
            bare_s.append(time.perf_counter() - t)
    n = len(frames)
    box = Outbox(work / "commit.sqlite3")
    commits = []
    for i in range(50):
        t = time.perf_counter()
        box.record("bench", {"n": i})
        commits.append(time.perf_counter() - t)
    box.close()
    loop_fps = n / min(loop_s)
    bare_fps = n / min(bare_s)
    result = {
        "backend": args.backend,
        "frames_per_round": n,
        "frame_size": "640x480",
        "hold": args.hold,
        "gap": args.gap,
        "events_per_round": len(CARDS),
        "loop_fps": round(loop_fps, 1),
        "bare_decoder_fps": round(bare_fps, 1),
        "overhead": round(bare_fps / loop_fps, 3),
        "event_commit_ms_median": round(statistics.median(commits) * 1000, 2),
    }
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    name = f"pipeline-{args.backend}-hold{args.hold}-gap{args.gap}.json"
    (REPO / "bench" / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
