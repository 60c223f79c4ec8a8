"""``livefit benchmark --preset NAME --out DIR``: the paper's Table 4 in miniature, in one command.

    train      the training preset (``livefit train --preset``) into DIR/train, or a finished
               run given as ``--train-run RUN`` (only read)
    variants   the ablations and our Socratic LM (``livefit.train.variants``) into DIR/variants
    benchmark  every coach on each unseen test split (``livefit.eval.benchmark``): the run's own
               test split (DIR/test_seed<S>/) and its fresh evaluation splits
               (DIR/eval_seed<S>/), each with table.{md,csv,json} and timeline.{png,html}
    summary    DIR/table.md: the tables side by side and the paper's findings checked against
               the numbers (DIR/summary.json holds them as data)

A benchmark preset (``configs/benchmarks/<name>.json``, a ``BenchmarkPreset``) names the training
preset, the variants and the baselines. Every step resumes: training steps and variants skip what
is done and continue an interrupted stage from its checkpoint, predictions resume per segment and
evaluation results are cached.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from livefit.config import config_to_dict, load_config, save_config
from livefit.data.qevd import load_segments
from livefit.eval.benchmark import COLUMNS, BenchmarkSettings, ModelSpec, run_benchmark
from livefit.io import atomic_write_json, atomic_write_text
from livefit.provenance import changed_settings
from livefit.train.coach_stage import MODEL_DIR
from livefit.train.pipeline import CONFIGS_DIR, PresetConfig, load_preset, run_preset
from livefit.train.variants import VARIANTS, Variants, VariantSettings

ROW_LABELS = {
    "stream-vlm": "Stream-VLM (ours)",
    "no-3d-cnn": "Stream-VLM w/o 3D CNN (ours)",
    "no-stage2": "Stream-VLM w/o pre-training (ours)",
    "no-action-tokens": "Stream-VLM w/o action tokens (ours, 5 s turns)",
    "socratic-lm": "Socratic LM (ours, trained, 5 s turns)",
}
FLOORS = ("silent", "periodic")


class BenchmarkPresetError(ValueError):
    """An unknown benchmark preset, or a --train-run that is not a finished run; names it."""


@dataclass(frozen=True)
class BenchmarkPreset:
    """What ``livefit benchmark --preset`` trains and compares."""

    name: str = "embedded"
    """Preset name (the file ``configs/benchmarks/<name>.json``)."""
    train: str = "embedded"
    """The training preset of the full coach (``configs/presets/<train>.json``)."""
    variants: tuple[str, ...] = VARIANTS
    """Ablations (and our Socratic LM) trained from the run (``livefit.train.variants``)."""
    settings: VariantSettings = field(default_factory=VariantSettings)
    """How the variants differ from the full coach."""
    baselines: tuple[str, ...] = ("silent", "periodic", "oracle-coach")
    """Built-in coaches in the table (oracle-coach: synthetic data only)."""
    bertscore: bool = True
    """BERTScore with the local default model."""
    figure_segments: int = 2
    """Segments in each split's timeline figure (the first ones of the split)."""


def load_benchmark_preset(name_or_path: str) -> BenchmarkPreset:
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIGS_DIR / "benchmarks" / f"{name_or_path}.json"
    if not path.is_file():
        known = sorted(p.stem for p in (CONFIGS_DIR / "benchmarks").glob("*.json"))
        raise BenchmarkPresetError(
            f"{path}: no such benchmark preset (known: {', '.join(known) or 'none'})"
        )
    return load_config(BenchmarkPreset, path)


def _finished_run(run: Path) -> None:
    steps = run / "steps.json"
    done = json.loads(steps.read_text()) if steps.is_file() else {}
    missing = [s for s in ("features", "clips", "long_range", "evaluate") if s not in done]
    if missing:
        raise BenchmarkPresetError(
            f"{run}: not a finished training run (steps.json lacks {', '.join(missing)}); run "
            f"`livefit train --preset NAME --out {run}` first, or leave --train-run out"
        )


def splits_of(run: Path) -> dict[str, Path]:
    """The unseen test splits of a training run: its own test split and its fresh ones."""
    preset = load_config(PresetConfig, run / "preset.json")
    roots = {f"test_seed{preset.seed}": run / "data"}
    for seed in preset.eval_seeds:
        root = run / f"eval_seed{seed}" / "data"
        if root.is_dir():
            roots[f"eval_seed{seed}"] = root
    return roots


