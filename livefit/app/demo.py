"""``livefit demo``: the bundled coach on a synthetic workout it has never seen, in one command.

Flow: QEVD-SIM generates one fresh workout (a seed no training run used) -> the bundled CNN
extracts its features -> the bundled Stream-VLM streams each exercise on the paper clock ->
the paper-exact evaluator scores it. The console shows, per exercise, the ground truth's lines
beside what the coach said and when (pairs the evaluator matched share a row), then the metrics
beside the periodic floor (generic encouragement every 5 s). Everything it wrote stays in
``--out`` (data, features, predictions, results).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEMO_SEED = 20261201  # a seed no training data of the bundled coach was made with


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


def run_demo(
    out: str | Path,
    seed: int = DEMO_SEED,
    model: str | Path | None = None,
    cnn: str | Path | None = None,
    workouts: int = 1,
    progress: bool = True,
    synth: str = "small",
) -> dict[str, Any]:
    """Generate, extract, predict, evaluate and print; returns the metrics of both rows."""
    from rich.console import Console
    from rich.table import Table

    from livefit.baselines.periodic import periodic_predictions
    from livefit.bundled import bundled_cnn, bundled_model
    from livefit.data.qevd import load_segments
    from livefit.eval.evaluate import EvalConfig, evaluate_segments
    from livefit.eval.predictions import Feedback, load_predictions
    from livefit.stream.engine import EngineConfig
    from livefit.stream.predict import predict
    from livefit.synth.generate import generate
    from livefit.synth.presets import preset
    from livefit.vision.extract import run_extraction
    from livefit.vision.weights import load_model

    console = Console()
    out = Path(out)
    data = out / "data"
    model, cnn = Path(model or bundled_model()), Path(cnn or bundled_cnn())
    console.print(f"[bold]1/4[/bold] a new QEVD-SIM {synth} workout (seed {seed}) -> {data}")
    config = preset(synth, train_workouts=0, test_workouts=workouts, train_clips=0, test_clips=0)
    generate(config, data, seed, workers=1, progress=progress)
    console.print(f"[bold]2/4[/bold] features with the coach's causal CNN ({cnn})")
    summary = run_extraction(data, "test", load_model(cnn), progress=progress)
    if summary.failed:
        raise ValueError(f"feature extraction failed: {summary.failed[0]['error']}")
    console.print(f"[bold]3/4[/bold] the coach streams every exercise (paper clock, {model})")
    predictions_file = out / "predictions.jsonl"
    predict(data, model, predictions_file, "test", config=EngineConfig(), progress=progress)
    console.print("[bold]4/4[/bold] scoring (paper-exact evaluator)\n")
    segments = load_segments(data, "test")
    coach = load_predictions(predictions_file, [s.segment_id for s in segments])
    floor = {
        k: tuple(Feedback(f["time"], f["text"]) for f in v)
        for k, v in periodic_predictions(segments).items()
    }
    evaluated = evaluate_segments(segments, coach, EvalConfig())
    for result in evaluated.results:
        seg = result.segment
        table = Table(title=f"{seg.exercise} ({seg.end - seg.start:.0f} s, {seg.segment_id})",
                      title_justify="left", expand=True)  # fmt: skip
        table.add_column("s", justify="right", width=5)
        table.add_column("ground truth (QEVD-SIM coach)", ratio=1)
        table.add_column("livefit coach", ratio=1, style="cyan")
        for row in segment_rows(result):
            table.add_row(*row)
        console.print(table)
    rows = {"livefit coach": evaluated, "periodic floor (every 5 s)": evaluate_segments(
        segments, floor, EvalConfig())}  # fmt: skip
    metrics = Table(title="metrics on this workout (paper-exact)", title_justify="left")
    for column in ("", "T-F", "precision", "recall", "METEOR", "ROUGE-L", "feedbacks"):
        metrics.add_column(column, justify="left" if not column else "right")
    for name, ev in rows.items():
        m = ev.metrics
        metrics.add_row(name, *(f"{m[k]:.3f}" for k in ("t_f_score", "precision", "recall",
                        "meteor", "rouge_l")), str(ev.counts["predicted_feedbacks"]))  # fmt: skip
    console.print(metrics)
    console.print(f"ground truth: {evaluated.counts['gt_feedbacks']} lines; files in {out}")
    return {name: ev.metrics for name, ev in rows.items()}


__all__ = ["DEMO_SEED", "run_demo", "segment_rows"]
