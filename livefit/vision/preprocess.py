"""Video decoding and the paper's frame preprocessing, in front of the causal 3D CNN.

Flow: an mp4 (any frame rate) + its per-frame capture times -> frames resampled to 16 fps on the
capture clock -> BGR->RGB (OpenCV frames; PyAV decodes to RGB directly) -> centre crop to
height/width = 1.4 -> resize to 224x160 (HxW) -> /255 (no mean/std) -> ``[3, H, W]`` float32
frames for ``livefit.vision.cnn``.

Resampling rule (causal, so a live camera and a file give the same frames): grid times
``t0 + k / fps`` up to the last capture time; grid time g takes the first frame captured at or
after g. Decoding is a generator (constant memory for a 3.5-min 1080p workout).

Bad input (missing, corrupt, truncated or empty video; timestamps that do not match the frames)
raises ``VideoError`` naming the file, so batch jobs can record it and go on.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livefit.data.qevd import QEVDFormatError, read_video_timestamps


class VideoError(ValueError):
    """A video that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class PreprocessConfig:
    """The paper's preprocessing; defaults are the paper's values."""

    fps: float = 16.0  # frame rate the CNN expects; input is resampled on the capture clock
    height: int = 224  # output frame height
    width: int = 160  # output frame width; the centre crop has height/width = height/width here
    interpolation: str = "linear"  # cv2 resize: "linear" (cv2 default, as the reference) or "area"
    max_timestamp_mismatch: int = 1  # frames: tolerated |decoded - timestamps| before an error


def crop_and_resize(frame: np.ndarray, config: PreprocessConfig, bgr: bool = False) -> np.ndarray:
    """One uint8 ``[H, W, 3]`` frame -> float32 ``[3, height, width]`` in [0, 1]."""
    import cv2

    if bgr:
        frame = frame[..., ::-1]  # OpenCV frames are BGR; the CNN wants RGB
    h, w = frame.shape[:2]
    ratio = config.height / config.width  # 1.4
    if h / w > ratio:  # too tall: crop rows
        ch, cw = int(round(w * ratio)), w
    else:  # too wide: crop columns
        ch, cw = h, int(round(h / ratio))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = np.ascontiguousarray(frame[top : top + ch, left : left + cw])
    interp = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}[config.interpolation]
    resized = cv2.resize(crop, (config.width, config.height), interpolation=interp)
    return resized.transpose(2, 0, 1).astype(np.float32) / 255.0  # [3, H, W]


