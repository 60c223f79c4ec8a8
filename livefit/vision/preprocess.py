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

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


class FrameResampler:
    """``resample_indices`` one frame at a time, for live streams: ``push(t)`` -> how many 16 fps
    grid slots the frame captured at ``t`` fills (0: skip it). The same arithmetic as the offline
    rule, so a file streamed live gives the offline frames."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.t0: float | None = None
        self.next = 0  # index of the first grid time not yet filled

    def push(self, t: float) -> int:
        if self.t0 is None:
            self.t0 = t
        count = 0
        while self.t0 + self.next / self.fps - 1e-9 <= t:
            self.next += 1
            count += 1
        return count


def load_timestamps(path: str | Path) -> np.ndarray:
    """A ``_timestamps.npy`` of UNIX nanoseconds -> seconds on the shifted clock (float64).

    The QEVD reader's check (``livefit.data.qevd.read_video_timestamps``), raised as a
    ``VideoError`` so that batch jobs record the file and go on.
    """
    try:
        return read_video_timestamps(path)
    except QEVDFormatError as err:
        raise VideoError(str(err)) from None


def decode_frames(path: str | Path) -> Iterator[tuple[np.ndarray, float | None]]:
    """Yield ``(rgb uint8 [H, W, 3], pts seconds or None)`` for each frame of a video (PyAV)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: video file is missing")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as err:
        raise VideoError(f"{path}: cannot open video ({err})") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: no video stream")
        stream = container.streams.video[0]
        count = 0
        try:
            for frame in container.decode(stream):
                count += 1
                yield frame.to_ndarray(format="rgb24"), frame.time
        except av.FFmpegError as err:
            raise VideoError(f"{path}: corrupt video after {count} frames ({err})") from None
        if count == 0:
            raise VideoError(f"{path}: empty video (no decodable frame)")


def count_frames(path: str | Path) -> int:
    return sum(1 for _ in decode_frames(path))


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
    frames = decode_frames(video)
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
            out = crop_and_resize(frame, config)
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
