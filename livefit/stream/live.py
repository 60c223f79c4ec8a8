"""The live path: raw camera or video frames in, timed coaching events out.

Flow, per stream: frame (any size, RGB or BGR, any rate) + capture time -> ``FrameResampler``
(16 fps on the capture clock, the offline rule) -> the front end's ``FrontStream``
(``livefit.vision.front_ends``: the CNN's offline preprocessing and ``CNNStream``, or the pose
estimator and ``PoseStream``; one feature step per 4 frames, the offline warm-up) -> the
activity head (what exercise is this?) -> an engine ``Session`` on the wall
clock (the step's capture time is its arrival time) -> ``LiveEvent``s.

``coach = LiveCoach.load()`` loads the models once (bundled coach by default);
``pipe = coach.pipeline(LiveConfig(...))`` makes one independent stream; ``pipe.push(frame, t)``
returns the events that frame caused; ``pipe.close()`` ends it. Many pipelines share one
``LiveCoach``; their model calls are serialised by the coach's lock (the model's adapter hooks
hold per-call state, and on a CPU parallel forwards only fight for the same cores).

Which exercise the coach's prompt names ("The user should be doing {exercise}."), per
``LiveConfig``:
- ``exercise``: one fixed exercise for the whole stream (one session);
- ``schedule``: ``[(start, end, exercise), ...]`` in stream seconds, one session per entry, fed
  the steps with start < t <= end (the benchmark's segments; the demo uses the workout's plan);
- neither (``auto``): the activity head's exercise probabilities, smoothed; an exercise that
  leads with probability >= ``min_confidence`` for ``switch_seconds`` starts a new session (a
  rest label such as "general" ends the current one); with none leading for ``unsure_seconds``
  and no session running, one ``rule`` line says the coach cannot tell (``rules.NOT_SURE``).

With a front end that sees body landmarks (the pose encoder: ``FrontEnd.sees_body``), rules
run beside the model on every 16 fps frame (``livefit.stream.rules``): each session of a
countable exercise counts reps (``rep`` events), a body out of view for 2 s gets one hint
(``rule`` events), and a line whose rep count the counter disagrees with is withheld
(``withheld``; ``LiveConfig.check_counts``). ``pipe.points`` is the latest frame's landmarks.
With any front end, a line cut short (no sentence mark at its end) is withheld too
(``LiveConfig.whole_lines``).

Capture times are only trusted so far, so that the work per frame is bounded whatever they say:
a frame at most ``max_fill_seconds`` after the previous one fills the 16 fps slots between (a
camera that skipped frames, the offline rule); a longer gap is a gap: its slots stay empty and
count as unseen steps, the coaching sessions end at the last frame before it, and the front end
starts afresh after it (``gap`` in ``stats``); a jump of more than ``max_jump_seconds``, or a
capture time beyond ``MAX_CAPTURE_SECONDS``, is refused (``LiveInputError`` for that frame, the
stream goes on).

Real time: the pipeline never falls behind without bound. A caller that paces frames in real
time passes ``lag`` (seconds the frame waited before reaching the pipeline); a frame later than
``max_lag_seconds`` is dropped before any work and the resampler fills its 16 fps slots with the
next frame, as it does for a camera that skipped frames. Feature steps that arrive while the
coach is busy follow the engine's ``busy_policy`` (default ``drop``; with ``busy_while_speaking``
the coach is busy while its feedback would be spoken, as in training). ``stats`` reports the
real-time factor (compute seconds per second of video; < 1 keeps up) and every drop.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from livefit.bundled import bundled_cnn, bundled_model, bundled_pose_encoder, bundled_pose_model
from livefit.config import config_from_dict
from livefit.data.prompts import single_exercise_prompt
from livefit.model.hf_folder import read_folder_json
from livefit.model.stream_vlm import StreamVLM
from livefit.stream.clocks import make_clock
from livefit.stream.engine import EngineConfig, Session, StreamEngine
from livefit.stream.live_types import (
    MAX_CAPTURE_SECONDS,
    MIN_FRAME_SIDE,
    EventKind,
    ExerciseTracker,
    LiveConfig,
    LiveEvent,
    LiveInputError,
    LiveStats,
)
from livefit.stream.playback import feedbacks_in, play_video, schedule_of
from livefit.stream.rules import NOT_SURE, BodyRules
from livefit.synth.coach import count_in
from livefit.vision.activity import ActivityHead
from livefit.vision.front_ends import FrontEnd, FrontEndOptions, front_end_of, load_front_end
from livefit.vision.preprocess import FrameResampler

SENTENCE_ENDS = (".", "!", "?")  # how a whole line ends (``LiveConfig.whole_lines``)
RECENT_FRAMES = 16 * 8  # landmarks kept: a recognised exercise's reps before its session began


class LiveCoach:
    """The loaded models (the front end, any registered type: ``livefit.vision.front_ends``; the
    activity head, when the front end's folder has one; Stream-VLM) and the engine; shared by
    streams."""

    def __init__(
        self,
        front: FrontEnd | nn.Module,
        model: Any,
        head: Any | None = None,
        engine_config: EngineConfig | None = None,
    ) -> None:
        self.front = front if isinstance(front, FrontEnd) else front_end_of(front)
        self.model = model
        self.head = head
        self.base_engine = engine_config or EngineConfig()
        self.lock = threading.Lock()
        self._engines: dict[EngineConfig, StreamEngine] = {}
        self.fps = self.front.fps
        self.steps_per_second = self.front.steps_per_second
        a, f = model.config.adapter, self.front
        if (f.feature_dim, f.feature_tokens) != (a.feature_dim, a.feature_tokens):
            raise ValueError(
                f"the {f.type} front end makes {f.feature_tokens} x {f.feature_dim}-channel "
                f"feature vectors per step but the language model reads {a.feature_tokens} x "
                f"{a.feature_dim}: they are not one coach"
            )

    @classmethod
    def load(
        cls,
        model: str | Path | None = None,
        cnn: str | Path | None = None,
        device: str = "cpu",
        pose_models: str | Path | None = None,
        vision: str = "cnn",
    ) -> LiveCoach:
        """Load a coach: ``model`` a Stream-VLM folder, ``cnn`` its front end's folder (any
        type; default: the bundled coach's CNN); the activity head comes from that folder when it
        has one. A pose encoder gets MediaPipe Pose through LiteRT
        (``livefit.vision.pose_estimator``; ``pose_models``: its models folder). ``vision``
        pose: the bundled pose coach's parts as the defaults instead."""
        if vision not in ("cnn", "pose"):
            raise ValueError(f"--vision must be cnn or pose, got {vision!r}")
        if vision == "pose":
            model_dir = Path(model) if model is not None else bundled_pose_model()
            front_dir = Path(cnn) if cnn is not None else bundled_pose_encoder()
        else:
            model_dir = Path(model) if model is not None else bundled_model()
            front_dir = Path(cnn) if cnn is not None else bundled_cnn()
        front = load_front_end(front_dir, FrontEndOptions(pose_models=pose_models))
        front.ready_live()  # fail now, naming what is missing, not per stream
        vlm = StreamVLM.from_pretrained(model_dir, device=device)
        try:
            head = ActivityHead.from_pretrained(front_dir)
        except FileNotFoundError:
            head = None
        stage = model_dir / "stage_config.json"
        base = EngineConfig()
        if stage.is_file():  # the engine settings the coach was trained and selected with
            saved = read_folder_json(stage)  # outside JSON: size and nesting bounded
            engine = saved.get("engine") if isinstance(saved, dict) else None
            if isinstance(engine, dict):
                base = config_from_dict(EngineConfig, engine, str(stage))
        return cls(front, vlm, head, base)

    def engine(self, config: LiveConfig) -> StreamEngine:
        """The (cached) engine for a live config; engines hold no per-stream state."""
        ec = config.engine_config(self.base_engine)
        if ec not in self._engines:
            self._engines[ec] = StreamEngine(self.model, ec)
        return self._engines[ec]

    def pipeline(
        self,
        config: LiveConfig | None = None,
        on_feature: Callable[[torch.Tensor, float], None] | None = None,
    ) -> LivePipeline:
        return LivePipeline(self, config or LiveConfig(), on_feature=on_feature)


@dataclass
class _Active:
    session: Session | None  # None on the paper clock until the session ends
    index: int
    exercise: str
    start: float  # stream time of the session's time zero
    end: float = math.inf  # schedule: the entry's end
    pending: list[torch.Tensor] = field(default_factory=list)  # paper clock: steps so far


@dataclass
class LivePipeline:
    """One live stream (see the module docstring)."""

    coach: LiveCoach
    config: LiveConfig = field(default_factory=LiveConfig)
    stats: LiveStats = field(default_factory=LiveStats)
    on_feature: Callable[[torch.Tensor, float], None] | None = None
    """Called with each feature step ``[C, h, w]`` and its stream time (to record features)."""

    def __post_init__(self) -> None:
        c = self.config
        if c.exercise is None and c.schedule is None and self.coach.head is None:
            raise ValueError(
                "this CNN has no activity head to recognise the exercise: give an exercise"
            )
        for name in ("max_fill_seconds", "max_jump_seconds"):
            value = getattr(c, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"LiveConfig.{name} must be a finite number >= 0, got {value}")
        self.engine = self.coach.engine(c)
        self.resampler = FrameResampler(self.coach.fps, c.max_fill_seconds)
        self.front_stream = self.coach.front.stream(c.bgr)
        self.t0: float | None = None  # capture time of the first frame
        self.last_t = -math.inf
        self.step_frames = 0  # 16 fps frames in the current (unfinished) feature step
        self.exercise = ""  # what the head recognises now
        self.confidence = 0.0
        self.active: list[_Active] = []  # sessions being coached (schedule entries may overlap)
        self.sessions = 0
        self.feedbacks: list[LiveEvent] = []  # every finished feedback, in order
        self._tracker = ExerciseTracker()
        self._next_entry = 0  # schedule: first entry not yet started
        self.points: np.ndarray | None = None
        """The latest frame's body landmarks ``[33, 4]`` (pixels of that frame, visibility),
        when the front end sees them (pose); None before the first frame or for a CNN."""
        self.rules = BodyRules()
        self._recent_points: deque[tuple[float, np.ndarray]] = deque(maxlen=RECENT_FRAMES)
        self.closed = False

    # -- public -------------------------------------------------------------------------------
    def push(self, frame: np.ndarray, t: float, lag: float = 0.0) -> list[LiveEvent]:
        """One captured frame (uint8 ``[H, W, 3]``) at capture time ``t`` seconds (any origin,
        non-decreasing) -> the events it caused. ``lag``: seconds it waited before arriving."""
        if self.closed:
            raise RuntimeError("push on a closed live pipeline")
        self._check(frame, t)
        s = self.stats
        if self.t0 is not None and t - self.last_t > self.config.max_jump_seconds:
            raise LiveInputError(
                f"capture time jumps {t - self.last_t:.6g} s past the previous frame's (limit "
                f"{self.config.max_jump_seconds:g} s): frame refused"
            )
        s.frames_in += 1
        if t < self.last_t:
            s.frames_out_of_order += 1
            return []
        if lag > self.config.max_lag_seconds:
            s.frames_late += 1
            return []
        tic = time.perf_counter()
        if self.t0 is None:
            self.t0 = t
        previous, self.last_t = self.last_t, t
        stream_t = t - self.t0
        slots = self.resampler.push(t)
        events: list[LiveEvent] = []
        if slots.skipped:
            with self.coach.lock:  # ending a session may run the model (paper clock)
                events += self._gap(previous - self.t0, stream_t, slots.skipped)
        s.media_seconds = stream_t - s.gap_seconds
        repeats = slots.fill
        if repeats:
            s.frames_used += 1
            x = self.front_stream.prepare(frame, t)  # e.g. cropped pixels, body landmarks
            self.points = self.coach.front.body_points(x)
            with self.coach.lock:
                for _ in range(repeats):
                    events += self._cnn_frame(x, stream_t)
        s.compute_seconds += time.perf_counter() - tic
        return events

    def _gap(self, before: float, after: float, skipped: int) -> list[LiveEvent]:
        """Frames stopped at stream time ``before`` and resumed at ``after`` (more than
        ``max_fill_seconds`` later; ``skipped`` empty 16 fps slots): the sessions end at the
        last frame, and the front end and the recognised exercise start afresh."""
        s = self.stats
        s.gaps += 1
        s.gap_seconds += after - before
        s.steps_in_gaps += int(skipped * self.coach.steps_per_second // self.coach.fps)
        events = self._end_session(before)
        self.front_stream.restart()
        self._recent_points.clear()
        self._tracker = ExerciseTracker()
        self.exercise, self.confidence = "", 0.0
        return events

    def close(self, t: float | None = None) -> list[LiveEvent]:
        """End the stream (and its session); returns the closing events."""
        if self.closed:
            return []
        self.closed = True
        end = self.last_t - self.t0 if t is None and self.t0 is not None else (t or 0.0)
        return self._end_session(end)

    def __enter__(self) -> LivePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------
    def _check(self, frame: Any, t: float) -> None:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            kind = getattr(frame, "dtype", type(frame).__name__)
            raise LiveInputError(f"a frame must be a uint8 numpy array, got {kind}")
        if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < MIN_FRAME_SIDE:
            raise LiveInputError(
                f"a frame must be [H, W, 3] with H, W >= {MIN_FRAME_SIDE}, got {frame.shape}"
            )
        if frame.shape[0] * frame.shape[1] > self.config.max_frame_pixels:
            raise LiveInputError(
                f"frame of {frame.shape[1]}x{frame.shape[0]} pixels is larger than the limit "
                f"({self.config.max_frame_pixels} pixels)"
            )
        if not (math.isfinite(t) and abs(t) <= MAX_CAPTURE_SECONDS):
            raise LiveInputError(
                f"capture time must be a finite number of seconds within +-{MAX_CAPTURE_SECONDS:g}"
                f", got {t:g}"
            )

    @torch.no_grad()
    def _cnn_frame(self, x: torch.Tensor, stream_t: float) -> list[LiveEvent]:
        self.stats.cnn_frames += 1
        feature = self.front_stream.push(x)
        events = []
        if feature is not None:
            self.stats.steps += 1
            if self.on_feature is not None:
                self.on_feature(feature, stream_t)
            events += self._step(feature, stream_t)
        if self.points is not None:
            self._recent_points.append((stream_t, self.points))
            events += self._body(self.points, stream_t)
        return events

    def _body(self, points: np.ndarray, t: float) -> list[LiveEvent]:
        """The rules on one 16 fps frame's landmarks (``livefit.stream.rules``): the hint when
        the body is out of view, the reps of each session."""
        events = []
        hint = self.rules.view(points, t)
        if hint is not None:
            events.append(LiveEvent(t, "rule", hint, self.exercise, self._index()))
        for a in self.active:
            for n in self.rules.count(a.index, a.exercise, points, t):
                events.append(self._rep(t, n, a.exercise, a.index))
        return events

    def _rep(self, t: float, n: int, exercise: str, index: int) -> LiveEvent:
        return LiveEvent(t, "rep", str(n), exercise, index, self.confidence)

    def _step(self, feature: torch.Tensor, t: float) -> list[LiveEvent]:
        """One feature step ``[C, h, w]`` whose last frame was captured at stream time ``t``."""
        events: list[LiveEvent] = []
        if self.coach.head is not None:
            events += self._recognise(feature, t)
        events += self._route(t)
        if not self.active:
            self.stats.steps_unseen += 1
        for a in self.active:
            if a.session is None:  # paper clock: streamed when the session ends
                a.pending.append(feature)
            else:
                events += self._engine_events(a, a.session.push(feature, t=t - a.start))
        return events

    def _engine_events(self, a: _Active, engine_events: Iterator[Any]) -> list[LiveEvent]:
        events = []
        for e in engine_events:
            if e.kind == "dropped":
                self.stats.steps_unseen += 1
            when = a.start + e.time
            kind = (
                "withheld" if e.kind == "feedback" and self._withholds(a, e.text, when) else e.kind
            )
            event = LiveEvent(when, kind, e.text, a.exercise, a.index, self.confidence)
            if kind == "feedback":
                self.stats.feedbacks += 1
                self.feedbacks.append(event)
            elif kind == "withheld":
                self.stats.feedbacks_withheld += 1
            events.append(event)
        return events

    def _withholds(self, a: _Active, text: str, t: float) -> bool:
        """A line cut short (``LiveConfig.whole_lines``), or one that says a rep count the
        session's counter disagrees with at ``t`` by more than ``count_tolerance`` (never when
        no counter runs; ``LiveConfig.check_counts``)."""
        c = self.config
        if c.whole_lines and not text.rstrip().endswith(SENTENCE_ENDS):
            return True
        if not c.check_counts:
            return False
        said, done = count_in(text), self.rules.counted(a.index, t)
        return said is not None and done is not None and abs(said - done) > c.count_tolerance

    def _recognise(self, feature: torch.Tensor, t: float) -> list[LiveEvent]:
        """Update the smoothed exercise probabilities; an ``exercise`` event when the leader
        has held for ``switch_seconds``."""
        head, c, tr = self.coach.head, self.config, self._tracker
        p = head.exercise_distribution(feature).numpy()
        alpha = 1.0 - math.exp(-1.0 / (self.coach.steps_per_second * c.smoothing_seconds))
        tr.probs = p if tr.probs is None else tr.probs + alpha * (p - tr.probs)
        k = int(np.argmax(tr.probs))
        leader = head.exercises[k] if tr.probs[k] >= c.min_confidence else None
        if leader != tr.leader:
            tr.leader, tr.since = leader, t
        if leader is None and not self.active and not tr.unsure_said and self.rules.in_view:
            if c.unsure_seconds is not None and t - tr.since >= c.unsure_seconds:
                tr.unsure_said = True  # no exercise named, nothing counted: the coach says so
                return [LiveEvent(t, "rule", NOT_SURE, "", self._index())]
        if leader is None or leader == self.exercise or t - tr.since < c.switch_seconds:
            return []
        self.exercise, self.confidence, tr.unsure_said = leader, float(tr.probs[k]), False
        return [LiveEvent(t, "exercise", leader, leader, self._index(), self.confidence)]

    def _index(self) -> int:
        return self.active[-1].index if self.active else -1

    def _route(self, t: float) -> list[LiveEvent]:
        """Start or end sessions so that the active ones are those of stream time ``t``."""
        c = self.config
        if c.exercise is not None:
            return [] if self.active else self._start(c.exercise, t, t)
        events: list[LiveEvent] = []
        if c.schedule is not None:  # entries may overlap, as QEVD segments do
            for a in [a for a in self.active if t > a.end]:
                events += self._end_session(a.end, a)
            while self._next_entry < len(c.schedule):
                start, end, exercise = c.schedule[self._next_entry]
                if t <= start:
                    break
                self._next_entry += 1
                if t <= end:
                    events += self._start(exercise, start, t, end, self._next_entry - 1)
            return events
        # recognised: follow the exercise the head has settled on
        current = self.active[-1].exercise if self.active else ""
        if self.exercise == current:
            return []
        events = self._end_session(t)
        if self.exercise and self.exercise not in c.rest_labels:
            events += self._start(self.exercise, t, t)
        return events

    def _start(
        self, exercise: str, start: float, t: float, end: float = math.inf, index: int | None = None
    ) -> list[LiveEvent]:
        """A session from stream time ``start``; ``index``: the schedule entry (default: the
        next session number)."""
        index = self.sessions if index is None else index
        session = None
        if not make_clock(self.engine.config).streams_at_end:  # else: streamed when it ends
            session = self.engine.start(single_exercise_prompt(exercise), t0=0.0)
        self.active.append(_Active(session, index, exercise, start, end))
        self.sessions += 1
        events = [LiveEvent(t, "session", exercise, exercise, index, self.confidence)]
        if self.points is not None:
            c, past = self.config, []
            if c.exercise is None and c.schedule is None:  # recognised: it began some s ago
                began = self._tracker.since - c.smoothing_seconds
                past = [p for when, p in self._recent_points if began <= when < t]
            for n in self.rules.start(index, exercise, t, past):
                events.append(self._rep(t, n, exercise, index))
        return events

    def _end_session(self, t: float, which: _Active | None = None) -> list[LiveEvent]:
        """End ``which`` (default: every active session) at stream time ``t``."""
        if which is None:
            return [e for a in list(self.active) for e in self._end_session(t, a)]
        a = which
        self.active.remove(a)
        events = []
        if a.session is None:  # paper clock: as offline predict (the last step is never fed)
            steps = a.pending[:-1]
            prompt = single_exercise_prompt(a.exercise)
            with self.engine.start(prompt, total_steps=len(steps)) as session:
                for step in steps:
                    events += self._engine_events(a, session.push(step))
            self.stats.steps_unseen += 1 if a.pending else 0
        else:
            a.session.close()
        self.rules.end(a.index)
        return events + [LiveEvent(t, "session", "", a.exercise, a.index)]


__all__ = [
    "EventKind",
    "LiveCoach",
    "LiveConfig",
    "LiveEvent",
    "LiveInputError",
    "LivePipeline",
    "LiveStats",
    "MAX_CAPTURE_SECONDS",
    "MIN_FRAME_SIDE",
    "feedbacks_in",
    "play_video",
    "schedule_of",
]
