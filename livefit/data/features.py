"""The feature files of the QEVD layout (``efficientnet_features/<id>_features.npy``), read.

What the long-range reader (``livefit.data.qevd``) and the short-clip reader
(``livefit.data.clips``) load features through, checked where they enter: per-step shape
``[C, H, W]`` (the release's ``PAPER_FEATURE_SHAPE`` or the CNN's own), finite values, timestamps
that are finite, strictly increasing seconds on the shifted clock, and not a folder whose
``--overwrite`` extraction (``livefit.vision.extract``) was interrupted. Each failure is a
``QEVDFormatError`` naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from livefit.data.qevd_format import (
    FEATURES_DIR,
    MAX_SECONDS,
    PAPER_FEATURE_SHAPE,
    QEVDFormatError,
    read_json_file,
)

EXTRACTION_MANIFEST = "extraction.json"  # written by livefit.vision.extract
MAX_MANIFEST_BYTES = 2**20  # a few hundred bytes when livefit wrote it


def check_extraction_finished(features: Path) -> None:
    """Refuse features from a folder whose ``--overwrite`` extraction was interrupted: until it is
    finished, the folder may hold two CNNs' features (``livefit.vision.extract`` records this in
    ``efficientnet_features/extraction.json``; folders without it are not checked)."""
    root = next((p for p in features.parents if p.name == FEATURES_DIR), None)
    manifest = root / EXTRACTION_MANIFEST if root is not None else None
    if manifest is None or not manifest.is_file():
        return
    try:
        record = read_json_file(manifest, MAX_MANIFEST_BYTES)
    except (OSError, ValueError):
        raise QEVDFormatError(f"{manifest}: unreadable extraction record") from None
    if (
        isinstance(record, dict)
        and record.get("status") == "in_progress"
        and record.get("overwrite")
    ):
        raise QEVDFormatError(
            f"{manifest}: a `livefit features extract --overwrite` was interrupted here, so the "
            "folder may hold two CNNs' features; rerun it with the same --model to finish"
        )


def load_feature_file(
    features: Path, timestamps: Path, expected_shape: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and memory-map one ``<id>_features.npy`` with its ``<id>_timestamps.npy``.

    Returns ``(features [N, C, H, W], timestamps [N] float64 seconds)``.
    """
    for path in (features, timestamps):
        if not path.is_file():
            raise QEVDFormatError(f"{path}: feature file is missing")
    check_extraction_finished(features)
    try:
        feats = np.load(features, mmap_mode="r", allow_pickle=False)
        stamps = np.asarray(np.load(timestamps, allow_pickle=False), dtype=np.float64)
    except (ValueError, OSError) as err:
        raise QEVDFormatError(f"{features}: unreadable feature file ({err})") from None
    if not np.issubdtype(feats.dtype, np.number):
        raise QEVDFormatError(f"{features}: expected float features, got dtype {feats.dtype}")
    if feats.ndim != 4:
        raise QEVDFormatError(
            f"{features}: expected features of shape [N, C, H, W] (the release: "
            f"[N, {', '.join(map(str, PAPER_FEATURE_SHAPE))}]), got {list(feats.shape)}"
        )
    if expected_shape is not None and tuple(feats.shape[1:]) != tuple(expected_shape):
        raise QEVDFormatError(
            f"{features}: expected per-step shape {list(expected_shape)}, "
            f"got {list(feats.shape[1:])}"
        )
    if stamps.ndim != 1:
        raise QEVDFormatError(f"{timestamps}: expected a 1-D array, got shape {list(stamps.shape)}")
    bad = np.flatnonzero(~np.isfinite(stamps))
    if bad.size:
        raise QEVDFormatError(f"{timestamps}: feature timestamp {bad[0]} is {stamps[bad[0]]}")
    if stamps.size and float(np.abs(stamps).max()) > MAX_SECONDS:
        raise QEVDFormatError(
            f"{timestamps}: feature timestamps must be seconds on the shifted clock, got values "
            f"up to {float(np.abs(stamps).max()):.4g} (nanoseconds?)"
        )
    if len(stamps) != len(feats):
        raise QEVDFormatError(
            f"{timestamps}: {len(stamps)} timestamps for {len(feats)} feature steps in {features}"
        )
    bad = np.flatnonzero(np.diff(stamps) <= 0)
    if bad.size:
        raise QEVDFormatError(
            f"{timestamps}: feature timestamps are not strictly increasing (step {bad[0] + 1})"
        )
    return feats, stamps


def check_finite(values: np.ndarray, where: str, chunk: int = 256) -> None:
    """Raise naming ``where`` and the first step if ``values [N, ...]`` holds NaN or inf.

    Works in chunks of steps, so a memory-mapped file is scanned without loading it whole.
    """
    for lo in range(0, len(values), chunk):
        block = np.asarray(values[lo : lo + chunk])
        finite = np.isfinite(block).reshape(len(block), -1).all(axis=1)
        if not finite.all():
            step = lo + int(np.flatnonzero(~finite)[0])
            raise QEVDFormatError(f"{where}: feature step {step} holds NaN or infinite values")


__all__ = [
    "EXTRACTION_MANIFEST",
    "MAX_MANIFEST_BYTES",
    "check_extraction_finished",
    "check_finite",
    "load_feature_file",
]
