"""The repetition counter (``livefit.vision.reps``) against QEVD-SIM's true rep counts, on unseen
synthetic workouts.

For each long-range workout of each data root's test split and each countable exercise in it
(its segment: the first to the last frame the sidecar labels with that exercise, rests inside
included), a fresh counter runs over the segment's landmarks at 16 fps and its final count is
compared with the sidecar's (``reps``: whole rep cycles of the exercise bout). Landmarks come
from the sidecar (``true``) and, with ``--estimator``, from MediaPipe Pose on the rendered pixels
(``estimated``: what a live camera gives). Reports per source: the share of segments counted
within +-1 and exactly, the mean absolute error, per exercise, and every miss; writes
``benchmarks/results/rep_counter.{md,json}`` with the machine and the commit.

    .venv/bin/python benchmarks/rep_counter.py --estimator --data ROOT [ROOT ...]

A data root without videos is made first: ``--make SEED`` generates ``--preset``'s test split
(workouts only) under ``--out``, seeds the coaches never trained on (training uses seed 0).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from livefit.data.landmarks import read_sidecar
from livefit.data.qevd_format import SPLIT_DIRS
from livefit.provenance import git_state, machine_info
from livefit.synth.exercises import BY_NAME
from livefit.synth.generate import generate
from livefit.synth.presets import preset
from livefit.vision.preprocess import load_timestamps, resample_indices, video_size
from livefit.vision.reps import RepCounterConfig, count_reps

FPS = 16


def segments(meta: dict[str, Any], activity: np.ndarray, reps: np.ndarray) -> list[dict[str, Any]]:
    """The countable exercises of one workout: name, first and last frame, true final count."""
    names = meta["activities"]
    out = []
    for name in meta["exercises"]:
        if not BY_NAME[name].countable:
            continue
        frames = np.flatnonzero(activity == names.index(name))
        if frames.size == 0:
            continue
        first, last = int(frames[0]), int(frames[-1])
        out.append(
            {"exercise": name, "first": first, "last": last, "true": int(reps[frames].max())}
        )
    return out


def workout_tracks(video: Path, estimator: Any) -> dict[str, Any]:
    """The workout's 16 fps frame picks, its sidecar truth and landmark tracks."""
    times = load_timestamps(video.with_name(f"{video.stem}_timestamps.npy"))
    picks = resample_indices(times, FPS)
    width, height = video_size(video)
    with np.load(video.with_name(f"{video.stem}_groundtruth.npz")) as data:
        activity, reps = data["activity"], data["reps"]
    tracks = {"true": read_sidecar(video, times, width, height).take(picks).points}
    if estimator is not None:
        tracks["estimated"] = estimator.track(video, times, FPS).points
    return {"picks": picks, "activity": activity, "reps": reps, "tracks": tracks}


def videos(root: Path, split: str) -> list[Path]:
    return sorted((root / SPLIT_DIRS[split] / "long_range_videos").glob("*.mp4"))


def load(roots: list[Path], split: str, estimator: Any) -> list[dict[str, Any]]:
    """Every workout of the roots' ``split``: its countable segments and landmark tracks."""
    workouts = []
    for root in roots:
        for video in videos(root, split):
            meta = json.loads(video.with_name(f"{video.stem}_groundtruth.json").read_text())
            w = workout_tracks(video, estimator)
            w["segments"] = []
            for seg in segments(meta, w["activity"], w["reps"]):
                # the 16 fps frames whose source frame lies in the segment
                picks = w["picks"]
                seg["frames"] = np.flatnonzero((picks >= seg["first"]) & (picks <= seg["last"]))
                w["segments"].append(seg)
            workouts.append({"root": str(root), "video": video.name, **w})
    return workouts


def measure(
    workouts: list[dict[str, Any]], config: RepCounterConfig, running: bool = True
) -> list[dict[str, Any]]:
    """Per countable segment: the true count and each source's, with a fresh counter (started
    at the segment's first frame, as a session is) and, with ``running``, one that runs over
    the whole workout."""
    rows = []
    for w in workouts:
        whole = {s: count_reps(p, config) for s, p in w["tracks"].items()} if running else {}
        for seg in w["segments"]:
            inside = seg["frames"]
            row = {"root": w["root"], "video": w["video"], "exercise": seg["exercise"]}
            row["true"] = seg["true"]
            for source, points in w["tracks"].items():
                counts = count_reps(points[inside], config)
                row[f"{source}, fresh counter"] = int(counts[-1]) if counts.size else 0
                if running:
                    before = whole[source][inside[0] - 1] if inside[0] > 0 else 0
                    row[f"{source}, running counter"] = int(whole[source][inside[-1]] - before)
            rows.append(row)
    return rows


