"""Writes QEVD-SIM videos and their files: H.264 mp4, UNIX-ns timestamps, ground-truth sidecar.

Last step of the generator (after ``render``): frames are encoded with PyAV (libx264, one thread,
so a seed gives the same bytes on every machine with the same codec build), written atomically
(temporary file + rename) so an interrupted run never leaves a half-written video that a resumed
run would skip. Also turns coach lines into the QEVD dense per-frame ``feedbacks`` list with its
span timestamps on the release's shifted clock.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from livefit.data.qevd import CLOCK_SHIFT_S, collapse_spans
from livefit.io import FILE_MODE, atomic_save_npy, atomic_write
from livefit.synth.coach import Line

CRF = 23  # H.264 quality (lower = better); QEVD-like consumer video


def frame_timestamps_ns(n: int, fps: float, start_ns: int) -> np.ndarray:
    """Per-frame capture times ``[n]`` int64 UNIX nanoseconds at a steady ``fps``."""
    return start_ns + np.round(np.arange(n) * (1e9 / fps)).astype(np.int64)


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int, width: int, height: int) -> int:
    """Encode RGB frames ``[H, W, 3]`` uint8 to an H.264 mp4 at ``path`` atomically.

    Returns the number of frames written.
    """
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.mp4")
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    count = 0
    try:
        with av.open(tmp, "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": str(CRF), "threads": "1"}
            stream.codec_context.thread_count = 1
            for frame in frames:
                vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
                for packet in stream.encode(vf):
                    out.mux(packet)
                count += 1
            for packet in stream.encode():
                out.mux(packet)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def read_video(path: Path) -> np.ndarray:
    """Decode all frames of an mp4 to ``[T, H, W, 3]`` uint8 RGB (tests, contact sheets)."""
    import av

    with av.open(str(path)) as src:
        return np.stack([f.to_ndarray(format="rgb24") for f in src.decode(video=0)])


def dense_feedbacks(lines: list[Line], times_s: np.ndarray) -> list[str]:
    """The QEVD per-frame list: the line spoken on each frame, ``""`` when silent."""
    out = [""] * len(times_s)
    for line in lines:
        lo, hi = np.searchsorted(times_s, [line.t0, line.t1], side="left")
        for i in range(int(lo), int(hi)):
            out[i] = line.text
    return out


def qevd_record(
    video_file: str, ts_file: str, lines: list[Line], times_s: np.ndarray, stamps_ns: np.ndarray
) -> dict:
    """A ``feedbacks_long_range.json`` record (shared/spec/qevd-format.md) for one workout."""
    feedbacks = dense_feedbacks(lines, times_s)
    spans = collapse_spans(feedbacks)
    if len(spans) != len(lines):
        raise ValueError(
            f"{video_file}: {len(lines)} coach lines gave {len(spans)} spans (lines touch or are "
            "shorter than a frame)"
        )
    return {
        "long_range_video_file": video_file,
        "video_timestamps": ts_file,
        "feedbacks": feedbacks,
        "feedback_timestamps": [
            float(stamps_ns[first]) / 1e9 + CLOCK_SHIFT_S for _, first, _ in spans
        ],
        "is_transition": [line.is_transition for line in lines],
    }


def save_timestamps(path: Path, stamps_ns: np.ndarray) -> None:
    atomic_save_npy(path, np.asarray(stamps_ns, dtype=np.int64))


def save_sidecar(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Ground truth: ``<id>_groundtruth.npz`` (arrays) + ``<id>_groundtruth.json`` (meta).

    The JSON is written last: its presence marks the video as finished for resumed runs.
    """
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(path.with_suffix(".npz"), lambda f: f.write(buf.getvalue()))
    text = json.dumps(meta, indent=None, sort_keys=False) + "\n"
    atomic_write(path.with_suffix(".json"), lambda f: f.write(text.encode("utf-8")))


__all__ = [
    "dense_feedbacks",
    "frame_timestamps_ns",
    "qevd_record",
    "read_video",
    "save_sidecar",
    "save_timestamps",
    "write_video",
]
