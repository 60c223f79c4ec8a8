"""A trained coach (stage-1 CNN + Stream-VLM) on an unseen split, beside its floor and control.

Flow: a QEVD data root -> features with the coach's CNN (``livefit features extract``, skipped
where they exist) -> ``livefit predict`` (paper clock) -> the paper-exact evaluator, and the same
evaluator on
- ``periodic``: generic encouragement every 5 s (a floor every coach must beat);
- ``shuffled``: the coach itself, streaming another workout's features for each segment (if it
  still scores as well, it is not watching);
and, on QEVD-SIM data, the share of the ground truth's mistake corrections that the coach matches
in time with a correction of the same mistake. Everything is written under ``out`` (one folder
per row with its predictions and results file, ``results.json`` and ``table.md``); a rerun
resumes the predictions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from livefit.baselines.periodic import periodic_predictions
from livefit.data.qevd import Segment, load_segments
from livefit.eval.bertscore import BERTScoreConfig
from livefit.eval.evaluate import EvalConfig, Evaluation, evaluate_segments
from livefit.eval.predictions import Feedback, load_predictions
from livefit.io import atomic_write_json, atomic_write_text
from livefit.model.stream_vlm import StreamVLM
from livefit.stream.engine import EngineConfig, StreamEngine
from livefit.stream.predict import predict, run_segment
from livefit.synth.exercises import correction_banks, normalize_line
from livefit.vision.extract import load_producer, run_extraction

ROWS = ("coach", "periodic", "shuffled")
TABLE_METRICS = ("t_f_score", "precision", "recall", "meteor", "rouge_l", "bertscore_f1")


def correction_share(evaluation: Evaluation) -> dict[str, Any]:
    """Of the ground truth's mistake corrections (QEVD-SIM correction lines), how many the
    paper matching pairs in time with a predicted correction of the same mistake."""
    banks = correction_banks()
    total = hit = predicted = 0
    for result in evaluation.results:
        exercise = result.segment.exercise
        for fb in result.predictions:
            predicted += any(e == exercise for e, _ in banks.get(normalize_line(fb.text), ()))
        pairs = dict(result.matches["paper"].recall)  # gt index -> prediction index
        for g, text in enumerate(result.segment.responses):
            truth = {m for e, m in banks.get(normalize_line(text), ()) if e == exercise}
            if not truth:
                continue
            total += 1
            if g in pairs:
                said = result.predictions[pairs[g]].text
                hit += bool(
                    truth & {m for e, m in banks.get(normalize_line(said), ()) if e == exercise}
                )
    return {
        "gt_corrections": total,
        "matched_same_mistake": hit,
        "share": hit / total if total else None,
        "predicted_corrections": predicted,
    }


def _write_predictions(path: Path, predictions: dict[str, list[dict[str, Any]]]) -> None:
    lines = [json.dumps({"segment_id": k, "feedbacks": v}) for k, v in predictions.items()]
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def _as_feedbacks(predictions: dict[str, list[dict]]) -> dict[str, tuple[Feedback, ...]]:
    return {k: tuple(Feedback(f["time"], f["text"]) for f in v) for k, v in predictions.items()}


def shuffled_pairs(segments: Sequence[Segment]) -> list[int]:
    """For each segment, the index of a segment of another workout (half the list away, then
    the next one from another video), so the control streams real but unrelated features."""
    n = len(segments)
    out = []
    for i, seg in enumerate(segments):
        j = (i + n // 2) % n
        for _ in range(n):
            if segments[j].video != seg.video:
                break
            j = (j + 1) % n
        out.append(j)
    return out


def _fit_length(feats: np.ndarray, n: int) -> np.ndarray:
    """``feats`` cut or tiled to ``n`` steps."""
    if len(feats) >= n:
        return feats[:n]
    reps = -(-n // max(1, len(feats)))
    return np.concatenate([feats] * reps)[:n]


def predict_rows(
    data_root: Path,
    split: str,
    model_dir: Path,
    out: Path,
    engine: EngineConfig,
    progress: bool = True,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Predictions of the three rows (coach, periodic, shuffled) for every segment."""
    segments = load_segments(data_root, split)  # type: ignore[arg-type]
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    coach_file = out / "coach" / "predictions.jsonl"
    predict(data_root, model_dir, coach_file, split, config=engine, progress=progress)

    loaded = load_predictions(coach_file, [s.segment_id for s in segments])
    rows["coach"] = {k: [{"time": f.time, "text": f.text} for f in v] for k, v in loaded.items()}
    rows["periodic"] = periodic_predictions(segments)
    _write_predictions(out / "periodic" / "predictions.jsonl", rows["periodic"])
    shuffled_file = out / "shuffled" / "predictions.jsonl"
    if shuffled_file.is_file():
        loaded = load_predictions(shuffled_file, [s.segment_id for s in segments])
        rows["shuffled"] = {
            k: [{"time": f.time, "text": f.text} for f in v] for k, v in loaded.items()
        }
    else:
        model = StreamVLM.from_pretrained(model_dir)
        stream = StreamEngine(model, engine)
        rows["shuffled"] = {}
        pairs = shuffled_pairs(segments)
        for seg, j in tqdm(
            list(zip(segments, pairs, strict=True)), desc="shuffled", disable=not progress
        ):
            own_feats, own_times = seg.load_features()
            other, _ = segments[j].load_features()
            swapped = (_fit_length(other, len(own_feats)), own_times)
            rows["shuffled"][seg.segment_id] = run_segment(stream, seg, swapped)
        _write_predictions(shuffled_file, rows["shuffled"])
    return rows


