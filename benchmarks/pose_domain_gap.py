"""The pose coach's domain gap on unseen QEVD-SIM test splits: the same coach fed the sidecar's
true landmarks against landmarks the pose estimator finds in the rendered pixels, and the
estimator's accuracy on the renders.

For each data root (a test split the coach never trained on): two mirrors of it (videos and
annotations linked) get pose features, one from the true landmarks (``--landmarks sidecar``), one
from MediaPipe Pose through LiteRT (``--landmarks estimator``); ``livefit predict`` (paper clock)
runs the coach on each and the paper-exact evaluator scores both, beside the periodic floor
and, with ``--cnn-coach``, the CNN coach on the same videos (CNN features in a third mirror).
The estimator's PCK@0.1 torso (a point within a tenth of the true torso length of the truth;
visibility not used) is measured on every 16 fps frame of the split's videos. Prints the ratio
estimated / true on T-F and writes ``benchmarks/results/pose_domain_gap.{md,json}``; with
``--card``, the same tables into the coach's MODEL_CARD.md (section "Landmark sources").
``--workers N`` measures N splits at once (one process and thread each).

    .venv/bin/python benchmarks/pose_domain_gap.py --coach livefit/bundled/coach_pose \
        --cnn-coach livefit/bundled/coach --card livefit/bundled/coach_pose/MODEL_CARD.md \
        --workers 2 --data RUN/data RUN/eval_seed1001/data RUN/eval_seed1002/data \
        RUN/eval_seed1003/data
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import livefit.baselines  # noqa: F401  (registers the built-in coaches: predict "periodic")
from livefit.data.landmarks import read_sidecar, torso_length
from livefit.data.qevd import load_segments
from livefit.eval.evaluate import EvalConfig, evaluate_segments
from livefit.eval.predictions import load_predictions
from livefit.provenance import git_state, machine_info
from livefit.stream.predict import predict
from livefit.train.pose_stage import video_size
from livefit.train.variants import mirror_data
from livefit.vision.extract import list_jobs, run_extraction
from livefit.vision.front_ends import FrontEndOptions, load_front_end
from livefit.vision.preprocess import load_timestamps, resample_indices

KEYS = ("t_f_score", "precision", "recall", "meteor", "rouge_l")


def pck(estimated: np.ndarray, truth: np.ndarray, threshold: float = 0.1) -> tuple[float, float]:
    """(PCK over frames with a detection, detection rate): ``[T, 33, 4]`` against ``[T, 33, 4]``."""
    torso = torso_length(truth)
    found = estimated[..., 3].max(axis=1) > 0
    dist = np.linalg.norm(estimated[..., :2] - truth[..., :2], axis=-1)  # [T, 33]
    ok = dist <= threshold * torso[:, None]
    return (float(ok[found].mean()) if found.any() else 0.0), float(found.mean())


def score(root: Path, predictions: Path) -> dict[str, float]:
    segments = load_segments(root, "test")
    preds = load_predictions(predictions)
    ev = evaluate_segments(segments, preds, EvalConfig(split="test"))
    return {k: float(ev.metrics[k] or 0.0) for k in KEYS}


def split_name(root: Path) -> str:
    """ "seed S test" for a QEVD-SIM root (its ``synth_run.json``), else the folder's name."""
    run = root / "synth_run.json"
    if run.is_file():
        return f"seed {json.loads(run.read_text())['seed']} test"
    return root.parent.name if root.name == "data" else root.name


def measure(args: tuple[Path, Path, Path | None, Path]) -> dict[str, Any]:
    """One test split: the pose coach on true and on estimated landmarks, the CNN coach (when
    given), the periodic floor, the estimator's PCK. One process, one thread."""
    root, coach, cnn_coach, out = args
    torch.set_num_threads(1)
    name = split_name(root)
    folder = name.replace(" ", "_")
    row: dict[str, Any] = {"data": str(root), "name": name}
    tracks: dict[str, Any] = {}
    producer = None
    for source in ("sidecar", "estimator"):
        mirror = mirror_data(root, out / folder / source)
        producer = load_front_end(coach / "pose", FrontEndOptions(landmarks=source)).producer()
        producer.tracks = tracks if source == "estimator" else None
        summary = run_extraction(mirror, "test", producer, progress=False)
        assert not summary.failed, summary.failed
        pred = out / folder / f"{source}.jsonl"
        predict(mirror, coach / "stream_vlm", pred, "test", progress=False)
        row[source] = score(mirror, pred)
    if cnn_coach is not None:
        from livefit.vision.weights import load_model

        mirror = mirror_data(root, out / folder / "cnn")
        summary = run_extraction(mirror, "test", load_model(cnn_coach / "cnn"), progress=False)
        assert not summary.failed, summary.failed
        pred = out / folder / "cnn.jsonl"
        predict(mirror, cnn_coach / "stream_vlm", pred, "test", progress=False)
        row["cnn"] = score(mirror, pred)
    predict(root, "periodic", out / folder / "periodic.jsonl", "test", progress=False)
    row["periodic"] = score(root, out / folder / "periodic.jsonl")
    # The estimator on the renders, frame by frame at 16 fps (the landmarks it extracted).
    hits, found, frames = 0.0, 0.0, 0
    _, jobs = list_jobs(out / folder / "estimator", "test")
    for job in jobs:
        times = load_timestamps(job.timestamps)
        est = tracks.get(str(job.video)) or producer.track(job.video, job.timestamps)
        width, height = video_size(job.video)
        truth = read_sidecar(job.video, times, width, height).take(resample_indices(times, 16.0))
        p, f = pck(est.points, truth.points)
        hits, found, frames = hits + p * len(est), found + f * len(est), frames + len(est)
    row["estimator_pck@0.1"] = hits / frames
    row["estimator_detection_rate"] = found / frames
    row["frames"] = frames
    row["frame_size"] = "x".join(map(str, video_size(jobs[0].video)))
    return row


