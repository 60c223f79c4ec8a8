"""How fast the live pose path runs on one CPU core, and where the time goes.

A rendered QEVD-SIM workout is streamed frame by frame through the live pipeline of a pose coach
(MediaPipe Pose through LiteRT -> causal pose encoder -> Stream-VLM engine, wall clock, one torch
thread, one LiteRT thread), as fast as the core allows; the estimator, the encoder and the
language model are timed separately (the encoder's and the model's calls by wrapping them). The
same frames through the CNN coach give the ratio pose path / CNN path. Target: >= 30 frames per
second for the pose path, estimator included. Writes ``benchmarks/results/pose_stream.{md,json}``.

    .venv/bin/python benchmarks/pose_stream.py --coach livefit/bundled/coach_pose [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from livefit.provenance import git_state, machine_info
from livefit.stream.live import LiveCoach, LiveConfig, play_video
from livefit.synth.generate import generate
from livefit.synth.presets import preset
from livefit.vision.extract import list_jobs
from livefit.vision.front_ends import PoseFrontStream
from livefit.vision.preprocess import load_timestamps


class Timed:
    """Wraps a callable and sums its wall time."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args, **kwargs):
        tic = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - tic
            self.calls += 1


def run(coach: LiveCoach, video: Path, times, limit: int) -> dict[str, float]:
    pipe = coach.pipeline(LiveConfig(exercise="squats", max_lag_seconds=1e9))
    parts: dict[str, Timed] = {}
    stream = pipe.front_stream
    if isinstance(stream, PoseFrontStream):  # its own pose estimator, timed apart
        parts["estimator"] = stream.estimator.estimate = Timed(stream.estimator.estimate)
    parts["front end (CNN or pose encoder)"] = Timed(stream.push)
    stream.push = parts["front end (CNN or pose encoder)"]
    parts["language model (engine)"] = Timed(pipe._step)
    pipe._step = parts["language model (engine)"]
    frames, tic = 0, time.perf_counter()
    for _ in play_video(pipe, video, times):
        frames += 1
        if frames >= limit:
            break
    total = time.perf_counter() - tic
    pipe.close()
    used = pipe.stats.frames_used
    out = {
        "frames": frames,
        "seconds": total,
        "fps": frames / total,
        "frames_used": used,
        # every used (16 fps) frame goes through estimator + encoder + model: its whole cost
        "ms per used frame": 1000 * total / max(used, 1),
        "fps if every frame were used": used / total,
    }
    for name, t in parts.items():
        out[f"{name} ms/frame"] = 1000 * t.seconds / max(frames, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coach", type=Path, required=True, help="pose coach: pose/ + stream_vlm/")
    parser.add_argument("--seconds", type=float, default=60.0, help="video seconds to stream")
    parser.add_argument("--out", type=Path, default=Path("out/pose_stream"))
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/pose_stream"))
    parser.add_argument("--core", type=int, default=0, help="the one CPU core it runs on")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})  # one core, decoding included
    torch.set_num_threads(1)
    config = preset("small", train_workouts=0, test_workouts=1, train_clips=0, test_clips=0)
    generate(config, args.out, 9001, workers=1, progress=False)
    _, (job,) = list_jobs(args.out, "test")
    times = load_timestamps(job.timestamps)
    limit = int(args.seconds * 30)
    pose = LiveCoach.load(args.coach / "stream_vlm", args.coach / "pose")
    cnn = LiveCoach.load()
    rows = {"pose": run(pose, job.video, times, limit), "cnn": run(cnn, job.video, times, limit)}
    for name, r in rows.items():
        split = ", ".join(f"{k} {v:.2f}" for k, v in r.items() if k.endswith("ms/frame"))
        print(
            f"{name}: {r['fps']:.1f} frames/s ({r['frames']} frames of 30 fps video, "
            f"{r['frames_used']} used at 16 fps; {r['ms per used frame']:.1f} ms per used "
            f"frame, i.e. {r['fps if every frame were used']:.1f} frames/s if every frame were "
            f"estimated; split per input frame: {split})"
        )
    ratio = rows["pose"]["fps"] / rows["cnn"]["fps"]
    print(f"ratio pose path / CNN path, frames per second: {ratio:.2f}")
    report = {
        "rows": rows,
        "machine": machine_info(),
        "git": git_state(),
        "threads": {"torch": 1, "litert": 1},
        "video": str(job.video),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    parts = [k for k in rows["pose"] if k.endswith("ms/frame")]
    lines = [
        "# Live pose path speed (one core)",
        "",
        f"{machine_info()['cpu']}, pinned to one core; 1 torch thread, 1 LiteRT thread. "
        "Input: a rendered 30 fps workout streamed as fast as the core allows; the live "
        "pipeline resamples to 16 fps and runs estimator, encoder and model on those frames "
        "(used frames). Time split in ms per input frame.",
        "",
        "| path | input frames/s | ms per used frame | frames/s if every frame were used | "
        + " | ".join(parts)
        + " |",
        "| --- | --- | --- | --- |" + " --- |" * len(parts),
    ]
    for name, r in rows.items():
        cells = " | ".join(f"{r.get(k, 0.0):.2f}" for k in parts)
        lines.append(
            f"| {name} | {r['fps']:.1f} | {r['ms per used frame']:.1f} | "
            f"{r['fps if every frame were used']:.1f} | {cells} |"
        )
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
