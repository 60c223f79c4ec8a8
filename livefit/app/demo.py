"""``livefit demo``: the bundled coach coaches a synthetic workout it has never seen, live.

Flow: QEVD-SIM generates a short fresh workout (a seed no training run used) -> its video is
played frame by frame at its capture pace (``--fast``: as fast as the machine allows) through
the live pipeline (16 fps resampling -> streaming CNN -> wall-clock Stream-VLM sessions, one per
exercise of the workout's plan, as the benchmark's segments) -> each feedback is printed as it
happens, beside the ground truth's lines -> ``annotated.mp4`` (the video with the live caption,
the exercise and the ground truth), ``events.jsonl``, ``summary.json`` -> the paper-exact
metrics beside the periodic floor (generic encouragement every 5 s) -> ``report.html``
(self-contained: the video, a timeline of ground truth against the coach, the metrics).
"""

from __future__ import annotations

import bisect
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from livefit.app.report_html import write_report
from livefit.app.runner import LiveRun
from livefit.baselines.periodic import periodic_predictions
from livefit.data.qevd import load_segments
from livefit.eval.evaluate import EvalConfig, evaluate_segments
from livefit.eval.predictions import Feedback
from livefit.stream.live import LiveCoach, LiveConfig, feedbacks_in, play_video, schedule_of
from livefit.synth.generate import generate
from livefit.synth.presets import preset
from livefit.vision.jobs import list_jobs
from livefit.vision.preprocess import load_timestamps

DEMO_SEED = 20261201  # a seed no training data of the bundled coach was made with
TRUTH_HOLD_S = 4.0  # a ground-truth line stays on the annotated video this long


def segment_rows(result: Any) -> list[tuple[str, str, str]]:
    """(time, ground truth, coach) rows of one evaluated segment; matched pairs share a row."""
    seg, preds = result.segment, result.predictions
    pairs = dict(result.matches["paper"].recall)  # gt index -> prediction index
    matched = set(pairs.values())
    rows: list[tuple[float, str, str, str]] = []
    for g, (t, text) in enumerate(zip(seg.response_times, seg.responses, strict=True)):
        if g in pairs:
            p = preds[pairs[g]]
            rows.append((t, f"{t:5.1f}", text, f"{p.text}  [dim](at {p.time:.1f} s)[/dim]"))
        else:
            rows.append((t, f"{t:5.1f}", text, ""))
    for j, p in enumerate(preds):
        if j not in matched:
            rows.append((p.time, f"{p.time:5.1f}", "", p.text))
    return [(a, b, c) for _, a, b, c in sorted(rows, key=lambda r: r[0])]


class Truth:
    """The ground truth of one workout on its stream clock: which exercise is on, which line
    the synthetic coach is saying (shown for ``TRUTH_HOLD_S``)."""

    def __init__(self, segments: list[Any], first_capture: float) -> None:
        lines = [
            (s.start - first_capture + t, text)
            for s in segments
            for t, text in zip(s.response_times, s.responses, strict=True)
        ]
        self.lines = sorted(lines)
        self.times = [t for t, _ in self.lines]
        self.spans = [
            (s.start - first_capture, s.end - first_capture, s.exercise) for s in segments
        ]

    def __call__(self, t: float) -> tuple[str, str]:
        k = bisect.bisect_right(self.times, t) - 1
        line = self.lines[k][1] if k >= 0 and t - self.times[k] <= TRUTH_HOLD_S else ""
        exercise = next((x for a, b, x in reversed(self.spans) if a < t <= b), "")
        return line, exercise

    def said_between(self, a: float, b: float) -> list[tuple[float, str]]:
        """Lines said in (a, b]."""
        i, j = bisect.bisect_right(self.times, a), bisect.bisect_right(self.times, b)
        return self.lines[i:j]


def _printer(console: Any, truth: Truth) -> tuple[Any, Any]:
    """Console output as it happens: the coach's lines and session changes, and the ground
    truth's lines (dimmed) as the video reaches them."""
    state = {"t": -1.0}

    def clock(t: float) -> str:
        return f"{int(t // 60)}:{t % 60:04.1f}"

    def on_event(e: Any) -> None:
        if e.kind == "feedback":
            console.print(f"  {clock(e.time)}  [bold cyan]coach[/bold cyan]  {e.text}")
        elif e.kind == "session" and e.text:
            console.print(f"[bold]{clock(e.time)}  -- {e.text} --[/bold]")

    def on_frame(t: float) -> None:
        for when, text in truth.said_between(state["t"], t):
            console.print(f"  {clock(when)}  [green]truth[/green]  [dim]{text}[/dim]")
        state["t"] = t

    return on_event, on_frame


