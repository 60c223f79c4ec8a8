"""Stage 1 of the pose path: train the causal pose encoder on the short clips' fine-grained labels.

The twin of ``vision_stage`` (the CNN's stage 1) for the landmark front end
(``livefit.vision.pose``), and a ``Task`` for ``livefit.train.loop.fit`` like it. Data: each
clip's true landmarks from QEVD-SIM's sidecar (``livefit.data.landmarks``), resampled to 16 fps
on the capture clock exactly as the CNN's frames are, with the clip's per-frame classes. Training
makes them look like a detector's, fresh for every clip and epoch, seeded by (seed, epoch, clip):
camera zoom and position, mirroring with the classes' left and right swapped through
``labels.json["flip"]``, then, with ``residuals.workouts`` > 0, for a ``share`` of the clips a
run of the pose estimator's own errors recorded on training workouts
(``livefit.vision.pose_residuals``, ``<run>/residuals.safetensors``), else ``DetectorNoise``'s
jitter, missed frames and visibility drop-outs.
Each step of a clip is a sample: its window of the last 2 s, labelled with the class of the
step's last frame (4k + 3), as the CNN's steps are.

Evaluation is the CNN's (``vision_stage.evaluate_clips``: step, exercise, main-mistake
accuracies on held-out participants), on clean landmarks by default or with the detector noise
(``eval_noise``). Export: ``<run>/pose/``, the encoder's front-end folder (type ``pose``,
``livefit.vision.front_ends``) and its activity head (``livefit.vision.activity``), the folder
``features extract`` and the live app read.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from livefit.config import bounded
from livefit.data.clips import load_clips as read_clips
from livefit.data.clips import load_labels
from livefit.data.landmarks import read_sidecar
from livefit.train.loop import LoopConfig, OptimConfig
from livefit.train.vision_stage import evaluate_clips
from livefit.vision.activity import ActivityHead
from livefit.vision.front_ends import save_front_end
from livefit.vision.pose import (
    DetectorNoise,
    PoseEncoder,
    PoseEncoderConfig,
    augment,
    normalise,
    step_windows,
)
from livefit.vision.pose_residuals import (
    BANK_FILE,
    ResidualBank,
    ResidualsConfig,
    collect_residuals,
)
from livefit.vision.preprocess import load_timestamps, resample_indices, video_size

IGNORE = -100
POSE_DIR = "pose"


@dataclass(frozen=True)
class PoseStageConfig:
    """Stage 1 of the pose encoder."""

    model: PoseEncoderConfig = field(default_factory=PoseEncoderConfig)
    """The encoder."""
    dropout: float = bounded(0.2, ge=0, lt=1)
    """Classifier dropout before the Linear."""
    noise: DetectorNoise = field(default_factory=DetectorNoise)
    """Training augmentation: what a detector does to true landmarks."""
    residuals: ResidualsConfig = field(default_factory=ResidualsConfig)
    """Training on the pose estimator's own errors, recorded on training workouts."""
    eval_noise: bool = False
    """Evaluate on noisy landmarks too (default: the sidecar's clean ones)."""
    steps_per_clip: int = bounded(16, ge=1)
    """Steps sampled from each clip per epoch (all when the clip has fewer)."""
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(epochs=20, batch_size=16))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adamw", lr=1e-3))
    train_split: str = "train"
    eval_split: str = "test"
    max_clips: int = bounded(0, ge=0)
    """Use only the first N clips of each split (0 = all; for smoke runs)."""


@dataclass
class LandmarkClip:
    """A clip's landmarks at 16 fps with its classes (what ``evaluate_clips`` reads)."""

    clip_id: str
    exercise: str
    points: np.ndarray  # [T, 33, 4] float32 pixels
    labels: np.ndarray  # [T] int64 fine-grained class per 16 fps frame
    width: int
    height: int


def load_landmark_clips(
    data_root: Path, split: str, labels: Any, fps: int, limit: int = 0
) -> list[LandmarkClip]:
    records = read_clips(data_root, split)  # type: ignore[arg-type]
    if limit:
        records = records[:limit]
    clips = []
    for r in records:
        times = load_timestamps(r.video_timestamps)
        width, height = video_size(r.video)
        track = read_sidecar(r.video, times, width, height)
        picks = resample_indices(times, fps)
        clips.append(
            LandmarkClip(
                r.clip_id,
                r.exercise,
                track.points[picks],
                r.frame_label_ids(labels)[picks],
                width,
                height,
            )
        )
    return clips


class StepDataset(Dataset):
    """Per clip and epoch: its landmarks as a detector might see them, and ``steps_per_clip``
    of its steps (window, class). Draws depend on (seed, epoch, index) only."""

    def __init__(self, task: PoseTask, clips: list[LandmarkClip], seed: int) -> None:
        self.task, self.clips, self.seed, self.epoch = task, clips, seed, 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        clip, cfg = self.clips[i], self.task.config
        rng = np.random.default_rng([self.seed, self.epoch, i])
        bank = self.task.bank
        if bank is not None and rng.random() >= cfg.residuals.share:
            bank = None
        points, mirrored = augment(clip.points, clip.width, clip.height, rng, cfg.noise, bank)
        labels = self.task.flip[clip.labels] if mirrored else clip.labels
        windows, targets = self.task.steps(points, labels)
        if len(windows) > cfg.steps_per_clip:
            keep = np.sort(rng.choice(len(windows), cfg.steps_per_clip, replace=False))
            windows, targets = windows[keep], targets[keep]
        return windows, targets


