"""The pose path's stage 1 and its features: a tiny pose encoder trains on the clips' true
landmarks, exports a folder with its activity head, and ``features extract`` writes pose
features in the official layout, on the CNN's step clock, recorded as another producer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from run_once import built_once

from livefit.data.qevd import load_segments
from livefit.train.loop import LoopConfig
from livefit.train.pose_stage import POSE_DIR, PoseStageConfig, PoseTask
from livefit.train.stage import SUMMARY_FILE, run_stage
from livefit.train.variants import mirror_data
from livefit.vision.activity import ActivityHead
from livefit.vision.extract import ExtractionError, run_extraction, run_extraction_parallel
from livefit.vision.front_ends import load_front_end, read_front_end_config
from livefit.vision.pose import PoseEncoderConfig
from livefit.vision.pose_residuals import BANK_FILE, ResidualBank

# One worker runs this module: its module-scoped fixtures are built once (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("test_pose_stage")

TINY = PoseEncoderConfig(hidden=16, layers=2, channels=24, tokens=4, window_frames=16)


@pytest.fixture(scope="module")
def pose_run(coach_root, tmp_path_factory):
    """A tiny stage 1 run of the pose encoder (once per pytest run; read-only): (run, summary)."""
    torch.set_num_threads(1)

    def build(run: Path) -> None:
        cfg = PoseStageConfig(model=TINY, loop=LoopConfig(epochs=3, batch_size=4, log_every=1))
        run_stage(PoseTask(cfg, coach_root, run, False), cfg, run, False, False)

    run = built_once(tmp_path_factory, "pose_run", build)
    return run, json.loads((run / SUMMARY_FILE).read_text())


def test_stage1_trains_and_exports_an_encoder_with_its_activity_head(pose_run):
    run, summary = pose_run
    log = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < losses[0]
    assert 0 <= summary["metrics"]["exercise_accuracy"] <= 1
    folder = run / POSE_DIR
    assert read_front_end_config(folder)[0].type == "pose"
    assert load_front_end(folder).config == TINY
    head = ActivityHead.from_pretrained(folder)
    assert head.linear.in_features == TINY.channels


def test_pose_features_in_the_official_layout_on_the_cnns_clock(pose_run, coach_root, tmp_path):
    run, _ = pose_run
    root = mirror_data(coach_root, tmp_path / "pose_root")
    producer = load_front_end(run / POSE_DIR).producer()
    summary = run_extraction(root, "test", producer, progress=False)
    assert summary.done == 2 and not summary.failed
    cnn_segments = load_segments(coach_root, "test")
    for seg, cnn_seg in zip(load_segments(root, "test"), cnn_segments, strict=True):
        feats, times = seg.load_features()
        cnn_feats, cnn_times = cnn_seg.load_features()
        assert feats.shape[1:] == (24, 1, 4)
        np.testing.assert_array_equal(times, cnn_times)  # the same step clock
        assert len(feats) == len(cnn_feats)
    manifest = json.loads(
        (
            root / "QEVD-FIT-COACH-Benchmark" / "efficientnet_features" / "extraction.json"
        ).read_text()
    )
    assert manifest["producer"]["landmarks"] == {"source": "sidecar"}
    # Resumes (nothing to do) through the parallel entry point, from the folder.
    again = run_extraction_parallel(root, "test", run / POSE_DIR, progress=False)
    assert again.skipped == 2 and again.done == 0
    # CNN features are another producer: refused in the pose folder without --overwrite.
    from livefit.vision.weights import load_model

    with pytest.raises(ExtractionError, match="other settings"):
        run_extraction(root, "test", load_model(coach_root / "cnn"), progress=False)


@pytest.mark.slow(45)
def test_tiny_pose_preset_end_to_end(sim_tiny_root, tmp_path):
    """``livefit train --preset tiny --vision pose``: the same steps, the pose encoder as stage 1
    (with the estimator's errors recorded on a train workout), training features made with those
    errors and test features from the true landmarks, a coach folder with ``pose/`` instead of
    ``cnn/`` and a card that says so. The data folder starts as a copy of the session's tiny
    QEVD-SIM (what the synth step makes: it resumes past every video)."""
    from typer.testing import CliRunner

    from livefit.cli import app

    out = tmp_path / "run"
    shutil.copytree(sim_tiny_root, out / "data")
    args = ["train", "--preset", "tiny", "--vision", "pose", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    coach = out / "coach"
    assert sorted(p.name for p in coach.iterdir()) == [
        "MODEL_CARD.md",
        "configs",
        "pose",
        "stream_vlm",
    ]
    assert "causal pose encoder" in (coach / "MODEL_CARD.md").read_text()
    manifest = json.loads(
        (
            out / "data" / "QEVD-FIT-COACH-Benchmark" / "efficientnet_features" / "extraction.json"
        ).read_text()
    )
    assert "pose" in manifest["producer"]
    assert "recorded_errors" not in manifest["producer"]["landmarks"]  # the test split: true
    train = json.loads(
        (out / "data" / "QEVD-FIT-COACH" / "efficientnet_features" / "extraction.json").read_text()
    )
    recorded = train["producer"]["landmarks"]["recorded_errors"]  # training: the estimator's
    bank = ResidualBank.load(out / "vision" / BANK_FILE)
    assert recorded["frames"] == len(bank) and len(bank.meta["sources"]) == 1
    bad = CliRunner().invoke(
        app, ["train", "--preset", "tiny", "--vision", "nope", "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == 2 and "front_end must be cnn or pose" in bad.output


def test_features_extract_vision_pose_uses_the_bundled_pose_encoder(coach_root, pose_run, tmp_path):
    """``livefit features extract --vision pose``: the bundled pose coach's encoder by default;
    a --model of the other kind is refused with one error line."""
    from typer.testing import CliRunner

    from livefit.bundled import bundled_pose_encoder
    from livefit.cli import app

    root = mirror_data(coach_root, tmp_path / "root")
    args = ["features", "extract", str(root), "--split", "test", "--vision", "pose"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (seg, *_) = load_segments(root, "test")
    channels, _, tokens = load_front_end(bundled_pose_encoder()).feature_shape
    assert seg.load_features()[0].shape[1:] == (channels, 1, tokens)
    run, _ = pose_run
    bad = CliRunner().invoke(
        app, ["features", "extract", str(root), "--vision", "cnn", "--model", str(run / POSE_DIR)]
    )
    assert bad.exit_code == 2 and "is a pose front end; pass --vision pose" in bad.output
