"""Feature extraction job: every video of a split -> ``efficientnet_features/`` in the QEVD layout.

Sits between the data on disk and the language model: for each long-range workout (or short clip)
it asks the front end's producer (``livefit.vision.front_ends``: the causal CNN's
``livefit.vision.cnn_extract``, the pose encoder's ``livefit.vision.pose_extract``) for the
video's feature steps and writes

    <split dir>/efficientnet_features/long_range_videos/<id>_features.npy    [N, C, h, w] float32
    <split dir>/efficientnet_features/long_range_videos/<id>_timestamps.npy  [N] float64 seconds

(``videos/`` instead of ``long_range_videos/`` for the short clips). Feature step k ends on the
16 fps frame ``4k + 3``; its timestamp is the capture time (shifted clock, ``ns / 1e9 + 28800``)
of the source frame that 16 fps frame came from, so ``livefit.data.qevd`` lines features up with
segment time spans.

Every features folder records what produced it, in ``efficientnet_features/extraction.json``
(one per split, and one per clip split)::

    {"format": "livefit-features/1", "status": "in_progress" | "complete",
     "producer_id": <SHA-256 of "producer">,
     "producer": {"cnn": {"config": <CNNConfig>, "weights_sha256": <state dict SHA-256>},
                  "preprocess": <PreprocessConfig>},
     "overwrite": bool, "model_path": str | null, "written_by": {"livefit", "torch", "git"}, ...}

and every finished video its own ``<id>_provenance.json`` (``{"producer_id": ...}``), written
atomically after its two ``.npy`` files (features first, timestamps second). A video counts as
done only when its record names the folder's producer, so the job resumes exactly where it
stopped, and a rerun with another CNN or preprocessing is refused, naming what differs, unless
``overwrite`` (then every video is redone; the manifest says "in_progress" with the new producer
first, so a killed overwrite resumes with the new CNN and can never mix two). Feature files that
no manifest records (an older livefit, another tool) are refused rather than mixed in; overwrite
redoes them. Failures go to ``failures_rank<r>.json`` and the job goes on; the videos are sharded
over processes by ``RANK`` / ``WORLD_SIZE`` (set by ``accelerate launch`` and ``torchrun``). The
list of videos and its shards (``Job``, ``list_jobs``, ``shard``) come from the torch-free
``livefit.vision.jobs``.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from livefit.data.qevd import FEATURES_DIR
from livefit.io import atomic_save_npy, atomic_write_json
from livefit.provenance import (
    changed_settings,
    describe_changes,
    git_state,
    library_versions,
    settings_sha256,
)
from livefit.vision.front_end import FrontEndOptions, Producer
from livefit.vision.front_ends import front_end_of, load_front_end
from livefit.vision.jobs import Job, list_jobs, shard  # also imported from here
from livefit.vision.weights import load_model


def dist_rank() -> tuple[int, int]:
    """``(rank, world size)`` from the launcher's environment; ``(0, 1)`` when run alone."""
    values = {}
    for name, default in (("RANK", "0"), ("WORLD_SIZE", "1")):
        text = os.environ.get(name, default)
        try:
            values[name] = int(text)
        except ValueError:
            raise ValueError(f"environment variable {name}={text!r} is not an integer") from None
    if values["WORLD_SIZE"] < 1 or not 0 <= values["RANK"] < values["WORLD_SIZE"]:
        raise ValueError(f"RANK={values['RANK']} outside WORLD_SIZE={values['WORLD_SIZE']}")
    return values["RANK"], values["WORLD_SIZE"]


MANIFEST = "extraction.json"
MANIFEST_FORMAT = "livefit-features/1"


