"""The coach that ships in the package: within its size budget, loads, fits its own CNN, has its
card, and is the default of every command that takes a model (features, predict, demo)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from feedback_lines import assert_said_as_decoded, record_lines
from typer.testing import CliRunner

from livefit.bundled import COACH_DIR, bundled_cnn, bundled_model
from livefit.cli import app
from livefit.model.stream_vlm import StreamVLM
from livefit.vision.weights import load_model

MB = 1024 * 1024


def test_bundle_is_complete_and_within_20_mb():
    files = [p for p in COACH_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 20 * MB
    names = {p.relative_to(COACH_DIR).as_posix() for p in files}
    for needed in (
        "MODEL_CARD.md",
        "cnn/config.json",
        "cnn/model.safetensors",
        "stream_vlm/config.json",
        "stream_vlm/model.safetensors",
        "stream_vlm/tokenizer.json",
        "configs/preset.json",
    ):
        assert needed in names, needed
    card = (COACH_DIR / "MODEL_CARD.md").read_text()
    sections = (
        "## Data",
        "## Configs",
        "## Training time and machine",
        "## Metrics on unseen test splits",
        "trained without stage 2",
        "## Known limits",
    )
    for section in sections:
        assert section in card, section


def test_bundled_cnn_feeds_the_bundled_language_model():
    cnn = load_model(bundled_cnn())
    model = StreamVLM.from_pretrained(bundled_model())
    c, h, w = cnn.config.feature_shape
    assert (model.config.adapter.feature_dim, model.config.adapter.feature_tokens) == (c, h * w)


@pytest.fixture(scope="module")
def fresh_root(sim_tiny_root, tmp_path_factory):
    """A copy of the session's tiny QEVD-SIM data (tests/conftest.py): 2 test workouts without
    features."""
    import shutil

    return shutil.copytree(sim_tiny_root, tmp_path_factory.mktemp("fresh") / "root")


def test_features_and_predict_default_to_the_bundled_coach(fresh_root, tmp_path, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(app, ["features", "extract", str(fresh_root), "--split", "test"])
    assert result.exit_code == 0, result.output
    folder = fresh_root / "QEVD-FIT-COACH-Benchmark" / "efficientnet_features"
    feats = sorted(folder.glob("**/*_features.npy"))
    shape = load_model(bundled_cnn()).config.feature_shape
    assert feats and np.load(feats[0]).shape[1:] == shape
    out = tmp_path / "pred.jsonl"
    result = runner.invoke(app, ["predict", "--data", str(fresh_root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "pred.jsonl.config.json").read_text())
    assert settings["model"] == str(bundled_model())
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) >= 2 and any(line["feedbacks"] for line in lines)  # the coach speaks
    # --sentence-start (the live coach's setting): whole lines, each its tokens' decoding
    decoded = record_lines(monkeypatch)
    whole = tmp_path / "whole.jsonl"
    args = ["predict", "--data", str(fresh_root), "--out", str(whole), "--sentence-start"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    said = [f["text"] for x in whole.read_text().splitlines() for f in json.loads(x)["feedbacks"]]
    assert_said_as_decoded(said, decoded)
