"""The final report of a ``livefit train --preset`` run and the model card of its coach.

Reads what the steps wrote (``steps.json``, each stage's ``metrics.jsonl`` and ``summary.json``,
``eval/results.json``) and writes
    RUN/curves.png            training loss and validation metrics per stage
    RUN/report.json           timings per step, metrics, data sizes, machine, versions, git
    RUN/report.md             the same as text
    RUN/coach/MODEL_CARD.md   the coach's card: data, configs, training time and machine,
                              metrics on the unseen split beside the floor and the control,
                              optional extra evaluations, known limits
Extra evaluations (another seed's test split, the coach trained without stage 2) are picked up
from ``RUN/extra/<name>/results.json`` when present (``livefit train evaluate --out ...``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livefit.io import atomic_write, atomic_write_json, atomic_write_text
from livefit.provenance import git_state, library_versions, machine_info
from livefit.train.coach_eval import format_table

STAGE_NAMES = {
    "vision": "stage 1 (CNN)",
    "clips": "stage 2 (clips)",
    "long_range": "stage 3 (long range)",
}


EXTRA_TITLES = {"no_stage2": "Stage 2 measured: the same coach trained without stage 2"}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_curves(run: Path, path: Path) -> None:
    """Loss per step for each stage, and the validation metrics of the language stages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 3.8))
    for ax, stage in zip(axes[:3], STAGE_NAMES, strict=True):
        rows = read_jsonl(run / stage / "metrics.jsonl")
        for key in ("loss", "decision_loss", "text_loss"):
            points = [(r["step"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points, strict=True), label=key, lw=1)
        ax.set_title(STAGE_NAMES[stage])
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax = axes[3]
    for stage, style in (("clips", "--"), ("long_range", "-")):
        rows = [r for r in read_jsonl(run / stage / "metrics.jsonl") if "eval/t_f_score" in r]
        for key in ("t_f_score", "meteor"):
            points = [(r["step"], r[f"eval/{key}"]) for r in rows]
            if points:
                ax.plot(*zip(*points, strict=True), style, marker="o", ms=3, label=f"{stage} {key}")
    ax.set_title("validation (held-out train workouts, engine)")
    ax.set_xlabel("step")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def collect(run: Path) -> dict[str, Any]:
    """Everything the report and the model card say, from the run folder."""
    steps = json.loads((run / "steps.json").read_text())
    stages = {}
    for stage in STAGE_NAMES:
        summary_file = run / stage / "summary.json"
        if summary_file.is_file():
            summary = json.loads(summary_file.read_text())
            data_file = run / stage / "data.json"
            summary["data"] = json.loads(data_file.read_text()) if data_file.is_file() else None
            stages[stage] = summary
    evaluations = {"eval": json.loads((run / "eval" / "results.json").read_text())}
    for path in sorted(run.glob("eval_seed*/results.json")):
        evaluations[path.parent.name] = json.loads(path.read_text())
    extra = {}
    for path in sorted((run / "extra").glob("*/results.json")):
        extra[path.parent.name] = json.loads(path.read_text())
    preset = json.loads((run / "preset.json").read_text())
    synth = run / "data" / "synth_config.json"
    return {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "preset": preset,
        "synth": json.loads(synth.read_text()) if synth.is_file() else None,
        "steps": steps,
        "total_seconds": round(sum(s["seconds"] for s in steps.values()), 1),
        "stages": stages,
        "evaluations": evaluations,
        "extra": extra,
        "machine": machine_info(),
        "libraries": library_versions(),
        "git": git_state(),
    }


def metrics_table(rows: dict[str, Any]) -> str:
    return format_table(rows)


def _intro(p: dict[str, Any], card: bool) -> list[str]:
    """The title, and for the model card what the coach is."""
    if card and p.get("front_end") == "pose":
        return [
            f"# livefit pose coach ({p['name']} preset)",
            "",
            "A small Stream-VLM coach that sees body landmarks, trained entirely on synthetic "
            "QEVD-SIM data on a CPU: the stage-1 causal pose encoder (`pose/`: MediaPipe's 33 "
            "landmarks at 16 fps -> 4 feature steps per second, trained on QEVD-SIM's true "
            "landmarks made to look like a detector's: errors the pose estimator itself made on "
            "training renders, replayed) and a from-scratch LLaMA-architecture "
            "language model with cross-attention adapters and action tokens (`stream_vlm/`, "
            "tokenizer included).",
            "",
        ]
    if card:
        return [
            "# livefit bundled coach (embedded preset)",
            "",
            "A small Stream-VLM coach trained entirely on synthetic QEVD-SIM data on a CPU: the "
            "stage-1 causal 3D CNN (`cnn/`, ~1 MB) and a from-scratch LLaMA-architecture "
            "language model with cross-attention adapters and action tokens "
            "(`stream_vlm/`, tokenizer included). It is the default model of "
            "`livefit features extract` (its CNN) and `livefit predict` (its language model).",
            "",
        ]
    return [f"# Training report: preset `{p['name']}`", ""]


def _data_and_configs(p: dict[str, Any], card: bool) -> list[str]:
    return [
        "## Data",
        "",
        f"QEVD-SIM preset `{p['synth']}`, seed {p['seed']}: {p['train_workouts']} train and "
        f"{p['test_workouts']} test long-range workouts (disjoint participants), the preset's "
        "short clips. The test split is never trained on or used to choose settings; settings "
        "were chosen on held-out workouts and participants of the train split (the stage "
        "configs' `validation`).",
        "",
        "## Configs",
        "",
        f"Preset `configs/presets/{p['name']}.json`; stage 1 "
        f"`configs/{p.get('pose') if p.get('front_end') == 'pose' else p['vision']}`, stage 2 "
        f"`configs/{p['clips']}`, stage 3 `configs/{p['long_range']}`"
        + (" (copies in `configs/` beside this card)." if card else "."),
        "",
    ]


def _training(info: dict[str, Any]) -> list[str]:
    """Seconds per step, the machine and versions, and each stage's final validation."""
    p, m = info["preset"], info["machine"]
    lines = ["## Training time and machine", "", "| step | seconds |", "| --- | --- |"]
    for name, step in info["steps"].items():
        lines.append(f"| {name} | {step['seconds']:.0f} |")
    lines += [
        f"| **total** | **{info['total_seconds']:.0f}** ({info['total_seconds'] / 60:.1f} min) |",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}; "
        f"{p['threads']} torch threads, {p['workers']} worker processes. "
        f"Code: git {info['git']['commit']}{' (dirty)' if info['git']['dirty'] else ''}, "
        f"torch {info['libraries'].get('torch')}, transformers "
        f"{info['libraries'].get('transformers')}.",
        "",
        "| stage | steps | training s | final validation |",
        "| --- | --- | --- | --- |",
    ]
    for stage, s in info["stages"].items():
        shown = {k: v for k, v in s["metrics"].items() if isinstance(v, float)}
        text = ", ".join(f"{k} {_fmt(v)}" for k, v in shown.items())
        name = STAGE_NAMES[stage]
        if stage == "vision" and p.get("front_end") == "pose":
            name = "stage 1 (pose encoder)"
        lines.append(f"| {name} | {s['steps']} | {s['train_seconds']:.0f} | {text} |")
    return lines


