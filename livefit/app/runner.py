"""One live run, shared by ``livefit demo`` and ``livefit coach``: frames already pushed through a
``LivePipeline`` -> captions, console lines, speech, an optional window -> ``--out`` files.

``run = LiveRun(pipe, out_dir, fps)``; for each ``(frame, t, events)`` of ``play_video`` (or a
camera loop) call ``run.frame(frame, t, events)``; ``run.finish()`` closes the stream and writes
``annotated.mp4``, ``events.jsonl`` and ``summary.json`` (stats, settings, files).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from livefit.app.overlay import Captions, annotate
from livefit.app.recorder import AnnotatedVideo, EventLog
from livefit.io import atomic_write_json
from livefit.stream.live import LiveEvent, LivePipeline

VIDEO_FILE = "annotated.mp4"
EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"


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

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.video = AnnotatedVideo(self.out / VIDEO_FILE, self.fps)
        self.log = EventLog(self.out / EVENTS_FILE)

    def frame(self, frame: np.ndarray, t: float, events: list[LiveEvent]) -> None:
        self.last_t = t
        self._events(events)
        truth, truth_exercise = self.truth(t) if self.truth is not None else (None, None)
        image = annotate(frame, self.captions.view(t), truth, truth_exercise)
        self.video.write(image)
        if self.display is not None and not self.display.show(image):
            self.stopped = True

    def _events(self, events: list[LiveEvent]) -> None:
        self.captions.update(events)
        self.log.write(events)
        for e in events:
            if self.on_event is not None:
                self.on_event(e)
            if e.kind == "feedback" and self.speaker is not None:
                self.speaker.say(e.text, e.time)

    def finish(self, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """Close the stream and every file; returns (and writes) the summary."""
        self._events(self.pipe.close())
        speech = self.speaker.close() if self.speaker is not None else None
        if self.display is not None:
            self.display.close()
        video = self.video.close()
        self.log.close()
        summary = {
            "stats": self.pipe.stats.to_json(),
            "feedbacks": [{"time": round(e.time, 3), "text": e.text, "exercise": e.exercise}
                          for e in self.pipe.feedbacks],  # fmt: skip
            "files": {"video": video.name if video else None, "events": EVENTS_FILE},
            "speech": speech,
            "settings": settings or {},
        }
        atomic_write_json(self.out / SUMMARY_FILE, summary)
        return summary


__all__ = ["EVENTS_FILE", "SUMMARY_FILE", "VIDEO_FILE", "Display", "LiveRun", "Speaker"]
