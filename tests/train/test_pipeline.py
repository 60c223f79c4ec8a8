"""``livefit train --preset tiny``: every step from nothing to a report and a coach folder,
resumable (a rerun skips finished steps), refusing another preset in the same folder; and the
shipped presets load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livefit.cli import app
from livefit.config import load_config
from livefit.model.stream_vlm import StreamVLM
from livefit.train.coach_stage import CoachStageConfig
from livefit.train.pipeline import CONFIGS_DIR, STEPS, PresetConfig, load_preset
from livefit.train.vision_stage import VisionStageConfig
from livefit.vision.weights import load_model

PRESETS = sorted((CONFIGS_DIR / "presets").glob("*.json"))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_shipped_presets_name_loadable_stage_configs(path):
    preset = load_config(PresetConfig, path)
    assert preset.name == path.stem
    if preset.front_end == "pose":
        from livefit.train.pose_stage import PoseStageConfig

        vision = load_config(PoseStageConfig, CONFIGS_DIR / preset.pose)
    else:
        vision = load_config(VisionStageConfig, CONFIGS_DIR / preset.vision)
    clips = load_config(CoachStageConfig, CONFIGS_DIR / preset.clips)
    long_range = load_config(CoachStageConfig, CONFIGS_DIR / preset.long_range)
    assert (clips.stage, long_range.stage) == ("clips", "long_range")
    # The language model reads the CNN's (or the pose encoder's) feature steps as they are.
    c, h, w = vision.model.feature_shape
    for cfg in (clips, long_range):
        assert (cfg.model.adapter.feature_dim, cfg.model.adapter.feature_tokens) == (c, h * w)
    assert long_range.model.tiny_lm == clips.model.tiny_lm  # stage 3 continues stage 2's model


def test_unknown_preset_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["train", "--preset", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no such preset" in result.output


def test_tiny_preset_end_to_end_and_resume(tiny_run, tmp_path):
    out = shutil.copytree(tiny_run[0], tmp_path / "run")  # the rerun writes: not the shared run
    args = ["train", "--preset", "tiny", "--out", str(out), "--no-progress"]
    steps = json.loads((out / "steps.json").read_text())
    assert list(steps) == list(STEPS)
    for name in ("report.md", "report.json", "curves.png", "eval/table.md"):
        assert (out / name).is_file(), name
    coach = out / "coach"
    assert (coach / "MODEL_CARD.md").is_file()
    load_model(coach / "cnn")
    model = StreamVLM.from_pretrained(coach / "stream_vlm")
    assert model.config.adapter.feature_dim == 24
    report = json.loads((out / "report.json").read_text())
    assert set(report["evaluations"]["eval"]["rows"]) == {"coach", "periodic", "shuffled"}
    assert report["machine"]["cores"] >= 1 and report["total_seconds"] > 0
    # A rerun finds every step done (only the report is written again).
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and again.output.count("(skipped)") == len(STEPS) - 1
    # The same folder with another preset is refused.
    other = tmp_path / "other.json"
    preset = load_preset("tiny")
    other.write_text(
        json.dumps(
            {
                **json.loads(Path(CONFIGS_DIR / "presets/tiny.json").read_text()),
                "seed": preset.seed + 1,
            }
        )
    )
    refused = CliRunner().invoke(app, ["train", "--preset", str(other), "--out", str(out)])
    assert refused.exit_code == 2 and "seed" in refused.output
