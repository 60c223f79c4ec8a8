"""One live run, shared by ``livefit demo`` and ``livefit coach``: frames already pushed through a
``LivePipeline`` -> captions, console lines, speech, an optional window -> ``--out`` files.

``run = LiveRun(pipe, out_dir, fps)``; for each ``(frame, t, events)`` of ``play_video`` (or a
camera loop) call ``run.frame(frame, t, events)``; ``run.finish()`` closes the stream and writes
``annotated.mp4``, ``events.jsonl`` and ``summary.json`` (stats, the session's summary per
exercise (``livefit.app.summary``), settings, files). ``run.events`` holds every event.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from livefit.app.overlay import Captions, annotate
from livefit.app.recorder import AnnotatedVideo, EventLog
from livefit.app.summary import SessionSummary, summarize
from livefit.io import atomic_write_json
from livefit.stream.live import LiveEvent, LivePipeline

VIDEO_FILE = "annotated.mp4"
EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"
RENDER_QUEUE = 64  # frames waiting to be drawn and encoded
DISPLAY_FPS = 15.0  # the on-screen window is refreshed at most this often


class Speaker(Protocol):
    def say(self, text: str, t: float) -> None: ...

    def close(self) -> dict[str, Any]: ...


class Display(Protocol):
    def show(self, frame: np.ndarray) -> bool:  # False: the viewer closed the window
        ...

    def close(self) -> None: ...


@dataclass
class LiveRun:
    """Collects one stream's output (see the module docstring)."""

    pipe: LivePipeline
    out: Path
    fps: float
    truth: Callable[[float], tuple[str, str]] | None = None
    """Stream time -> (ground-truth line being said, ground-truth exercise), for synthetic
    workouts."""
    on_event: Callable[[LiveEvent], None] | None = None
    speaker: Speaker | None = None
    display: Display | None = None
    captions: Captions = field(default_factory=Captions)
    last_t: float = 0.0
    stopped: bool = False  # the viewer closed the window
    events: list[LiveEvent] = field(default_factory=list)  # every event, in order

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.video = AnnotatedVideo(self.out / VIDEO_FILE, self.fps)
        self.log = EventLog(self.out / EVENTS_FILE)
        # Drawing and encoding run on their own thread, so the live loop only feeds the coach;
        # a full queue blocks the loop (the pipeline then drops late frames: lag stays bounded).
        self._frames: queue.Queue[tuple[np.ndarray, Any, Any] | None] = queue.Queue(RENDER_QUEUE)
        self._error: BaseException | None = None
        self._renderer = threading.Thread(target=self._render, name="livefit-render", daemon=True)
        self._renderer.start()
        self._shown = -1.0  # when the display last got a frame

    def frame(self, frame: np.ndarray, t: float, events: list[LiveEvent]) -> None:
        """One frame of the stream (already pushed through the pipeline) and its events."""
        if self._error is not None:
            raise RuntimeError(f"writing {self.video.path} failed: {self._error}")
        self.last_t = t
        self._events(events)
        truth = self.truth(t) if self.truth is not None else (None, None)
        view = self.captions.view(t, self.pipe.points)
        self._frames.put((frame, view, truth))
        now = time.monotonic()
        if self.display is not None and now - self._shown >= 1.0 / DISPLAY_FPS:
            self._shown = now  # on this thread: GUI toolkits want the thread that made them
            if not self.display.show(annotate(frame, view, *truth)):
                self.stopped = True

    def _render(self) -> None:
        while (item := self._frames.get()) is not None:
            if self._error is not None:
                continue  # drain
            frame, view, (truth, truth_exercise) = item
            try:
                self.video.write(annotate(frame, view, truth, truth_exercise))
            except Exception as err:  # reported by the next frame() or finish()
                self._error = err

    def _events(self, events: list[LiveEvent]) -> None:
        self.events += events
        self.captions.update(events)
        self.log.write(events)
        for e in events:
            if self.on_event is not None:
                self.on_event(e)
            if e.kind in ("feedback", "rule") and self.speaker is not None:
                self.speaker.say(e.text, e.time)

    def finish(self, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """Close the stream and every file; returns (and writes) the summary."""
        self._events(self.pipe.close())
        self._frames.put(None)
        self._renderer.join()
        speech = self.speaker.close() if self.speaker is not None else None
        if self.display is not None:
            self.display.close()
        self.log.close()
        if self._error is not None:
            self.video.abort()
            raise RuntimeError(f"writing {self.video.path} failed: {self._error}")
        video = self.video.close()
        summary = {
            "stats": self.pipe.stats.to_json(),
            "session": self.session_summary().to_json(),
            "feedbacks": [
                {"time": round(e.time, 3), "text": e.text, "exercise": e.exercise}
                for e in self.pipe.feedbacks
            ],
            "files": {"video": video.name if video else None, "events": EVENTS_FILE},
            "speech": speech,
            "settings": settings or {},
        }
        atomic_write_json(self.out / SUMMARY_FILE, summary)
        return summary

    def session_summary(self) -> SessionSummary:
        """Per exercise: time coached, reps, lines said (``livefit.app.summary``)."""
        return summarize(self.events, max(self.last_t, self.pipe.stats.media_seconds))


__all__ = ["EVENTS_FILE", "SUMMARY_FILE", "VIDEO_FILE", "Display", "LiveRun", "Speaker"]
