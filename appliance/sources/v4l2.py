"""``v4l2:/dev/videoN``: a USB webcam through OpenCV (imported only here)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from appliance.sources import SourceError


def import_cv2():
    """OpenCV, or a SourceError that says what to install. OpenCV's own
    warnings stay out of the log: a failure reaches it as our SourceError."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # quiet
    try:
        import cv2
    except ImportError:
        raise SourceError(
            "this camera source needs OpenCV: pip install 'ravao[video]' "
            "(opencv-python-headless), or apt install python3-opencv"
        ) from None
    return cv2


def to_gray(cv2, frame: np.ndarray) -> np.ndarray:
    """An OpenCV frame as 2-D grayscale."""
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


class V4l2Source:
    """Frames from a V4L2 device, converted to grayscale."""

    finite = False

    def __init__(self, device: str, width: int, height: int, fps: float) -> None:
        cv2 = self.cv2 = import_cv2()
        self.device = device
        self.capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not self.capture.isOpened():
            raise SourceError(f"cannot open camera {device}")
        self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.capture.set(cv2.CAP_PROP_FPS, fps)

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self.capture.read()
            if not ok:
                raise SourceError(f"camera {self.device} stopped delivering frames")
            yield to_gray(self.cv2, frame)

    def close(self) -> None:
        self.capture.release()
