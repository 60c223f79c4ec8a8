"""Stage 1: train the causal 3D CNN on the short clips' fine-grained labels (frame-wise CE).

Plugs into ``livefit.train.loop.fit`` as a ``Task``. Data: the QEVD-FIT-300K layout
(docs/qevd-fit-300k.md), each clip decoded once through the paper's preprocessing
(``livefit.vision.preprocess``, 16 fps) and cached as uint8 in ``<run>/cache/``. Training
samples are random ``crop_frames``-frame crops with per-channel colour jitter and a horizontal
flip (p = 0.5) that swaps left/right classes through ``labels.json["flip"]``. Feature step k of a
crop is labelled with the class of 16 fps frame ``4k + 3`` (the last frame it consumed). With
``augment.stream_warmup`` a crop starts from the state a deployed stream starts from (its first
frame fed ``warmup_frames`` times) instead of the zero state, so training sees what deployment
sees (on synthetic ``small`` the mismatch cost about 2 points of per-step mistake accuracy).

Evaluation (held-out participants, the test split; whole clips with the stream warm-up):

- ``step_accuracy``: fine-grained class per feature step.
- ``exercise_accuracy``: per clip, the exercise with the highest mean probability over the clip's
  steps (a class's probability counts for its exercise) against the clip's ``exercise``.
- ``mistake_accuracy`` (the "main mistake" score): per feature step, over the clips of exercises
  that have at least one mistake class, the predicted mistake attribute (the mistake named by the
  predicted fine-grained class, or "none" when it names no mistake) against the true one.
- ``mistake_clip_accuracy``: the same attribute per clip, by majority over its steps.

Outputs per evaluation: ``report.json`` (metrics + per-class reports), ``report.txt``,
``confusion_fine.png``, ``confusion_exercise.png`` and ``predictions.jsonl`` (one line per clip).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm import tqdm

from livefit.config import bounded
from livefit.data.clips import Labels, load_labels
from livefit.data.clips import load_clips as read_clips
from livefit.data.labels import split_fine_label
from livefit.io import atomic_write, atomic_write_json, atomic_write_text
from livefit.train.loop import LoopConfig, OptimConfig
from livefit.train.report import (
    classification_report,
    confusion_matrix,
    format_report,
    plot_confusion,
)
from livefit.vision.activity import ActivityHead, exercise_of
from livefit.vision.cnn import CNNConfig, FrameClassifier
from livefit.vision.front_ends import save_front_end
from livefit.vision.preprocess import (
    PreprocessConfig,
    VideoError,
    iter_preprocessed,
    load_timestamps,
    resample_indices,
)

IGNORE = -100  # target of padded frames


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation (paper: 64-frame crops, colour jitter, flip p = 0.5)."""

    crop_frames: int = bounded(64, ge=1)  # 16 fps frames per training crop (paper 64, ~4 s)
    # probability of a horizontal flip (labels swapped left <-> right)
    flip_p: float = bounded(0.5, ge=0, le=1)
    jitter_gain: float = bounded(0.2, ge=0, le=1)  # per-channel gain drawn from [1 - g, 1 + g]
    jitter_offset: float = bounded(0.05, ge=0)  # per-channel offset drawn from [-o, o]
    # Start every crop as a stream starts when deployed: its first frame fed
    # ``model.warmup_frames`` times first (no gradient, batch-norm statistics left alone). Off =
    # crops start from the zero state, which the deployed stream never sees (the paper is silent).
    stream_warmup: bool = False


@dataclass(frozen=True)
class VisionStageConfig:
    """Stage 1 (vision): the paper-scale defaults are the paper's values."""

    model: CNNConfig = field(default_factory=CNNConfig)  # the CNN (paper: 224x160, 1280 x 7 x 5)
    dropout: float = bounded(0.2, ge=0, lt=1)  # classifier dropout before the Linear
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(epochs=500, batch_size=32))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-4))
    train_split: str = "train"  # clip split trained on
    eval_split: str = "test"  # held-out participants
    # use only the first N clips of each split (0 = all; for smoke runs)
    max_clips: int = bounded(0, ge=0)
    channels_last: bool = False  # NHWC weights and activations (about 1.5x faster on CPU here)
    # Weight of an extra cross-entropy on the exercise, whose probability is the sum of its fine
    # classes' probabilities (0 = the paper's loss: fine-grained cross-entropy only).
    exercise_loss_weight: float = bounded(0.0, ge=0)


def mistake_of(fine: str, labels: Labels) -> str:
    """The mistake a fine-grained class names, or ``"none"`` (good form, tempo variants...)."""
    variant = split_fine_label(fine)[1]
    return variant if variant in labels.mistakes else "none"


