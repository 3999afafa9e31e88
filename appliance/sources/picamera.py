"""The Raspberry Pi camera through picamera2 (imported only here).

The lores stream is YUV420; its Y plane is the grayscale frame, so no
colour conversion runs on the Pi. Buffers go back to the camera at once
through ``captured_request()``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from appliance.sources import SourceError


class PiCameraSource:
    """Grayscale frames from the Pi camera's lores stream."""

    finite = False

    def __init__(self, width: int, height: int, fps: float) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise SourceError(
                "the picamera2 source needs picamera2: apt install python3-picamera2 "
                "(and a virtual environment made with --system-site-packages)"
            ) from None
        self.width, self.height = width, height
        try:
            self.camera = Picamera2()
            config = self.camera.create_video_configuration(
                main={"size": (width, height), "format": "YUV420"},
                lores={"size": (width, height), "format": "YUV420"},
                controls={"FrameRate": fps},
                buffer_count=4,
            )
            self.camera.configure(config)
            if "AfMode" in self.camera.camera_controls:
                from libcamera import controls

                self.camera.set_controls({"AfMode": controls.AfModeEnum.Continuous})
            self.camera.start()
        except Exception as exc:  # libcamera reports through many exception types
            raise SourceError(f"cannot start the Pi camera: {exc}") from exc

    def frames(self) -> Iterator[np.ndarray]:
        h, w = self.height, self.width
        while True:
            try:
                with self.camera.captured_request() as request:
                    # A copy: the buffer goes back to the camera as the block ends.
                    frame = request.make_array("lores")[:h, :w].copy()
            except Exception as exc:  # libcamera reports through many exception types
                raise SourceError(f"Pi camera error: {exc}") from exc
            yield frame

    def close(self) -> None:
        try:
            self.camera.stop()
        finally:
            self.camera.close()