def run_benchmark_preset(
    name_or_path: str,
    out: str | Path,
    train_run: str | Path | None = None,
    progress: bool = True,
    judge: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Train what is missing, benchmark everything, write the tables; returns the summary.
    ``judge``: ``BenchmarkSettings``' judge fields, to measure LLM-Acc."""
    preset = load_benchmark_preset(name_or_path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(preset, out / "preset.json")
    if train_run is None:
        run = out / "train"
        print(f"[train] preset {preset.train} -> {run}", flush=True)
        run_preset(preset.train, run, progress=progress)
    else:
        run = Path(train_run)
        _finished_run(run)
    variants = Variants(run, out / "variants", preset.settings, progress)
    variants.train(preset.variants)
    specs = variants.model_specs(preset.variants)
    settings = BenchmarkSettings(bertscore=preset.bertscore, **(judge or {}))
    tables: dict[str, Any] = {}
    for split, root in splits_of(run).items():
        print(f"[benchmark] {split}: {root}", flush=True)
        models: list[str | ModelSpec] = list(preset.baselines)
        models.append(
            ModelSpec(
                "stream-vlm",
                "stream-vlm",
                str(run / "long_range" / MODEL_DIR),
                ROW_LABELS["stream-vlm"],
            )
        )
        for name in preset.variants:
            target, data = specs[name]
            features = variants.features_for(name, root) if data != variants.data else root
            models.append(
                ModelSpec(
                    target,
                    name,
                    target,
                    ROW_LABELS[name],
                    None if features == root else str(features),
                )
            )

        segments = load_segments(root, settings.split, settings.mode)  # type: ignore[arg-type]
        figure = [s.segment_id for s in segments[: preset.figure_segments]]
        rows = run_benchmark(root, models, out / split, settings, figure, progress)
        tables[split] = {"data": str(root), "segments": len(segments), "rows": rows}
    summary = {
        "preset": asdict(preset),
        "train_run": str(run.resolve()),
        "train_run_preset": run_preset_differences(run, preset.train),
        "splits": tables,
        "findings": {s: findings(t["rows"]) for s, t in tables.items()},
    }
    atomic_write_json(out / "summary.json", summary)
    write_summary(out, summary)
    return summary


def run_preset_differences(run: Path, name: str) -> dict[str, Any]:
    """The training run's own preset (``RUN/preset.json``) and how it differs from the current
    ``configs/presets/<name>.json`` (a run made before the preset changed, or another preset)."""
    saved = config_to_dict(load_config(PresetConfig, run / "preset.json"))
    try:
        now = config_to_dict(load_preset(name))
    except FileNotFoundError:
        return {"preset": saved, "differs_from": None, "differences": {}}
    names = changed_settings(now, saved)
    return {
        "preset": saved,
        "differs_from": f"configs/presets/{name}.json",
        "differences": {n: {"run": saved.get(n), "now": now.get(n)} for n in names},
    }


def _measured(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["model"]: r for r in rows if r["source"] == "measured here"}


def findings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's central findings, each checked on one split's measured rows: ``claim``,
    ``holds`` (True/False) and the numbers behind it."""
    ours = _measured(rows)
    full = ours.get(ROW_LABELS["stream-vlm"])
    out: list[dict[str, Any]] = []
    if full is None:
        return out

    def check(claim: str, holds: bool, **numbers: Any) -> None:
        out.append({"claim": claim, "holds": bool(holds), **numbers})

    turns = ours.get(ROW_LABELS["no-action-tokens"])
    if turns is not None:
        check(
            "the streaming model beats its own 5 s turn-based version on T-F",
            full["T-F"] > turns["T-F"],
            full=full["T-F"],
            turn_based=turns["T-F"],
        )
    for name in ("no-3d-cnn", "no-stage2", "no-action-tokens"):
        row = ours.get(ROW_LABELS[name])
        if row is None:
            continue
        for metric in ("T-F", "METEOR"):
            check(
                f"{ROW_LABELS[name]} is below the full model on {metric}",
                row[metric] < full[metric],
                full=full[metric],
                ablation=row[metric],
            )
    floors = [r for label, r in ours.items() if label in FLOORS]
    for label, row in ours.items():
        if label in FLOORS or label == "oracle-coach":
            continue
        for metric in ("T-F", "METEOR"):
            best = max((f[metric] or 0.0 for f in floors), default=0.0)
            check(
                f"{label} beats the floors (silent, periodic) on {metric}",
                (row[metric] or 0.0) > best,
                model=row[metric],
                best_floor=best,
            )
    return out


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    """``OUT/table.md``: each split's table (ours only) and the findings checked."""
    trained = summary["train_run_preset"]
    differences = ", ".join(
        f"{k} {v['run']} (now {v['now']})" for k, v in trained["differences"].items()
    )
    preset_note = f"training preset `{trained['preset']['name']}`"
    if differences:
        preset_note += f", which differs from today's `{trained['differs_from']}` in {differences}"
    lines = [
        f"# Benchmark preset `{summary['preset']['name']}`",
        "",
        f"Full coach and its training data: `{summary['train_run']}` ({preset_note}); variants "
        "trained from it with the same recipe, seed and length. Unseen test splits only. Each "
        "split's own folder has the table with the paper's published rows (measured on the real "
        "QEVD-FIT-COACH benchmark: other data) and the timeline figure.",
    ]
    for split, table in summary["splits"].items():
        lines += [
            "",
            f"## {split} ({table['segments']} segments, `{table['data']}`)",
            "",
            "| model | " + " | ".join(COLUMNS) + " |",
            "| --- | " + " | ".join("---" for _ in COLUMNS) + " |",
        ]
        for row in table["rows"]:
            if row["source"] != "measured here":
                continue
            cells = [
                "-" if row[c] is None else f"{row[c]:.{2 if c == 'LLM-Acc' else 3}f}"
                for c in COLUMNS
            ]
            lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
        lines += ["", f"![timeline]({split}/timeline.png)", "", "Findings checked:", ""]
        for f in summary["findings"][split]:
            numbers = ", ".join(
                f"{k} {v:.3f}"
                for k, v in f.items()
                if k not in ("claim", "holds") and v is not None
            )
            lines.append(
                f"- {'holds' if f['holds'] else '**does not hold**'}: {f['claim']} ({numbers})"
            )
    atomic_write_text(out / "table.md", "\n".join(lines) + "\n")


__all__ = [
    "BenchmarkPreset",
    "BenchmarkPresetError",
    "ROW_LABELS",
    "findings",
    "load_benchmark_preset",
    "run_benchmark_preset",
    "splits_of",
    "write_summary",
]
