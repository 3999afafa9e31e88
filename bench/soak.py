"""Soak: the daemon on a looping simulated 640x480 source for a while (10
minutes by default), against a local Mosquitto. Reports RSS and open file
descriptors after warm-up and at the end, and the frame rate the daemon logs
each minute. Not run in CI.

    .venv/bin/python bench/soak.py [--minutes 10] [--backend zxing]

Writes bench/results/soak.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.pipeline import make_scenes
from tests.support.broker import Broker

REPO = Path(__file__).resolve().parent.parent

WARM_UP_S = 30


def sample(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return {"t": round(time.monotonic(), 1), "rss_mb": round(rss_kb / 1024, 1),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--backend", default="zxing")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ravao-soak-"))
    make_scenes(work / "scenes")
    log_path = work / "daemon.log"
    with Broker(work / "broker") as broker:
        config = work / "device.toml"
        config.write_text(
            f'[device]\nid = "soak"\nvenue_id = "bench"\n[camera]\nsource = "images:{work / "scenes"}?loop=1&fps=30"\n'
            f'[decoder]\nbackend = "{args.backend}"\n[mqtt]\nurl = "{broker.url}"\n'
            f'[storage]\nstate_dir = "{work / "state"}"\n[policy]\ndedupe_seconds = 0\n')
        with log_path.open("wb") as log:
            daemon = subprocess.Popen([sys.executable, "-m", "ravao", "run", "--config", str(config)],
                                      cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        samples = []
        end = time.monotonic() + args.minutes * 60
        time.sleep(min(WARM_UP_S, args.minutes * 60 / 4))
        while time.monotonic() < end and daemon.poll() is None:
            samples.append(sample(daemon.pid))
            time.sleep(min(15, max(0.0, end - time.monotonic())))
        samples.append(sample(daemon.pid))
        daemon.terminate()
        daemon.wait(30)
    rates = [float(m) for m in re.findall(r"\(([\d.]+) fps\)", log_path.read_text())]
    result = {
        "minutes": args.minutes,
        "backend": args.backend,
        "source": "images, 8 cards at 640x480, loop, 30 fps, a check-in every 0.5 s",
        "after_warm_up": samples[0],
        "end": samples[-1],
        "rss_max_mb": max(s["rss_mb"] for s in samples),
        "rss_growth_mb": round(samples[-1]["rss_mb"] - samples[0]["rss_mb"], 1),
        "fds_growth": samples[-1]["fds"] - samples[0]["fds"],
        "fps_per_minute": rates,
        "exit_code": daemon.returncode,
    }
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
