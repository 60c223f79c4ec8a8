"""Reader for the QEVD-FIT-COACH on-disk format (shared/spec/qevd-format.md).

First stage of the flow: a data root on disk -> validated ``Segment`` records that the trainer,
the streaming predictor and the evaluator all consume. It reads a real QEVD download unchanged and
the synthetic QEVD-SIM data written by ``livefit.synth`` in the same layout.

Clock: video timestamps are UNIX nanoseconds; they become ``ns / 1e9 + 28800.0`` seconds (the
release's eight-hour shift). Feedback and feature timestamps in the release are already on that
shifted clock. A segment's ``response_times`` are seconds from its ``start``.

Values are checked where they enter, not only shapes: video timestamps must be integer
nanoseconds at a plausible frame rate, feedback and feature times finite seconds on the video's
shifted clock, features finite (per segment on load; whole files with ``check_features``), and
every workout must have the transitions that split it into segments. Sizes are bounded where
they enter: the annotation file before it is read, its nesting as it is parsed, and each path and
feedback string after. Each failure is a ``QEVDFormatError`` naming the file and record.

The pieces shared with the short-clip reader live beside it and are re-exported here: the
layout's names, the clock, the bounds, the error and the checked readers in ``qevd_format``;
the feature files in ``features``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

# ``X as X``: a re-export, for the callers that import these names from here.
from livefit.data.features import EXTRACTION_MANIFEST as EXTRACTION_MANIFEST
from livefit.data.features import MAX_MANIFEST_BYTES as MAX_MANIFEST_BYTES
from livefit.data.features import check_extraction_finished as check_extraction_finished
from livefit.data.features import check_finite, load_feature_file
from livefit.data.prompts import full_workout_prompt, single_exercise_prompt
from livefit.data.qevd_format import (
    ANNOTATION_FILE,
    CLOCK_SLACK_S,
    FEATURES_DIR,
    MAX_ANNOTATION_BYTES,
    MAX_FEEDBACK_CHARS,
    MAX_PATH_CHARS,
    MAX_SECONDS,
    QEVDFormatError,
    Split,
    read_json_file,
    read_video_timestamps,
    record_name,
    split_dir,
)
from livefit.data.qevd_format import CLOCK_SHIFT_S as CLOCK_SHIFT_S
from livefit.data.qevd_format import FRAME_INTERVAL_NS as FRAME_INTERVAL_NS
from livefit.data.qevd_format import MAX_FRAME_GAP_S as MAX_FRAME_GAP_S
from livefit.data.qevd_format import PAPER_FEATURE_SHAPE as PAPER_FEATURE_SHAPE
from livefit.data.qevd_format import SPLIT_DIRS as SPLIT_DIRS

Mode = Literal["single_exercise", "full_workout"]

TRANSITION_PREFIXES = ("First up are ", "Moving on to ")
LABEL_RENAMES = {"armcrosschest": "deltoid stretch"}


@dataclass(frozen=True)
class Span:
    """A maximal run of one non-empty feedback string in the dense per-frame list."""

    text: str
    first_frame: int
    last_frame: int
    time: float  # its ``feedback_timestamps`` entry (shifted clock, seconds)
    is_transition: bool


@dataclass(frozen=True)
class Segment:
    """One evaluation/training sample: an exercise segment, or a whole workout."""

    segment_id: str  # "<video stem>:<k>" (k: exercise index in its workout) or "<video stem>"
    video: Path  # the workout's mp4
    exercise: str | None  # None in full_workout mode
    start: float  # seconds, shifted clock
    end: float
    responses: tuple[str, ...]
    response_times: tuple[float, ...]  # seconds from ``start``
    response_is_transition: tuple[bool, ...]
    system: str  # the system prompt
    features: Path  # <id>_features.npy, [N, C, H, W]
    feature_timestamps: Path  # <id>_timestamps.npy, seconds, shifted clock
    video_timestamps: Path  # per-frame UNIX ns

    def to_json(self) -> dict:
        """The ``livefit data segments --json`` record."""
        return {
            "segment_id": self.segment_id,
            "video": str(self.video),
            "exercise": self.exercise,
            "start": self.start,
            "end": self.end,
            "responses": list(self.responses),
            "response_times": list(self.response_times),
            "system": self.system,
            "features": str(self.features),
        }

    def load_features(
        self, expected_shape: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features of this segment and their times relative to ``start``.

        Returns ``(features [n, C, H, W] float32, times [n] seconds from start)`` for the feature
        steps with ``start < t <= end``.
        """
        feats, stamps = load_feature_file(self.features, self.feature_timestamps, expected_shape)
        if len(stamps) and (stamps[0] > self.end or stamps[-1] <= self.start):
            raise QEVDFormatError(
                f"{self.feature_timestamps}: feature times {stamps[0]:.3f}..{stamps[-1]:.3f} do "
                f"not reach segment {self.segment_id} ({self.start:.3f}..{self.end:.3f} s); "
                "feature times must be seconds on the shifted clock of the video timestamps"
            )
        keep = (stamps > self.start) & (stamps <= self.end)
        out = np.asarray(feats[keep], dtype=np.float32)
        check_finite(out, f"{self.features} (segment {self.segment_id})")
        return out, stamps[keep] - self.start