def _test_metrics(info: dict[str, Any]) -> list[str]:
    """A table per unseen test split, then what the columns and rows mean."""
    p = info["preset"]
    lines = ["", "## Metrics on unseen test splits (paper clock, paper matching)", ""]
    if p.get("front_end") == "pose":
        lines += [
            "Fed the sidecar's true landmarks (what the run measures; "
            "`benchmarks/pose_domain_gap.py` adds the pose estimator's).",
            "",
        ]
    for name, ev in info["evaluations"].items():
        if name == "eval":
            title = (
                f"Test split of seed {p['seed']} ({p['test_workouts']} workouts, "
                "participants never trained on)"
            )
        else:
            title = (
                f"A fresh split, seed {name.removeprefix('eval_seed')} "
                f"({p['eval_workouts']} workouts): seed, participants and workouts all "
                "unseen"
            )
        counts = ev["rows"]["coach"]["counts"]
        lines += [
            f"### {title}",
            "",
            f"{counts['segments']} exercise segments, {counts['gt_feedbacks']} ground-truth "
            "feedbacks.",
            "",
            metrics_table(ev["rows"]),
        ]
    lines += [
        "T-F: temporal F-score (P, R: its precision and recall); METEOR, ROUGE-L, BERTScore on "
        "the recall-direction matched pairs, paper-exact (BERTScore with the local default "
        "model sentence-transformers/all-MiniLM-L6-v2, layer 6, not the paper's roberta-large: "
        "comparable within this table only). Corrections matched: ground-truth mistake "
        "corrections paired in time with a predicted correction of the same mistake. Rows: the "
        'coach; the periodic floor ("Keep going, you are doing great!" every 5 s); the coach '
        "streaming another workout's features (a control: a coach that watches must lose "
        "here).",
        "",
    ]
    return lines


