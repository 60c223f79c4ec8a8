"""Shared helpers for the vision and train tests: a tiny 32x24 CNN config, an mp4 writer and a
tiny QEVD-FIT-300K clip set (two exercises, a mistake and a left/right pair)."""

from __future__ import annotations

import json
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


FINE = ["squats - good form", "squats - shallow", "lunges - left leg", "lunges - right leg"]
LABELS = {
    "exercises": ["squats", "lunges"],
    "fine_grained": FINE,
    "flip": {"lunges - left leg": "lunges - right leg", "lunges - right leg": "lunges - left leg"},
    "mistakes": ["shallow"],
}
# Each class is a colour in one half of the frame, so a flip turns "left" into "right".
COLOURS = {0: (0, 200, 0), 1: (200, 0, 0), 2: (0, 0, 200), 3: (0, 0, 200)}


def make_clips(root: Path, per_class: int = 2, frames: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    base = root / "QEVD-FIT-300K"
    base.mkdir(parents=True)
    (base / "labels.json").write_text(json.dumps(LABELS))
    for split in ("train", "test"):
        records = []
        for cls in range(len(FINE)):
            for k in range(per_class):
                clip_id = f"{split}-{cls}-{k}"
                video = np.full((frames, 42, 30, 3), 40, np.uint8)
                video += rng.integers(0, 20, video.shape, dtype=np.uint8)
                half = slice(0, 15) if cls != 3 else slice(15, 30)
                video[:, :, half] = COLOURS[cls]
                write_video(base / split / "videos" / f"{clip_id}.mp4", video, fps=30)
                ns = 1_700_000_000 * 10**9 + np.arange(frames) * (10**9 // 30)
                np.save(base / split / "videos" / f"{clip_id}_timestamps.npy", ns)
                records.append(
                    {
                        "clip_id": clip_id,
                        "video_file": f"videos/{clip_id}.mp4",
                        "video_timestamps": f"videos/{clip_id}_timestamps.npy",
                        "participant": f"{split}-p{k}",
                        "exercise": FINE[cls].split(" - ")[0],
                        "fine_grained": [FINE[cls]],
                        "frame_labels": [FINE[cls]] * frames,
                        "attributes": {"mistakes": ["shallow"] if cls == 1 else []},
                        "qa": [],
                        "feedbacks": [],
                        "extra_key": "tolerated",
                    }
                )
        (base / split / "clips.json").write_text(json.dumps(records))
    return root


N, FPS = 120, 30  # a 4 s workout at 30 fps (make_split)


def make_split(root: Path, stems: tuple[str, ...] = ("w1", "w2"), frames: int = N) -> Path:
    """A QEVD-FIT-COACH-Benchmark folder with tiny workouts; ``bad`` gets a garbage mp4."""
    split = root / "QEVD-FIT-COACH-Benchmark"
    rng = np.random.default_rng(0)
    records = []
    for i, stem in enumerate(stems):
        video = split / "long_range_videos" / f"{stem}.mp4"
        if stem == "bad":
            video.parent.mkdir(parents=True, exist_ok=True)
            video.write_bytes(rng.bytes(3000))
        else:
            write_video(video, rng.integers(0, 255, (frames, 48, 40, 3), dtype=np.uint8), FPS)
        ns = 1_690_000_000 * 10**9 + i * 10**12 + np.arange(frames) * (10**9 // FPS)
        np.save(split / "long_range_videos" / f"{stem}_timestamps.npy", ns.astype(np.int64))
        feedbacks = [""] * frames
        feedbacks[0:15] = ["First up are squats!"] * 15
        feedbacks[30:60] = ["Go lower"] * 30
        feedbacks[80:100] = ["Great job!"] * 20
        t = ns / 1e9 + 28800.0
        records.append(
            {
                "long_range_video_file": f"long_range_videos/{stem}.mp4",
                "video_timestamps": f"long_range_videos/{stem}_timestamps.npy",
                "feedbacks": feedbacks,
                "feedback_timestamps": [t[0], t[30], t[80]],
                "is_transition": [True, False, True],
            }
        )
    (split / "feedbacks_long_range.json").write_text(json.dumps(records))
    return split