@dataclass(frozen=True)
class Workout:
    """One record of ``feedbacks_long_range.json`` with its spans resolved."""

    split_dir: Path
    index: int
    video_file: str
    video_timestamps_file: str
    spans: tuple[Span, ...]

    @property
    def stem(self) -> str:
        return Path(self.video_file).stem

    @property
    def video(self) -> Path:
        return self.split_dir / self.video_file

    @property
    def features(self) -> Path:
        rel = Path(self.video_file).with_suffix("")
        return self.split_dir / FEATURES_DIR / rel.parent / f"{rel.name}_features.npy"

    @property
    def feature_timestamps(self) -> Path:
        rel = Path(self.video_file).with_suffix("")
        return self.split_dir / FEATURES_DIR / rel.parent / f"{rel.name}_timestamps.npy"

    @cached_property
    def frame_times(self) -> np.ndarray:
        """Per-frame capture times in seconds on the shifted clock, float64."""
        path = self.split_dir / self.video_timestamps_file
        return read_video_timestamps(path, where=f"{path} (record {self.index}, {self.video_file})")

    def frame_time(self, frame: int) -> float:
        times = self.frame_times
        if frame >= len(times):
            raise QEVDFormatError(
                f"{self.split_dir / self.video_timestamps_file} (record {self.index}, "
                f"{self.video_file}): feedback frame {frame} is past the last video timestamp "
                f"({len(times)} frames)"
            )
        return float(times[frame])


def collapse_spans(feedbacks: Sequence[str]) -> list[tuple[str, int, int]]:
    """Dense per-frame strings -> maximal runs ``(text, first_frame, last_frame)`` of one text."""
    spans: list[tuple[str, int, int]] = []
    for frame, text in enumerate(feedbacks):
        if text == "":
            continue
        if spans and spans[-1][0] == text and spans[-1][2] == frame - 1:
            spans[-1] = (text, spans[-1][1], frame)
        else:
            spans.append((text, frame, frame))
    return spans


def transition_exercise(text: str) -> str:
    """ "Moving on to high knees!" -> "high knees" (prefixes and every "!" removed)."""
    for prefix in TRANSITION_PREFIXES:
        text = text.replace(prefix, "")
    return text.replace("!", "")


def _rename_labels(text: str) -> str:
    for old, new in LABEL_RENAMES.items():
        text = text.replace(old, new)
    return text


def _check_record(record: object, index: int, json_path: Path) -> dict:
    if not isinstance(record, dict):
        raise QEVDFormatError(f"{json_path}: record {index} is not an object")
    where = f"{json_path}: record {index} ({record_name(record.get('long_range_video_file'))})"
    types = {
        "long_range_video_file": str,
        "video_timestamps": str,
        "feedbacks": list,
        "feedback_timestamps": list,
        "is_transition": list,
    }
    for key, kind in types.items():
        if key not in record:
            raise QEVDFormatError(f"{where}: missing key {key!r}")
        if not isinstance(record[key], kind):
            raise QEVDFormatError(f"{where}: {key!r} should be a {kind.__name__}")
    for key in ("long_range_video_file", "video_timestamps"):
        if len(record[key]) > MAX_PATH_CHARS:
            raise QEVDFormatError(
                f"{where}: {key!r} is {len(record[key]):,} characters, more than a path "
                f"({MAX_PATH_CHARS:,})"
            )
    if not all(isinstance(t, str) for t in record["feedbacks"]):
        raise QEVDFormatError(f"{where}: 'feedbacks' must hold one string per frame")
    long = next((i for i, t in enumerate(record["feedbacks"]) if len(t) > MAX_FEEDBACK_CHARS), -1)
    if long >= 0:
        raise QEVDFormatError(
            f"{where}: 'feedbacks'[{long}] is {len(record['feedbacks'][long]):,} characters, more "
            f"than a spoken feedback ({MAX_FEEDBACK_CHARS:,})"
        )
    stamps = record["feedback_timestamps"]
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in stamps):
        raise QEVDFormatError(f"{where}: 'feedback_timestamps' must be numbers")
    bad = [i for i, t in enumerate(stamps) if not math.isfinite(t) or abs(t) > MAX_SECONDS]
    if bad:
        raise QEVDFormatError(
            f"{where}: 'feedback_timestamps'[{bad[0]}] is {stamps[bad[0]]}: expected finite "
            "seconds on the shifted clock"
        )
    if not all(isinstance(t, bool) for t in record["is_transition"]):
        raise QEVDFormatError(f"{where}: 'is_transition' must be booleans")
    return record