@dataclass
class DecodedClip:
    """A clip decoded at the model's input size and frame rate."""

    clip_id: str
    exercise: str
    frames: np.ndarray  # [T, 3, H, W] uint8, 16 fps
    labels: np.ndarray  # [T] int64 fine-grained class per 16 fps frame


def load_clips(
    data_root: Path,
    split: str,
    labels: Labels,
    model: CNNConfig,
    cache: Path | None,
    limit: int,
    progress: bool = True,
) -> list[DecodedClip]:
    """Decode (or read from the cache) every clip of a split at the model's input size."""
    records = read_clips(data_root, split)  # type: ignore[arg-type]
    if limit:
        records = records[:limit]
    pre = PreprocessConfig(fps=model.fps, height=model.input_height, width=model.input_width)
    cache_file = None
    if cache is not None:
        cache_file = cache / f"{split}_{len(records)}_{pre.height}x{pre.width}_{pre.fps:g}fps.npz"
        if cache_file.is_file():
            with np.load(cache_file) as data:  # each data[key] reads the array: once each
                frames, ids, offsets = data["frames"], data["labels"], data["offsets"]
            return [
                DecodedClip(
                    r.clip_id,
                    r.exercise,
                    frames[offsets[i] : offsets[i + 1]],
                    ids[offsets[i] : offsets[i + 1]],
                )
                for i, r in enumerate(records)
            ]
    clips = []

    for r in tqdm(records, desc=f"decode {split} clips", disable=not progress):
        times = load_timestamps(r.video_timestamps)
        frame_ids = r.frame_label_ids(labels)  # [T_video]
        if len(frame_ids) != len(times):
            raise VideoError(
                f"{r.video}: {len(r.frame_labels)} frame_labels in clips.json for "
                f"{len(times)} video timestamps"
            )
        frames = np.stack([f for f, _ in iter_preprocessed(r.video, times, pre)])
        picks = resample_indices(times, pre.fps)[: len(frames)]
        # C-contiguous, as the cache gives them back: the preprocessed frames are a transposed
        # view, and a strided input takes other conv kernels (other float summation order), so
        # a run that decodes and one that reads the cache (a resume) would differ in the last bit.
        u8 = np.ascontiguousarray(np.round(frames * 255).astype(np.uint8))
        clips.append(DecodedClip(r.clip_id, r.exercise, u8, frame_ids[picks]))
    if cache_file is not None:
        offsets = np.cumsum([0] + [len(c.frames) for c in clips])
        arrays = {
            "frames": np.concatenate([c.frames for c in clips]),
            "labels": np.concatenate([c.labels for c in clips]),
            "offsets": offsets,
        }
        atomic_write(cache_file, lambda f: np.savez(f, **arrays))
    return clips


Item = tuple[Tensor, Tensor, bool, Tensor, Tensor]  # frames, labels, flip, gain, offset


class CropDataset(Dataset):
    """Random temporal crops of the training clips with their augmentation draws (applied in
    ``VisionTask.collate``). The draws depend only on (seed, epoch, index), not on the global
    RNG, so a resumed run sees exactly the samples an uninterrupted one would."""

    def __init__(self, clips: list[DecodedClip], augment: AugmentConfig, seed: int):
        self.clips, self.augment, self.seed, self.epoch = clips, augment, seed, 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> Item:
        clip, aug = self.clips[i], self.augment
        rng = np.random.default_rng([self.seed, self.epoch, i])
        t = len(clip.frames)
        start = int(rng.integers(0, t - aug.crop_frames + 1)) if t > aug.crop_frames else 0
        flip = bool(rng.random() < aug.flip_p)
        gain = torch.from_numpy(1 + (rng.random(3) * 2 - 1) * aug.jitter_gain).float()
        offset = torch.from_numpy((rng.random(3) * 2 - 1) * aug.jitter_offset).float()
        frames = torch.from_numpy(clip.frames[start : start + aug.crop_frames])
        labels = torch.from_numpy(clip.labels[start : start + aug.crop_frames])
        if len(frames) < aug.crop_frames:  # short clip: pad the end (causal: earlier steps intact)
            pad = aug.crop_frames - len(frames)
            frames = torch.cat([frames, frames[-1:].expand(pad, *frames.shape[1:])])
            labels = torch.cat([labels, torch.full((pad,), IGNORE)])
        return frames, labels, flip, gain, offset


