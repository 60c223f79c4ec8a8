"""The QEVD-FIT-COACH evaluation: ground-truth segments + a predictions file -> per-sample
records -> benchmark metrics (shared/spec/evaluation-protocol.md, sections 1-4).

Flow: ``load_segments`` (livefit.data.qevd) and ``load_predictions`` -> empty texts dropped ->
``match_segment`` per segment (paper rule; also the optimal matching when asked) -> per-pair
metrics on the recall-direction pairs (METEOR, ROUGE-L, optional BERTScore and LLM-Acc) ->
``aggregate``: micro-averaged temporal F-score and the mean of each text metric over all pairs.
``livefit.eval.report`` writes the files and the table. Nothing here imports training code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livefit.data.qevd import Segment, load_segments
from livefit.eval.bertscore import BERTScoreConfig, bertscore_f1
from livefit.eval.bertscore import resolve as resolve_bertscore
from livefit.eval.judge import JudgeConfig, JudgeItem, make_backend, run_judge
from livefit.eval.matching import (
    EPS,
    PAPER_TOLERANCE_S,
    SegmentMatches,
    match_segment,
    temporal_scores,
)
from livefit.eval.predictions import Feedback, load_predictions
from livefit.eval.text_metrics import get_tokenizer, meteor, rouge_l
from livefit.eval.wordnet import load_wordnet, wordnet_info

BENCHMARK_WORKOUTS = 74  # the QEVD-FIT-COACH test split of the release (sanity check only)

# Every metric of the results file is better when higher.
HIGHER_IS_BETTER = {
    "t_f_score": True,
    "precision": True,
    "recall": True,
    "meteor": True,
    "rouge_l": True,
    "bertscore_f1": True,
    "llm_acc": True,
}


@dataclass(frozen=True)
class EvalConfig:
    """Everything that decides the numbers of one evaluation (written into the results file)."""

    split: str = "test"  # "test" is the QEVD-FIT-COACH benchmark
    mode: str = "single_exercise"  # the benchmark's segmentation; or "full_workout"
    matching: str = "paper"  # "paper" (default, the reference rule) or "optimal" (extra)
    tolerance: float = PAPER_TOLERANCE_S  # window; a match needs |dt| < tolerance / 2 (1.5 s)
    bertscore: BERTScoreConfig = field(default_factory=BERTScoreConfig)  # off unless a model
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # off unless a URL or model path

    def __post_init__(self) -> None:
        if self.matching not in ("paper", "optimal"):
            raise ValueError(f"matching must be 'paper' or 'optimal', got {self.matching!r}")
        if not self.tolerance > 0:
            raise ValueError(f"tolerance must be positive, got {self.tolerance}")


@dataclass(frozen=True)
class SegmentResult:
    """One segment's inputs and both directions of its matching (per matching mode)."""

    segment: Segment
    predictions: tuple[Feedback, ...]  # non-empty texts only, in order
    missing: bool  # absent from the predictions file (scored as silent)
    dropped_empty: int  # predictions with "" text removed before matching
    matches: dict[str, SegmentMatches]  # "paper" and, if asked, "optimal"


# ---- per-sample metric functions ---------------------------------------------------------------


def text_pair_scores(gt: str, pred: str, wordnet, tokenize) -> dict[str, float]:
    """METEOR and ROUGE-L of one matched (ground truth, prediction) pair."""
    return {"meteor": meteor(gt, pred, wordnet, tokenize), "rouge_l": rouge_l(gt, pred)}


def match_segments(
    segments: Sequence[Segment],
    predictions: dict[str, tuple[Feedback, ...]],
    matchings: Sequence[str],
    tolerance: float,
) -> list[SegmentResult]:
    results = []
    for seg in segments:
        given = predictions.get(seg.segment_id)
        kept = tuple(fb for fb in given or () if fb.text != "")
        gt_times, gt_texts = list(seg.response_times), list(seg.responses)
        pred_times, pred_texts = [fb.time for fb in kept], [fb.text for fb in kept]
        matches = {
            name: match_segment(gt_times, gt_texts, pred_times, pred_texts, name, tolerance)
            for name in matchings
        }
        results.append(
            SegmentResult(seg, kept, given is None, len(given or ()) - len(kept), matches)
        )
    return results


