"""The live path: raw camera or video frames in, timed coaching events out.

Flow, per stream: frame (any size, RGB or BGR, any rate) + capture time -> ``FrameResampler``
(16 fps on the capture clock, the offline rule) -> ``crop_and_resize`` (the offline
preprocessing) -> ``CNNStream`` (the causal CNN, one feature step per 4 frames, the offline
warm-up) -> the activity head (what exercise is this?) -> an engine ``Session`` on the wall
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
  rest label such as "general" ends the current one).

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from livefit.bundled import bundled_cnn, bundled_model, bundled_pose_encoder, bundled_pose_model
from livefit.config import config_from_dict
from livefit.data.prompts import single_exercise_prompt
from livefit.model.hf_folder import read_folder_json
from livefit.model.stream_vlm import StreamVLM
from livefit.stream.engine import EngineConfig, Session, StreamEngine
from livefit.vision.activity import ActivityHead
from livefit.vision.cnn import CNNStream
from livefit.vision.pose import PoseEncoder, PoseStream, load_pose_encoder
from livefit.vision.pose_estimator import PoseEstimator
from livefit.vision.pose_extract import is_pose_folder
from livefit.vision.preprocess import (
    FrameResampler,
    PreprocessConfig,
    VideoError,
    crop_and_resize,
    decode_frames,
)
from livefit.vision.weights import load_model

EventKind = Literal["session", "exercise", "answer", "text", "feedback", "dropped"]

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
        return replace(
            base,
            clock=self.clock,
            busy_policy=self.busy_policy,
            busy_while_speaking=self.busy_while_speaking,
            drop_first_steps=base.drop_first_steps if self.clock == "paper" else 0,
        )


@dataclass(frozen=True)
class LiveEvent:
    """Something that happened in a stream, at ``time`` seconds from its first frame."""

    time: float
    kind: EventKind
    """session: a coaching session began (``exercise``) or ended (``exercise`` ""); exercise:
    the recognised exercise changed (``text``: its name, ``confidence``); answer / text /
    feedback / dropped: the engine's events (feedback: the finished line)."""
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
            "compute_seconds": round(self.compute_seconds, 3),
            "media_seconds": round(self.media_seconds, 3),
            "real_time_factor": round(self.real_time_factor, 4),
        }


class LiveCoach:
    """The loaded models (front end: the CNN or the pose encoder; activity head; Stream-VLM) and
    the engine; shared by streams. A pose coach (``cnn`` a ``PoseEncoder``) also needs
    ``estimator``: a function that makes one pose estimator per stream (they track)."""

    def __init__(self, cnn: Any, model: Any, head: Any | None = None,
                 engine_config: EngineConfig | None = None,
                 estimator: Callable[[], Any] | None = None) -> None:  # fmt: skip
        self.cnn = cnn.eval()
        self.model = model
        self.head = head
        self.base_engine = engine_config or EngineConfig()
        self.lock = threading.Lock()
        self._engines: dict[EngineConfig, StreamEngine] = {}
        self.pose = isinstance(cnn, PoseEncoder)
        c = cnn.config
        if self.pose:
            if estimator is None:
                raise ValueError("a pose coach needs a pose estimator for the frames")
            channels, tokens = c.channels, c.tokens
            self.preprocess = PreprocessConfig(fps=c.fps)
        else:
            channels, (_, h, w) = c.feature_channels, c.feature_shape
            tokens = h * w
            self.preprocess = PreprocessConfig(height=c.input_height, width=c.input_width)
        self.estimator = estimator
        self.steps_per_second = c.steps_per_second
        a = model.config.adapter
        if (channels, tokens) != (a.feature_dim, a.feature_tokens):
            what = "pose encoder" if self.pose else "CNN"
            raise ValueError(
                f"the {what} makes {tokens} x {channels}-channel feature vectors per step but the "
                f"language model reads {a.feature_tokens} x {a.feature_dim}: they are not one coach"
            )

    @classmethod
    def load(cls, model: str | Path | None = None, cnn: str | Path | None = None,
             device: str = "cpu", pose_models: str | Path | None = None,
             vision: str = "cnn") -> LiveCoach:  # fmt: skip
        """Load a coach: ``model`` a Stream-VLM folder, ``cnn`` its front end's folder, a CNN or
        a pose encoder (default: the bundled coach's CNN); the activity head comes from that
        folder when it has one. A pose encoder gets MediaPipe Pose through LiteRT
        (``livefit.vision.pose_estimator``; ``pose_models``: its models folder). ``vision``
        pose: the bundled pose coach's parts as the defaults instead."""
        if vision not in ("cnn", "pose"):
            raise ValueError(f"--vision must be cnn or pose, got {vision!r}")
        if vision == "pose":
            model_dir = Path(model) if model is not None else bundled_pose_model()
            cnn_dir = Path(cnn) if cnn is not None else bundled_pose_encoder()
        else:
            model_dir = Path(model) if model is not None else bundled_model()
            cnn_dir = Path(cnn) if cnn is not None else bundled_cnn()
        estimator = None
        if is_pose_folder(cnn_dir):
            PoseEstimator.load(pose_models)  # fail now, naming what is missing, not per stream

            def estimator() -> Any:
                return PoseEstimator.load(pose_models)
        vlm = StreamVLM.from_pretrained(model_dir, device=device)
        try:
            head = ActivityHead.from_pretrained(cnn_dir)
        except FileNotFoundError:
            head = None
        stage = model_dir / "stage_config.json"
        base = EngineConfig()
        if stage.is_file():  # the engine settings the coach was trained and selected with
            saved = read_folder_json(stage)  # outside JSON: size and nesting bounded
            engine = saved.get("engine") if isinstance(saved, dict) else None
            if isinstance(engine, dict):
                base = config_from_dict(EngineConfig, engine, str(stage))
        front = load_pose_encoder(cnn_dir) if estimator is not None else load_model(cnn_dir)
        return cls(front, vlm, head, base, estimator)

    def engine(self, config: LiveConfig) -> StreamEngine:
        """The (cached) engine for a live config; engines hold no per-stream state."""
        ec = config.engine_config(self.base_engine)
        if ec not in self._engines:
            self._engines[ec] = StreamEngine(self.model, ec)
        return self._engines[ec]

    def pipeline(
        self,
        config: LiveConfig = LiveConfig(),
        on_feature: Callable[[torch.Tensor, float], None] | None = None,
    ) -> LivePipeline:
        return LivePipeline(self, config, on_feature=on_feature)


