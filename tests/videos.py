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


def trim_workout_root(src: Path, dst: Path, seconds: float) -> Path:
    """A copy of a QEVD-SIM root holding one test workout (``sim_workout_root``) with that
    workout cut to its first ``seconds``: the video re-encoded, and its timestamps, per-frame
    labels, coach lines and ground-truth sidecars cut to match. The pose path's tests run the
    estimator (about 20 ms a frame) over it instead of the whole workout."""
    import json
    import shutil

    from livefit.data.qevd import collapse_spans
    from livefit.data.qevd_format import ANNOTATION_FILE, split_dir
    from livefit.synth.writer import save_sidecar
    from livefit.synth.writer import write_video as write_mp4
    from livefit.vision.preprocess import decode_frames

    shutil.copytree(src, dst)
    annotations = split_dir(dst, "test") / ANNOTATION_FILE
    (record,) = json.loads(annotations.read_text())
    stamps_file = annotations.parent / record["video_timestamps"]
    stamps = np.load(stamps_file)
    n = int(np.searchsorted(stamps, stamps[0] + seconds * 1e9))
    video = annotations.parent / record["long_range_video_file"]
    frames = [rgb for (rgb, _), _ in zip(decode_frames(video), range(n), strict=False)]
    assert len(frames) == n, (len(frames), n)
    fps = round(1e9 / float(np.median(np.diff(stamps))))
    write_mp4(video, frames, fps, frames[0].shape[1], frames[0].shape[0])
    np.save(stamps_file, stamps[:n])
    record["feedbacks"] = record["feedbacks"][:n]
    spans = len(collapse_spans(record["feedbacks"]))
    for key in ("feedback_timestamps", "is_transition"):
        record[key] = record[key][:spans]
    annotations.write_text(json.dumps([record]))
    truth = video.with_name(video.stem + "_groundtruth")
    arrays = {k: v[:n] for k, v in np.load(truth.with_suffix(".npz")).items()}
    meta = json.loads(truth.with_suffix(".json").read_text())
    meta["lines"] = [line for line in meta["lines"] if line["t0"] < seconds]
    save_sidecar(truth, arrays, meta)
    return dst
