"""Bundling a coach folder with its weights stored in bfloat16 (``livefit.train.bundle``): the
files shrink, the models still load in float32 with exactly the rounded weights, the card says
so, and a folder that is not a coach is refused by name."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from livefit.model.config import tiny_config
from livefit.model.stream_vlm import StreamVLM
from livefit.train.bundle import bundle_coach
from livefit.vision.front_ends import load_front_end, save_front_end
from livefit.vision.pose import PoseEncoder, PoseEncoderConfig


@pytest.fixture
def coach(tmp_path):
    torch.manual_seed(0)
    folder = tmp_path / "coach"
    encoder = PoseEncoder(PoseEncoderConfig(hidden=16, layers=2, channels=32, tokens=4))
    save_front_end(encoder, folder / "pose")
    cfg = tiny_config()
    adapter = replace(cfg.adapter, feature_dim=32, feature_tokens=4)
    StreamVLM.from_config(replace(cfg, adapter=adapter)).save_pretrained(folder / "stream_vlm")
    (folder / "MODEL_CARD.md").write_text("# a coach\n")
    return folder


def test_bundle_stores_bfloat16_and_loads_the_rounded_weights_in_float32(coach, tmp_path):
    out = bundle_coach(coach, tmp_path / "bundled")
    for part in ("pose", "stream_vlm"):
        before = (coach / part / "model.safetensors").stat().st_size
        after = (out / part / "model.safetensors").stat().st_size
        assert after < 0.6 * before, (part, before, after)
    a = StreamVLM.from_pretrained(coach / "stream_vlm")
    b = StreamVLM.from_pretrained(out / "stream_vlm")
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert q.dtype == torch.float32, name
        torch.testing.assert_close(q, p.to(torch.bfloat16).float(), rtol=0, atol=0)
    enc = load_front_end(out / "pose", expect="pose").model
    ref = load_front_end(coach / "pose", expect="pose").model
    for p, q in zip(ref.parameters(), enc.parameters(), strict=True):
        assert q.dtype == torch.float32
        torch.testing.assert_close(q, p.to(torch.bfloat16).float(), rtol=0, atol=0)
    assert "stored in bfloat16" in (out / "MODEL_CARD.md").read_text()
    again = bundle_coach(coach, out)  # replaces the folder, no staging left behind
    assert again == out and not (tmp_path / "bundled.tmp").exists()


def test_bundle_refuses_what_is_not_a_coach(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a coach folder"):
        bundle_coach(tmp_path, tmp_path / "out")
    with pytest.raises(ValueError, match="dtype must be one of"):
        bundle_coach(tmp_path, tmp_path / "out", "int4")
