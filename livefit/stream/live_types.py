"""The live path's value types: how a stream is coached (``LiveConfig``), what it reports
(``LiveEvent``, ``LiveStats``) and what it refuses (``LiveInputError``). ``livefit.stream.live``
runs streams with them and re-exports them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from livefit.stream.clocks import make_clock
from livefit.stream.events import EngineConfig

EventKind = Literal[
    "session", "exercise", "answer", "text", "feedback", "dropped", "rep", "rule", "withheld"
]

MIN_FRAME_SIDE = 8
"""Smallest frame height and width accepted (smaller frames are refused, one by one)."""

MAX_CAPTURE_SECONDS = 1e11
"""Largest capture time accepted, in seconds from any origin (UNIX seconds are ~2e9; a float64
there still resolves 20 us, while at 1e300 adding a frame interval changes nothing)."""


class LiveInputError(ValueError):
    """A frame or time the live pipeline cannot use; the message says what is wrong."""


@dataclass(frozen=True)
class LiveConfig:
    """How one live stream is coached."""

    exercise: str | None = None
    """The exercise of the whole stream (one session); None: ``schedule`` or recognised."""
    schedule: tuple[tuple[float, float, str], ...] | None = None
    """``(start, end, exercise)`` in stream seconds: one session per entry (the demo's plan)."""
    switch_seconds: float = 1.5
    """Recognised exercise: how long a new exercise must lead before the coach switches to it."""
    min_confidence: float = 0.5
    """Recognised exercise: smoothed probability needed to lead."""
    smoothing_seconds: float = 1.0
    """Time constant of the exponential smoothing of the exercise probabilities."""
    unsure_seconds: float | None = 4.0
    """Recognised exercise: no exercise leading this long while no session runs (and the body,
    when seen, in view): the coach says once that it cannot tell the exercise (a ``rule`` event,
    ``livefit.stream.rules.NOT_SURE``); None: it stays silent."""
    rest_labels: tuple[str, ...] = ("general",)
    """Recognised activities that are not an exercise: leading for ``switch_seconds`` ends the
    current session (the coach stops)."""
    max_lag_seconds: float = 1.0
    """Real-time callers: frames that waited longer than this are dropped before any work."""
    clock: Literal["wall", "paper"] = "wall"
    """wall: steps arrive at their capture time and decoding takes its real time (live);
    paper: offline ``predict``'s clock, for comparing with it: the reference must know where a
    session ends (it never feeds the last step and stops once a blind skip runs past the end),
    so each session's steps are streamed when it ends and its events come then."""
    busy_while_speaking: bool = True
    """Wall clock: the coach does not watch while its feedback would be spoken (as in training
    on the paper clock; see ``EngineConfig.busy_while_speaking``)."""
    busy_policy: Literal["drop", "queue"] = "drop"
    """Wall clock: steps arriving while the coach is busy are dropped or queued."""
    sentence_start: bool = True
    """A feedback begins a sentence (``EngineConfig.sentence_start``; off: the model's
    decoding settings as they are). The live coach says every line aloud or on screen: one
    that begins mid-sentence (" in your knees, please!") is worse than useless."""
    check_counts: bool = True
    """A line that says a rep count ("that's nine") is said only when the session's rep counter
    (pose front ends, countable exercises: ``livefit.stream.rules``) agrees within
    ``count_tolerance``; one that does not is withheld (a ``withheld`` event, not a
    ``feedback``). Without a counter the lines are said as decoded."""
    count_tolerance: int = 1
    """Reps the said count may differ from the counter's (the counter's own error is +-1)."""
    whole_lines: bool = True
    """A line that does not end a sentence (".", "!", "?"; the model stopped mid-line: "Good
    form, that's") is withheld, as one that begins mid-sentence is never decoded
    (``sentence_start``)."""
    bgr: bool = False
    """Frames are BGR (OpenCV) instead of RGB."""
    max_frame_pixels: int = 4096 * 4096
    """Frames larger than this are refused (``LiveInputError``)."""
    max_fill_seconds: float = 1.0
    """A frame at most this long after the previous one fills the 16 fps slots between them
    (the camera skipped frames); a longer gap is a gap (see the module docstring)."""
    max_jump_seconds: float = 3600.0
    """A frame captured more than this after the previous one is refused (``LiveInputError``):
    a clock that jumps so far is broken, not a pause."""

    def engine_config(self, base: EngineConfig) -> EngineConfig:
        """The engine settings of a live session: ``base`` (the model's) with this clock."""
        config = replace(
            base,
            clock=self.clock,
            busy_policy=self.busy_policy,
            busy_while_speaking=self.busy_while_speaking,
            sentence_start=self.sentence_start or base.sentence_start,
        )
        if make_clock(config).drops_first_steps:
            return config
        return replace(config, drop_first_steps=0)


@dataclass(frozen=True)
class LiveEvent:
    """Something that happened in a stream, at ``time`` seconds from its first frame."""

    time: float
    kind: EventKind
    """session: a coaching session of ``exercise`` began (``text``: the exercise) or ended
    (``text`` ""); exercise:
    the recognised exercise changed (``text``: its name, ``confidence``); answer / text /
    feedback / dropped: the engine's events (feedback: the finished line); rep: the session's
    rep counter reached ``text`` (a number; pose front ends); rule: a line a rule says, not the
    model (``livefit.stream.rules``: the body is out of view); withheld: a finished line that is
    not said (cut short: ``whole_lines``; or a rep count the session's counter disagrees with:
    ``check_counts``)."""
    text: str = ""
    exercise: str = ""
    session: int = -1
    """Index of the coaching session (0, 1, ...), -1 outside one."""
    confidence: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "time": round(self.time, 3),
            "kind": self.kind,
            "text": self.text,
            "exercise": self.exercise,
            "session": self.session,
            "confidence": round(self.confidence, 3),
        }