def resample_indices(times: np.ndarray, fps: float) -> np.ndarray:
    """Source frame index for each grid time ``t0 + k / fps`` (the first frame at or after it)."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return np.zeros(0, dtype=np.int64)
    n = int(np.floor((times[-1] - times[0]) * fps + 1e-9)) + 1
    grid = times[0] + np.arange(n) / fps
    return np.searchsorted(times, grid - 1e-9, side="left").astype(np.int64)


@dataclass(frozen=True)
class Slots:
    """What ``FrameResampler.push`` decided for one frame."""

    fill: int
    """16 fps grid slots this frame fills (0: skip it; > 1: the camera skipped frames)."""
    skipped: int = 0
    """Empty grid slots before this frame: a gap in capture time longer than the resampler's
    ``max_fill_seconds``, which no frame fills (the coach did not see it)."""


class FrameResampler:
    """``resample_indices`` one frame at a time, for live streams: ``push(t)`` -> the 16 fps grid
    slots the frame captured at ``t`` fills. The same arithmetic as the offline rule, so a file
    streamed live gives the offline frames, as long as no two frames are more than
    ``max_fill_seconds`` apart: a longer gap is a gap (its slots are ``skipped``; the frame fills
    only the last slot before it), so the work per frame is bounded whatever the clock says
    (at most ``max_fill_seconds * fps + 1`` slots)."""

    def __init__(self, fps: float, max_fill_seconds: float = 1.0) -> None:
        if not (math.isfinite(fps) and fps > 0 and max_fill_seconds >= 0):
            raise ValueError(
                f"FrameResampler needs fps > 0 and max_fill_seconds >= 0, got "
                f"{fps} and {max_fill_seconds}"
            )
        self.fps = fps
        self.max_fill = max_fill_seconds
        self.t0: float | None = None
        self.next = 0  # index of the first grid time not yet filled
        self.last: float | None = None  # capture time of the previous frame

    def push(self, t: float) -> Slots:
        if not math.isfinite(t):
            raise ValueError(f"capture time must be finite, got {t}")
        if self.t0 is None:
            self.t0 = t
        if abs(t - self.t0) * self.fps > 2.0**50:  # beyond this, k / fps stops being exact
            raise ValueError(
                f"capture time {t:g} s is too far from the first frame's "
                f"({self.t0:g} s) for a {self.fps:g} fps grid"
            )
        skipped = 0
        if self.last is not None and t - self.last > self.max_fill:
            # The last grid slot at or before t, by the loop's own test below; the slots
            # between stay empty. Grid times are t0 + k / fps with an integer k, so nothing
            # here stops advancing at large magnitudes.
            last_slot = math.floor((t - self.t0 + 1e-9) * self.fps)
            if last_slot >= self.next:
                skipped = last_slot - self.next
                self.next = last_slot
        self.last = t
        count = 0
        while self.t0 + self.next / self.fps - 1e-9 <= t:
            self.next += 1
            count += 1
        return Slots(count, skipped)


def first_seconds(times: np.ndarray, seconds: float) -> int:
    """How many of the frames at ``times`` (seconds, increasing) were captured in the first
    ``seconds`` after the first of them."""
    if len(times) == 0:
        return 0
    return int(np.searchsorted(times, times[0] + seconds, side="left"))


def load_timestamps(path: str | Path) -> np.ndarray:
    """A ``_timestamps.npy`` of UNIX nanoseconds -> seconds on the shifted clock (float64).

    The QEVD reader's check (``livefit.data.qevd.read_video_timestamps``), raised as a
    ``VideoError`` so that batch jobs record the file and go on.
    """
    try:
        return read_video_timestamps(path)
    except QEVDFormatError as err:
        raise VideoError(str(err)) from None


def not_a_video_file(path: Path) -> str | None:
    """Why ``path`` cannot be opened as a video file (a directory, a symbolic link loop, a link
    to nothing, missing, a device or pipe), or None when it is a regular file."""
    try:
        mode = path.stat().st_mode
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a symbolic link loop, not a video file"
        if err.errno in (errno.ENOENT, errno.ENOTDIR) and path.is_symlink():
            return f"is a symbolic link to a missing file ({os.readlink(path)})"
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return "video file is missing"
        return f"cannot be read ({err.strerror})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a video file"
    if not stat.S_ISREG(mode):  # a FIFO would block the decoder forever
        return "is not a regular file (a device, pipe or socket), not a video file"
    return None


# A decoded stream may end this much before the end its container records (rounding of the
# last frame's duration, edit lists) and still be whole; a file cut short ends far earlier.
TRUNCATION_TOLERANCE_S = 1.0


def _recorded_end(container: Any, stream: Any) -> tuple[float, int] | None:
    """``(end in seconds, frames or 0)`` the container records for ``stream``; None when it
    does not say (a live recording's webm or mkv). The stream's own duration when there is one;
    the file's only when the video is its one stream (an audio track may outlast the video)."""
    frames = int(stream.frames or 0)
    if stream.duration and stream.time_base:
        start = stream.start_time or 0
        return float((start + stream.duration) * stream.time_base), frames
    if container.duration and len(container.streams) == 1:
        start = container.start_time or 0
        return (start + container.duration) / 1_000_000, frames  # AV_TIME_BASE
    return None


def decode_frames(path: str | Path) -> Iterator[tuple[np.ndarray, float | None]]:
    """Yield ``(rgb uint8 [H, W, 3], pts seconds or None)`` for each frame of a video (PyAV).

    Raises ``VideoError`` for a path that is not a video file (saying what it is), a file that
    cannot be opened or decoded, and a file cut short: the decoded frames end well before the
    duration its container records (a copy or download that stopped half way, whose frames
    would otherwise end quietly as if the video did)."""
    for frame, time in decoded_frames(path):
        yield rgb_array(frame), time


def rgb_array(frame: Any) -> np.ndarray:
    """A PyAV frame of ``decoded_frames`` as RGB uint8 ``[H, W, 3]``."""
    return frame.to_ndarray(format="rgb24")


def decoded_frames(path: str | Path) -> Iterator[tuple[Any, float | None]]:
    """``decode_frames`` before the conversion to RGB: ``(PyAV frame, pts seconds or None)``,
    with the same errors. A reader that keeps some frames (16 fps of a 30 fps video) converts
    only those (``rgb_array``): the conversion costs about as much as the decoding."""
    import av

    path = Path(path)
    problem = not_a_video_file(path)
    if problem:
        raise VideoError(f"{path}: {problem}")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as err:
        raise VideoError(f"{path}: cannot open video ({err})") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: no video stream")
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        count = 0
        end: float | None = None  # end of the last decoded frame, seconds
        try:
            for frame in container.decode(stream):
                count += 1
                if frame.time is not None:
                    span = frame.duration * frame.time_base if frame.duration else 1 / rate
                    end = frame.time + float(span)
                yield frame, frame.time
        except av.FFmpegError as err:
            short = _cut_short(container, stream, count, end)
            if short:
                raise VideoError(f"{path}: truncated or corrupt video: {short} ({err})") from None
            raise VideoError(f"{path}: corrupt video after {count} frames ({err})") from None
        if count == 0:
            raise VideoError(f"{path}: empty video (no decodable frame)")
        short = _cut_short(container, stream, count, end)
        if short:
            raise VideoError(f"{path}: truncated video: {short}")


def _cut_short(container: Any, stream: Any, count: int, end: float | None) -> str | None:
    """Where the decoded frames stop, when that is well before the end the container records
    (None when they reach it, or when it records none)."""
    recorded = _recorded_end(container, stream)
    if end is None or recorded is None or recorded[0] - end <= TRUNCATION_TOLERANCE_S:
        return None
    length, frames = recorded
    of = f" of {frames}" if frames > count else ""
    return f"it stops after frame {count}{of} ({end:.2f} s of the {length:.2f} s it records)"


def count_frames(path: str | Path) -> int:
    return sum(1 for _ in decoded_frames(path))


def video_size(video: Path) -> tuple[int, int]:
    """(width, height) of a video, from its header."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height


def iter_preprocessed(
    video: str | Path,
    times: np.ndarray | None = None,
    config: PreprocessConfig | None = None,
) -> Iterator[tuple[np.ndarray, float]]:
    """The paper's preprocessing as one generator: a video file -> 16 fps CNN input frames.

    ``times`` are the per-frame capture times (seconds, e.g. from ``load_timestamps``); without
    them the container's timestamps are used. Yields ``(frame [3, H, W] float32, capture time)``
    for each 16 fps grid time.
    """
    config = config or PreprocessConfig()
    video = Path(video)
    frames: Iterator[tuple[Any, float | None]] = decoded_frames(video)
    if times is None:
        # No capture clock: decode everything once to read the presentation times.
        decoded = list(frames)
        times = np.array([t if t is not None else i / 30.0 for i, (_, t) in enumerate(decoded)])
        frames = iter(decoded)
    times = np.asarray(times, dtype=np.float64)
    picks = resample_indices(times, config.fps)  # [n_out] source index per output frame
    repeats = np.bincount(picks, minlength=len(times))  # how often each source frame is used
    count = 0
    for i, (frame, _) in enumerate(frames):
        count = i + 1
        if i >= len(times):
            break  # counted below
        if repeats[i]:
            out = crop_and_resize(rgb_array(frame), config)
            for _ in range(repeats[i]):
                yield out, float(times[i])
    else:
        if len(times) - count > config.max_timestamp_mismatch:
            raise VideoError(
                f"{video}: truncated video: decoded {count} frames but there are "
                f"{len(times)} timestamps"
            )
        return
    rest = sum(1 for _ in frames)
    if count + rest - len(times) > config.max_timestamp_mismatch:
        raise VideoError(f"{video}: {count + rest} decoded frames but only {len(times)} timestamps")


def load_video(
    video: str | Path,
    timestamps: str | Path | None = None,
    config: PreprocessConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A whole (short) video -> ``(frames [T, 3, H, W] float32, capture times [T] seconds)``."""
    times = load_timestamps(timestamps) if timestamps is not None else None
    pairs = list(iter_preprocessed(video, times, config))
    frames = np.stack([f for f, _ in pairs])
    return frames, np.array([t for _, t in pairs])
