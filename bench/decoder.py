"""Decoder benchmark: exact-decode rate and time per image on the zxing-cpp
sample images, time per empty 640x480 frame (all black, and real scenes with
no code in them), and false positives.

    .venv/bin/python bench/decoder.py [--repeat N]

Writes bench/results/decoder.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from appliance.decoder import make_decoder
from appliance.sources.simulated import IMAGE_SUFFIXES, load_gray

REPO = Path(__file__).resolve().parent.parent

TESTDATA = REPO / "tests" / "data"


def samples() -> list[tuple[Path, str, str | None]]:
    """(image, expected text, structured-append group) for the 141 sample images."""
    out = []
    for image in sorted((TESTDATA / "zxing-qrcode").rglob("*")):
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        own = image.with_suffix(".txt")
        if own.exists():
            out.append((image, own.read_bytes().decode("utf-8"), None))
        else:  # qrcode-7/01-0N.png: one message in four symbols
            group = image.stem.split("-")[0]
            whole = image.with_name(group + ".txt")
            out.append((image, whole.read_bytes().decode("utf-8"), str(image.parent / group)))
    return out


def time_call(fn, frame, repeat: int) -> tuple[float, list]:
    best = float("inf")
    result = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn(frame)
        best = min(best, time.perf_counter() - t)
    return best, result


def bench(backend: str, repeat: int) -> dict:
    decoder = make_decoder(backend)
    exact, per_image = 0, []
    groups: dict[str, list[str]] = {}
    items = samples()
    for image, want, group in items:
        frame = load_gray(image)
        seconds, codes = time_call(decoder.decode, frame, repeat)
        per_image.append(seconds * 1000)
        if group is None:
            exact += any(c.text == want for c in codes)
        else:
            # A structured-append part is exact when its text is its share of the whole message.
            groups.setdefault(group, []).extend(c.text for c in codes)
            exact += any(c.text and c.text in want for c in codes)
    empty = np.zeros((480, 640), np.uint8)
    empty_ms = statistics.median(time_call(decoder.decode, empty, 1)[0] for _ in range(max(50, repeat * 10))) * 1000
    fp_images = [p for p in sorted((TESTDATA / "zxing-falsepositives").rglob("*"))
                 if p.suffix.lower() in IMAGE_SUFFIXES]
    false_positives = sum(len(decoder.decode(load_gray(p))) for p in fp_images)
    # Frames a camera sees with nobody in front of it: the false-positive
    # photos (scenes with no QR code) at 640x480.
    scenes = [np.asarray(Image.fromarray(load_gray(p)).resize((640, 480))) for p in fp_images]
    scene_ms = statistics.median(time_call(decoder.decode, scene, max(5, repeat))[0] for scene in scenes) * 1000
    return {
        "backend": backend,
        "images": len(items),
        "exact": exact,
        "exact_rate": round(exact / len(items), 4),
        "median_ms_per_image": round(statistics.median(per_image), 3),
        "empty_640x480_ms": round(empty_ms, 3),
        "scene_without_code_640x480_ms": round(scene_ms, 3),
        "false_positive_images": len(fp_images),
        "false_positive_reports": false_positives,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per image (the best counts)")
    parser.add_argument("--backends", default="zxing,zbar,zxing+zbar")
    args = parser.parse_args()
    rows = [bench(b, args.repeat) for b in args.backends.split(",")]
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "decoder.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{'backend':10} {'exact':>9} {'rate':>7} {'ms/image':>9} {'ms/empty':>9} {'ms/scene':>9} {'false pos':>9}")
    for r in rows:
        print(f"{r['backend']:10} {r['exact']:>4}/{r['images']:<4} {r['exact_rate']:>7.1%} "
              f"{r['median_ms_per_image']:>9.2f} {r['empty_640x480_ms']:>9.2f} "
              f"{r['scene_without_code_640x480_ms']:>9.2f} {r['false_positive_reports']:>9}")


if __name__ == "__main__":
    main()
