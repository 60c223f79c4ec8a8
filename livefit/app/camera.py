"""A live camera as the coach's frame source: ``cv2.VideoCapture(index)`` -> (RGB frame, capture
time) for ``LivePipeline.push`` (with ``lag`` = now - capture time, so late frames are dropped).

A background thread grabs frames as fast as the camera delivers them and keeps only the newest
(the driver's buffer is also asked for one frame, ``CAP_PROP_BUFFERSIZE``): when the coach falls
behind, the frames it misses are skipped at the source (counted in ``skipped``) instead of
queueing up, so a frame's lag stays about one processing delay. Capture time is
``time.monotonic()`` when ``grab()`` returned. V4L2 capture works in the headless OpenCV build.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_FPS = 30.0  # when the camera does not report its frame rate


class CameraError(ValueError):
    """A camera that cannot be opened or stopped sending frames; the message says which."""


def open_capture(index: int) -> Any:
    """``cv2.VideoCapture(index)`` with OpenCV's own warnings silenced (ours is clearer)."""
    import cv2

    log = cv2.utils.logging
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_ERROR)  # no "can't open camera by index" warnings on stderr
    try:
        return cv2.VideoCapture(index)
    finally:
        log.setLogLevel(level)


def _why_not(index: int) -> str:
    device = Path(f"/dev/video{index}")
    if sys.platform.startswith("linux") and not device.exists():
        return f"{device} does not exist: no camera with that index"
    return "not connected, busy in another program, or no permission to use it"


class Camera:
    """An open camera whose newest frame is always at hand (see the module docstring)."""

    def __init__(self, index: int, first_frame_timeout: float = 5.0, capture: Any = None) -> None:
        """``capture``: an already opened ``cv2.VideoCapture``-like object (tests)."""
        import cv2

        self.index = index
        self.timeout = first_frame_timeout
        self.cap = capture if capture is not None else open_capture(index)
        if not self.cap.isOpened():
            self.cap.release()
            raise CameraError(f"camera {index} cannot be opened ({_why_not(index)})")
        self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else DEFAULT_FPS
        self.grabbed = 0  # frames grabbed from the camera
        self.skipped = 0  # grabbed but replaced by a newer one before anyone read it
        self._cv = threading.Condition()
        self._newest: tuple[np.ndarray, float] | None = None  # (BGR frame, capture time)
        self._unread = False
        self._ended = False
        self._stop = False
        self._thread = threading.Thread(target=self._grab, name="livefit-camera", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        while not self._stop:
            ok = self.cap.grab()
            t = time.monotonic()
            ok = ok and self._store(self.cap.retrieve(), t)
            if not ok:
                break
        with self._cv:
            self._ended = True
            self._cv.notify_all()

    def _store(self, retrieved: tuple[bool, np.ndarray | None], t: float) -> bool:
        ok, frame = retrieved
        if not ok or frame is None:
            return False
        with self._cv:
            self.grabbed += 1
            self.skipped += self._unread
            self._newest, self._unread = (frame, t), True
            self._cv.notify_all()
        return True

    def read(self) -> tuple[np.ndarray, float] | None:
        """The newest frame not read yet, waiting for it: (RGB ``[H, W, 3]``, capture time);
        None once the camera stopped sending frames."""
        import cv2

        with self._cv:
            if not self._cv.wait_for(lambda: self._unread or self._ended, self.timeout):
                raise CameraError(f"camera {self.index} sent no frame for {self.timeout:.0f} s")
            if not self._unread:
                if self._newest is None:
                    raise CameraError(f"camera {self.index} opened but sent no frame")
                return None
            frame, t = self._newest
            self._unread = False
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), t

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        """Frames until the camera stops (or the caller stops iterating)."""
        while (item := self.read()) is not None:
            yield item

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2.0)  # grab() returns within a frame interval
        self.cap.release()

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def camera_frames(index: int, **kwargs: Any) -> Iterator[tuple[np.ndarray, float]]:
    """``(rgb frame, capture time)`` from camera ``index`` until it stops; closes it after."""
    with Camera(index, **kwargs) as camera:
        yield from camera.frames()


__all__ = ["Camera", "CameraError", "camera_frames", "open_capture"]