class VisionTask:
    """Stage 1 as a ``livefit.train.loop.Task``."""

    def __init__(
        self, config: VisionStageConfig, data_root: Path, run_dir: Path, progress: bool = True
    ):
        self.config, self.data_root, self.run_dir = config, Path(data_root), Path(run_dir)
        self.progress = progress
        self.labels = load_labels(self.data_root)
        self.flip = torch.from_numpy(self.labels.flip_ids())
        names = list(self.labels.fine_grained)
        exercises = sorted({exercise_of(n) for n in names})
        self.class_exercise = torch.tensor([exercises.index(exercise_of(n)) for n in names])  # [K]
        self._eval_clips: list[DecodedClip] | None = None

    def clips(self, split: str) -> list[DecodedClip]:
        cfg = self.config
        return load_clips(
            self.data_root,
            split,
            self.labels,
            cfg.model,
            self.run_dir / "cache",
            cfg.max_clips,
            self.progress,
        )

    def build_model(self) -> FrameClassifier:
        cfg = self.config
        model = FrameClassifier(cfg.model, len(self.labels.fine_grained), cfg.dropout)
        return model.to(memory_format=torch.channels_last) if cfg.channels_last else model

    def train_dataset(self) -> CropDataset:
        clips = self.clips(self.config.train_split)
        return CropDataset(clips, self.config.augment, self.config.loop.seed)

    def collate(self, items: list[Item]) -> tuple[Tensor, Tensor]:
        """Stack, scale to [0, 1], colour-jitter, flip; targets at each step's last frame."""
        step = self.config.model.frames_per_step
        # [B, T, 3, H, W], contiguous whatever the items' strides (the kernels, hence the bits,
        # depend on the layout)
        frames = torch.stack([it[0] for it in items]).contiguous().float() / 255
        labels = torch.stack([it[1] for it in items])  # [B, T]
        flip = torch.tensor([it[2] for it in items])  # [B]
        gain = torch.stack([it[3] for it in items])[:, None, :, None, None]  # [B, 1, 3, 1, 1]
        offset = torch.stack([it[4] for it in items])[:, None, :, None, None]
        frames = (frames * gain + offset).clamp(0, 1)
        frames[flip] = frames[flip].flip(-1)
        valid = labels >= 0
        flipped = torch.where(valid, self.flip[labels.clamp(min=0)], labels)
        labels = torch.where(flip[:, None], flipped, labels)
        return frames, labels[:, step - 1 :: step]  # [B, T/4] targets

    def crop_logits(self, model: nn.Module, frames: Tensor) -> Tensor:
        """Logits ``[B, n, K]`` of training crops ``[B, T, 3, H, W]``; with ``stream_warmup`` each
        crop first gets the deployed stream's warm-up (no gradient, running statistics kept)."""
        if not self.config.augment.stream_warmup:
            return model(frames)[0]
        backbone = getattr(model, "module", model).backbone  # under DDP: the wrapped model
        with torch.no_grad(), _frozen_norm_statistics(model):
            state = backbone.warm_up(frames[:, :1])
        return model(frames, state)[0]

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict]:
        frames, targets = batch
        logits = self.crop_logits(model, frames)  # [B, n, K]
        n = min(logits.shape[1], targets.shape[1])
        logits, targets = logits[:, :n], targets[:, :n]
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        valid = targets >= 0
        if self.config.exercise_loss_weight and valid.any():
            flat = logits[valid]  # [N, K]
            groups = self.class_exercise.to(flat.device)  # [K] exercise of each fine class
            mask = F.one_hot(groups).T.bool()  # [E, K]
            # log p(exercise) = logsumexp over its classes - logsumexp over all: [N, E]
            grouped = flat[:, None, :].masked_fill(~mask[None], float("-inf")).logsumexp(-1)
            log_p = grouped - flat.logsumexp(-1, keepdim=True)
            loss = loss + self.config.exercise_loss_weight * F.nll_loss(
                log_p, groups[targets[valid]]
            )
        acc = (logits.argmax(-1) == targets)[valid].float().mean().item() if valid.any() else 0.0
        return loss, {"train_step_accuracy": acc}

    @torch.no_grad()
    def predict(self, model: FrameClassifier, clip: DecodedClip) -> Tensor:
        """Whole-clip logits ``[n, K]`` with the stream warm-up, as deployed."""
        cfg = self.config.model
        device = next(model.parameters()).device
        usable = len(clip.frames) - len(clip.frames) % cfg.frames_per_step
        x = torch.from_numpy(clip.frames[:usable]).to(device).float()[None] / 255
        logits, _ = model(x, model.backbone.warm_up(x[:, :1]))
        return logits[0].float().cpu()

    def evaluate(self, model: nn.Module, out_dir: Path) -> dict[str, float]:
        if self._eval_clips is None:
            self._eval_clips = self.clips(self.config.eval_split)
        return evaluate_clips(self, model, self._eval_clips, out_dir)  # type: ignore[arg-type]

    def export(self, model: nn.Module, run_dir: Path) -> None:
        """``<run>/cnn/`` (backbone, for ``livefit features extract``, and its activity head, for
        the live app) and ``<run>/labels.json``."""
        save_front_end(model.backbone, run_dir / "cnn")  # type: ignore[arg-type]
        head = ActivityHead.from_classifier(model.head[1], list(self.labels.fine_grained))
        head.save_pretrained(run_dir / "cnn")
        atomic_write_json(
            run_dir / "labels.json",
            {
                "exercises": list(self.labels.exercises),
                "fine_grained": list(self.labels.fine_grained),
                "flip": self.labels.flip,
                "mistakes": list(self.labels.mistakes),
            },
        )


