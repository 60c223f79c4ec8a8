"""The causal 3D CNN: streaming == clip, causality, and parity with the reference's semantics."""

from __future__ import annotations

import pytest
import torch
from vision_helpers import random_model, tiny_config

from livefit.config import load_config, save_config
from livefit.vision.cnn import (
    CausalCNN,
    CausalTemporalConv,
    CNNConfig,
    CNNStream,
    InvertedResidual,
    extract_clip,
)


def reference_forward(model: CausalCNN, frames: torch.Tensor) -> torch.Tensor:
    """The reference's clip semantics, written out independently: time on the batch axis, the
    temporal conv pads ``3 - stride`` zero frames, concatenates the 3 frames of each window on
    channels (oldest first), keeps every ``stride``-th window; a strided residual takes inputs
    ``[..., -5, -3, -1]``. frames: [T, 3, H, W] -> [T/4, C, h, w]."""
    x = model.cnn[0](frames)
    for block in list(model.cnn)[1:-1]:
        assert isinstance(block, InvertedResidual)
        layers, h = list(block.conv), x
        if isinstance(layers[0], CausalTemporalConv):
            stride = 2 if layers[0].t_stride else 1
            padded = torch.cat([torch.zeros_like(x[:1])] * (3 - stride) + [x])
            n = padded.shape[0]
            h = torch.cat([padded[o : n - 3 + o + 1] for o in range(3)], dim=1)
            h = h[torch.arange(0, h.shape[0], stride)]
        for layer in layers:
            h = layer(h)
        if block.use_residual:
            if isinstance(layers[0], CausalTemporalConv) and layers[0].t_stride:
                h = h + x[[-1 - 2 * i for i in range(h.shape[0])][::-1]]
            else:
                h = h + x[-h.shape[0] :]
        x = h
    return model.cnn[-1][0](x)


@pytest.fixture(params=["none", "group", "batch"])
def model(request) -> CausalCNN:
    """The paper's block semantics without normalisation, and the small variants' GroupNorm and
    BatchNorm options (per frame at inference, so they must keep every streaming and causality
    property)."""
    model = random_model(tiny_config(norm=request.param))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # trained-looking statistics, not identity
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    return model


def test_clip_matches_reference_semantics(model):
    frames = torch.rand(24, 3, 32, 24)
    with torch.no_grad():
        ours, _ = model(frames[None])
        ref = reference_forward(model, frames)
    assert ours.shape == (1, 6, 24, 2, 2)
    torch.testing.assert_close(ours[0], ref, rtol=1e-5, atol=1e-5)


def test_streaming_equals_clip(model):
    frames = torch.rand(40, 3, 32, 24)
    with torch.no_grad():
        clip = extract_clip(model, frames, warmup=True, chunk=8)
        stream = CNNStream(model)
        steps = [f for f in (stream.push(frame) for frame in frames) if f is not None]
        # Uneven chunks (1, 3, 5, ...) through the raw forward give the same features too.
        state, chunks, i = model.initial_state(), [], 0
        for size in (1, 3, 5, 2, 7, 4, 1, 1, 16):
            out, state = model(frames[None, i : i + size], state)
            chunks.append(out[0])
            i += size
        whole, _ = model(frames[None])
    assert len(steps) == clip.shape[0] == 10
    torch.testing.assert_close(torch.stack(steps), clip, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat(chunks), whole[0], rtol=1e-5, atol=1e-5)
    # The warm-up changes the first steps (the state is not zero), not the alignment.
    assert not torch.allclose(clip[0], whole[0, 0], atol=1e-4)


def test_batched_streams_are_independent(model):
    a, b = torch.rand(16, 3, 32, 24), torch.rand(16, 3, 32, 24)
    with torch.no_grad():
        both, _ = model(torch.stack([a, b]))
        alone, _ = model(b[None])
    torch.testing.assert_close(both[1], alone[0], rtol=1e-5, atol=1e-5)


def test_future_frames_do_not_change_past_features(model):
    frames = torch.rand(32, 3, 32, 24)
    changed = frames.clone()
    changed[17:] = torch.rand(15, 3, 32, 24)  # frame 16 and before are untouched
    with torch.no_grad():
        a, _ = model(frames[None])
        b, _ = model(changed[None])
    # Step k ends on frame 4k + 3: steps 0..3 (frames <= 15) must be identical, step 4 (frames
    # <= 19) must differ, so the test can fail.
    torch.testing.assert_close(a[0, :4], b[0, :4], rtol=0, atol=0)
    assert not torch.allclose(a[0, 4], b[0, 4])


