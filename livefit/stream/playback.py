"""Video files and QEVD workouts through a live pipeline: ``play_video`` streams a file frame by
frame (as fast as the machine allows, or paced like a camera); ``schedule_of`` and
``feedbacks_in`` turn a workout's segments into a pipeline's schedule and its feedbacks back into
the evaluator's per-segment predictions. ``livefit.stream.live`` re-exports them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from livefit.stream.live_types import LiveEvent, LiveInputError
from livefit.vision.preprocess import VideoError, decode_frames


class FrameSink(Protocol):
    """What ``play_video`` feeds: a ``LivePipeline`` (``livefit.stream.live``)."""

    def push(self, frame: np.ndarray, t: float, lag: float = 0.0) -> list[LiveEvent]: ...


def play_video(
    pipe: FrameSink,
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
            k = next(
                (
                    k
                    for k in reversed(range(len(schedule)))
                    if schedule[k][0] < e.time <= schedule[k][1]
                ),
                -1,
            )
        else:
            k = e.session
        if 0 <= k < len(schedule):
            out[k].append((e.time - schedule[k][0], e.text))
    return out


__all__ = ["FrameSink", "feedbacks_in", "play_video", "schedule_of"]