LABELS = {
    "sidecar": "pose coach, true landmarks (sidecar)",
    "estimator": "pose coach, estimated landmarks (MediaPipe Pose, LiteRT)",
    "cnn": "CNN coach (the frames)",
    "periodic": "periodic floor (every 5 s)",
}


def tables(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| split | row | T-F | P | R | METEOR | ROUGE-L |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        for source in ("sidecar", "estimator", "cnn", "periodic"):
            if source in r:
                lines.append(
                    f"| {r['name']} | {LABELS[source]} | "
                    + " | ".join(f"{r[source][k]:.3f}" for k in KEYS)
                    + " |"
                )
    sources = [s for s in ("sidecar", "estimator", "cnn", "periodic") if all(s in r for r in rows)]
    for source in sources:
        mean = {k: float(np.mean([r[source][k] for r in rows])) for k in KEYS}
        lines.append(
            f"| **mean of {len(rows)}** | {LABELS[source]} | "
            + " | ".join(f"{mean[k]:.3f}" for k in KEYS)
            + " |"
        )
    lines += [
        "",
        "| split | estimator PCK@0.1 torso | detection rate | frames |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['estimator_pck@0.1']:.3f} | "
            f"{r['estimator_detection_rate']:.3f} | {r['frames']} |"
        )
    return lines


def main() -> None:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--coach", type=Path, required=True, help="a coach folder: pose/ + stream_vlm/"
    )
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="test data roots")
    parser.add_argument(
        "--cnn-coach",
        type=Path,
        default=None,
        help="a CNN coach folder (cnn/ + stream_vlm/) to score on the same splits",
    )
    parser.add_argument("--out", type=Path, default=Path("out/pose_domain_gap"))
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/pose_domain_gap"))
    parser.add_argument(
        "--card",
        type=Path,
        default=None,
        help="a MODEL_CARD.md whose 'Landmark sources' section gets the tables",
    )
    parser.add_argument("--workers", type=int, default=1, help="splits measured at once")
    args = parser.parse_args()
    tic = time.time()
    jobs = [(root, args.coach, args.cnn_coach, args.out) for root in args.data]
    with ProcessPoolExecutor(max(1, args.workers), mp_context=get_context("spawn")) as pool:
        rows = list(pool.map(measure, jobs))
    for row in rows:
        gap = row["estimator"]["t_f_score"] - row["sidecar"]["t_f_score"]
        print(
            f"{row['name']}: T-F true {row['sidecar']['t_f_score']:.3f} estimated "
            f"{row['estimator']['t_f_score']:.3f} ({gap:+.3f}), METEOR "
            f"{row['sidecar']['meteor']:.3f} / {row['estimator']['meteor']:.3f}, "
            f"PCK@0.1 {row['estimator_pck@0.1']:.3f}",
            flush=True,
        )
    true_tf = np.mean([r["sidecar"]["t_f_score"] for r in rows])
    est_tf = np.mean([r["estimator"]["t_f_score"] for r in rows])
    print(
        f"mean T-F true {true_tf:.3f}, estimated {est_tf:.3f} ({est_tf - true_tf:+.3f}); "
        f"ratio estimated / true: {est_tf / max(true_tf, 1e-9):.3f}"
    )
    report = {
        "coach": str(args.coach),
        "cnn_coach": str(args.cnn_coach),
        "rows": rows,
        "machine": machine_info(),
        "git": git_state(),
        "seconds": round(time.time() - tic, 1),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    body = tables(rows)
    title = "# Pose coach: true landmarks against estimated ones (unseen test splits)"
    args.results.with_suffix(".md").write_text("\n".join([title, ""] + body) + "\n")
    if args.card is not None:
        write_card_section(args.card, body, report)


CARD_SECTION = "## Landmark sources"


def write_card_section(card: Path, body: list[str], report: dict[str, Any]) -> None:
    """Replace (or add) the card's landmark-sources section: the same coach on true and on
    estimated landmarks, the CNN coach and the floor, on the same unseen splits."""
    m = report["machine"]
    sizes = sorted({r["frame_size"] for r in report["rows"] if "frame_size" in r})
    where = f" ({', '.join(sizes)})" if sizes else ""
    intro = [
        CARD_SECTION,
        "",
        "The same coach fed QEVD-SIM's true landmarks (the sidecar) and the landmarks "
        f"MediaPipe Pose (LiteRT) finds in the rendered pixels{where}, on unseen test "
        "splits; the bundled CNN coach and the periodic floor on the same splits. Measured by "
        "`benchmarks/pose_domain_gap.py` on these files (" + f"{m['cpu']}, "
        f"{report['seconds'] / 60:.0f} min). PCK@0.1 torso: estimated points within a tenth "
        "of the true torso length of the truth.",
        "",
    ]
    text = card.read_text()
    head, _, rest = text.partition(CARD_SECTION)
    tail = rest[rest.find("\n## ") :] if rest and "\n## " in rest else ""
    card.write_text(head.rstrip("\n") + "\n\n" + "\n".join(intro + body) + "\n" + tail)


if __name__ == "__main__":
    main()
