"""``livefit benchmark --preset tiny --train-run RUN``: the paper's ablations and our Socratic LM
trained from a finished run, every coach benchmarked on the run's unseen test split, the tables,
the figure and the findings written; a rerun trains and predicts nothing again."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from livefit.cli import app
from livefit.config import load_config
from livefit.model.stream_vlm import StreamVLM
from livefit.train.benchmark_preset import ROW_LABELS, BenchmarkPreset, load_benchmark_preset
from livefit.train.pipeline import CONFIGS_DIR
from livefit.train.variants import VARIANTS
from livefit.vision.weights import load_model


def test_shipped_benchmark_presets_load():
    for path in sorted((CONFIGS_DIR / "benchmarks").glob("*.json")):
        preset = load_config(BenchmarkPreset, path)
        assert preset.name == path.stem and set(preset.variants) <= set(VARIANTS)
        assert (CONFIGS_DIR / "presets" / f"{preset.train}.json").is_file()
        assert (CONFIGS_DIR / preset.settings.socratic).is_file()
    assert load_benchmark_preset("embedded").variants == VARIANTS


# Tiny untrained models may babble past their position table; that is not what is tested here.
@pytest.mark.filterwarnings("ignore::livefit.stream.engine.PositionTableWarning")
@pytest.mark.slow(100)
def test_tiny_benchmark_preset_from_a_finished_run(tiny_run, tmp_path):
    run, _ = tiny_run
    out = tmp_path / "bench"
    args = [
        "benchmark",
        "--preset",
        "tiny",
        "--train-run",
        str(run),
        "--out",
        str(out),
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    variants = out / "variants"
    assert list(json.loads((variants / "steps.json").read_text())) == list(VARIANTS)
    # Each variant differs from the run's coach in its one way.
    full = StreamVLM.from_pretrained(run / "long_range" / "model")
    turns = StreamVLM.from_pretrained(variants / "no_action_tokens" / "long_range" / "model")
    assert (full.config.turn_every_s, turns.config.turn_every_s) == (None, 5.0)
    per_frame = load_model(variants / "no_3d_cnn" / "vision" / "cnn").config
    assert per_frame.per_frame and per_frame.frame_stride == 4
    assert (variants / "no_3d_cnn" / "data" / "QEVD-FIT-COACH-Benchmark").is_dir()
    assert (
        json.loads((variants / "no_stage2" / "long_range" / "config.json").read_text())["init_from"]
        is None
    )
    assert (variants / "socratic_lm" / "model" / "socratic.json").is_file()
    # One table per unseen split, every coach in it, the paper's rows beside ours.
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["splits"]) == ["test_seed0"]
    table = json.loads((out / "test_seed0" / "table.json").read_text())
    ours = [r["model"] for r in table["rows"] if r["source"] == "measured here"]
    assert ours == [
        "silent",
        "periodic",
        "oracle-coach",
        *(ROW_LABELS[n] for n in ("stream-vlm", *VARIANTS)),
    ]
    by_model = {r["model"]: r for r in table["rows"] if r["source"] == "measured here"}
    # A turn-based coach speaks at every 5 s turn, as the periodic floor does: the same T-F.
    assert by_model[ROW_LABELS["no-action-tokens"]]["T-F"] == by_model["periodic"]["T-F"]
    assert (out / "test_seed0" / "timeline.png").stat().st_size > 1000
    md = (out / "table.md").read_text()
    assert "Findings checked" in md and "beats its own 5 s turn-based version" in md
    assert summary["findings"]["test_seed0"]
    # A rerun: everything is done; no model is trained or predicted again.
    predictions = sorted((out / "test_seed0" / "predictions").glob("*.jsonl"))
    before = {p: p.stat().st_mtime_ns for p in predictions}
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert again.output.count("(skipped)") == len(VARIANTS)
    assert {p: p.stat().st_mtime_ns for p in predictions} == before


def test_preset_options_are_checked(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["benchmark", "--preset", "nope", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "no such benchmark preset" in result.output
    result = runner.invoke(
        app,
        [
            "benchmark",
            "--preset",
            "tiny",
            "--train-run",
            str(tmp_path),
            "--out",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 2 and "not a finished training run" in result.output
    result = runner.invoke(app, ["benchmark", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "--data ROOT" in result.output
    result = runner.invoke(
        app,
        [
            "benchmark",
            "--data",
            str(tmp_path),
            "--train-run",
            str(tmp_path),
            "--out",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 2 and "--train-run goes with --preset" in result.output
