"""Data of the language-model stages: QEVD records + their feature steps -> training sequences
(``livefit.model.sequences``) -> padded batches for ``StreamVLM.forward``.

Features are read from the data root's ``efficientnet_features/`` folders, written beforehand
by ``livefit features extract`` with the stage-1 CNN (``--clips`` for the short clips): the
language model trains on exactly the files it is later evaluated on, and the CNN runs once per
video instead of once per epoch. A missing feature file is an error that names it and the
command that writes it.

Stage 2 items: one per (clip, question) pair (the clip's feedbacks answer "Please provide a
feedback for the user."). Stage 3 items: one per exercise segment of the long-range train split.
Validation holds out whole participants (clips) or whole workouts (segments), never samples of
the ones trained on.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from livefit.data.clips import Clip
from livefit.data.prompts import SHORT_CLIP_FEEDBACK_QUESTION
from livefit.data.qevd import QEVDFormatError, Segment
from livefit.model.clock import PaperClock
from livefit.model.sequences import Sequence, clip_sequence, segment_sequence, turn_sequence
from livefit.model.tokens import SpecialIds

IGNORE = -100  # label of positions without loss
CLIP_ITEMS = ("feedback", "high_level", "fine_grained")


def feature_tokens(features: np.ndarray) -> np.ndarray:
    """``[n, C, H, W]`` feature maps -> ``[n, H*W, C]`` spatial vectors (what adapters read)."""
    n, c = features.shape[:2]
    return np.ascontiguousarray(features.reshape(n, c, -1).transpose(0, 2, 1))


def _missing(path: Path, clips: bool) -> QEVDFormatError:
    flag = " --clips" if clips else ""
    return QEVDFormatError(
        f"{path}: feature file is missing; write the features first with "
        f"`livefit features extract DATA_ROOT --split SPLIT{flag} --model CNN_DIR`"
    )


def clip_features(clip: Clip) -> np.ndarray:
    """A clip's feature steps ``[n, N, C]``."""
    if not clip.features.is_file():
        raise _missing(clip.features, clips=True)
    feats, _ = clip.load_features()
    return feature_tokens(feats)


def segment_features(segment: Segment) -> np.ndarray:
    """A segment's feature steps ``[n, N, C]`` (those with start < t <= end)."""
    if not segment.features.is_file():
        raise _missing(segment.features, clips=False)
    feats, _ = segment.load_features()
    return feature_tokens(feats)


@dataclass(frozen=True)
class Item:
    """One training sequence and the feature steps its ``<vision>`` tokens read from."""

    sequence: Sequence
    features: np.ndarray  # [n, N, C] all steps of the clip or segment (shared between items)
    source: str  # clip or segment id


class SequenceDataset(Dataset):
    def __init__(self, items: list[Item]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Item:
        return self.items[i]


def clip_items(
    clips: Seq[Clip],
    tokenizer,
    ids: SpecialIds,
    kinds: Seq[str] = CLIP_ITEMS,
    max_feedback_tokens: int = 128,
) -> list[Item]:
    """Stage-2 items of ``clips``: one per question of a kind in ``kinds`` and per feedback."""
    bad = sorted(set(kinds) - set(CLIP_ITEMS))
    if bad:
        raise ValueError(f"unknown clip item kinds {bad}: expected some of {list(CLIP_ITEMS)}")
    items = []
    for clip in clips:
        feats = clip_features(clip)
        if len(feats) == 0:
            continue
        pairs = [(q.question, q.answer) for q in clip.qa if q.kind in kinds]
        if "feedback" in kinds:
            pairs += [(SHORT_CLIP_FEEDBACK_QUESTION, fb) for fb in clip.feedbacks]
        for question, answer in pairs:
            seq = clip_sequence(
                tokenizer,
                ids,
                len(feats),
                question,
                answer,
                max_feedback_tokens=max_feedback_tokens,
            )
            items.append(Item(seq, feats, clip.clip_id))
    return items


def segment_items(
    segments: Seq[Segment],
    tokenizer,
    ids: SpecialIds,
    system: str | None,
    clock: PaperClock,
    max_feedback_tokens: int = 128,
    turn_every_s: float | None = None,
) -> tuple[list[Item], dict[str, int]]:
    """Stage-3 items, one per segment; ``system`` None: each segment's own prompt. Returns the
    items and counts (segments, feedbacks placed and not placed). ``turn_every_s``: sequences of
    a turn-based model (``turn_sequence``, an answer every that many seconds) instead."""
    items = []
    counts = {"segments": 0, "feedbacks": 0, "placed": 0, "unplaced": 0, "too_short": 0}
    for seg in segments:
        feats = segment_features(seg)
        if turn_every_s is None:
            seq = segment_sequence(
                tokenizer,
                ids,
                system or seg.system,
                len(feats),
                seg.response_times,
                seg.responses,
                clock,
                max_feedback_tokens,
            )
        else:
            seq = turn_sequence(
                tokenizer,
                ids,
                system or seg.system,
                len(feats),
                seg.response_times,
                seg.responses,
                turn_every_s,
                clock,
                max_feedback_tokens,
            )
        counts["feedbacks"] += len(seg.responses)
        if seq is None:
            counts["too_short"] += 1
            continue
        counts["segments"] += 1
        counts["placed"] += len(seq.placed)
        counts["unplaced"] += seq.unplaced
        items.append(Item(seq, feats, seg.segment_id))
    return items, counts


@dataclass
class Batch:
    ids: Tensor  # (B, T) long, right-padded
    labels: Tensor  # (B, T) long: the token where the loss is on it, else IGNORE
    attention_mask: Tensor | None  # (B, T) 1 = real token; None when nothing is padded
    features: Tensor  # (B, S, N, C): the k-th <vision> of row b reads features[b, k]
    times: Tensor  # (B, S): seconds of those steps (read by models with time features)

    def to(self, device: torch.device) -> Batch:
        mask = None if self.attention_mask is None else self.attention_mask.to(device)
        return Batch(
            self.ids.to(device),
            self.labels.to(device),
            mask,
            self.features.to(device),
            self.times.to(device),
        )


def collate(items: list[Item], pad_id: int, steps_per_second: float = 4.0) -> Batch:
    """Right-pad the sequences and gather each row's feature steps in ``<vision>`` order (their
    times: step index / ``steps_per_second``, the engine's paper clock)."""
    b = len(items)
    t = max(len(it.sequence) for it in items)
    s = max(len(it.sequence.steps) for it in items)
    n, c = items[0].features.shape[1:]
    ids = torch.full((b, t), pad_id, dtype=torch.long)
    labels = torch.full((b, t), IGNORE, dtype=torch.long)
    mask = torch.zeros(b, t, dtype=torch.long)
    feats = torch.zeros(b, s, n, c)
    times = torch.zeros(b, s)
    for row, it in enumerate(items):
        seq = it.sequence
        length = len(seq)
        ids[row, :length] = torch.tensor(seq.ids)
        target = torch.tensor(seq.targets)
        labels[row, :length] = torch.where(target, ids[row, :length], IGNORE)
        mask[row, :length] = 1
        feats[row, : len(seq.steps)] = torch.from_numpy(it.features[list(seq.steps)])
        times[row, : len(seq.steps)] = torch.tensor(seq.steps, dtype=torch.float32)
    times /= steps_per_second
    return Batch(ids, labels, None if bool(mask.all()) else mask, feats, times)


__all__ = [
    "CLIP_ITEMS",
    "IGNORE",
    "Batch",
    "Item",
    "SequenceDataset",
    "clip_features",
    "clip_items",
    "collate",
    "feature_tokens",
    "segment_features",
    "segment_items",
]