def run_demo(
    out: str | Path,
    seed: int = DEMO_SEED,
    model: str | Path | None = None,
    cnn: str | Path | None = None,
    workouts: int = 1,
    progress: bool = True,
    synth: str = "small",
    realtime: bool = True,
    recognise: bool = False,
    vision: str = "cnn",
) -> dict[str, Any]:
    """Generate, coach live, record, score and report; returns the metrics of both rows."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    out = Path(out)
    data = out / "data"
    short = {"exercises_per_section": 1} if synth == "small" else {}
    config = preset(
        synth, train_workouts=0, test_workouts=workouts, train_clips=0, test_clips=0, **short
    )
    console.print(f"[bold]1/4[/bold] a new QEVD-SIM {synth} workout (seed {seed}) -> {data}")
    generate(config, data, seed, workers=1, progress=progress)
    console.print("[bold]2/4[/bold] loading the coach")
    coach = LiveCoach.load(model, cnn, vision=vision)
    segments = load_segments(data, "test")
    _, jobs = list_jobs(data, "test")
    pace = "at the video's pace" if realtime else "as fast as this machine goes"
    how = "the CNN recognises the exercise" if recognise else "the workout's plan names it"
    console.print(f"[bold]3/4[/bold] live coaching, {pace} ({how})")
    predictions: dict[str, tuple[Feedback, ...]] = {}
    runs = []
    for k, job in enumerate(jobs):
        times = load_timestamps(job.timestamps)
        mine = [s for s in segments if Path(s.video).resolve() == job.video.resolve()]
        schedule = schedule_of(mine, float(times[0]))
        live = LiveConfig() if recognise else LiveConfig(schedule=schedule)
        pipe = coach.pipeline(live)
        truth = Truth(mine, float(times[0]))
        on_event, on_frame = _printer(console, truth)
        run_dir = out if len(jobs) == 1 else out / f"workout_{k + 1}"
        run = LiveRun(pipe, run_dir, fps=_fps(times), truth=truth, on_event=on_event)
        tic = time.perf_counter()
        for frame, t, events in play_video(pipe, job.video, times, realtime=realtime):
            on_frame(t)
            run.frame(frame, t, events)
        summary = run.finish(
            {
                "live": asdict(live),
                "seed": seed,
                "synth": synth,
                "wall_seconds": round(time.perf_counter() - tic, 2),
            }
        )
        for seg, said in zip(mine, feedbacks_in(pipe.feedbacks, schedule, recognise), strict=True):
            predictions[seg.segment_id] = tuple(Feedback(t, text) for t, text in said)
        runs.append((run_dir, mine, truth, summary))
    console.print("[bold]4/4[/bold] scoring (paper-exact evaluator)\n")
    evaluated = evaluate_segments(segments, predictions, EvalConfig())
    floor = {
        key: tuple(Feedback(f["time"], f["text"]) for f in value)
        for key, value in periodic_predictions(segments).items()
    }
    rows = {
        "livefit coach": evaluated,
        "periodic floor (every 5 s)": evaluate_segments(segments, floor, EvalConfig()),
    }
    for result in evaluated.results:
        seg = result.segment
        table = Table(
            title=f"{seg.exercise} ({seg.end - seg.start:.0f} s, {seg.segment_id})",
            title_justify="left",
            expand=True,
        )
        table.add_column("s", justify="right", width=5)
        table.add_column("ground truth (QEVD-SIM coach)", ratio=1)
        table.add_column("livefit coach", ratio=1, style="cyan")
        for row in segment_rows(result):
            table.add_row(*row)
        console.print(table)
    metrics = Table(title="metrics on this workout (paper-exact)", title_justify="left")
    for column in ("", "T-F", "precision", "recall", "METEOR", "ROUGE-L", "feedbacks"):
        metrics.add_column(column, justify="left" if not column else "right")
    for name, ev in rows.items():
        m = ev.metrics
        metrics.add_row(
            name,
            *(f"{m[k]:.3f}" for k in ("t_f_score", "precision", "recall", "meteor", "rouge_l")),
            str(ev.counts["predicted_feedbacks"]),
        )
    console.print(metrics)
    results = {name: ev.metrics for name, ev in rows.items()}
    for run_dir, mine, truth, summary in runs:
        ids = {s.segment_id for s in mine}
        per_run = {
            name: evaluate_segments(
                mine, {k: v for k, v in preds.items() if k in ids}, EvalConfig()
            ).metrics
            for name, preds in (("livefit coach", predictions), ("periodic floor", floor))
        }
        report = write_report(run_dir, truth, summary, per_run, results_title=f"seed {seed}")
        s = summary["stats"]
        console.print(
            f"real-time factor {s['real_time_factor']:.3f} (compute s per video s), "
            f"{s['frames_dropped']} frames dropped; files: {run_dir / 'annotated.mp4'}, "
            f"{report}"
        )
    console.print(f"ground truth: {evaluated.counts['gt_feedbacks']} lines")
    return results


def _fps(times: Any) -> float:
    """The capture rate of a workout (median frame interval), for the annotated mp4."""
    gaps = np.diff(np.asarray(times, dtype=np.float64))
    return float(round(1.0 / np.median(gaps))) if len(gaps) else 30.0


__all__ = ["DEMO_SEED", "Truth", "run_demo", "segment_rows"]