class ExtractionError(ValueError):
    """A features folder this run must not touch (another CNN's, unrecorded files); the message
    names the folder and what differs."""


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """A features folder's ``extraction.json`` (None when there is none)."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ExtractionError(f"{path}: unreadable extraction manifest ({err})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("producer"), dict):
        raise ExtractionError(f"{path}: not a livefit extraction manifest (no producer)")
    return manifest


def _differences(stored: dict[str, Any], now: dict[str, Any]) -> str:
    """``cnn.weights_sha256: '1a2b..' -> '3c4d..', ...`` with long values shortened."""
    parts = []
    for name in changed_settings(stored, now):
        text = describe_changes(stored, now, [name])
        parts.append(text if len(text) <= 120 else text[:117] + "...")
    return ", ".join(parts)


def _write_manifest(
    folder: Path,
    producer: dict[str, Any],
    status: str,
    overwrite: bool,
    model_path: str | Path | None,
) -> None:
    versions = library_versions(("livefit", "torch", "numpy"))
    atomic_write_json(
        folder / MANIFEST,
        {
            "format": MANIFEST_FORMAT,
            "status": status,
            "producer_id": settings_sha256(producer),
            "producer": producer,
            "overwrite": overwrite,
            "model_path": str(Path(model_path).resolve()) if model_path else None,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "written_by": {**versions, "git": git_state()},
        },
    )


def claim_folder(
    folder: Path,
    jobs: list[Job],
    producer: dict[str, Any],
    overwrite: bool,
    model_path: str | Path | None = None,
    work: bool = True,
) -> None:
    """Check that ``producer`` may write ``folder`` and record it there (status in_progress when
    there is ``work`` to do or the producer changes).

    Refused (``ExtractionError``) without ``overwrite`` when the manifest names another producer
    or when feature files exist that no manifest records. Another process of the same job may
    write the manifest while this one looks: it always does so before its first file, so the
    manifest is read again before files without one are called foreign."""
    stored = read_manifest(folder)
    if stored is None and not overwrite:
        strays = [j for j in jobs if j.has_output()]
        stored = read_manifest(folder) if strays else None
        if strays and stored is None:
            raise ExtractionError(
                f"{folder}: holds feature files that no {MANIFEST} records "
                f"({strays[0].features_out.name}, {len(strays)} video(s) in all: written by an "
                "older livefit or another tool), so they cannot be told apart from this CNN's; "
                "rerun with --overwrite to redo them with this model"
            )
    if stored is not None and stored.get("producer_id") != settings_sha256(producer):
        if not overwrite:
            raise ExtractionError(
                f"{folder}: features were extracted with other settings "
                f"({_differences(stored['producer'], producer)}); rerun with --overwrite to "
                "redo every video with this model"
            )
    same = stored is not None and stored.get("producer_id") == settings_sha256(producer)
    status = stored.get("status") if stored is not None else None
    if overwrite or not same or (work and status != "in_progress"):
        _write_manifest(folder, producer, "in_progress", overwrite, model_path)


def _finish_folder(folder: Path, jobs: list[Job], producer_id: str) -> bool:
    """Mark the manifest complete once every video of the split is done by this producer."""
    if not all(job.done(producer_id) for job in jobs):
        return False
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("status") != "complete":
        atomic_write_json(folder / MANIFEST, {**manifest, "status": "complete"})
    return True


def load_producer(
    model_path: str | Path,
    landmarks: str = "sidecar",
    noise: str | Path | None = None,
    device: Any = "cpu",
) -> Producer:
    """The producer of a front-end folder, whatever its type, or of a published CNN weights file
    (on ``device``). Pose: its landmarks from ``landmarks`` (the sidecar or the estimator);
    ``noise``: a residual bank whose recorded estimator errors are added to them (training
    features)."""
    options = FrontEndOptions(landmarks=landmarks, noise=noise, device=device)
    path = Path(model_path)
    front = (
        load_front_end(path, options) if path.is_dir() else front_end_of(load_model(path), options)
    )
    try:
        return front.producer()
    except ValueError as err:
        raise ValueError(f"{model_path}: {err}") from None


@dataclass
class ExtractionSummary:
    done: int = 0
    skipped: int = 0
    failed: list[dict] | None = None


def run_extraction(
    data_root: str | Path,
    split: str,
    model: nn.Module | Producer,
    clips: bool = False,
    rank: int = 0,
    world_size: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    model_path: str | Path | None = None,
) -> ExtractionSummary:
    """Extract this process's shard of a split; failures are recorded, not raised. Raises
    ``ExtractionError`` before any work when the folder belongs to another producer (see the
    module docstring); ``model_path`` is only recorded. ``model``: a CNN, or any producer
    (``settings()``, ``extract(job)``, e.g. the pose encoder's ``PoseProducer``)."""
    root, jobs = list_jobs(data_root, split, clips)
    mine = shard(jobs, rank, world_size)
    maker = front_end_of(model).producer() if isinstance(model, nn.Module) else model
    producer = maker.settings()
    producer_id = settings_sha256(producer)
    folder = root / FEATURES_DIR
    work = overwrite or not all(job.done(producer_id) for job in mine)
    claim_folder(folder, jobs, producer, overwrite, model_path, work)
    summary = ExtractionSummary(failed=[])
    bar = tqdm(mine, desc=f"features {split} [{rank}/{world_size}]", disable=not progress)
    for job in bar:
        if not overwrite and job.done(producer_id):
            summary.skipped += 1
            continue
        try:
            features, times = maker.extract(job)
        except (ValueError, OSError) as err:  # VideoError is a ValueError
            summary.failed.append({"video": str(job.video), "error": str(err)})
            continue
        atomic_save_npy(job.features_out, features)
        atomic_save_npy(job.timestamps_out, times)
        atomic_write_json(job.provenance_out, {"producer_id": producer_id})  # marks it done
        summary.done += 1
    failures = folder / f"failures_rank{rank}.json"
    if summary.failed:
        atomic_write_json(failures, summary.failed)
    elif failures.is_file():
        failures.unlink()
    _finish_folder(folder, jobs, producer_id)
    return summary


def _extract_shard(args: tuple) -> ExtractionSummary:
    data_root, split, model_path, clips, rank, world_size, overwrite, progress, landmarks, noise = (
        args
    )
    torch.set_num_threads(1)  # one process per core
    model = load_producer(model_path, landmarks, noise)
    return run_extraction(
        data_root,
        split,
        model,
        clips,
        rank,
        world_size,
        overwrite,
        progress and rank == 0,
        model_path,
    )


def run_extraction_parallel(
    data_root: str | Path,
    split: str,
    model_path: str | Path,
    clips: bool = False,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    landmarks: str = "sidecar",
    noise: str | Path | None = None,
) -> ExtractionSummary:
    """``run_extraction`` over ``workers`` local processes (one thread each, the videos sharded
    round-robin as across ``RANK``s); the bar shows the first shard. Decoding is single-threaded,
    so on a CPU this is up to ``workers`` times faster than one process with many threads."""
    if workers <= 1:
        producer = load_producer(model_path, landmarks, noise)
        return run_extraction(
            data_root, split, producer, clips, 0, 1, overwrite, progress, model_path
        )
    shards = [
        (data_root, split, model_path, clips, rank, workers, overwrite, progress, landmarks, noise)
        for rank in range(workers)
    ]
    total = ExtractionSummary(failed=[])
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for part in pool.map(_extract_shard, shards):
            total.done += part.done
            total.skipped += part.skipped
            total.failed += part.failed or []
    return total
