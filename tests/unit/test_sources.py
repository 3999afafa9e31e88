"""Frame sources: the simulated ones frame by frame; the camera ones' errors."""

from __future__ import annotations

import builtins
import sys

import numpy as np
import pytest

from appliance.sources import SourceError, open_source, parse_source
from tests.support.samples import CARDS, qr_png


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    qr_png(CARDS[0].text(), d / "b.png")
    qr_png(CARDS[1].text(), d / "a.png")
    (d / "notes.txt").write_text("not an image")
    return d


def test_images_hold_and_gap_in_name_order(folder):
    source = open_source(f"images:{folder}?hold=3&gap=2&fps=0")
    frames = list(source.frames())
    assert source.finite and len(frames) == 2 * (3 + 2)
    a, b = source.images[0], source.images[1]
    assert [p.name for p in source.paths] == ["a.png", "b.png"]
    for i in range(3):
        assert frames[i] is a and frames[5 + i] is b
    for i, image in ((3, a), (4, a), (8, b), (9, b)):
        assert frames[i].shape == image.shape and (frames[i] == 255).all()
    assert frames[0].dtype == np.uint8 and frames[0].ndim == 2


def test_images_defaults_and_loop(folder):
    spec = parse_source(f"images:{folder}")
    assert (spec.hold, spec.gap, spec.fps, spec.loop) == (10, 5, 30.0, False)
    source = open_source(f"images:{folder}?hold=1&gap=0&fps=0&loop=1")
    assert not source.finite
    it = source.frames()
    frames = [next(it) for _ in range(7)]  # bounded: a looping source never ends by itself
    assert [f is source.images[i % 2] for i, f in enumerate(frames)] == [True] * 7


def test_images_paced_at_fps(folder):
    import time

    source = open_source(f"images:{folder}?hold=5&gap=5&fps=100")
    start = time.monotonic()
    assert len(list(source.frames())) == 20
    assert time.monotonic() - start >= 0.18  # 20 frames at 100 per second


def test_video_file(tmp_path, folder):
    import cv2  # opencv-python-headless is in the test extra
    path = tmp_path / "clip.avi"
    frame = cv2.imread(str(folder / "a.png"))
    h, w = frame.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (w, h))
    for _ in range(12):
        writer.write(frame)
    writer.release()
    source = open_source(f"video:{path}?fps=0")
    frames = list(source.frames())
    assert len(frames) == 12 and frames[0].ndim == 2 and frames[0].shape == (h, w)
    from appliance.decoder import make_decoder

    assert make_decoder("zxing").decode(frames[5])[0].text == CARDS[1].text()


@pytest.mark.parametrize("spec, message", [
    ("webcam", "unknown camera source"),
    ("images:", "unknown camera source"),
    ("images:/x?fps=-1", "out of range"),
    ("images:/x?hold=a", "is not a whole number"),  # it used to say "out of range"
    ("video:/x?hold=3", "not one of"),
    ("v4l2:/dev/video0?fps=3", "take no options"),
])
def test_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_source(spec)


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(SourceError, match="not a folder"):
        open_source(f"images:{tmp_path / 'nope'}")
    with pytest.raises(SourceError, match="no image files"):
        open_source(f"images:{tmp_path}")


def test_picamera2_missing_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_picamera(name, *args, **kwargs):
        if name == "picamera2":
            raise ImportError("No module named 'picamera2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_picamera)
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        open_source("picamera2")


def test_opencv_missing_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(SourceError, match="opencv-python-headless"):
        open_source("v4l2:/dev/video9")


def test_v4l2_device_that_is_not_there():
    with pytest.raises(SourceError, match="cannot open camera"):
        open_source("v4l2:/dev/video-does-not-exist")
