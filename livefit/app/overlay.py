"""What a viewer sees of the live coach: the caption state kept from ``LiveEvent``s and the
annotated frame (the video with the skeleton the coach sees (pose coach) and the live caption on
it, a side panel with the exercise, the rep count, the ground truth when there is one, and the
coach's recent lines).

``captions = Captions()``; per frame: ``captions.update(events)``, then
``annotate(frame, captions.view(t, points), truth)`` -> an RGB frame for the annotated mp4 or a
window (``points``: the frame's landmarks, ``LivePipeline.points``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from livefit.data.landmarks import SKELETON
from livefit.stream.live import LiveEvent

SCALE = 2  # the video is drawn at twice its size (QEVD-SIM frames are 160x224)
PANEL = 420  # side panel width in pixels
VIDEO_HEIGHT = 448
FONT_SCALE = 0.5
COACH = (255, 214, 92)  # RGB: the coach's colour
TRUTH = (140, 220, 140)
TEXT = (235, 235, 235)
DIM = (150, 150, 150)
BONES = (80, 220, 255)  # RGB: the skeleton
JOINTS = sorted({i for bone in SKELETON for i in bone})  # the points the skeleton joins
MIN_VISIBILITY = 0.5  # a point below this is not drawn


@dataclass
class CaptionView:
    """What to draw at one moment."""

    t: float
    caption: str  # the coach's line being said (or just said), "" when silent
    exercise: str  # the exercise being coached ("" between sessions)
    recognised: str  # what the activity head sees ("" when unknown)
    recent: list[tuple[float, str]]  # the coach's last lines, newest last
    reps: int | None = None  # the session's rep count (None: not counted)
    points: np.ndarray | None = None  # the frame's landmarks [33, 4], pixels of the frame


@dataclass
class Captions:
    """Caption state from the stream's events; a finished line stays ``hold_seconds``."""

    hold_seconds: float = 4.0
    recent_lines: int = 6
    _caption: str = ""
    _caption_until: float = -1.0
    _speaking: bool = False
    _exercise: str = ""
    _recognised: str = ""
    _reps: int | None = None
    _recent: list[tuple[float, str]] = field(default_factory=list)

    def update(self, events: Iterable[LiveEvent]) -> None:
        for e in events:
            if e.kind == "answer":
                self._caption, self._speaking = "", True
            elif e.kind == "text":
                self._caption += e.text
            elif e.kind in ("feedback", "rule"):
                self._caption, self._speaking = e.text, False
                self._caption_until = e.time + self.hold_seconds
                self._recent = [*self._recent, (e.time, e.text)][-self.recent_lines :]
            elif e.kind == "withheld":  # decoded but not said: its words leave the screen
                self._caption, self._speaking = "", False
            elif e.kind == "rep":
                self._reps = int(e.text)
            elif e.kind == "session":
                self._exercise, self._reps = e.text, None
            elif e.kind == "exercise":
                self._recognised = e.text

    def view(self, t: float, points: np.ndarray | None = None) -> CaptionView:
        shown = self._caption if self._speaking or t <= self._caption_until else ""
        recent = list(self._recent)
        return CaptionView(t, shown, self._exercise, self._recognised, recent, self._reps, points)


def wrap(text: str, width_px: int, scale: float = FONT_SCALE) -> list[str]:
    """Greedy word wrap to ``width_px`` in OpenCV's Hershey simplex font."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        fits = cv2.getTextSize(trial, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] <= width_px
        if lines and fits:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def _text(
    img: np.ndarray,
    text: str,
    xy: tuple[int, int],
    colour: tuple[int, int, int],
    scale: float = FONT_SCALE,
    thick: int = 1,
) -> None:
    cv2.putText(img, text, xy, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def annotate(
    frame: np.ndarray,
    view: CaptionView,
    truth: str | None = None,
    truth_exercise: str | None = None,
) -> np.ndarray:
    """An RGB frame -> the annotated RGB frame ``[VIDEO_HEIGHT, w + PANEL, 3]``."""
    h, w = frame.shape[:2]
    vw = int(round(w * VIDEO_HEIGHT / h)) // 2 * 2
    video = cv2.resize(frame, (vw, VIDEO_HEIGHT), interpolation=cv2.INTER_LINEAR)
    out = np.full((VIDEO_HEIGHT, vw + PANEL, 3), 24, np.uint8)
    out[:, :vw] = video
    if view.points is not None:
        draw_skeleton(out, view.points, vw / w)
    if view.caption:  # the live caption on the video, on a dark band
        lines = wrap(view.caption, vw - 16)[-4:]
        top = VIDEO_HEIGHT - 12 - 20 * len(lines)
        band = out[top - 8 :, :vw].astype(np.float32) * 0.35
        out[top - 8 :, :vw] = band.astype(np.uint8)
        for i, line in enumerate(lines):
            _text(out, line, (8, top + 14 + 20 * i), COACH, FONT_SCALE, 1)
    x, y = vw + 14, 28
    _text(out, f"{int(view.t // 60)}:{view.t % 60:04.1f}", (x, y), TEXT, 0.6, 1)
    y += 30
    _text(out, "coaching: " + (view.exercise or "-"), (x, y), COACH)
    if view.reps is not None:
        _text(out, f"reps: {view.reps}", (x + PANEL - 120, y), COACH, 0.6, 2)
    y += 22
    _text(out, "recognised: " + (view.recognised or "-"), (x, y), DIM)
    if truth_exercise is not None:
        y += 22
        _text(out, "truth: " + (truth_exercise or "-"), (x, y), TRUTH)
    y += 32
    if truth is not None:
        _text(out, "ground truth coach", (x, y), TRUTH)
        for line in wrap(truth, PANEL - 28)[:3]:
            y += 20
            _text(out, line, (x, y), TRUTH)
        y += 32
    _text(out, "livefit coach", (x, y), COACH)
    for when, text in reversed(view.recent):
        lines = wrap(f"{when:5.1f}  {text}", PANEL - 28)
        if y + 20 * len(lines) > VIDEO_HEIGHT - 8:
            break
        for line in lines:
            y += 20
            _text(out, line, (x, y), COACH if when == view.recent[-1][0] else DIM)
        y += 4
    return out


def draw_skeleton(img: np.ndarray, points: np.ndarray, scale: float) -> None:
    """The bones between seen points (``[33, 4]`` in the frame's pixels, drawn ``scale`` times
    larger) and a dot on each seen joint, in place."""
    seen = points[:, 3] >= MIN_VISIBILITY
    xy = np.round(points[:, :2] * scale).astype(int)
    for a, b in SKELETON:
        if seen[a] and seen[b]:
            cv2.line(img, tuple(xy[a]), tuple(xy[b]), BONES, 2, cv2.LINE_AA)
    for i in JOINTS:
        if seen[i]:
            cv2.circle(img, tuple(xy[i]), 3, BONES, -1, cv2.LINE_AA)


__all__ = ["CaptionView", "Captions", "annotate", "draw_skeleton", "wrap"]