def test_state_has_constant_size(model):
    state = model.initial_state()
    size = state.nbytes()
    with torch.no_grad():
        for _ in range(3):
            _, state = model(torch.rand(1, 9, 3, 32, 24), state)
    assert state.nbytes() == size and state.frames_seen == 27


def test_paper_config_shapes():
    cfg = CNNConfig()
    assert cfg.feature_shape == (1280, 7, 5)
    assert cfg.frames_per_step == 4 and cfg.steps_per_second == 4.0
    assert len(cfg.blocks) == 30
    assert [i + 1 for i, b in enumerate(cfg.blocks) if b.shift] == [3, 7, 11, 14, 17, 20, 23, 25]
    assert [i + 1 for i, b in enumerate(cfg.blocks) if b.t_stride] == [7, 14]


def test_normalisation_is_an_option_of_small_variants_only():
    norm_types = (torch.nn.GroupNorm, torch.nn.BatchNorm2d)
    plain = CausalCNN(tiny_config())
    assert not any(isinstance(m, norm_types) for m in plain.modules())
    assert not any(isinstance(m, norm_types) for m in CausalCNN(CNNConfig()).modules())
    grouped = CausalCNN(tiny_config(norm="group"))
    norms = [m for m in grouped.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(m.num_groups == min(8, m.num_channels) for m in norms)
    batch = CausalCNN(tiny_config(norm="batch"))
    assert len([m for m in batch.modules() if isinstance(m, torch.nn.BatchNorm2d)]) == len(norms)
    # The release's key names of every conv are unchanged by the options.
    for model in (grouped, batch):
        assert set(plain.state_dict()) <= set(model.state_dict())
    with pytest.raises(ValueError, match="norm must be"):
        tiny_config(norm="layer")


def test_config_round_trip_and_validation(tmp_path):
    cfg = tiny_config(width_multiplier=0.5)
    save_config(cfg, tmp_path / "cnn.json")
    assert load_config(CNNConfig, tmp_path / "cnn.json") == cfg
    with pytest.raises(ValueError, match="multiple of frames_per_step"):
        tiny_config(warmup_frames=6)


@pytest.mark.parametrize("train", [False, True])
def test_warm_up_equals_feeding_the_first_frame_n_times(model, train):
    """``warm_up`` runs the per-frame layers before the first temporal block once; the state is
    that of feeding the frame ``warmup_frames`` times (batch-norm batch statistics included)."""
    model.train(train)
    first = torch.rand(2, 1, 3, 32, 24, generator=torch.Generator().manual_seed(3))
    n = model.config.warmup_frames
    with torch.no_grad():
        fast = model.warm_up(first)
        _, slow = model(first.expand(-1, n, -1, -1, -1))
    assert fast.frames_seen == slow.frames_seen == n
    assert fast.temporal.keys() == slow.temporal.keys()
    for i, s in slow.temporal.items():
        assert fast.temporal[i].seen == s.seen
        torch.testing.assert_close(fast.temporal[i].previous, s.previous)


def test_per_frame_encoder_sees_one_frame_per_step():
    """The "w/o 3D CNN" ablation's encoder: the same blocks without temporal taps, one frame per
    step (frame 4k + 3); streaming equals clip mode, and the step rate stays 4 per second."""
    from dataclasses import replace

    from livefit.train.variants import per_frame_config
    from livefit.vision.cnn import CNNStream, extract_clip

    cfg3d = tiny_config()
    cfg = per_frame_config(cfg3d)
    assert cfg.per_frame and not cfg3d.per_frame
    assert cfg.frames_per_step == cfg3d.frames_per_step == 4
    assert cfg.feature_shape == cfg3d.feature_shape
    model = random_model(cfg)
    frames = torch.rand(24, 3, cfg.input_height, cfg.input_width)
    clip = extract_clip(model, frames)
    stream = CNNStream(model)
    pushed = [stream.push(f) for f in frames]
    steps = torch.stack([p.reshape(clip.shape[1:]) for p in pushed if p is not None])
    torch.testing.assert_close(steps, clip, rtol=1e-5, atol=1e-5)
    # Step k depends on frame 4k + 3 only.
    changed = frames.clone()
    changed[4:7] = 0.0
    changed[11] = 1.0  # the frame step 2 is made of
    diff = (extract_clip(model, changed) - clip).abs().amax(dim=(1, 2, 3))
    assert diff[0] == 0 and diff[1] == 0 and diff[2] > 0 and (diff[3:] == 0).all()
    with pytest.raises(ValueError, match="per-frame"):
        replace(cfg3d, frame_stride=4)
    with pytest.raises(ValueError, match="step rate"):
        per_frame_config(cfg3d, frame_stride=2)