@dataclass
class ExerciseTracker:
    """Recognised-exercise mode: the smoothed exercise probabilities and the leader's timing."""

    probs: Any = None  # numpy [exercises] once the first step is seen
    leader: str | None = None  # None: no exercise reaches min_confidence
    since: float = 0.0  # stream time the leader took the lead (or none did)
    unsure_said: bool = False  # the "not sure" line, once until the coach switches


@dataclass
class LiveStats:
    """Counters of one stream."""

    frames_in: int = 0
    frames_used: int = 0  # reached the CNN at least once (after resampling)
    frames_late: int = 0  # dropped: waited longer than max_lag_seconds
    frames_out_of_order: int = 0  # dropped: capture time before the previous frame's
    cnn_frames: int = 0  # 16 fps frames fed to the CNN
    steps: int = 0  # feature steps
    steps_unseen: int = 0  # steps the coach did not see (busy, outside a session)
    gaps: int = 0  # gaps in capture time longer than max_fill_seconds
    steps_in_gaps: int = 0  # steps without any frame: nothing was seen there
    gap_seconds: float = 0.0  # capture time inside those gaps (not in media_seconds)
    feedbacks: int = 0
    feedbacks_withheld: int = 0  # lines not said: cut short, or a count the counter denies
    compute_seconds: float = 0.0
    media_seconds: float = 0.0  # capture time covered by frames (gaps left out)

    @property
    def real_time_factor(self) -> float:
        """Compute seconds per second of video (< 1: faster than real time)."""
        return self.compute_seconds / self.media_seconds if self.media_seconds > 0 else 0.0

    @property
    def frames_dropped(self) -> int:
        return self.frames_late + self.frames_out_of_order

    def to_json(self) -> dict[str, Any]:
        return {
            "frames_in": self.frames_in,
            "frames_used": self.frames_used,
            "frames_dropped": self.frames_dropped,
            "frames_late": self.frames_late,
            "frames_out_of_order": self.frames_out_of_order,
            "cnn_frames": self.cnn_frames,
            "steps": self.steps,
            "steps_unseen": self.steps_unseen,
            "gaps": self.gaps,
            "steps_in_gaps": self.steps_in_gaps,
            "gap_seconds": round(self.gap_seconds, 3),
            "feedbacks": self.feedbacks,
            "feedbacks_withheld": self.feedbacks_withheld,
            "compute_seconds": round(self.compute_seconds, 3),
            "media_seconds": round(self.media_seconds, 3),
            "real_time_factor": round(self.real_time_factor, 4),
        }


__all__ = [
    "EventKind",
    "ExerciseTracker",
    "LiveConfig",
    "LiveEvent",
    "LiveInputError",
    "LiveStats",
    "MAX_CAPTURE_SECONDS",
    "MIN_FRAME_SIDE",
]
