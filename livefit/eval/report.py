"""Results files and the paper-shaped table of one evaluation.

Last step of evaluation: an ``Evaluation`` -> ``DIR/results_<UTC time>.json`` (metrics, counts,
higher-is-better, and the provenance that says how the numbers were made: data and predictions
hashes, settings, library versions, git state, tokenizer, WordNet, BERTScore model and layer,
judge) and ``DIR/samples_<UTC time>.jsonl`` (every segment's feedbacks, both directions of its
matching and the per-pair scores), both written atomically; then a rich table with the columns
of the paper's Table 4 (METEOR, ROUGE-L, BERT, LLM-Acc, T-F).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livefit.config import config_to_dict
from livefit.data.qevd import ANNOTATION_FILE, data_fingerprint, split_dir
from livefit.eval.evaluate import BENCHMARK_WORKOUTS, HIGHER_IS_BETTER, Evaluation
from livefit.eval.judge import SYSTEM_PROMPT, USER_PROMPT
from livefit.io import atomic_write, atomic_write_json
from livefit.provenance import file_sha256, git_state, library_versions


def utc_stamp(now: datetime | None = None) -> str:
    """File-name-safe UTC time, e.g. 2026-11-26T04-50-12.123456Z."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H-%M-%S.%fZ")


def provenance(
    evaluation: Evaluation,
    data_root: str | Path,
    predictions_path: str | Path,
    command: list[str] | None = None,
) -> dict[str, Any]:
    cfg = evaluation.config
    annotation = split_dir(data_root, cfg.split) / ANNOTATION_FILE  # type: ignore[arg-type]
    return {
        "data": {
            "root": str(Path(data_root).resolve()),
            "split": cfg.split,
            "mode": cfg.mode,
            "annotation_file": str(annotation.resolve()),
            "annotation_sha256": data_fingerprint(data_root, cfg.split),  # type: ignore[arg-type]
        },
        "predictions": {
            "path": str(Path(predictions_path).resolve()),
            "sha256": file_sha256(predictions_path),
        },
        "settings": config_to_dict(cfg),
        "protocol": (
            "QEVD-FIT-COACH paper protocol (livefit docs/eval.md): matching tries only the "
            f"nearest candidate, |dt| < {cfg.tolerance / 2} s strictly, in order, untaken, "
            "non-empty; P/R/F micro-averaged with +1e-12 denominators; text metrics on the "
            "recall-direction pairs, averaged as sum / (n + 1e-12)"
            + (
                "; *_optimal: order-preserving maximum matching in the same window, fewest "
                "total |dt| among maximum ones (extra, not the paper's)"
                if cfg.matching == "optimal"
                else ""
            )
        ),
        "tokenizer": evaluation.info["tokenizer"],
        "wordnet": evaluation.info["wordnet"],
        "meteor": {
            "function": "nltk.translate.meteor_score.single_meteor_score",
            "alpha": 0.9,
            "beta": 3.0,
            "gamma": 0.5,
        },
        "rouge_l": {
            "function": "rouge_score.rouge_scorer.RougeScorer(['rougeL'], "
            "use_stemmer=False).score(gt, pred)['rougeL'].fmeasure"
        },
        "bertscore": evaluation.info.get("bertscore"),
        "judge": _judge_provenance(evaluation),
        "libraries": library_versions(),
        "git": git_state(),
        "command": shlex.join(command) if command is not None else None,
        "argv": sys.argv,
        "host": {"platform": platform.platform(), "machine": platform.machine()},
    }


def _judge_provenance(evaluation: Evaluation) -> dict[str, Any] | None:
    if "judge" not in evaluation.info:
        return None

    cfg = evaluation.config.judge
    return {
        **evaluation.info["judge"],
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "top_k": cfg.top_k,
        "max_new_tokens": cfg.max_new_tokens,
        "seed": cfg.seed,
        "prompts_sha256": hashlib.sha256((SYSTEM_PROMPT + USER_PROMPT).encode()).hexdigest(),
        "parsing": "exactly one non-greedy {...} -> ast.literal_eval -> float(d['score'])",
    }


def sample_records(evaluation: Evaluation) -> list[dict[str, Any]]:
    """One JSON record per segment: feedbacks, matches (both directions), per-pair scores."""
    records = []
    for s, res in enumerate(evaluation.results):
        seg = res.segment
        record: dict[str, Any] = {
            "segment_id": seg.segment_id,
            "exercise": seg.exercise,
            "missing_prediction": res.missing,
            "empty_predictions_dropped": res.dropped_empty,
            "gt": [
                {"time": t, "text": x}
                for t, x in zip(seg.response_times, seg.responses, strict=True)
            ],
            "predictions": [{"time": fb.time, "text": fb.text} for fb in res.predictions],
        }
        for name, m in res.matches.items():
            suffix = "" if name == "paper" else f"_{name}"
            # recall pairs are [gt index, pred index]; precision pairs [pred index, gt index]
            record[f"recall_matches{suffix}"] = [list(pair) for pair in m.recall]
            record[f"precision_matches{suffix}"] = [list(pair) for pair in m.precision]
            record[f"pairs{suffix}"] = [
                {
                    "gt_index": g,
                    "pred_index": p,
                    "gt_time": seg.response_times[g],
                    "pred_time": res.predictions[p].time,
                    "gt": seg.responses[g],
                    "pred": res.predictions[p].text,
                    **evaluation.pair_scores[(s, g, p)],
                }
                for g, p in m.recall
            ]
        records.append(record)
    return records