def _extra_metrics(info: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, extra in info["extra"].items():
        title = EXTRA_TITLES.get(name, name)
        lines += [f"### {title}", "", extra.get("note", ""), "", metrics_table(extra["rows"]), ""]
    return lines


def render(info: dict[str, Any], card: bool = False) -> str:
    """Markdown of the report (``card``: the model card's wording and sections)."""
    p = info["preset"]
    lines = [
        *_intro(p, card),
        *_data_and_configs(p, card),
        *_training(info),
        *_test_metrics(info),
        *_extra_metrics(info),
    ]
    return "\n".join(lines)


def write_report(pipeline: Any) -> None:
    run = Path(pipeline.out)
    info = collect(run)
    plot_curves(run, run / "curves.png")
    atomic_write_json(run / "report.json", info)
    atomic_write_text(run / "report.md", render(info) + "\n![curves](curves.png)\n")
    limits = KNOWN_LIMITS
    if info["preset"].get("front_end") == "pose":
        limits = limits.replace(POSE_LIMIT_FROM, POSE_LIMIT_TO)
    card = render(info, card=True) + "\n" + limits
    atomic_write_text(run / "coach" / "MODEL_CARD.md", card)


POSE_LIMIT_FROM = (
    "- Trained only on rendered synthetic people (QEVD-SIM): in front of a real camera its CNN "
    "sees\n  a different world; do not expect it to coach real users well."
)
POSE_LIMIT_TO = (
    "- Trained only on synthetic bodies' landmarks (QEVD-SIM's true ones, with the estimator's\n"
    "  errors on renders): landmarks look alike on a render and on a person, but real movement,\n"
    "  clothing and cameras differ from the simulator's; the estimator's errors on real people\n"
    "  are not measured."
)

KNOWN_LIMITS = """## Known limits

- Trained only on rendered synthetic people (QEVD-SIM): in front of a real camera its CNN sees
  a different world; do not expect it to coach real users well.
- It has seen only QEVD-SIM's world: its catalogue's exercises (the 17 of
  `livefit.synth.exercises`), one person, the whole body in view, one camera angle per
  exercise, 160x224 frames. It names any other exercise as one of these or not at all.
- Its language is the synthetic coach's ~135 line templates; it cannot answer questions or say
  anything else, and its rep counts are estimates (the live pose coach checks them against a
  rep counter on the landmarks and withholds the ones it disagrees with).
- Its LM is tiny and trained from scratch (no pre-trained language model), so it is not
  comparable with the paper's LLaMA-2-7B Stream-VLM; numbers here are on synthetic data only.
- Its validation workouts (used to watch training) share participants with its training data;
  the test splits above do not.
- LLM-Acc (the paper's judge score) is not reported: no judge LLM ships with the package
  (`livefit evaluate --judge-url URL | --judge-model-path DIR` scores it where one exists).
"""


__all__ = ["collect", "plot_curves", "render", "write_report"]
