"""What a live run leaves behind in ``--out``: the annotated mp4 and the events as JSON lines.

``AnnotatedVideo``: RGB frames in -> an H.264 mp4 (PyAV libx264, playable in browsers), written
to a temporary file and renamed on ``close`` so an interrupted run never leaves a broken video
that looks finished. ``EventLog``: one JSON line per ``LiveEvent``, flushed as it happens (a
crash keeps every event so far).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from livefit.io import FILE_MODE
from livefit.stream.live import LiveEvent

CRF = 28  # H.264 quality: readable captions, small enough to embed in an HTML report


class AnnotatedVideo:
    """An mp4 written frame by frame at a constant ``fps``."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._container: Any = None
        self._stream: Any = None
        self._tmp: str | None = None

    def write(self, frame: np.ndarray) -> None:
        """One RGB uint8 frame; every frame must have the first one's size."""
        import av

        if self._container is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp.mp4"
            )
            os.fchmod(fd, FILE_MODE)
            os.close(fd)
            self._container = av.open(self._tmp, "w", format="mp4")
            rate = round(self.fps) if abs(self.fps - round(self.fps)) < 1e-6 else self.fps
            stream = self._container.add_stream("libx264", rate=rate)
            stream.width, stream.height = frame.shape[1] // 2 * 2, frame.shape[0] // 2 * 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "veryfast", "crf": str(CRF), "movflags": "+faststart"}
            self._stream = stream
        s = self._stream
        vf = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(frame[: s.height, : s.width]), format="rgb24"
        )
        for packet in s.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file and put it in place; returns its path (None if no frame came)."""
        if self._container is None:
            return None
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        os.replace(self._tmp, self.path)  # type: ignore[arg-type]
        self._container = None
        return self.path

    def abort(self) -> None:
        """Drop the unfinished file."""
        if self._container is not None:
            self._container.close()
            Path(self._tmp).unlink(missing_ok=True)  # type: ignore[arg-type]
            self._container = None


class EventLog:
    """``events.jsonl``: one ``LiveEvent.to_json()`` per line, flushed as it happens."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = open(self.path, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, events: list[LiveEvent], **extra: Any) -> None:
        for e in events:
            self._f.write(json.dumps({**e.to_json(), **extra}) + "\n")
        if events:
            self._f.flush()

    def close(self) -> None:
        self._f.close()


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The events of an ``events.jsonl``."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


__all__ = ["AnnotatedVideo", "EventLog", "read_events"]