# ---- aggregation ---------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    """The reference evaluator's running mean, ``sum / (n + 1e-12)`` (0.0 with no values); the
    sum is exact (``math.fsum``), as the reference sums in a shuffled order anyway."""
    return math.fsum(values) / (len(values) + EPS)


def aggregate(
    results: Sequence[SegmentResult],
    pair_scores: dict[tuple[int, int, int], dict[str, Any]],
    matchings: Sequence[str],
    text_metrics: Sequence[str] = ("meteor", "rouge_l"),
    judged: bool = False,
) -> tuple[dict[str, float | None], dict[str, int]]:
    """Benchmark metrics and counts; metric names of the optimal mode end in ``_optimal``.

    ``text_metrics`` are the per-pair keys to average; with no matched pair their value is 0.0,
    as in the reference evaluator.
    """
    metrics: dict[str, float | None] = {}
    counts: dict[str, int] = {
        "workouts": len({r.segment.video for r in results}),
        "segments": len(results),
        "segments_missing": sum(r.missing for r in results),
        "gt_feedbacks": sum(len(r.segment.responses) for r in results),
        "predicted_feedbacks": sum(len(r.predictions) for r in results),
        "empty_predictions_dropped": sum(r.dropped_empty for r in results),
    }
    for name in matchings:
        suffix = "" if name == "paper" else f"_{name}"
        temporal = temporal_scores([r.matches[name] for r in results])
        metrics[f"t_f_score{suffix}"] = temporal.f_score
        metrics[f"precision{suffix}"] = temporal.precision
        metrics[f"recall{suffix}"] = temporal.recall
        counts[f"matched_gt{suffix}"] = temporal.matched_gt
        counts[f"matched_predictions{suffix}"] = temporal.matched_pred
        pairs = [
            pair_scores[(s, g, p)] for s, r in enumerate(results) for g, p in r.matches[name].recall
        ]
        counts[f"pairs{suffix}"] = len(pairs)
        for metric in text_metrics:
            metrics[f"{metric}{suffix}"] = _mean([pair[metric] for pair in pairs])
        if judged:
            parsed = [pair["llm_score"] for pair in pairs if pair["llm_score"] is not None]
            metrics[f"llm_acc{suffix}"] = _mean(parsed)
            counts[f"judge_parsed{suffix}"] = len(parsed)
            counts[f"judge_unparsed{suffix}"] = len(pairs) - len(parsed)
    return metrics, counts


# ---- the whole run -------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What ``evaluate`` returns: metrics, counts, per-segment results and how they were made."""

    config: EvalConfig
    metrics: dict[str, float | None]
    counts: dict[str, int]
    results: list[SegmentResult]
    pair_scores: dict[tuple[int, int, int], dict[str, Any]]
    info: dict[str, Any]  # tokenizer, WordNet, BERTScore model, judge backend


def evaluate(
    data_root: str | Path,
    predictions_path: str | Path,
    config: EvalConfig | None = None,
    judge_cache: Path | None = None,
    show_progress: bool = False,
) -> Evaluation:
    """Score a predictions file against one split; raises QEVDFormatError / PredictionsError."""
    config = config or EvalConfig()
    if config.bertscore.model:  # fail on a bad model path before any scoring
        resolve_bertscore(config.bertscore)
    segments = load_segments(data_root, config.split, config.mode)  # type: ignore[arg-type]
    predictions = load_predictions(predictions_path, [s.segment_id for s in segments])
    return evaluate_segments(segments, predictions, config, judge_cache, show_progress)


def evaluate_segments(
    segments: Sequence[Segment],
    predictions: dict[str, tuple[Feedback, ...]],
    config: EvalConfig | None = None,
    judge_cache: Path | None = None,
    show_progress: bool = False,
) -> Evaluation:
    """Score in-memory predictions (``segment_id -> feedbacks``) against given segments (e.g. a
    validation subset during training); ``evaluate`` is this on a split and a file."""
    config = config or EvalConfig()
    matchings = ["paper"] if config.matching == "paper" else ["paper", config.matching]
    results = match_segments(segments, predictions, matchings, config.tolerance)

    # Every (segment, gt index, prediction index) pair that some matching scores, once.
    keys = sorted(
        {(s, g, p) for s, r in enumerate(results) for m in r.matches.values() for g, p in m.recall}
    )
    gts = [results[s].segment.responses[g] for s, g, _ in keys]
    preds = [results[s].predictions[p].text for s, _, p in keys]

    wordnet, tokenizer = load_wordnet(), get_tokenizer()
    info: dict[str, Any] = {
        "tokenizer": tokenizer.name,
        "wordnet": vars(wordnet_info()),
    }
    pairs = _progress(zip(gts, preds, strict=True), len(keys), "METEOR/ROUGE-L", show_progress)
    scores: list[dict[str, Any]] = [
        text_pair_scores(gt, pred, wordnet, tokenizer.tokenize) for gt, pred in pairs
    ]
    if config.bertscore.model:
        f1, info["bertscore"] = bertscore_f1(gts, preds, config.bertscore)
        for row, value in zip(scores, f1, strict=True):
            row["bertscore_f1"] = value
    if config.judge.enabled:
        backend = make_backend(config.judge)
        items = [
            JudgeItem(f"{results[s].segment.segment_id}/{g}/{p}", gt, pred)
            for (s, g, p), gt, pred in zip(keys, gts, preds, strict=True)
        ]
        bar = _bar(len(items), "LLM-Acc judge", show_progress)
        judged = run_judge(items, backend, config.judge, judge_cache, bar.update if bar else None)
        if bar:
            bar.close()
        for row, res in zip(scores, judged, strict=True):
            row["llm_score"], row["llm_reply"] = res.score, res.reply
        cache = str(judge_cache) if judge_cache else None
        info["judge"] = {"backend": backend.name, "cache": cache}
    pair_scores = dict(zip(keys, scores, strict=True))
    text_metrics = ["meteor", "rouge_l"] + (["bertscore_f1"] if config.bertscore.model else [])
    metrics, counts = aggregate(
        results, pair_scores, matchings, text_metrics, judged=config.judge.enabled
    )
    return Evaluation(config, metrics, counts, results, pair_scores, info)


def _bar(total: int, desc: str, show: bool):
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="pair", leave=False, disable=None)  # None: tty only


def _progress(iterable, total: int, desc: str, show: bool):
    if not show:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="pair", leave=False, disable=None)