def evaluate_coach(
    data_root: str | Path,
    model_dir: str | Path,
    out: str | Path,
    cnn_dir: str | Path | None = None,
    split: str = "test",
    engine: EngineConfig | None = None,
    bertscore: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Extract features (with ``cnn_dir``, where missing), predict, and score every row."""
    data_root, model_dir, out = Path(data_root), Path(model_dir), Path(out)
    engine = engine or EngineConfig()
    if cnn_dir is not None:  # a CNN folder, or a pose encoder's (its landmarks: the sidecar's)
        summary = run_extraction(data_root, split, load_producer(cnn_dir), progress=progress)
        if summary.failed:
            raise ValueError(f"feature extraction failed: {summary.failed[0]['error']}")
    rows = predict_rows(data_root, split, model_dir, out, engine, progress)
    segments = load_segments(data_root, split)  # type: ignore[arg-type]
    config = EvalConfig(
        split=split, bertscore=BERTScoreConfig(model="default" if bertscore else None)
    )
    results: dict[str, Any] = {}
    for name in ROWS:
        evaluation = evaluate_segments(segments, _as_feedbacks(rows[name]), config)
        results[name] = {"metrics": evaluation.metrics, "counts": evaluation.counts}
        if any(s.exercise for s in segments):
            results[name]["corrections"] = correction_share(evaluation)
        atomic_write_json(out / name / "results.json", results[name])
    report = {
        "data_root": str(data_root.resolve()),
        "split": split,
        "model": str(model_dir.resolve()),
        "cnn": str(Path(cnn_dir).resolve()) if cnn_dir else None,
        "engine": asdict(engine),
        "eval": {
            "matching": config.matching,
            "tolerance": config.tolerance,
            "bertscore": "default model" if bertscore else None,
        },
        "rows": results,
    }
    atomic_write_json(out / "results.json", report)
    atomic_write_text(out / "table.md", format_table(results))
    return report


def format_table(results: dict[str, Any]) -> str:
    """A Markdown table, one row per coach."""
    names = {
        "coach": "Stream-VLM (ours)",
        "periodic": "periodic floor (every 5 s)",
        "shuffled": "ours, another workout's features",
    }
    head = "| row | T-F | P | R | METEOR | ROUGE-L | BERTScore | corrections matched |"
    lines = [head, "|" + " --- |" * 8]
    for name, row in results.items():
        m = row["metrics"]
        cells = [f"{m[k]:.3f}" if m.get(k) is not None else "-" for k in TABLE_METRICS]
        corr = row.get("corrections", {})
        share = corr.get("share")
        cells.append(
            f"{share:.2f} ({corr['matched_same_mistake']}/{corr['gt_corrections']})"
            if share is not None
            else "-"
        )
        lines.append(f"| {names.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = [
    "correction_share",
    "evaluate_coach",
    "format_table",
    "predict_rows",
    "shuffled_pairs",
]
