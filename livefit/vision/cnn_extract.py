"""CNN features of a video, in the official features layout (``livefit features extract``): the
causal 3D CNN's twin of ``livefit.vision.pose_extract``.

Flow per video: decoded frames -> 16 fps on the capture clock and the paper's preprocessing
(``livefit.vision.preprocess``) -> the causal CNN in clip mode with the stream warm-up, in chunks
so memory stays flat -> feature steps ``[N, C, h, w]``, step k ending on 16 fps frame 4k + 3 with
that frame's capture time. The settings that decide the bytes (the CNN's config and weights hash,
the preprocessing) are the producer recorded in ``extraction.json`` (``livefit.vision.extract``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livefit.config import config_to_dict
from livefit.provenance import state_dict_sha256
from livefit.vision.cnn import CausalCNN, CNNConfig
from livefit.vision.jobs import Job
from livefit.vision.preprocess import PreprocessConfig, iter_preprocessed, load_timestamps


def default_preprocess(config: CNNConfig) -> PreprocessConfig:
    """The preprocessing the job uses for a CNN: the paper's, at the CNN's input size."""
    return PreprocessConfig(height=config.input_height, width=config.input_width)


def producer_settings(model: CausalCNN, preprocess: PreprocessConfig) -> dict[str, Any]:
    """What decides the bytes of a features file: the CNN (config + weights hash) and the
    preprocessing. Where the weights came from (a path) is recorded beside, not compared."""
    return {
        "cnn": {
            "config": config_to_dict(model.config),
            "weights_sha256": state_dict_sha256(model.state_dict()),
        },
        "preprocess": asdict(preprocess),
    }


@torch.no_grad()
def extract_video(
    model: CausalCNN,
    video: Path,
    timestamps: Path,
    preprocess: PreprocessConfig | None = None,
    chunk: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """One video -> ``(features [N, C, h, w] float32, times [N] seconds)``, streaming in chunks."""
    cfg = model.config
    preprocess = preprocess or default_preprocess(cfg)
    device = next(model.parameters()).device
    step = cfg.frames_per_step
    chunk = max(step, chunk - chunk % step)
    state = model.initial_state(1, device)
    feats: list[np.ndarray] = []
    frame_times: list[float] = []
    buffer: list[np.ndarray] = []

    def run(frames: list[np.ndarray]) -> None:
        nonlocal state
        x = torch.from_numpy(np.stack(frames)).to(device)[None]  # [1, T, 3, H, W]
        if state.frames_seen == 0:
            state = model.warm_up(x[:, :1], state)
        out, state = model(x, state)
        feats.append(out[0].float().cpu().numpy())

    for frame, t in iter_preprocessed(video, load_timestamps(timestamps), preprocess):
        buffer.append(frame)
        frame_times.append(t)
        if len(buffer) == chunk:
            run(buffer)
            buffer = []
    usable = len(buffer) - len(buffer) % step  # a partial last step is never emitted
    if usable:
        run(buffer[:usable])
    c, h, w = cfg.feature_shape
    features = np.concatenate(feats) if feats else np.zeros((0, c, h, w), np.float32)
    times = np.asarray(frame_times[step - 1 :: step][: len(features)], dtype=np.float64)
    return features.astype(np.float32, copy=False), times


class CNNProducer:
    """The causal CNN as a feature producer (what ``run_extraction`` asks a producer for: the
    settings that decide its bytes, and one video's features and step times)."""

    def __init__(self, model: CausalCNN, preprocess: PreprocessConfig | None = None) -> None:
        self.model = model
        self.preprocess = preprocess or default_preprocess(model.config)

    def settings(self) -> dict[str, Any]:
        return producer_settings(self.model, self.preprocess)

    def extract(self, job: Job) -> tuple[np.ndarray, np.ndarray]:
        return extract_video(self.model, job.video, job.timestamps, self.preprocess)


__all__ = ["CNNProducer", "default_preprocess", "extract_video", "producer_settings"]
