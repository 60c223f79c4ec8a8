"""Feature extraction job: every video of a split -> ``efficientnet_features/`` in the QEVD layout.

Sits between the data on disk and the language model: for each long-range workout (or short clip)
it decodes and preprocesses the video (``livefit.vision.preprocess``), runs the causal CNN in clip
mode with the stream warm-up (``livefit.vision.cnn.extract_clip`` semantics, in chunks so memory
stays flat) and writes

    <split dir>/efficientnet_features/long_range_videos/<id>_features.npy    [N, C, h, w] float32
    <split dir>/efficientnet_features/long_range_videos/<id>_timestamps.npy  [N] float64 seconds

(``videos/`` instead of ``long_range_videos/`` for the short clips). Feature step k ends on the
16 fps frame ``4k + 3``; its timestamp is the capture time (shifted clock, ``ns / 1e9 + 28800``)
of the source frame that 16 fps frame came from, so ``livefit.data.qevd`` lines features up with
segment time spans.

The job is resumable (a video whose two files exist is skipped; both are written atomically,
timestamps last), records failures in ``failures_rank<r>.json`` and goes on, and shards the videos
over processes by ``RANK`` / ``WORLD_SIZE`` (set by ``accelerate launch`` and ``torchrun``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from livefit.data.clips import clips_root, load_clips
from livefit.data.qevd import FEATURES_DIR, load_workouts, split_dir
from livefit.io import atomic_save_npy, atomic_write_json
from livefit.vision.cnn import CausalCNN
from livefit.vision.preprocess import PreprocessConfig, iter_preprocessed, load_timestamps


@dataclass(frozen=True)
class Job:
    """One video to extract."""

    name: str  # the video's path relative to its split folder
    video: Path
    timestamps: Path  # per-frame UNIX ns
    features_out: Path
    timestamps_out: Path

    def done(self) -> bool:
        return self.features_out.is_file() and self.timestamps_out.is_file()


def _job(split_root: Path, video_file: str, timestamps_file: str) -> Job:
    rel = Path(video_file).with_suffix("")
    out = split_root / FEATURES_DIR / rel.parent
    return Job(
        name=video_file,
        video=split_root / video_file,
        timestamps=split_root / timestamps_file,
        features_out=out / f"{rel.name}_features.npy",
        timestamps_out=out / f"{rel.name}_timestamps.npy",
    )


def list_jobs(data_root: str | Path, split: str, clips: bool = False) -> tuple[Path, list[Job]]:
    """The split folder and its videos, in a fixed order (the same in every process)."""
    if clips:
        root = clips_root(data_root) / split
        jobs = [
            Job(c.clip_id, c.video, c.video_timestamps, c.features, c.feature_timestamps)
            for c in load_clips(data_root, split)  # type: ignore[arg-type]
        ]
    else:
        root = split_dir(data_root, split)  # type: ignore[arg-type]
        workouts = load_workouts(data_root, split)  # type: ignore[arg-type]
        jobs = [_job(root, w.video_file, w.video_timestamps_file) for w in workouts]
    return root, sorted(jobs, key=lambda j: j.name)


def shard(jobs: list[Job], rank: int, world_size: int) -> list[Job]:
    """Round-robin share of process ``rank``: every job in exactly one shard."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world size {world_size}")
    return jobs[rank::world_size]


def dist_rank() -> tuple[int, int]:
    """``(rank, world size)`` from the launcher's environment; ``(0, 1)`` when run alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


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
    preprocess = preprocess or PreprocessConfig(height=cfg.input_height, width=cfg.input_width)
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


@dataclass
class ExtractionSummary:
    done: int = 0
    skipped: int = 0
    failed: list[dict] | None = None


def run_extraction(
    data_root: str | Path,
    split: str,
    model: CausalCNN,
    clips: bool = False,
    rank: int = 0,
    world_size: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractionSummary:
    """Extract this process's shard of a split; failures are recorded, not raised."""
    from tqdm import tqdm

    root, jobs = list_jobs(data_root, split, clips)
    mine = shard(jobs, rank, world_size)
    summary = ExtractionSummary(failed=[])
    bar = tqdm(mine, desc=f"features {split} [{rank}/{world_size}]", disable=not progress)
    for job in bar:
        if job.done() and not overwrite:
            summary.skipped += 1
            continue
        try:
            features, times = extract_video(model, job.video, job.timestamps)
        except (ValueError, OSError) as err:  # VideoError is a ValueError
            summary.failed.append({"video": str(job.video), "error": str(err)})
            continue
        atomic_save_npy(job.features_out, features)
        atomic_save_npy(job.timestamps_out, times)  # written last: marks the video as done
        summary.done += 1
    failures = root / FEATURES_DIR / f"failures_rank{rank}.json"
    if summary.failed:
        atomic_write_json(failures, summary.failed)
    elif failures.is_file():
        failures.unlink()
    return summary


def _extract_shard(args: tuple) -> ExtractionSummary:
    data_root, split, model_path, clips, rank, world_size, overwrite, progress = args
    from livefit.vision.weights import load_model

    torch.set_num_threads(1)  # one process per core
    model = load_model(model_path)
    return run_extraction(
        data_root, split, model, clips, rank, world_size, overwrite, progress and rank == 0
    )


def run_extraction_parallel(
    data_root: str | Path,
    split: str,
    model_path: str | Path,
    clips: bool = False,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractionSummary:
    """``run_extraction`` over ``workers`` local processes (one thread each, the videos sharded
    round-robin as across ``RANK``s); the bar shows the first shard. Decoding is single-threaded,
    so on a CPU this is up to ``workers`` times faster than one process with many threads."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    if workers <= 1:
        from livefit.vision.weights import load_model

        return run_extraction(
            data_root, split, load_model(model_path), clips, 0, 1, overwrite, progress
        )
    shards = [
        (data_root, split, model_path, clips, rank, workers, overwrite, progress)
        for rank in range(workers)
    ]
    total = ExtractionSummary(failed=[])
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for part in pool.map(_extract_shard, shards):
            total.done += part.done
            total.skipped += part.skipped
            total.failed += part.failed or []
    return total
