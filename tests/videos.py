"""Tiny video files with chosen timestamps, for the tests of hostile or broken clocks (a 2 KB
mkv whose pts jump by 10^10 ms, a 30-minute gap, a 1x1 video). Import as ``from videos import
write_video`` after putting ``tests/`` on ``sys.path`` (as ``qevd_fixture`` is)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def write_video(path: Path, pts_ms: list[int], size: tuple[int, int] = (64, 48)) -> Path:
    """An mkv (or mp4, by suffix) of ``len(pts_ms)`` frames, frame i stamped ``pts_ms[i]`` ms
    (time base 1/1000). ``size``: (width, height). Each frame is a different grey level, with a
    moving bar so that the codec has something to code."""
    import av

    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4" if path.suffix == ".mp4" else "ffv1", rate=30)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if stream.codec_context.name == "mpeg4" else "yuv444p"
        stream.time_base = Fraction(1, 1000)
        for i, pts in enumerate(pts_ms):
            rgb = np.full((height, width, 3), (40 + 13 * i) % 256, np.uint8)
            rgb[:, (5 * i) % width] = 255
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = int(pts), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
