"""Reader for the QEVD-FIT-300K short-clip layout (docs/qevd-fit-300k.md).

First stage of the flow for the short clips: a data root -> validated ``Clip`` records and the
``Labels`` vocabulary that stage 1 (frame-wise fine-grained classification of the 3D CNN) and
stage 2 (question answering, end-of-clip feedback) train on. It is tolerant of extra keys and
strict about the ones it uses: a bad record raises ``ClipFormatError`` naming the file, the record
and the problem. The synthetic generator (``livefit.synth``) writes this layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from livefit.data.qevd import (
    FEATURES_DIR,
    MAX_FEEDBACK_CHARS,
    MAX_PATH_CHARS,
    QEVDFormatError,
    check_finite,
    load_feature_file,
    read_json_file,
    read_video_timestamps,
    record_name,
)

ClipSplit = Literal["train", "test"]
CLIPS_DIR = "QEVD-FIT-300K"
LABELS_FILE = "labels.json"
CLIPS_FILE = "clips.json"
QA_KINDS = ("high_level", "fine_grained")
# Size bounds of the two files, refused before they are read. labels.json: ~1,800 class names.
# clips.json: one label per frame, ~5 KB a clip; the full 300K release's train split in this
# layout would be ~1.5 GB (QEVD-SIM's presets write a few MB).
MAX_LABELS_BYTES = 16 * 2**20
MAX_CLIPS_BYTES = 2 * 2**30


class ClipFormatError(ValueError):
    """Input that breaks the QEVD-FIT-300K layout; the message names the file and the record."""


@dataclass(frozen=True)
class Labels:
    """The label vocabulary of ``labels.json``."""

    exercises: tuple[str, ...]  # coarse classes
    fine_grained: tuple[str, ...]  # index = class id
    flip: dict[str, str]  # classes swapped by a horizontal flip (others map to themselves)
    mistakes: tuple[str, ...]

    @property
    def fine_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.fine_grained)}

    @property
    def exercise_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.exercises)}

    def flip_ids(self) -> np.ndarray:
        """``[num_fine]`` int64: class id -> class id after a horizontal flip."""
        index = self.fine_index
        return np.array(
            [index[self.flip.get(name, name)] for name in self.fine_grained], dtype=np.int64
        )


@dataclass(frozen=True)
class QA:
    question: str
    answer: str
    kind: str  # high_level or fine_grained


@dataclass(frozen=True)
class Clip:
    """One short clip with its labels; paths are absolute."""

    clip_id: str
    video: Path
    video_timestamps: Path
    participant: str
    exercise: str
    fine_grained: tuple[str, ...]
    frame_labels: tuple[str, ...]  # one fine-grained class per video frame
    attributes: dict = field(hash=False)
    qa: tuple[QA, ...]
    feedbacks: tuple[str, ...]
    features: Path  # efficientnet_features/videos/<clip_id>_features.npy (optional)
    feature_timestamps: Path

    def frame_label_ids(self, labels: Labels) -> np.ndarray:
        """``[T]`` int64 fine-grained class ids of the frames."""
        index = labels.fine_index
        return np.array([index[c] for c in self.frame_labels], dtype=np.int64)

    def frame_times(self) -> np.ndarray:
        """``[T]`` float64 seconds on the shifted QEVD clock (checked: int64 ns, increasing)."""
        try:
            return read_video_timestamps(
                self.video_timestamps, f"{self.video_timestamps} (clip {self.clip_id})"
            )
        except QEVDFormatError as err:
            raise ClipFormatError(str(err)) from None

    def load_features(self) -> tuple[np.ndarray, np.ndarray]:
        """Features ``[N, C, H, W]`` and their times ``[N]`` (seconds, shifted clock); NaN or
        infinite values are an error naming the file."""
        try:
            feats, stamps = load_feature_file(self.features, self.feature_timestamps)
            out = np.asarray(feats, dtype=np.float32)
            check_finite(out, f"{self.features} (clip {self.clip_id})")
        except QEVDFormatError as err:
            raise ClipFormatError(str(err)) from None
        return out, stamps


def clips_root(data_root: str | Path) -> Path:
    return Path(data_root) / CLIPS_DIR


def load_labels(data_root: str | Path) -> Labels:
    """Parse and validate ``QEVD-FIT-300K/labels.json``."""
    path = clips_root(data_root) / LABELS_FILE
    data = _read_json(path, MAX_LABELS_BYTES)
    if not isinstance(data, dict):
        raise ClipFormatError(f"{path}: expected an object")
    for key in ("exercises", "fine_grained", "mistakes"):
        value = data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ClipFormatError(f"{path}: {key!r} must be a list of strings")
        if len(set(value)) != len(value):
            raise ClipFormatError(f"{path}: {key!r} has duplicate entries")
    flip = data.get("flip", {})
    if not isinstance(flip, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in flip.items()
    ):
        raise ClipFormatError(f"{path}: 'flip' must map class names to class names")
    known = set(data["fine_grained"])
    bad = sorted({k for k in flip if k not in known} | {v for v in flip.values() if v not in known})
    if bad:
        raise ClipFormatError(f"{path}: 'flip' names unknown fine-grained classes {bad[:5]}")
    if any(flip.get(flip[k]) != k for k in flip):
        raise ClipFormatError(f"{path}: 'flip' is not symmetric (a -> b needs b -> a)")
    return Labels(
        tuple(data["exercises"]), tuple(data["fine_grained"]), dict(flip), tuple(data["mistakes"])
    )


def _read_json(path: Path, max_bytes: int) -> object:
    if not path.is_file():
        raise ClipFormatError(f"{path}: file is missing")
    return read_json_file(path, max_bytes, ClipFormatError)


def _check(record: object, index: int, path: Path, labels: Labels | None) -> dict:
    if not isinstance(record, dict):
        raise ClipFormatError(f"{path}: record {index} is not an object")
    where = f"{path}: record {index} ({record_name(record.get('clip_id'))})"
    kinds = {
        "clip_id": str,
        "video_file": str,
        "video_timestamps": str,
        "participant": str,
        "exercise": str,
        "fine_grained": list,
        "frame_labels": list,
        "attributes": dict,
        "qa": list,
        "feedbacks": list,
    }
    for key, kind in kinds.items():
        if key not in record:
            raise ClipFormatError(f"{where}: missing key {key!r}")
        if not isinstance(record[key], kind):
            raise ClipFormatError(f"{where}: {key!r} should be a {kind.__name__}")
    for key in ("clip_id", "video_file", "video_timestamps"):
        if len(record[key]) > MAX_PATH_CHARS:
            raise ClipFormatError(
                f"{where}: {key!r} is {len(record[key]):,} characters, more than a path "
                f"({MAX_PATH_CHARS:,})"
            )
    for key in ("fine_grained", "frame_labels", "feedbacks"):
        if not all(isinstance(v, str) for v in record[key]):
            raise ClipFormatError(f"{where}: {key!r} must hold strings")
    if not record["frame_labels"]:
        raise ClipFormatError(f"{where}: 'frame_labels' is empty")
    for q in record["qa"]:
        if not (
            isinstance(q, dict)
            and isinstance(q.get("question"), str)
            and isinstance(q.get("answer"), str)
            and q.get("kind") in QA_KINDS
        ):
            raise ClipFormatError(
                f"{where}: each 'qa' entry needs string 'question'/'answer' and a 'kind' in "
                f"{list(QA_KINDS)}"
            )
    qa_texts = (text for q in record["qa"] for text in (q["question"], q["answer"]))
    if any(len(text) > MAX_FEEDBACK_CHARS for text in [*record["feedbacks"], *qa_texts]):
        raise ClipFormatError(
            f"{where}: a feedback, question or answer is longer than a spoken sentence "
            f"({MAX_FEEDBACK_CHARS:,} characters)"
        )
    if labels is not None:
        if record["exercise"] not in labels.exercise_index:
            raise ClipFormatError(
                f"{where}: exercise {record_name(record['exercise'])!r} not in labels.json"
            )
        index = labels.fine_index
        unknown = [c for c in record["frame_labels"] + record["fine_grained"] if c not in index]
        if unknown:
            raise ClipFormatError(
                f"{where}: fine-grained class {record_name(unknown[0])!r} not in labels.json"
            )
    return record


def load_clips(
    data_root: str | Path, split: ClipSplit = "train", check_files: bool = False
) -> list[Clip]:
    """All clips of a split, validated against ``labels.json``.

    ``check_files`` also checks that each video and timestamps file exists and that the number
    of timestamps equals the number of frame labels.
    """
    if split not in ("train", "test"):
        raise ClipFormatError(f"unknown split {split!r}: expected train or test")
    root = clips_root(data_root)
    labels = load_labels(data_root) if (root / LABELS_FILE).is_file() else None
    path = root / split / CLIPS_FILE
    records = _read_json(path, MAX_CLIPS_BYTES)
    if not isinstance(records, list):
        raise ClipFormatError(f"{path}: expected a list of clip records")
    split_dir = root / split
    clips = []
    seen: set[str] = set()
    for index, raw in enumerate(records):
        r = _check(raw, index, path, labels)
        if r["clip_id"] in seen:
            raise ClipFormatError(f"{path}: record {index}: duplicate clip_id {r['clip_id']!r}")
        seen.add(r["clip_id"])
        rel = Path(r["video_file"]).with_suffix("")
        feat_dir = split_dir / FEATURES_DIR / rel.parent
        clip = Clip(
            clip_id=r["clip_id"],
            video=split_dir / r["video_file"],
            video_timestamps=split_dir / r["video_timestamps"],
            participant=r["participant"],
            exercise=r["exercise"],
            fine_grained=tuple(r["fine_grained"]),
            frame_labels=tuple(r["frame_labels"]),
            attributes=r["attributes"],
            qa=tuple(QA(q["question"], q["answer"], q["kind"]) for q in r["qa"]),
            feedbacks=tuple(r["feedbacks"]),
            features=feat_dir / f"{rel.name}_features.npy",
            feature_timestamps=feat_dir / f"{rel.name}_timestamps.npy",
        )
        if check_files:
            _check_files(clip, f"{path}: record {index} ({clip.clip_id})")
        clips.append(clip)
    return clips


def _check_files(clip: Clip, where: str) -> None:
    if not clip.video.is_file():
        raise ClipFormatError(f"{where}: video {clip.video} is missing")
    if not clip.video_timestamps.is_file():
        raise ClipFormatError(f"{where}: timestamps {clip.video_timestamps} are missing")
    try:
        seconds = read_video_timestamps(clip.video_timestamps, f"{where}: {clip.video_timestamps}")
    except QEVDFormatError as err:
        raise ClipFormatError(str(err)) from None
    if len(seconds) != len(clip.frame_labels):
        raise ClipFormatError(
            f"{where}: {seconds.shape} timestamps but {len(clip.frame_labels)} frame labels"
        )


__all__ = [
    "CLIPS_DIR",
    "QA",
    "Clip",
    "ClipFormatError",
    "Labels",
    "clips_root",
    "load_clips",
    "load_labels",
]
