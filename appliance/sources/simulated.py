"""Simulated cameras: a folder of images or a video file, paced like a camera."""

from __future__ import annotations

import abc
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from appliance.sources import SourceError, SourceSpec
from appliance.sources.v4l2 import import_cv2, to_gray

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".pgm"}


def paced(frames: Iterable[np.ndarray], fps: float) -> Iterator[np.ndarray]:
    """Yield `frames` no faster than `fps` per second (0: as fast as possible)."""
    if fps <= 0:
        yield from frames
        return
    period = 1.0 / fps
    due = time.monotonic()
    for frame in frames:
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        due = max(due + period, time.monotonic() - period)
        yield frame


def load_gray(path: Path) -> np.ndarray:
    """An image file as a 2-D uint8 array."""
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("L"))


class SimulatedSource(abc.ABC):
    """What the simulated sources share: paced frames, finite unless looping."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.finite = not spec.loop

    @abc.abstractmethod
    def _unpaced(self) -> Iterator[np.ndarray]:
        """Every frame, as fast as it can be made."""

    def frames(self) -> Iterator[np.ndarray]:
        return paced(self._unpaced(), self.spec.fps)

    def close(self) -> None:  # noqa: B027 (most simulated sources hold nothing to close)
        pass


class ImageFolderSource(SimulatedSource):
    """``images:DIR``: each image, in name order, for `hold` frames, then `gap` blank ones."""

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        folder = Path(spec.target)
        if not folder.is_dir():
            raise SourceError(f"images source: {folder} is not a folder")
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"images source: no image files in {folder}")
        # Decoded once: a camera hands over pixels, not files.
        self.images = [load_gray(p) for p in self.paths]

    def _unpaced(self) -> Iterator[np.ndarray]:
        while True:
            for image in self.images:
                for _ in range(self.spec.hold):
                    yield image
                blank = np.full_like(image, 255)
                for _ in range(self.spec.gap):
                    yield blank
            if not self.spec.loop:
                return


class VideoFileSource(SimulatedSource):
    """``video:FILE``: the frames of a video file, through OpenCV."""

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self.cv2 = import_cv2()
        if not Path(spec.target).is_file():
            raise SourceError(f"video source: no such file {spec.target}")

    def _unpaced(self) -> Iterator[np.ndarray]:
        cv2 = self.cv2
        while True:
            capture = cv2.VideoCapture(self.spec.target)
            if not capture.isOpened():
                raise SourceError(f"video source: OpenCV cannot read {self.spec.target}")
            count = 0
            try:
                while True:
                    ok, frame = capture.read()
                    if not ok:
                        break
                    count += 1
                    yield to_gray(cv2, frame)
            finally:
                capture.release()
            if count == 0:
                raise SourceError(f"video source: no frames in {self.spec.target}")
            if not self.spec.loop:
                return
