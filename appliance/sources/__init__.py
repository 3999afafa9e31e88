"""Frame sources: where the camera loop gets its grayscale frames.

``picamera2`` (the Pi camera), ``v4l2:/dev/videoN`` (a USB webcam through
OpenCV), and the simulated ``images:DIR`` and ``video:FILE`` with options
after ``?`` (``hold``, ``gap``, ``fps``, ``loop``). Every source yields 2-D
uint8 numpy arrays; a finite source ends its iteration when it is done.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl

import numpy as np

KINDS = ("picamera2", "v4l2", "images", "video")


class SourceError(Exception):
    """The camera failed or stopped delivering frames; the loop may reopen it."""


class FrameSource(Protocol):
    """A camera, or something that acts like one."""

    finite: bool  # ends by itself (a simulated source without loop)

    def frames(self) -> Iterator[np.ndarray]:
        """Grayscale frames, as fast as the source delivers them."""

    def close(self) -> None:
        """Release the camera."""


@dataclass(frozen=True)
class SourceSpec:
    """A parsed ``[camera] source`` string."""

    kind: str
    target: str = ""
    hold: int = 10
    gap: int = 5
    fps: float = 30.0
    loop: bool = False


_OPTIONS = {"images": {"hold", "gap", "fps", "loop"}, "video": {"fps", "loop"}}


def parse_source(spec: str) -> SourceSpec:
    """Parse a source string, or raise ValueError naming the problem."""
    kind, _, rest = spec.partition(":")
    if kind == "picamera2" and not rest:
        return SourceSpec("picamera2")
    if kind not in KINDS or not rest:
        raise ValueError(f"unknown camera source {spec!r}: use picamera2, v4l2:/dev/videoN, images:DIR or video:FILE")
    target, _, query = rest.partition("?")
    if not target:
        raise ValueError(f"camera source {spec!r} names no {'device' if kind == 'v4l2' else 'path'}")
    if kind == "v4l2":
        if query:
            raise ValueError("v4l2 sources take no options")
        return SourceSpec("v4l2", target)
    values: dict[str, object] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in _OPTIONS[kind]:
            raise ValueError(f"camera source option {key!r} is not one of {sorted(_OPTIONS[kind])}")
        whole = key != "fps"
        try:
            number = int(value) if whole else float(value)
        except ValueError:
            kind_of = "a whole number" if whole else "a number"
            raise ValueError(f"camera source option {key}={value!r} is not {kind_of}") from None
        low, high = (0, 1000) if key == "fps" else (1 if key == "hold" else 0, 100000)
        if not (low <= number <= high and math.isfinite(number)):
            raise ValueError(f"camera source option {key}={value!r} is out of range ({low} to {high})")
        values[key] = bool(number) if key == "loop" else number
    return SourceSpec(kind, target, **values)  # type: ignore[arg-type]


def open_source(spec: str, width: int = 640, height: int = 480, fps: float = 30) -> FrameSource:
    """Open the source named by `spec`; camera libraries load only when chosen."""
    parsed = parse_source(spec)
    if parsed.kind == "images":
        from appliance.sources.simulated import ImageFolderSource

        return ImageFolderSource(parsed)
    if parsed.kind == "video":
        from appliance.sources.simulated import VideoFileSource

        return VideoFileSource(parsed)
    if parsed.kind == "v4l2":
        from appliance.sources.v4l2 import V4l2Source

        return V4l2Source(parsed.target, width, height, fps)
    from appliance.sources.picamera import PiCameraSource

    return PiCameraSource(width, height, fps)
