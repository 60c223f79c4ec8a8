"""The QEVD format's shared ground (shared/spec/qevd-format.md): names, clock, bounds, checks.

Under both QEVD readers (``livefit.data.qevd`` for the long-range splits, ``livefit.data.clips``
for the short clips) and the feature files (``livefit.data.features``): the on-disk layout's
names, the release's clock, the plausibility and size bounds that catch a wrong unit or hostile
input, the one error type (``QEVDFormatError``, naming the file and the record), and the checked
readers they all use (bounded JSON files, per-frame video timestamps).

Clock: video timestamps are UNIX nanoseconds; they become ``ns / 1e9 + 28800.0`` seconds (the
release's eight-hour shift). Feedback and feature timestamps in the release are already on that
shifted clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from livefit.io import JSONInputError, parse_json

Split = Literal["test", "train"]

SPLIT_DIRS: dict[str, str] = {"test": "QEVD-FIT-COACH-Benchmark", "train": "QEVD-FIT-COACH"}
ANNOTATION_FILE = "feedbacks_long_range.json"
FEATURES_DIR = "efficientnet_features"
CLOCK_SHIFT_S = 28800.0  # the release's clocks are shifted by eight hours
PAPER_FEATURE_SHAPE = (1280, 7, 5)  # channels, grid height, grid width per feature step
# Plausibility bounds that catch a wrong unit or clock, far from any real value.
MAX_SECONDS = 1e11  # shifted-clock seconds stay below this (year 5138); nanoseconds are ~1e18
MAX_FRAME_GAP_S = 60.0  # largest interval between two frames of one video (a continuous take)
FRAME_INTERVAL_NS = (1e5, 1e11)  # median frame interval: 0.1 ms .. 100 s (ms or s stored: error)
CLOCK_SLACK_S = 60.0  # feedback and feature times may lie this far outside their video
# Size bounds, well above any real value, so hostile input is refused before it costs memory.
# The annotation file holds one string per video frame: the train split (the larger) has ~1M
# frames (149 workouts of ~3.6 min at 30 fps), about half of them silent ("") and the rest
# carrying a sentence of ~45 characters while it is spoken (5,403 feedbacks of ~3 s): ~25 MB.
MAX_ANNOTATION_BYTES = 64 * 2**20
MAX_PATH_CHARS = 4096  # a path inside a record (Linux PATH_MAX)
# One spoken feedback: the engine stops at 128 tokens (``MAX_FEEDBACK_TOKENS``, the paper's limit),
# and a real one is a sentence or two; also the bound on a prediction's text (livefit.eval).
MAX_FEEDBACK_CHARS = 4096


class QEVDFormatError(ValueError):
    """Input that breaks the QEVD format; the message names the file and the record."""


def split_dir(data_root: str | Path, split: Split) -> Path:
    if split not in SPLIT_DIRS:
        raise QEVDFormatError(f"unknown split {split!r}: expected one of {sorted(SPLIT_DIRS)}")
    return Path(data_root) / SPLIT_DIRS[split]


def read_json_file(path: Path, max_bytes: int, error: type[ValueError] = QEVDFormatError) -> object:
    """The JSON in ``path``: a file over ``max_bytes`` is refused before it is read, and bad
    UTF-8, bad JSON or nesting too deep to parse are ``error`` naming the file."""
    size = path.stat().st_size
    if size > max_bytes:
        raise error(f"{path}: {size:,} bytes, more than the limit for this file ({max_bytes:,})")
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)  # it may have grown since the stat
    try:
        return parse_json(raw.decode("utf-8"), str(path), max_bytes=max_bytes)
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except JSONInputError as err:
        raise error(str(err)) from None


def record_name(value: object, limit: int = 100) -> str:
    """A record's name (video file, clip id) as an error message shows it: cut short, since it
    comes from the input and may be huge."""
    if not isinstance(value, str):
        return "?"
    return value if len(value) <= limit else f"{value[: limit - 3]}..."


def read_video_timestamps(path: str | Path, where: str | None = None) -> np.ndarray:
    """A ``_timestamps.npy`` of per-frame UNIX nanoseconds -> seconds on the shifted clock.

    Returns float64 seconds (``ns / 1e9 + 28800``); raises ``QEVDFormatError`` naming ``where``
    (default: the path) if the file is missing, unreadable, not a non-empty 1-D numeric array, or
    not strictly increasing.
    """
    path = Path(path)
    where = where or str(path)
    if not path.is_file():
        raise QEVDFormatError(f"{where}: video timestamps file is missing")
    try:
        ns = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise QEVDFormatError(f"{where}: unreadable .npy ({err})") from None
    if ns.ndim != 1 or ns.size == 0 or not np.issubdtype(ns.dtype, np.number):
        raise QEVDFormatError(
            f"{where}: expected a non-empty 1-D array of nanoseconds, got {ns.dtype} {ns.shape}"
        )
    if not np.issubdtype(ns.dtype, np.integer):
        raise QEVDFormatError(
            f"{where}: video timestamps must be int64 UNIX nanoseconds, got {ns.dtype} "
            f"(first value {ns[0].item()!r}; seconds stored as floats?)"
        )
    if ns.size > 1:
        step = float(np.median(np.diff(ns.astype(np.float64))))
        low, high = FRAME_INTERVAL_NS
        if 0 < step and not low <= step <= high:
            raise QEVDFormatError(
                f"{where}: video timestamps must be UNIX nanoseconds, but frames are "
                f"{step:g} units apart (milliseconds or seconds stored?)"
            )
    seconds = ns.astype(np.float64) / 1e9 + CLOCK_SHIFT_S
    steps = np.diff(seconds)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        raise QEVDFormatError(
            f"{where}: video timestamps are not strictly increasing (frame {bad[0] + 1})"
        )
    # The 16 fps resampling fills a gap with repeats of the next frame: a clock that jumps
    # by hours would ask for millions of them (work and memory without bound).
    bad = np.flatnonzero(steps > MAX_FRAME_GAP_S)
    if bad.size:
        raise QEVDFormatError(
            f"{where}: frames {bad[0]} and {bad[0] + 1} are {steps[bad[0]]:.6g} s apart (more "
            f"than {MAX_FRAME_GAP_S:g} s: the recording's clock jumped)"
        )
    return seconds


__all__ = [
    "ANNOTATION_FILE",
    "CLOCK_SHIFT_S",
    "CLOCK_SLACK_S",
    "FEATURES_DIR",
    "FRAME_INTERVAL_NS",
    "MAX_ANNOTATION_BYTES",
    "MAX_FEEDBACK_CHARS",
    "MAX_FRAME_GAP_S",
    "MAX_PATH_CHARS",
    "MAX_SECONDS",
    "PAPER_FEATURE_SHAPE",
    "SPLIT_DIRS",
    "QEVDFormatError",
    "Split",
    "read_json_file",
    "read_video_timestamps",
    "record_name",
    "split_dir",
]