class PoseClassifier(nn.Module):
    """Encoder -> ReLU6 -> mean over tokens -> Dropout -> Linear (as the CNN's classifier, so
    the Linear is an ``ActivityHead``)."""

    def __init__(self, config: PoseEncoderConfig, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.encoder = PoseEncoder(config)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(config.channels, num_classes))

    def forward(self, windows: Tensor) -> Tensor:  # [B, R, F] -> [B, K]
        feats = self.encoder(windows)  # [B, C, 1, N]
        return self.head(F.relu6(feats).mean(dim=(-2, -1)))


class PoseTask:
    """Stage 1 of the pose encoder as a ``livefit.train.loop.Task``."""

    def __init__(
        self,
        config: PoseStageConfig,
        data_root: Path,
        run_dir: Path,
        progress: bool = True,
        workers: int = 1,
    ) -> None:
        self.config, self.data_root, self.run_dir = config, Path(data_root), Path(run_dir)
        self.progress, self.workers = progress, workers
        self.bank: ResidualBank | None = None
        self.labels = load_labels(self.data_root)
        self.flip = self.labels.flip_ids()
        self._eval: list[LandmarkClip] | None = None

    def clips(self, split: str) -> list[LandmarkClip]:
        c = self.config
        return load_landmark_clips(self.data_root, split, self.labels, c.model.fps, c.max_clips)

    def steps(self, points: np.ndarray, labels: np.ndarray) -> tuple[Tensor, Tensor]:
        """A clip's step windows ``[n, R, F]`` and their classes ``[n]`` (frame 4k + 3)."""
        m = self.config.model
        windows = step_windows(normalise(points, m.use_z, m.min_visibility), m)
        targets = torch.from_numpy(labels[m.frames_per_step - 1 :: m.frames_per_step])
        return windows, targets[: len(windows)]

    def build_model(self) -> PoseClassifier:
        c = self.config
        return PoseClassifier(c.model, len(self.labels.fine_grained), c.dropout)

    def train_dataset(self) -> StepDataset:
        if self.config.residuals.workouts > 0 and self.bank is None:
            self.bank = record_errors(
                self.config, self.data_root, self.run_dir, self.workers, self.progress
            )
        return StepDataset(self, self.clips(self.config.train_split), self.config.loop.seed)

    def collate(self, items: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return torch.cat([w for w, _ in items]), torch.cat([t for _, t in items])

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict]:
        windows, targets = batch
        device = next(model.parameters()).device
        logits = model(windows.to(device))
        targets = targets.to(device)
        loss = F.cross_entropy(logits, targets, ignore_index=IGNORE)
        acc = float((logits.argmax(-1) == targets).float().mean())
        return loss, {"train_step_accuracy": acc}

    @torch.no_grad()
    def predict(self, model: PoseClassifier, clip: LandmarkClip) -> Tensor:
        """Whole-clip logits ``[n, K]`` (what ``evaluate_clips`` reads)."""
        points = clip.points
        if self.config.eval_noise:
            rng = np.random.default_rng([self.config.loop.seed, zlib.crc32(clip.clip_id.encode())])
            points, _ = augment(
                points, clip.width, clip.height, rng, replace(self.config.noise, mirror_p=0.0)
            )
        windows, _ = self.steps(points, clip.labels)
        was = model.training
        model.eval()
        logits = model(windows.to(next(model.parameters()).device)).float().cpu()
        model.train(was)
        return logits

    def evaluate(self, model: nn.Module, out_dir: Path) -> dict[str, float]:
        if self._eval is None:
            self._eval = self.clips(self.config.eval_split)
        return evaluate_clips(self, model, self._eval, out_dir)  # type: ignore[arg-type]

    def export(self, model: nn.Module, run_dir: Path) -> None:
        """``<run>/pose/``: the encoder and its activity head."""
        core = getattr(model, "module", model)
        save_front_end(core.encoder, run_dir / POSE_DIR)
        head = ActivityHead.from_classifier(core.head[1], list(self.labels.fine_grained))
        head.save_pretrained(run_dir / POSE_DIR)


def record_errors(
    config: PoseStageConfig, data_root: Path, run_dir: Path, workers: int = 1, progress: bool = True
) -> ResidualBank:
    """The estimator's errors on ``config.residuals.workouts`` train workouts (the first
    ``residuals.seconds`` of each, or all): ``<run>/residuals.safetensors`` (recorded once; a
    rerun reads it)."""
    r = config.residuals
    bank_file = Path(run_dir) / BANK_FILE
    return collect_residuals(
        data_root, bank_file, r.workouts, workers, progress=progress, seconds=r.seconds
    )


# video_size (livefit.vision.preprocess) is re-exported for older imports.
__all__ = [
    "POSE_DIR",
    "LandmarkClip",
    "PoseClassifier",
    "PoseStageConfig",
    "PoseTask",
    "load_landmark_clips",
    "video_size",
]
