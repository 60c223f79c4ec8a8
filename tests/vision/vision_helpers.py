"""Shared helpers for the vision and train tests: a tiny 32x24 CNN config and an mp4 writer."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch

from livefit.vision.cnn import BlockSpec, CausalCNN, CNNConfig


def tiny_config(**overrides) -> CNNConfig:
    """Eight IR blocks at 32x24: spatial stride 16, two t-strides (4 frames per step), 2x2 maps."""
    blocks = (
        BlockSpec(8, 3, 1, 1),
        BlockSpec(16, 3, 2),
        BlockSpec(16, 3, 1, shift=True),
        BlockSpec(24, 5, 2),
        BlockSpec(24, 5, 1, shift=True, t_stride=True),
        BlockSpec(32, 3, 2),
        BlockSpec(32, 3, 1, shift=True, t_stride=True),
        BlockSpec(32, 3, 1, shift=True),
    )
    kwargs = dict(
        stem_channels=8, blocks=blocks, feature_channels=24, input_height=32, input_width=24
    )
    kwargs.update(overrides)
    return CNNConfig(**kwargs)


def write_video(path: Path, frames: np.ndarray, fps: int = 30) -> None:
    """frames: [T, H, W, 3] uint8 RGB -> an mp4 (mpeg4 codec, always in PyAV's FFmpeg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 4_000_000
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def random_model(config: CNNConfig | None = None, seed: int = 0) -> CausalCNN:
    """A tiny CNN with every conv randomised (PyTorch's default init), so that no block is an
    identity (the training init zeroes residual projections) and parity tests can fail."""
    torch.manual_seed(seed)
    model = CausalCNN(config or tiny_config())
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.reset_parameters()
    return model.eval()
