"""The pose coach's domain gap on unseen QEVD-SIM test splits: the same coach fed the sidecar's
true landmarks against landmarks the pose estimator finds in the rendered pixels, and the
estimator's accuracy on the renders.

For each data root (a test split the coach never trained on): two mirrors of it (videos and
annotations linked) get pose features, one from the true landmarks (``--landmarks sidecar``), one
from MediaPipe Pose through LiteRT (``--landmarks estimator``); ``livefit predict`` (paper clock)
runs the coach on each and the paper-exact evaluator scores both, beside the periodic floor.
The estimator's PCK@0.1 torso (a point within a tenth of the true torso length of the truth;
visibility not used) is measured on every 16 fps frame of the split's videos. Prints the ratio
estimated / true on T-F and writes ``benchmarks/results/pose_domain_gap.{md,json}``.

    .venv/bin/python benchmarks/pose_domain_gap.py --coach RUN/coach --data RUN/data \
        RUN/eval_seed1001/data RUN/eval_seed1002/data RUN/eval_seed1003/data
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livefit.data.landmarks import HIPS, SHOULDERS, read_sidecar
from livefit.data.qevd import load_segments
from livefit.eval.evaluate import EvalConfig, evaluate_segments
from livefit.eval.predictions import load_predictions
from livefit.provenance import git_state, machine_info
from livefit.stream.predict import predict
from livefit.train.pose_stage import video_size
from livefit.train.variants import mirror_data
from livefit.vision.extract import list_jobs, run_extraction
from livefit.vision.pose_extract import PoseProducer
from livefit.vision.preprocess import load_timestamps, resample_indices

KEYS = ("t_f_score", "precision", "recall", "meteor", "rouge_l")


def pck(estimated: np.ndarray, truth: np.ndarray, threshold: float = 0.1) -> tuple[float, float]:
    """(PCK over frames with a detection, detection rate): ``[T, 33, 4]`` against ``[T, 33, 4]``."""
    torso = np.linalg.norm(truth[:, SHOULDERS, :2].mean(1) - truth[:, HIPS, :2].mean(1), axis=-1)
    found = estimated[..., 3].max(axis=1) > 0
    dist = np.linalg.norm(estimated[..., :2] - truth[..., :2], axis=-1)  # [T, 33]
    ok = dist <= threshold * torso[:, None]
    return (float(ok[found].mean()) if found.any() else 0.0), float(found.mean())


def score(root: Path, predictions: Path) -> dict[str, float]:
    segments = load_segments(root, "test")
    preds = load_predictions(predictions)
    ev = evaluate_segments(segments, preds, EvalConfig(split="test"))
    return {k: float(ev.metrics[k] or 0.0) for k in KEYS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coach", type=Path, required=True,
                        help="a coach folder: pose/ + stream_vlm/")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="test data roots")
    parser.add_argument("--out", type=Path, default=Path("out/pose_domain_gap"))
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/pose_domain_gap"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, tic = [], time.time()
    for root in args.data:
        name = root.parent.name if root.name == "data" else root.name
        row: dict[str, Any] = {"data": str(root)}
        tracks = {}
        for source in ("sidecar", "estimator"):
            mirror = mirror_data(root, args.out / name / source)
            producer = PoseProducer.load(args.coach / "pose", source)
            producer.tracks = tracks if source == "estimator" else None
            summary = run_extraction(mirror, "test", producer, progress=False)
            assert not summary.failed, summary.failed
            pred = args.out / name / f"{source}.jsonl"
            predict(mirror, args.coach / "stream_vlm", pred, "test", progress=False)
            row[source] = score(mirror, pred)
        predict(root, "periodic", args.out / name / "periodic.jsonl", "test", progress=False)
        row["periodic"] = score(root, args.out / name / "periodic.jsonl")
        # The estimator on the renders, frame by frame at 16 fps (the landmarks it extracted).
        hits, found, frames = [], [], 0
        _, jobs = list_jobs(args.out / name / "estimator", "test")
        for job in jobs:
            times = load_timestamps(job.timestamps)
            est = tracks.get(str(job.video)) or producer.track(job.video, job.timestamps)
            width, height = video_size(job.video)
            picks = resample_indices(times, 16.0)
            truth = read_sidecar(job.video, times, width, height).take(picks)
            p, f = pck(est.points, truth.points)
            hits.append(p * len(est))
            found.append(f * len(est))
            frames += len(est)
        row["estimator_pck@0.1"] = sum(hits) / frames
        row["estimator_detection_rate"] = sum(found) / frames
        row["frames"] = frames
        rows.append(row)
        gap = row["estimator"]["t_f_score"] - row["sidecar"]["t_f_score"]
        print(f"{name}: T-F true {row['sidecar']['t_f_score']:.3f} estimated "
              f"{row['estimator']['t_f_score']:.3f} ({gap:+.3f}), METEOR "
              f"{row['sidecar']['meteor']:.3f} / {row['estimator']['meteor']:.3f}, "
              f"PCK@0.1 {row['estimator_pck@0.1']:.3f}", flush=True)
    true_tf = np.mean([r["sidecar"]["t_f_score"] for r in rows])
    est_tf = np.mean([r["estimator"]["t_f_score"] for r in rows])
    print(f"ratio estimated / true landmarks, mean T-F: {est_tf / max(true_tf, 1e-9):.3f}")
    report = {"coach": str(args.coach), "rows": rows, "machine": machine_info(),
              "git": git_state(), "seconds": round(time.time() - tic, 1)}  # fmt: skip
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["# Pose coach: true landmarks against estimated ones (unseen test splits)", "",
             "| split | landmarks | T-F | P | R | METEOR | ROUGE-L |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in rows:
        for source in ("sidecar", "estimator", "periodic"):
            m = r[source]
            label = {"sidecar": "true (sidecar)", "estimator": "estimated (MediaPipe Pose, "
                     "LiteRT)", "periodic": "periodic floor"}[source]  # fmt: skip
            lines.append(f"| {Path(r['data']).parent.name} | {label} | "
                         + " | ".join(f"{m[k]:.3f}" for k in KEYS) + " |")
    lines += ["", "| split | estimator PCK@0.1 torso | detection rate | frames |",
              "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {Path(r['data']).parent.name} | {r['estimator_pck@0.1']:.3f} | "
                     f"{r['estimator_detection_rate']:.3f} | {r['frames']} |")
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
