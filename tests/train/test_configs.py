"""Every shipped config loads, and the paper-scale one holds the paper's values."""

from __future__ import annotations

from pathlib import Path

import pytest

from livefit.config import load_config
from livefit.train.vision_stage import VisionStageConfig
from livefit.vision.cnn import PAPER_BLOCKS, CNNConfig

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "vision").glob("*.json"))


def test_configs_are_shipped():
    assert {p.stem for p in CONFIGS} >= {"paper", "small", "tiny"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_is_consistent(path):
    cfg = load_config(VisionStageConfig, path)
    assert cfg.model.frames_per_step == 4  # 16 fps in, 4 steps/s out in every variant
    assert cfg.augment.crop_frames % cfg.model.frames_per_step == 0
    assert abs(cfg.model.input_height / cfg.model.input_width - 1.4) < 0.01  # the 1.4 crop


def test_paper_config_is_the_paper():
    cfg = load_config(VisionStageConfig, [p for p in CONFIGS if p.stem == "paper"][0])
    assert cfg == VisionStageConfig()
    assert cfg.model == CNNConfig() and cfg.model.blocks == PAPER_BLOCKS
    assert cfg.model.feature_shape == (1280, 7, 5) and cfg.model.warmup_frames == 12
    assert (cfg.loop.epochs, cfg.loop.batch_size) == (500, 32)
    assert (cfg.optim.name, cfg.optim.lr) == ("adam", 1e-4)
    assert (cfg.augment.crop_frames, cfg.augment.flip_p, cfg.dropout) == (64, 0.5, 0.2)
