"""MediaPipe Pose's two landmark models side by side on unseen QEVD-SIM renders: the full model
(``model_complexity=1``, the estimator's default) against the lite one (``model_complexity=0``),
each behind the same detector and tracking, on every 16 fps frame of each split's test videos.

Per model: PCK@0.1 torso against the sidecar's true landmarks (a point within a tenth of the true
torso length; frames with a detection), the detection rate, and the estimator's CPU time per
frame (``time.process_time`` around ``estimate``, one thread). Prints the ratio lite / full of
the CPU time, measured in the same run, and writes
``benchmarks/results/pose_landmark_models.{md,json}``. Needs the lite model:
``bash scripts/fetch_pose_models.sh --lite``.

    .venv/bin/python benchmarks/pose_landmark_models.py --data SPLIT_ROOT [SPLIT_ROOT ...]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from pose_domain_gap import pck, split_name

from livefit.data.landmarks import read_sidecar
from livefit.provenance import git_state, machine_info
from livefit.train.pose_stage import video_size
from livefit.vision.extract import list_jobs
from livefit.vision.pose_estimator import PoseEstimator, PoseEstimatorConfig
from livefit.vision.preprocess import decode_frames, load_timestamps, resample_indices

MODELS = ("full", "lite")


def measure(root: Path, model: str, videos: int | None = None) -> dict[str, Any]:
    """One split's test videos (the first ``videos``) through the estimator with ``model``."""
    estimator = PoseEstimator.load(config=PoseEstimatorConfig(landmark_model=model))
    hits = found = cpu = 0.0
    frames = 0
    _, jobs = list_jobs(root, "test")
    jobs = jobs[:videos]
    for job in jobs:
        times = load_timestamps(job.timestamps)
        keep = resample_indices(times, 16.0)
        width, height = video_size(job.video)
        truth = read_sidecar(job.video, times, width, height).take(keep)
        uses = Counter(keep.tolist())  # a frame is used once per 16 fps slot it fills
        estimator.reset()
        points = []
        for k, (frame, t) in enumerate(decode_frames(job.video)):
            for _ in range(uses[k]):
                start = time.process_time()
                points.append(estimator.estimate(frame, t))
                cpu += time.process_time() - start
        p, f = pck(np.stack(points), truth.points)
        hits, found, frames = hits + p * len(keep), found + f * len(keep), frames + len(keep)
    return {
        "pck@0.1": hits / frames,
        "detection_rate": found / frames,
        "ms_per_frame": 1000 * cpu / frames,
        "frames": frames,
        "frame_size": "x".join(map(str, video_size(jobs[0].video))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="test split roots")
    parser.add_argument(
        "--results", type=Path, default=Path("benchmarks/results/pose_landmark_models")
    )
    parser.add_argument("--videos", type=int, default=None, help="the first N videos per split")
    args = parser.parse_args()
    rows = []
    for root in args.data:
        row: dict[str, Any] = {"data": str(root), "name": split_name(root)}
        for model in MODELS:
            row[model] = measure(root, model, args.videos)
        rows.append(row)
        full, lite = row["full"], row["lite"]
        print(
            f"{row['name']}: PCK@0.1 full {full['pck@0.1']:.3f} lite {lite['pck@0.1']:.3f}; "
            f"ms/frame full {full['ms_per_frame']:.1f} lite {lite['ms_per_frame']:.1f} "
            f"(lite / full {lite['ms_per_frame'] / full['ms_per_frame']:.2f})",
            flush=True,
        )
    mean = {
        m: {k: float(np.mean([r[m][k] for r in rows])) for k in ("pck@0.1", "ms_per_frame")}
        for m in MODELS
    }
    ratio = mean["lite"]["ms_per_frame"] / mean["full"]["ms_per_frame"]
    print(f"mean CPU per frame, lite / full: {ratio:.2f}")
    report = {"rows": rows, "mean": mean, "cpu_ratio_lite_over_full": ratio}
    report.update(machine=machine_info(), git=git_state())
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        "# MediaPipe Pose's landmark models on unseen QEVD-SIM renders",
        "",
        f"`benchmarks/pose_landmark_models.py`, {report['machine'].get('cpu', 'CPU')}, one thread,"
        f" commit {(report['git'].get('commit') or '?')[:7]}. PCK@0.1 torso against the true "
        f"landmarks on every 16 fps frame (the first {args.videos or 'all'} test videos of each "
        "split); CPU: the estimator's time per frame (detector + landmark model + tracking).",
        "",
        "| split | frames | size | PCK@0.1 full | PCK@0.1 lite | ms/frame full | ms/frame lite |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        f, li = r["full"], r["lite"]
        lines.append(
            f"| {r['name']} | {f['frames']} | {f['frame_size']} | {f['pck@0.1']:.3f} | "
            f"{li['pck@0.1']:.3f} | {f['ms_per_frame']:.1f} | {li['ms_per_frame']:.1f} |"
        )
    lines += ["", f"Mean CPU per frame, lite / full: **{ratio:.2f}**."]
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
