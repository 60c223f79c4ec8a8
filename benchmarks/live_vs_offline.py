"""The live coach against the offline benchmark path, on unseen QEVD-SIM test splits.

For each seed: a fresh ``small`` test split -> (a) offline: ``livefit features extract`` +
``livefit predict`` (paper clock), the numbers of the model card; (b) live, the workout's
segments as the plan: every video streamed frame by frame through ``LivePipeline`` on the wall
clock (the way ``livefit demo`` runs); (c) live, the exercise recognised by the CNN's activity
head (the way ``livefit coach`` and ``livefit serve`` run by default); (d) live on the paper clock
with the plan, which must equal (a). All scored by the paper-exact evaluator, per segment. Prints
each mode's metrics and the ratio live / offline, and writes ``benchmarks/results/
live_vs_offline.{md,json}``.

    .venv/bin/python benchmarks/live_vs_offline.py --seeds 1001 1002 1003 --workouts 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from livefit.bundled import bundled_model
from livefit.data.qevd import load_segments
from livefit.eval.evaluate import EvalConfig, evaluate_segments
from livefit.eval.predictions import Feedback, load_predictions
from livefit.provenance import git_state, machine_info
from livefit.stream.live import LiveCoach, LiveConfig, feedbacks_in, play_video, schedule_of
from livefit.stream.predict import predict
from livefit.synth.generate import generate
from livefit.synth.presets import preset
from livefit.vision.extract import list_jobs, run_extraction
from livefit.vision.preprocess import load_timestamps

KEYS = ("t_f_score", "precision", "recall", "meteor", "rouge_l")
MODES = (
    "offline (paper clock)",
    "live, plan (wall clock)",
    "live, recognised (wall clock)",
    "live, plan (paper clock)",
)


def live_predictions(coach: LiveCoach, root: Path, segments: list, mode: str) -> dict:
    """Per-segment predictions of every workout of ``root`` streamed live in ``mode``."""
    preds: dict[str, tuple[Feedback, ...]] = {}
    rtf = []
    for job in list_jobs(root, "test")[1]:
        times = load_timestamps(job.timestamps)
        mine = [s for s in segments if Path(s.video).resolve() == job.video.resolve()]
        schedule = schedule_of(mine, float(times[0]))
        config = {
            "live, plan (wall clock)": LiveConfig(schedule=schedule),
            "live, recognised (wall clock)": LiveConfig(),
            # predict's decoding (the paper's), for the word-for-word comparison
            "live, plan (paper clock)": LiveConfig(
                schedule=schedule, clock="paper", sentence_start=False, whole_lines=False
            ),
        }[mode]
        pipe = coach.pipeline(config)
        for _ in play_video(pipe, job.video, times):
            pass
        pipe.close()
        rtf.append(pipe.stats.real_time_factor)
        said = feedbacks_in(pipe.feedbacks, schedule, by_time=config.schedule is None)
        for seg, lines in zip(mine, said, strict=True):
            preds[seg.segment_id] = tuple(Feedback(t, text) for t, text in lines)
    return {"predictions": preds, "real_time_factor": max(rtf)}


def run_seed(coach: LiveCoach, seed: int, workouts: int, out: Path) -> dict:
    root = out / f"seed{seed}"
    config = preset("small", train_workouts=0, test_workouts=workouts, train_clips=0, test_clips=0)
    generate(config, root, seed, workers=1, progress=False)
    run_extraction(root, "test", coach.front.producer(), progress=False)
    segments = load_segments(root, "test")
    predict(root, bundled_model(), root / "pred.jsonl", "test", progress=False)
    results = {}
    offline = load_predictions(root / "pred.jsonl", [s.segment_id for s in segments])
    results[MODES[0]] = {"metrics": evaluate_segments(segments, offline, EvalConfig()).metrics}
    for mode in MODES[1:]:
        tic = time.perf_counter()
        live = live_predictions(coach, root, segments, mode)
        metrics = evaluate_segments(segments, live["predictions"], EvalConfig()).metrics
        results[mode] = {
            "metrics": metrics,
            "real_time_factor": live["real_time_factor"],
            "seconds": round(time.perf_counter() - tic, 1),
        }
    results["segments"] = len(segments)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1001, 1002, 1003])
    parser.add_argument("--workouts", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("out/live_vs_offline"))
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    coach = LiveCoach.load()
    report = {
        "seeds": {},
        "machine": machine_info(),
        "git": git_state(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    for seed in args.seeds:
        report["seeds"][seed] = run_seed(coach, seed, args.workouts, args.out)
        r = report["seeds"][seed]
        print(f"seed {seed} ({r['segments']} segments)")
        base = r[MODES[0]]["metrics"]
        for mode in MODES:
            m = r[mode]["metrics"]
            ratio = m["t_f_score"] / base["t_f_score"] if base["t_f_score"] else float("nan")
            print(
                f"  {mode:31s} "
                + " ".join(f"{k}={m[k]:.3f}" for k in KEYS)
                + f"  T-F live/offline = {ratio:.3f}"
            )
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "live_vs_offline.json").write_text(json.dumps(report, indent=1) + "\n")
    m = report["machine"]
    lines = [
        "# The live coach against the offline benchmark path (bundled coach)",
        "",
        f"`.venv/bin/python benchmarks/live_vs_offline.py --seeds {' '.join(map(str, args.seeds))}"
        f" --workouts {args.workouts}` on {report['date']}, git {report['git'].get('commit')}"
        f"{' (dirty)' if report['git'].get('dirty') else ''}; machine: {m['cpu']}, {m['cores']}"
        f" cores, {m['memory_gib']} GiB ({m['platform']}).",
        "",
        "Unseen QEVD-SIM `small` test splits; paper-exact evaluator, per exercise segment. "
        "Live modes stream every video frame by frame through `LivePipeline` (1 torch thread); "
        "real-time factor = compute seconds per second of video (worst workout).",
        "",
        "| seed | mode | T-F | precision | recall | METEOR | ROUGE-L | real-time factor |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for seed, r in report["seeds"].items():
        for mode in MODES:
            m, rtf = r[mode]["metrics"], r[mode].get("real_time_factor")
            lines.append(
                f"| {seed} | {mode} | "
                + " | ".join(f"{m[k]:.3f}" for k in KEYS)
                + f" | {'' if rtf is None else f'{rtf:.3f}'} |"
            )
    (args.results / "live_vs_offline.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