@contextmanager
def _frozen_norm_statistics(model: nn.Module) -> Iterator[None]:
    """Batch norms normalise with the batch's statistics but leave their running ones alone."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum


def _majority(values: list[str]) -> str:
    return Counter(values).most_common(1)[0][0] if values else "none"


def evaluate_clips(
    task: VisionTask, model: FrameClassifier, clips: list[DecodedClip], out_dir: Path
) -> dict[str, Any]:
    """Run every held-out clip, write the reports, return the headline metrics."""
    labels = task.labels
    step = task.config.model.frames_per_step
    names = list(labels.fine_grained)
    exercises = sorted({exercise_of(n) for n in names} | {c.exercise for c in clips})
    ex_index = {e: i for i, e in enumerate(exercises)}
    class_ex = torch.tensor([ex_index[exercise_of(n)] for n in names])
    has_mistakes = {exercise_of(n) for n in names if mistake_of(n, labels) != "none"}
    y_true, y_pred, ex_true, ex_pred = [], [], [], []
    m_true, m_pred, mc_true, mc_pred = [], [], [], []
    lines = []
    for clip in clips:
        logits = task.predict(model, clip)  # [n, K]
        target = torch.from_numpy(clip.labels[step - 1 :: step][: len(logits)])
        pred = logits.argmax(-1)
        probs = logits.softmax(-1)
        ex_probs = torch.zeros(len(logits), len(exercises)).index_add_(1, class_ex, probs)
        clip_ex = exercises[int(ex_probs.mean(0).argmax())] if len(logits) else "none"
        ex_true.append(ex_index[clip.exercise])
        ex_pred.append(ex_index.get(clip_ex, 0))
        y_true.extend(target.tolist())
        y_pred.extend(pred.tolist())
        if clip.exercise in has_mistakes:
            truth = [mistake_of(names[i], labels) for i in target.tolist()]
            guess = [mistake_of(names[i], labels) for i in pred.tolist()]
            m_true.extend(truth)
            m_pred.extend(guess)
            mc_true.append(_majority(truth))
            mc_pred.append(_majority(guess))
        lines.append(
            json.dumps(
                {
                    "clip_id": clip.clip_id,
                    "exercise": clip.exercise,
                    "predicted_exercise": clip_ex,
                    "steps": [names[i] for i in pred.tolist()],
                    "truth": [names[i] for i in target.tolist()],
                }
            )
        )
    y_true_a, y_pred_a = np.array(y_true, dtype=np.int64), np.array(y_pred, dtype=np.int64)
    fine = classification_report(y_true_a, y_pred_a, names)
    ex_report = classification_report(np.array(ex_true), np.array(ex_pred), exercises)
    mistake_names = sorted(set(m_true) | set(m_pred))
    m_idx = {m: i for i, m in enumerate(mistake_names)}
    mistake = classification_report(
        np.array([m_idx[m] for m in m_true], dtype=np.int64),
        np.array([m_idx[m] for m in m_pred], dtype=np.int64),
        mistake_names,
    )
    metrics = {
        "step_accuracy": fine["accuracy"],
        "exercise_accuracy": ex_report["accuracy"],
        "exercise_step_accuracy": float(
            np.mean(class_ex[y_true_a].numpy() == class_ex[y_pred_a].numpy()) if y_true else 0.0
        ),
        "mistake_accuracy": mistake["accuracy"],
        "mistake_clip_accuracy": float(np.mean(np.array(mc_true) == np.array(mc_pred)))
        if mc_true
        else 0.0,
        "clips": len(clips),
        "steps": len(y_true),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        out_dir / "report.json",
        {"metrics": metrics, "fine_grained": fine, "exercise": ex_report, "mistake": mistake},
    )
    text = "\n".join(
        f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in metrics.items()
    )
    text += "\n\n" + format_report(ex_report, "exercise (per clip)")
    text += "\n" + format_report(mistake, "mistake attribute (per step)")
    text += "\n" + format_report(fine, "fine-grained (per step)")
    atomic_write_text(out_dir / "report.txt", text)
    atomic_write_text(out_dir / "predictions.jsonl", "\n".join(lines) + "\n")
    fine_cm = confusion_matrix(y_true_a, y_pred_a, len(names))
    plot_confusion(fine_cm, names, out_dir / "confusion_fine.png", "fine-grained, per step")
    ex_cm = confusion_matrix(np.array(ex_true), np.array(ex_pred), len(exercises))
    plot_confusion(ex_cm, exercises, out_dir / "confusion_exercise.png", "exercise, per clip")
    return metrics