@dataclass
class _Tracker:
    """Smoothed exercise probabilities and the leader's timing (recognised-exercise mode)."""

    probs: np.ndarray | None = None
    leader: str | None = None
    since: float = 0.0


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
        self.resampler = FrameResampler(self.coach.preprocess.fps, c.max_fill_seconds)
        self.cnn_stream: Any = None
        self._new_front_stream()
        if self.coach.pose:
            self.estimator = self.coach.estimator()  # type: ignore[misc]
        self.t0: float | None = None  # capture time of the first frame
        self.last_t = -math.inf
        self.step_frames = 0  # 16 fps frames in the current (unfinished) feature step
        self.exercise = ""  # what the head recognises now
        self.confidence = 0.0
        self.active: list[_Active] = []  # sessions being coached (schedule entries may overlap)
        self.sessions = 0
        self.feedbacks: list[LiveEvent] = []  # every finished feedback, in order
        self._tracker = _Tracker()
        self._next_entry = 0  # schedule: first entry not yet started
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
            if self.coach.pose:  # body landmarks [33, 4] of the frame, tracked along the stream
                rgb = frame[..., ::-1] if self.config.bgr else frame
                x = torch.from_numpy(self.estimator.estimate(np.ascontiguousarray(rgb), t))
            else:
                x = torch.from_numpy(crop_and_resize(frame, self.coach.preprocess, self.config.bgr))
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
        s.steps_in_gaps += int(skipped * self.coach.steps_per_second // self.coach.preprocess.fps)
        events = self._end_session(before)
        self._new_front_stream()
        self._tracker = _Tracker()
        self.exercise, self.confidence = "", 0.0
        return events

    def _new_front_stream(self) -> None:
        """A fresh causal front-end stream (its first frame warms it up, as at the start)."""
        if self.coach.pose:
            self.cnn_stream = PoseStream(self.coach.cnn)
        else:
            self.cnn_stream = CNNStream(self.coach.cnn)

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
        feature = self.cnn_stream.push(x)
        if feature is None:
            return []
        self.stats.steps += 1
        if self.on_feature is not None:
            self.on_feature(feature, stream_t)
        return self._step(feature, stream_t)

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
            event = LiveEvent(when, e.kind, e.text, a.exercise, a.index, self.confidence)
            if e.kind == "feedback":
                self.stats.feedbacks += 1
                self.feedbacks.append(event)
            events.append(event)
        return events

    def _recognise(self, feature: torch.Tensor, t: float) -> list[LiveEvent]:
        """Update the smoothed exercise probabilities; an ``exercise`` event when the leader
        has held for ``switch_seconds``."""
        head, c, tr = self.coach.head, self.config, self._tracker
        p = head.exercise_distribution(feature).numpy()
        alpha = 1.0 - math.exp(-1.0 / (self.coach.steps_per_second
                                       * c.smoothing_seconds))  # fmt: skip
        tr.probs = p if tr.probs is None else tr.probs + alpha * (p - tr.probs)
        k = int(np.argmax(tr.probs))
        leader = head.exercises[k] if tr.probs[k] >= c.min_confidence else None
        if leader != tr.leader:
            tr.leader, tr.since = leader, t
        if leader is None or leader == self.exercise or t - tr.since < c.switch_seconds:
            return []
        self.exercise, self.confidence = leader, float(tr.probs[k])
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

    def _start(self, exercise: str, start: float, t: float, end: float = math.inf,
               index: int | None = None) -> list[LiveEvent]:  # fmt: skip
        """A session from stream time ``start``; ``index``: the schedule entry (default: the
        next session number)."""
        index = self.sessions if index is None else index
        session = None
        if self.config.clock == "wall":
            session = self.engine.start(single_exercise_prompt(exercise), t0=0.0)
        self.active.append(_Active(session, index, exercise, start, end))
        self.sessions += 1
        return [LiveEvent(t, "session", exercise, exercise, index, self.confidence)]

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
        return events + [LiveEvent(t, "session", "", a.exercise, a.index)]


def play_video(
    pipe: LivePipeline,
    video: str | Path,
    times: np.ndarray | None = None,
    realtime: bool = False,
    speed: float = 1.0,
) -> Iterator[tuple[np.ndarray, float, list[LiveEvent]]]:
    """Stream a video file through ``pipe`` frame by frame: yields ``(rgb frame, stream time,
    events)``. ``times``: capture times in seconds (e.g. a QEVD ``_timestamps.npy`` through
    ``load_timestamps``); default the container's timestamps. ``realtime``: pace the frames on
    the capture clock (``speed`` times faster) and pass each frame's lag, as a camera would;
    otherwise as fast as the machine allows. The caller closes ``pipe``."""
    start = time.perf_counter()
    t0: float | None = None
    for i, (frame, pts) in enumerate(decode_frames(video)):
        if times is not None:
            if i >= len(times):
                break
            t = float(times[i])
        else:
            t = float(pts) if pts is not None else i / 30.0
        t0 = t if t0 is None else t0
        lag = 0.0
        if realtime:
            due = start + (t - t0) / speed
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            lag = max(0.0, time.perf_counter() - due)
        try:
            events = pipe.push(frame, t, lag)
        except LiveInputError as err:  # a file's frames are not a stream's to skip: stop here
            raise VideoError(f"{video}: frame {i + 1}: {err}") from None
        yield frame, t - t0, events


def schedule_of(segments: list[Any], first_capture: float) -> tuple[tuple[float, float, str], ...]:
    """The schedule of one workout's QEVD segments (``livefit.data.qevd.Segment``), in stream
    seconds from its first frame (captured at ``first_capture``, shifted clock)."""
    return tuple((s.start - first_capture, s.end - first_capture, s.exercise) for s in segments)


def feedbacks_in(
    feedbacks: list[LiveEvent],
    schedule: tuple[tuple[float, float, str], ...],
    by_time: bool = False,
) -> list[list[tuple[float, str]]]:
    """Each schedule entry's feedbacks as ``(seconds from its start, text)``, for the
    evaluator's per-segment predictions. A feedback belongs to the entry its session was started
    for (a schedule pipeline numbers its sessions by entry); ``by_time`` (sessions not made from
    this schedule, e.g. a recognised exercise): to the latest entry with start < time <= end."""
    out: list[list[tuple[float, str]]] = [[] for _ in schedule]
    for e in feedbacks:
        if by_time:
            k = next((k for k in reversed(range(len(schedule)))
                      if schedule[k][0] < e.time <= schedule[k][1]), -1)  # fmt: skip
        else:
            k = e.session
        if 0 <= k < len(schedule):
            out[k].append((e.time - schedule[k][0], e.text))
    return out


__all__ = [
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