def load_workouts(data_root: str | Path, split: Split) -> list[Workout]:
    """Parse and validate ``feedbacks_long_range.json`` of one split."""
    root = split_dir(data_root, split)
    json_path = root / ANNOTATION_FILE
    if not json_path.is_file():
        raise QEVDFormatError(f"{json_path}: annotation file is missing")
    records = read_json_file(json_path, MAX_ANNOTATION_BYTES)
    if not isinstance(records, list):
        raise QEVDFormatError(f"{json_path}: expected a list of workout records")
    workouts = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(records):
        record = _check_record(raw, index, json_path)
        where = f"{json_path}: record {index} ({record_name(record['long_range_video_file'])})"
        stem = Path(record["long_range_video_file"]).stem
        if stem in seen:  # segment ids are "<stem>:<k>", so stems must be unique
            raise QEVDFormatError(f"{where}: video {stem!r} already appears in record {seen[stem]}")
        seen[stem] = index
        feedbacks = [_rename_labels(text) for text in record["feedbacks"]]
        runs = collapse_spans(feedbacks)
        stamps, flags = record["feedback_timestamps"], record["is_transition"]
        dropped = 0
        if (
            runs
            and runs[-1][2] == len(feedbacks) - 1
            and len(runs) - 1 == len(stamps) == len(flags)
        ):
            # The reference loader never closes a span that runs to the last frame, so it drops
            # it; a record written that way has no timestamp for it. Read it as the reference.
            runs = runs[:-1]
            dropped = 1
        if not len(runs) == len(stamps) == len(flags):
            raise QEVDFormatError(
                f"{where}: {len(runs)} feedback spans in 'feedbacks' but "
                f"{len(stamps)} 'feedback_timestamps' and {len(flags)} 'is_transition'"
            )
        bad = [i for i in range(1, len(stamps)) if stamps[i] < stamps[i - 1]]
        if bad:
            raise QEVDFormatError(
                f"{where}: 'feedback_timestamps' go backwards at span {bad[0]} "
                f"({stamps[bad[0] - 1]} -> {stamps[bad[0]]})"
            )
        transitions = sum(flags)
        # Segments run from one transition to the next; a span dropped above (the session's
        # end, by the reference's rule) still closed the workout, so it counts here.
        if transitions + dropped < 2:
            raise QEVDFormatError(
                f"{where}: {transitions} transition span(s) in 'is_transition'; a workout needs "
                "one per exercise and a final one that ends the session, so it cannot be split "
                "into exercise segments"
            )
        spans = tuple(
            Span(text, first, last, float(time), flag)
            for (text, first, last), time, flag in zip(runs, stamps, flags, strict=True)
        )
        workouts.append(
            Workout(root, index, record["long_range_video_file"], record["video_timestamps"], spans)
        )
    return workouts


def _check_feedback_clock(workout: Workout) -> None:
    """Feedback times must lie on the video's shifted clock (not ns, ms, or unshifted)."""
    times = workout.frame_times
    low, high = times[0] - CLOCK_SLACK_S, times[-1] + CLOCK_SLACK_S
    for k, span in enumerate(workout.spans):
        if not low <= span.time <= high:
            raise QEVDFormatError(
                f"{workout.split_dir / ANNOTATION_FILE}: record {workout.index} "
                f"({workout.video_file}): 'feedback_timestamps'[{k}] = {span.time} is outside "
                f"the video's time range {times[0]:.3f}..{times[-1]:.3f} (seconds on the "
                "shifted clock, ns / 1e9 + 28800)"
            )


