"""``livefit predict`` end to end on a tiny QEVD tree: format read back by ``livefit evaluate``'s
reader, parity with a direct engine run, resume, and clear errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from qevd_fixture import write_quirk_tree
from stream_helpers import talkative
from typer.testing import CliRunner

from livefit.cli import app
from livefit.data.qevd import load_segments
from livefit.eval.predictions import load_predictions
from livefit.model.stream_vlm import StreamVLM
from livefit.stream.engine import EngineConfig, StreamEngine
from livefit.stream.predict import predict, run_segment


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = write_quirk_tree(tmp_path_factory.mktemp("qevd"), feature_shape=(64, 7, 5))
    model_dir = tmp_path_factory.mktemp("model")
    model = talkative(1)
    model.save_pretrained(model_dir)
    return root, model_dir, model


def test_predict_writes_what_evaluate_reads(setup, tmp_path):
    root, model_dir, model = setup
    out = tmp_path / "pred.jsonl"
    config = EngineConfig(constraint="mask", max_feedback_tokens=6)
    summary = predict(root, model_dir, out, config=config, progress=False)
    segments = load_segments(root, "test")
    assert summary["segments"] == len(segments)
    d = summary["decoding"]  # this talkative model speaks: more than one token per step
    assert d["tokens_per_step"] > 1.0 and d["max_step_tokens"] <= 8 and d["budget_hits"] == 0
    preds = load_predictions(out, [s.segment_id for s in segments])
    assert list(preds) == [s.segment_id for s in segments]
    # Same feedbacks as running the engine by hand on the saved model's twin.
    engine = StreamEngine(model, config)
    for seg in segments:
        direct = run_segment(engine, seg)
        assert [(f.time, f.text) for f in preds[seg.segment_id]] == [
            (d["time"], d["text"]) for d in direct
        ]
    assert sum(len(v) for v in preds.values()) > 0
    assert (tmp_path / "pred.jsonl.config.json").is_file()


def _no_load(*args, **kwargs):
    raise AssertionError("the model was loaded")


def test_predict_resumes_after_a_torn_line(setup, tmp_path, monkeypatch):
    root, model_dir, _ = setup
    out = tmp_path / "pred.jsonl"
    config = EngineConfig(constraint="mask", max_feedback_tokens=6)
    predict(root, model_dir, out, config=config, progress=False)
    full = out.read_text().splitlines()
    out.write_text(full[0] + "\n" + full[1][:10])  # killed while writing the second line
    summary = predict(root, model_dir, out, config=config, progress=False)
    assert summary["skipped"] == 1
    assert out.read_text().splitlines() == full
    with pytest.raises(ValueError, match=r"other settings .*: engine\.clock\); use a new"):
        predict(root, model_dir, out, config=replace(config, clock="wall"), progress=False)
    # A file started before EngineConfig gained fields resumes: a missing field is its default.
    meta = tmp_path / "pred.jsonl.config.json"
    stored = json.loads(meta.read_text())
    for added in ("cache", "cache_capacity", "compile"):
        del stored["engine"][added]
    meta.write_text(json.dumps(stored))
    assert predict(root, model_dir, out, config=config, progress=False)["skipped"] == len(full)
    # A finished file: the model is not even loaded (a benchmark's rerun costs no model load).
    with monkeypatch.context() as m:
        m.setattr(StreamVLM, "from_pretrained", _no_load)
        assert predict(root, model_dir, out, config=config, progress=False)["segments"] == len(full)
    stored["engine"]["max_feedback_tokens"] = 7  # a field it has, with another value: refused
    meta.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match=r"engine\.max_feedback_tokens\)"):
        predict(root, model_dir, out, config=config, progress=False)


def test_static_cache_reused_across_segments_predicts_the_same(setup):
    """One static cache serves every segment in turn (closed sessions hand it back, emptied)."""
    root, _, model = setup
    config = EngineConfig(constraint="mask", max_feedback_tokens=6)
    growing, static = (
        StreamEngine(model, config),
        StreamEngine(
            model, EngineConfig(**{**config.__dict__, "cache": "static", "cache_capacity": 2048})
        ),
    )
    segments = load_segments(root, "test")
    for seg in segments:
        assert run_segment(static, seg) == run_segment(growing, seg)
    assert len(static._free_caches) == 1


def test_wall_clock_prediction_runs(setup, tmp_path):
    root, model_dir, _ = setup
    out = tmp_path / "wall.jsonl"
    config = EngineConfig(clock="wall", constraint="mask", max_feedback_tokens=6)
    predict(root, model_dir, out, config=config, progress=False)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(load_segments(root, "test"))
    for line in lines:
        times = [f["time"] for f in line["feedbacks"]]
        assert times == sorted(times) and all(t >= 0 for t in times)


def test_cli_errors_are_clear(setup, tmp_path):
    root, model_dir, _ = setup
    runner = CliRunner()
    args = ["predict", "--data", str(root), "--out", str(tmp_path / "p.jsonl")]
    result = runner.invoke(app, [*args, "--model", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "error:" in result.output and "model directory is missing" in result.output
    result = runner.invoke(app, [*args, "--model", str(tmp_path)])
    assert result.exit_code == 2 and "not a Stream-VLM checkpoint" in result.output
    result = runner.invoke(app, [*args, "--model", str(model_dir), "--clock", "sundial"])
    assert result.exit_code == 2 and "--clock must be paper or wall" in result.output
    result = runner.invoke(app, [*args, "--model", str(model_dir), "--limit", "1"])
    assert result.exit_code == 0, result.output
