"""A causal repetition counter on body landmarks: frames in, "that was rep n" out.

Exercise-agnostic, no training: a repetition is one cycle of the body's dominant motion. Per
16 fps frame, ``RepCounter.push(points)`` takes MediaPipe's 33 landmarks ``[33, 4]`` (pixels +
visibility, ``livefit.data.landmarks``) and

1. describes the body by the key points (nose, shoulders, elbows, wrists, hips, knees, ankles)
   relative to their centre, plus the centre's height (squats and jumps move the whole body),
   in torso lengths, so the camera's distance does not matter; an unseen point keeps its last
   seen place; a frame without hips and shoulders in view is skipped;
2. finds the direction the body moves along most over the last ``window_s`` seconds (the first
   principal component of those frames; its sign kept from frame to frame) and follows the
   frame's position along it, lightly smoothed: one number per frame that swings once per rep
   (one side for alternating moves such as high knees, whose rep is left and right);
3. counts swings with hysteresis: the window's range (5th to 95th percentile) must reach
   ``min_range`` torso lengths, the signal must cross into the outer ``1 - hysteresis`` of that
   range on one side and then on the other; the first side it reaches is home, where reps start
   and end (a squat's top), and each return home from the other side completes a rep, at least
   ``min_period_s`` after the previous one. A pause longer than ``max_period_s`` starts the
   cycle afresh (the count stays).

Only the past is read, so a live stream and an offline pass give the same counts. It counts
cycles, not good ones: form is the coach's business. Measured on unseen QEVD-SIM workouts by
``benchmarks/rep_counter.py``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from livefit.data.landmarks import HIPS, LM, SHOULDERS

MIN_WINDOW_S = 0.5  # the counter looks for a motion once it has this much past

KEY_POINTS: tuple[int, ...] = tuple(
    LM[name]
    for name in (
        "nose",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    )
)


@dataclass(frozen=True)
class RepCounterConfig:
    """How ``RepCounter`` counts (see the module docstring)."""

    fps: float = 16.0  # frames pushed per second
    window_s: float = 4.0  # the motion's direction comes from this much past
    range_s: float = 1.5  # its range (the thresholds) from this much
    detrend_s: float = 1.5  # time constant of the slow changes taken out first (0: none)
    min_range: float = 0.25  # torso lengths: a smaller swing is not a rep
    hysteresis: float = 0.3  # middle share of the range that belongs to neither side
    smoothing: float = 0.5  # weight of the new frame in the signal's running average
    min_period_s: float = 0.15  # reps closer than this are one
    max_period_s: float = 8.0  # a longer stillness restarts the cycle
    min_visibility: float = 0.5  # a point below this is unseen

    def __post_init__(self) -> None:
        checks = {
            "fps": self.fps > 0,
            "window_s": self.window_s * self.fps >= 4,
            "range_s": 0 < self.range_s <= self.window_s,
            "detrend_s": self.detrend_s == 0 or self.detrend_s * self.fps >= 1,
            "min_range": self.min_range > 0,
            "hysteresis": 0 <= self.hysteresis < 1,
            "smoothing": 0 < self.smoothing <= 1,
            "min_period_s": self.min_period_s >= 0,
            "max_period_s": self.max_period_s > self.min_period_s,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"RepCounterConfig: {', '.join(bad)} out of range ({self})")


class RepCounter:
    """Counts repetitions in one stream of landmarks; ``count`` is the total so far."""

    def __init__(self, config: RepCounterConfig | None = None) -> None:
        self.config = config or RepCounterConfig()
        c = self.config
        size = max(4, int(round(c.window_s * c.fps)))
        self._window: deque[tuple[int, np.ndarray]] = deque(maxlen=size)
        self._torso: deque[float] = deque(maxlen=size)
        self._last = np.zeros((len(KEY_POINTS), 2))  # each key point's last seen place
        self._seen = np.zeros(len(KEY_POINTS), dtype=bool)
        self._direction: np.ndarray | None = None
        self._trend: np.ndarray | None = None  # the slow part of the description (detrend_s)
        self._signal: float | None = None
        self.count = 0
        self.frame = 0  # frames pushed
        self._locked = False  # a swing as large as min_range was seen since the last stillness
        self._home: int | None = None  # the side (-1, +1) where reps start and end
        self._side = 0  # the side the signal was on last (0: none yet)
        self._armed = False  # the other side was reached since the last rep
        self._last_swing = -1  # frame of the last change of side
        self._last_rep = -(10**9)  # frame of the last rep

    def push(self, points: np.ndarray) -> int:
        """One frame's landmarks ``[33, 4]`` -> how many repetitions it completes: 0 or 1, or
        more on the frame where the counter first locks on to a motion, which counts the reps
        already in its window (the first seconds of an exercise are not lost)."""
        c = self.config
        self.frame += 1
        vector = self._describe(np.asarray(points, dtype=np.float64))
        if vector is None:
            return 0
        if c.detrend_s > 0:  # a one-pole high-pass: posture shifts and drifts fade away
            if self._trend is None:
                self._trend = vector
            self._trend = self._trend + (vector - self._trend) / (c.detrend_s * c.fps)
            vector = vector - self._trend
        self._window.append((self.frame, vector))
        if len(self._window) < c.fps * MIN_WINDOW_S:
            return 0
        frames = np.stack([v for _, v in self._window]) / float(np.median(self._torso))
        centred = frames - frames.mean(0)
        direction = np.linalg.eigh(centred.T @ centred)[1][:, -1]
        if self._direction is not None and direction @ self._direction < 0:
            direction = -direction
        self._direction = direction
        along = centred @ direction
        low, high = np.percentile(along[-int(round(c.range_s * c.fps)) :], [5, 95])
        if high - low < c.min_range:
            if self.frame - self._last_swing > c.max_period_s * c.fps:
                self._locked, self._home, self._signal = False, None, None  # still: start afresh
            return 0
        middle, half = (low + high) / 2, c.hysteresis * (high - low) / 2
        if self._locked:
            return self._follow(float(along[-1]), middle, half)
        self._locked = True  # replay the frames since the last rep
        return sum(
            self._follow(float(a), middle, half, frame)
            for (frame, _), a in zip(self._window, along, strict=True)
            if frame > self._last_rep
        )

    def _follow(self, value: float, middle: float, half: float, frame: int | None = None) -> int:
        """The hysteresis on one smoothed value; 1 when it completes a rep."""
        c = self.config
        frame = self.frame if frame is None else frame
        s = self._signal = (
            value if self._signal is None else self._signal + c.smoothing * (value - self._signal)
        )
        side = 1 if s > middle + half else -1 if s < middle - half else 0
        if side == 0 or side == self._side:
            return 0
        if frame - self._last_swing > c.max_period_s * c.fps:
            self._home = None  # a long stillness: the cycle starts afresh
        self._side, self._last_swing = side, frame
        if self._home is None:
            self._home, self._armed = side, False
            return 0
        if side != self._home:
            self._armed = True
            return 0
        if not self._armed or frame - self._last_rep < c.min_period_s * c.fps:
            return 0
        self._armed, self._last_rep = False, frame
        self.count += 1
        return 1

    def _describe(self, points: np.ndarray) -> np.ndarray | None:
        """The frame's key points in pixels relative to their centre, plus the centre's height;
        None when its hips or shoulders are not seen. (Relative to the centre of 13 points, not
        to the hips: a detector's jitter of the hips would move every point at once.)"""
        c = self.config
        seen = points[:, 3] >= c.min_visibility
        if not (seen[list(HIPS)].any() and seen[list(SHOULDERS)].any()):
            return None
        hips = points[list(HIPS), :2][seen[list(HIPS)]].mean(0)
        shoulders = points[list(SHOULDERS), :2][seen[list(SHOULDERS)]].mean(0)
        torso = float(np.linalg.norm(shoulders - hips))
        if torso < 1e-3:
            return None
        key = points[list(KEY_POINTS)]
        fresh = key[:, 3] >= c.min_visibility
        self._last[fresh] = key[fresh, :2]
        self._last[~fresh & ~self._seen] = hips  # never seen yet: at the hips
        self._seen |= fresh
        self._torso.append(torso)
        centre = self._last.mean(0)
        return np.concatenate([(self._last - centre).ravel(), [centre[1]]])


def count_reps(points: np.ndarray, config: RepCounterConfig | None = None) -> np.ndarray:
    """Run a counter over ``points [T, 33, 4]``; the count after each frame ``[T]``."""
    counter = RepCounter(config)
    counts = np.zeros(len(points), dtype=np.int32)
    for t, frame in enumerate(points):
        counter.push(frame)
        counts[t] = counter.count
    return counts


__all__ = ["KEY_POINTS", "RepCounter", "RepCounterConfig", "count_reps"]
