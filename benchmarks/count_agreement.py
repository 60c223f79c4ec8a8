"""How often the counts the pose coach says agree with its rep counter and with the truth, on
unseen QEVD-SIM workouts: what ``LiveConfig.check_counts`` withholds.

Each workout of each data root's test split plays through a live pipeline with the bundled pose
coach (landmarks from MediaPipe Pose on the rendered pixels), the workout's plan (one session
per segment, as ``demo``) and ``check_counts`` and ``whole_lines`` off, so every line is said as
decoded. For every line that says a number (``livefit.synth.coach.count_in``): the counter's
count at that moment (the session's ``rep`` events so far) and the truth's (the sidecar's reps
of that exercise so far). Reports how many such lines agree with the counter within the
tolerance (the ones the check lets through), how many agree with the truth, and how many of the
withheld ones the truth says were wrong. Writes ``benchmarks/results/count_agreement.{md,json}``.

    .venv/bin/python benchmarks/count_agreement.py --data ROOT [ROOT ...]
"""

from __future__ import annotations

import argparse
import bisect
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livefit.data.qevd import load_segments
from livefit.provenance import git_state, machine_info
from livefit.stream.live import LiveCoach, LiveConfig, play_video, schedule_of
from livefit.synth.coach import count_in
from livefit.vision.extract import list_jobs
from livefit.vision.preprocess import load_timestamps

REPO = Path(__file__).resolve().parents[1]


def workout_lines(coach: LiveCoach, root: Path, job: Any, segments: list) -> list[dict]:
    times = load_timestamps(job.timestamps)
    mine = [s for s in segments if Path(s.video).resolve() == job.video.resolve()]
    schedule = schedule_of(mine, float(times[0]))
    config = LiveConfig(schedule=schedule, clock="paper", check_counts=False, whole_lines=False)
    pipe = coach.pipeline(config)
    events = []
    for _, _, new in play_video(pipe, job.video, times):
        events += new
    events += pipe.close()
    reps: dict[int, list[float]] = {}
    for e in events:
        if e.kind == "rep":
            reps.setdefault(e.session, []).append(e.time)
    with np.load(job.video.with_name(f"{job.video.stem}_groundtruth.npz")) as data:
        truth, activity = data["reps"], data["activity"]
    names = json.loads(job.video.with_name(f"{job.video.stem}_groundtruth.json").read_text())
    names = names["activities"]
    stream = times - times[0]
    rows = []
    for e in events:
        said = count_in(e.text) if e.kind == "feedback" else None
        if said is None:
            continue
        frame = min(int(np.searchsorted(stream, e.time)), len(truth) - 1)
        # the exercise's reps so far (a summary line comes after its last rep)
        done = truth[: frame + 1][activity[: frame + 1] == names.index(e.exercise)]
        rows.append(
            {
                "video": str(job.video.relative_to(root)),
                "time": round(e.time, 2),
                "exercise": e.exercise,
                "text": e.text,
                "said": said,
                "counter": bisect.bisect_right(reps.get(e.session, []), e.time),
                "counted": e.session in reps,
                "truth": int(done.max()) if done.size else 0,
            }
        )
    return rows


def summarise(rows: list[dict], tolerance: int) -> dict[str, Any]:
    n = len(rows)

    def share(pred: Any) -> float:
        return sum(1 for r in rows if pred(r)) / n if n else 0.0

    kept = [r for r in rows if abs(r["said"] - r["counter"]) <= tolerance]
    withheld = [r for r in rows if abs(r["said"] - r["counter"]) > tolerance]
    return {
        "lines_with_a_count": n,
        "agree_with_counter": share(lambda r: abs(r["said"] - r["counter"]) <= tolerance),
        "agree_with_truth": share(lambda r: abs(r["said"] - r["truth"]) <= tolerance),
        "counter_agrees_with_truth": share(lambda r: abs(r["counter"] - r["truth"]) <= tolerance),
        "said_lines_right_after_check": (
            sum(1 for r in kept if abs(r["said"] - r["truth"]) <= tolerance) / len(kept)
            if kept
            else None
        ),
        "withheld": len(withheld),
        "withheld_that_were_wrong": sum(
            1 for r in withheld if abs(r["said"] - r["truth"]) > tolerance
        ),
    }


def report(result: dict[str, Any]) -> str:
    s, g = result["summary"], result["git"]
    kept = s["said_lines_right_after_check"]
    right = "-" if kept is None else f"{kept:.3f}"
    lines = [
        "# Counts the pose coach says against its rep counter and the truth",
        "",
        f"Commit {g['commit']}{' (dirty)' if g.get('dirty') else ''}, "
        f"{result['machine'].get('cpu', '?')}, {result['seconds']:.0f} s; bundled pose coach, "
        "estimated landmarks, each workout's plan, paper clock. Data: "
        + ", ".join(result["roots"]),
        "",
        f"Tolerance +-{result['tolerance']} rep. Lines that say a count: "
        f"{s['lines_with_a_count']}.",
        "",
        "| | share |",
        "|---|---|",
        f"| said count agrees with the counter (said with `check_counts`) | "
        f"{s['agree_with_counter']:.3f} |",
        f"| said count agrees with the truth (before the check) | {s['agree_with_truth']:.3f} |",
        f"| counter agrees with the truth at those moments | "
        f"{s['counter_agrees_with_truth']:.3f} |",
        f"| lines said after the check whose count is right | {right} |",
        "",
        f"Withheld by the check: {s['withheld']}, of which wrong by the truth: "
        f"{s['withheld_that_were_wrong']}.",
        "",
        "| video | time | exercise | line | said | counter | truth |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['video']} | {r['time']:.1f} | {r['exercise']} | {r['text']} | {r['said']} | "
            f"{r['counter']} | {r['truth']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="QEVD-SIM roots")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    begin = time.time()
    coach = LiveCoach.load(vision="pose")
    rows = []
    for root in args.data:
        segments = load_segments(root, "test")
        for job in list_jobs(root, "test")[1]:
            rows += workout_lines(coach, root, job, segments)
            print(f"{job.video}: {len(rows)} lines with a count so far", flush=True)
    tolerance = LiveConfig().count_tolerance
    result = {
        "roots": [str(r) for r in args.data],
        "tolerance": tolerance,
        "summary": summarise(rows, tolerance),
        "rows": rows,
        "seconds": time.time() - begin,
        "git": git_state(),
        "machine": machine_info(),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "count_agreement.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.results / "count_agreement.md").write_text(report(result))
    print(report(result))


if __name__ == "__main__":
    main()