def write_results(
    evaluation: Evaluation,
    out_dir: str | Path,
    data_root: str | Path,
    predictions_path: str | Path,
    command: list[str] | None = None,
    started: datetime | None = None,
) -> tuple[Path, Path]:
    """Write ``results_<stamp>.json`` and ``samples_<stamp>.jsonl``; return their paths."""
    out_dir = Path(out_dir)
    started = started or datetime.now(UTC)
    stamp = utc_stamp(started)
    results_path = out_dir / f"results_{stamp}.json"
    samples_path = out_dir / f"samples_{stamp}.jsonl"
    records = sample_records(evaluation)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    atomic_write(samples_path, lambda f: f.write(lines.encode("utf-8")))
    missing = [r.segment.segment_id for r in evaluation.results if r.missing]
    results = {
        "metrics": evaluation.metrics,
        "higher_is_better": {
            name: HIGHER_IS_BETTER[name.removesuffix("_optimal")] for name in evaluation.metrics
        },
        "matching": evaluation.config.matching,
        "counts": evaluation.counts,
        "missing_segments": missing,
        "samples_file": samples_path.name,
        "provenance": provenance(evaluation, data_root, predictions_path, command),
        "started_utc": started.isoformat(),
        "finished_utc": datetime.now(UTC).isoformat(),
    }
    atomic_write_json(results_path, results, indent=1)
    return results_path, samples_path


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_table(evaluation: Evaluation, method: str, title: str) -> Any:
    """A rich Table shaped like the paper's Table 4, plus temporal precision and recall.

    One row per matching mode; a figure that was not computed shows as "-".
    """
    from rich.table import Table

    table = Table(title=title)
    for column in ("method", "METEOR", "ROUGE-L", "BERT", "LLM-Acc", "T-F", "P", "R"):
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    m = evaluation.metrics
    for name in ("paper", "optimal"):
        suffix = "" if name == "paper" else "_optimal"
        if f"t_f_score{suffix}" not in m:
            continue
        table.add_row(
            method if name == "paper" else f"{method} (optimal)",
            _fmt(m.get(f"meteor{suffix}"), 3),
            _fmt(m.get(f"rouge_l{suffix}"), 3),
            _fmt(m.get(f"bertscore_f1{suffix}"), 3),
            _fmt(m.get(f"llm_acc{suffix}"), 2),
            _fmt(m.get(f"t_f_score{suffix}"), 2),
            _fmt(m.get(f"precision{suffix}"), 2),
            _fmt(m.get(f"recall{suffix}"), 2),
        )
    return table


def summary_lines(evaluation: Evaluation) -> list[str]:
    c = evaluation.counts
    lines = [
        f"segments {c['segments']} ({c['segments_missing']} missing from predictions, scored "
        f"silent); GT feedbacks {c['gt_feedbacks']}; predicted {c['predicted_feedbacks']} "
        f"({c['empty_predictions_dropped']} empty dropped); matched GT {c['matched_gt']}, "
        f"matched predictions {c['matched_predictions']}"
    ]
    if evaluation.config.split == "test" and c["workouts"] != BENCHMARK_WORKOUTS:
        lines.append(
            f"note: {c['workouts']} workouts with feedback here; the released QEVD-FIT-COACH "
            f"benchmark has {BENCHMARK_WORKOUTS}, so these figures are not comparable with "
            "the paper's"
        )
    if "matched_gt_optimal" in c:
        lines.append(
            f"optimal matching (extra, not the paper's): matched GT {c['matched_gt_optimal']}, "
            f"matched predictions {c['matched_predictions_optimal']}"
        )
    missing = [r.segment.segment_id for r in evaluation.results if r.missing]
    if missing:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        lines.append(f"missing (scored silent): {', '.join(missing[:10])}{more}")
    if "bertscore" in evaluation.info:
        b = evaluation.info["bertscore"]
        lines.append(f"BERT: {b['model']}, layer {b['layer']}, no idf, no rescaling")
    if "judge_unparsed" in c:
        lines.append(
            f"LLM-Acc: {evaluation.info['judge']['backend']}; {c['judge_unparsed']} unparsed "
            f"replies of {c['judge_unparsed'] + c['judge_parsed']} (left out of the mean)"
        )
    lines.append(f"METEOR tokenizer: {evaluation.info['tokenizer']}")
    return lines