def sources(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({k for r in rows for k in r if k.endswith("counter")})


GRID = {
    "window_s": (3.0, 4.0),
    "range_s": (1.5, 2.5),
    "hysteresis": (0.3, 0.5),
    "smoothing": (0.5, 1.0),
    "detrend_s": (0.0, 1.5),
}


def tune(workouts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every ``GRID`` config's share within +-1 (fresh counter, mean over the sources)."""
    results = []
    for values in itertools.product(*GRID.values()):
        knobs = dict(zip(GRID, values, strict=True))
        rows = measure(workouts, RepCounterConfig(**knobs), running=False)
        fresh = [s for s in sources(rows) if s.endswith("fresh counter")]
        score = float(np.mean([summarise(rows, s)["within_1"] for s in fresh]))
        results.append({"config": knobs, "within_1": score})
    return sorted(results, key=lambda r: -r["within_1"])


def summarise(rows: list[dict[str, Any]], source: str) -> dict[str, Any]:
    err = np.array([r[source] - r["true"] for r in rows])
    by_ex: dict[str, list[int]] = {}
    for r, e in zip(rows, err, strict=True):
        by_ex.setdefault(r["exercise"], []).append(int(e))
    return {
        "segments": len(rows),
        "within_1": float(np.mean(np.abs(err) <= 1)),
        "exact": float(np.mean(err == 0)),
        "mean_abs_error": float(np.mean(np.abs(err))),
        "mean_error": float(np.mean(err)),
        "per_exercise": {
            k: {"segments": len(v), "within_1": float(np.mean(np.abs(v) <= 1)), "errors": v}
            for k, v in sorted(by_ex.items())
        },
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        "# Repetition counter on unseen QEVD-SIM workouts",
        "",
        f"Commit {result['git']['commit']}{' (dirty)' if result['git'].get('dirty') else ''}, "
        f"{result['machine'].get('cpu', '?')}, {result['seconds']:.0f} s. Data: "
        + ", ".join(result["roots"]),
        "",
        "| landmarks | segments | within +-1 | exact | mean abs error | mean error |",
        "|---|---|---|---|---|---|",
    ]
    for source, s in result["summary"].items():
        lines.append(
            f"| {source} | {s['segments']} | {s['within_1']:.3f} | {s['exact']:.3f} | "
            f"{s['mean_abs_error']:.2f} | {s['mean_error']:+.2f} |"
        )
    for source, s in result["summary"].items():
        lines += [
            "",
            f"## Per exercise, {source} landmarks",
            "",
            "| exercise | segments | within +-1 | errors |",
            "|---|---|---|---|",
        ]
        for name, e in s["per_exercise"].items():
            lines.append(f"| {name} | {e['segments']} | {e['within_1']:.2f} | {e['errors']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="*", default=[], help="QEVD-SIM data roots")
    parser.add_argument("--make", type=int, nargs="*", default=[], help="test splits to make")
    parser.add_argument("--preset", default="small", help="synth preset of --make")
    parser.add_argument("--workouts", type=int, default=3, help="test workouts per made split")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/rep_counter_data"))
    parser.add_argument("--split", default="test", choices=sorted(SPLIT_DIRS))
    parser.add_argument("--estimator", action="store_true", help="also MediaPipe Pose landmarks")
    parser.add_argument("--tune", action="store_true", help="grid-search the counter's knobs")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    start = time.time()
    roots = list(args.data)
    for seed in args.make:
        root = args.out / f"{args.preset}_seed{seed}"
        cfg = preset(args.preset, train_workouts=0, test_workouts=args.workouts)
        generate(replace(cfg, train_clips=0, test_clips=0), root, seed=seed, progress=False)
        roots.append(root)
    if not roots:
        parser.error("give --data ROOT or --make SEED")
    estimator = None
    if args.estimator:
        from livefit.vision.pose_estimator import PoseEstimator

        estimator = PoseEstimator.load()
    workouts = load(roots, args.split, estimator)
    args.results.mkdir(parents=True, exist_ok=True)
    provenance = {"git": git_state(), "machine": machine_info()}
    if args.tune:
        results = tune(workouts)
        for r in results[:10]:
            print(f"{r['within_1']:.3f} {r['config']}", flush=True)
        out = {"roots": [str(r) for r in roots], "split": args.split, "grid": results}
        out |= {"seconds": time.time() - start, **provenance}
        (args.results / "rep_counter_tuning.json").write_text(json.dumps(out, indent=1) + "\n")
        return
    config = RepCounterConfig()
    rows = measure(workouts, config)
    result = {
        "roots": [str(r) for r in roots],
        "split": args.split,
        "config": asdict(config),
        "summary": {s: summarise(rows, s) for s in sources(rows)},
        "rows": rows,
        "seconds": time.time() - start,
        **provenance,
    }
    (args.results / "rep_counter.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.results / "rep_counter.md").write_text(report(result))
    print(report(result))


if __name__ == "__main__":
    main()