def workout_segments(workout: Workout, mode: Mode = "single_exercise") -> list[Segment]:
    """Split one workout into samples, exactly as the reference loader does."""
    common = dict(
        video=workout.video,
        features=workout.features,
        feature_timestamps=workout.feature_timestamps,
        video_timestamps=workout.split_dir / workout.video_timestamps_file,
    )
    spans = workout.spans
    _check_feedback_clock(workout)
    transitions = [i for i, span in enumerate(spans) if span.is_transition]
    if mode == "full_workout":
        # Every transition but the last (which ends the session) names an exercise.
        exercises = [transition_exercise(spans[i].text) for i in transitions[:-1]]
        times = workout.frame_times
        start, end = float(times[0]), float(times[-1])
        return [
            Segment(
                segment_id=workout.stem,
                exercise=None,
                start=start,
                end=end,
                responses=tuple(s.text for s in spans),
                response_times=tuple(s.time - start for s in spans),
                response_is_transition=tuple(s.is_transition for s in spans),
                system=full_workout_prompt(exercises),
                **common,
            )
        ]
    if mode != "single_exercise":
        raise QEVDFormatError(f"unknown mode {mode!r}: expected single_exercise or full_workout")
    segments = []
    for k, (here, after) in enumerate(itertools.pairwise(transitions)):
        inside = spans[here + 1 : after]
        if not inside:
            continue  # a segment with no response is dropped; its index k is not reused
        start = workout.frame_time(spans[here].first_frame)
        nxt = spans[after]
        end = workout.frame_time(nxt.first_frame + (nxt.last_frame - nxt.first_frame) // 2)
        exercise = transition_exercise(spans[here].text)
        segments.append(
            Segment(
                segment_id=f"{workout.stem}:{k}",
                exercise=exercise,
                start=start,
                end=end,
                responses=tuple(s.text for s in inside),
                response_times=tuple(s.time - start for s in inside),
                response_is_transition=tuple(False for _ in inside),
                system=single_exercise_prompt(exercise),
                **common,
            )
        )
    return segments


def load_segments(
    data_root: str | Path, split: Split = "test", mode: Mode = "single_exercise"
) -> list[Segment]:
    """All segments of a split, in file order. Raises ``QEVDFormatError`` on bad input."""
    return [
        seg
        for workout in load_workouts(data_root, split)
        for seg in workout_segments(workout, mode)
    ]


def check_features(
    segments: Sequence[Segment], expected_shape: Sequence[int] | None = None
) -> None:
    """Validate the feature files of every workout behind ``segments`` once each: shape, finite
    values, and timestamps on the clock of the workout's video."""
    seen: set[Path] = set()
    for seg in segments:
        if seg.features not in seen:
            seen.add(seg.features)
            feats, stamps = load_feature_file(seg.features, seg.feature_timestamps, expected_shape)
            check_finite(feats, str(seg.features))
            _check_feature_clock(seg, stamps)


def _check_feature_clock(seg: Segment, stamps: np.ndarray) -> None:
    if not len(stamps):
        return
    video = read_video_timestamps(seg.video_timestamps)
    low, high = video[0] - CLOCK_SLACK_S, video[-1] + CLOCK_SLACK_S
    if stamps[0] < low or stamps[-1] > high:
        raise QEVDFormatError(
            f"{seg.feature_timestamps}: feature times {stamps[0]:.3f}..{stamps[-1]:.3f} lie "
            f"outside the video's {video[0]:.3f}..{video[-1]:.3f} ({seg.video_timestamps}); "
            "they must be seconds on the same shifted clock"
        )


def data_fingerprint(data_root: str | Path, split: Split) -> str:
    """SHA-256 of the split's annotation file: the ground truth a result was scored on."""
    path = split_dir(data_root, split) / ANNOTATION_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest()


__all__ = [
    "ANNOTATION_FILE",
    "CLOCK_SHIFT_S",
    "MAX_ANNOTATION_BYTES",
    "MAX_FEEDBACK_CHARS",
    "MAX_PATH_CHARS",
    "PAPER_FEATURE_SHAPE",
    "SPLIT_DIRS",
    "QEVDFormatError",
    "Segment",
    "Span",
    "Workout",
    "check_features",
    "check_finite",
    "collapse_spans",
    "data_fingerprint",
    "load_feature_file",
    "load_segments",
    "load_workouts",
    "read_json_file",
    "read_video_timestamps",
    "record_name",
    "split_dir",
    "transition_exercise",
    "workout_segments",
]
