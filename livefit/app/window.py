"""The on-screen overlay of a live run: ``LiveRun`` -> ``Window.show(annotated RGB frame)`` -> a
matplotlib window.

The headless OpenCV build has no ``imshow``, so the window is matplotlib's Tk backend (TkAgg).
``open_window`` opens one when a display exists (``$DISPLAY`` or ``$WAYLAND_DISPLAY`` set) and
tkinter imports; otherwise there is no window and the overlay goes to the annotated mp4 only.
The window is updated at most ``max_fps`` times a second (``set_data`` on one image, one Tk
event pass; ``LiveRun`` already offers it at most ``DISPLAY_FPS`` frames a second), so it costs
the video loop little; closing it ends the run (``show`` -> False).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np


class Window:
    """One matplotlib figure showing the newest frame."""

    def __init__(
        self, title: str = "livefit coach", max_fps: float = 30.0, backend: str = "TkAgg"
    ) -> None:
        import matplotlib

        matplotlib.use(backend, force=True)
        import matplotlib.pyplot as plt

        self._plt = plt
        self.min_interval = 1.0 / max_fps
        self.fig = plt.figure(title)
        self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
        self.ax.set_axis_off()
        self.image: Any = None
        self.closed = False
        self.shown = 0  # frames drawn (the others were skipped by the rate cap)
        self._last = -float("inf")
        self.fig.canvas.mpl_connect("close_event", self._on_close)
        plt.show(block=False)

    def _on_close(self, _event: object) -> None:
        self.closed = True

    def show(self, frame: np.ndarray) -> bool:
        """Draw ``frame`` unless one was drawn less than ``1 / max_fps`` s ago; False once the
        viewer closed the window."""
        now = time.monotonic()
        if self.closed or now - self._last < self.min_interval:
            return not self.closed
        self._last = now
        if self.image is None:
            h, w = frame.shape[:2]
            self.fig.set_size_inches(w / 100, h / 100)  # one screen pixel per frame pixel
            self.image = self.ax.imshow(frame, interpolation="nearest")
        else:
            self.image.set_data(frame)
        self.fig.canvas.draw_idle()
        self.fig.canvas.flush_events()
        self.shown += 1
        return not self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._plt.close(self.fig)


def open_window(title: str = "livefit coach") -> tuple[Window | None, str]:
    """A window if a display exists, else ``(None, why not)``."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None, "no display ($DISPLAY and $WAYLAND_DISPLAY unset)"
    try:
        import tkinter  # noqa: F401

        return Window(title), ""
    except Exception as err:  # no tkinter, or Tk cannot reach the display
        return None, f"no window ({type(err).__name__}: {err})".strip()


__all__ = ["Window", "open_window"]
