"""The videos a features job works through: one ``Job`` per video of a split (its input files
and the three files extraction writes for it), listed in a fixed order and sharded over processes.

Torch-free, so that what only needs the list of a split's videos (the residual bank's workouts,
the demo, the benchmarks) does not load the CNN: ``livefit.vision.extract`` runs the jobs. Paths
follow the QEVD layout (``livefit.data.qevd``: ``<split dir>/efficientnet_features/...``) and,
with ``clips=True``, the short clips' (``livefit.data.clips``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from livefit.data.clips import clips_root, load_clips
from livefit.data.qevd import FEATURES_DIR, load_workouts, split_dir


@dataclass(frozen=True)
class Job:
    """One video to extract."""

    name: str  # the video's path relative to its split folder
    video: Path
    timestamps: Path  # per-frame UNIX ns
    features_out: Path
    timestamps_out: Path

    @property
    def provenance_out(self) -> Path:
        """``<id>_provenance.json``: which producer wrote this video's two files (written last)."""
        stem = self.features_out.name.removesuffix(".npy").removesuffix("_features")
        return self.features_out.with_name(f"{stem}_provenance.json")

    def has_output(self) -> bool:
        return self.features_out.exists() or self.timestamps_out.exists()

    def done(self, producer_id: str) -> bool:
        """Both files are there and were written by ``producer_id``."""
        if not (self.features_out.is_file() and self.timestamps_out.is_file()):
            return False
        try:
            record = json.loads(self.provenance_out.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(record, dict) and record.get("producer_id") == producer_id


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


__all__ = ["Job", "list_jobs", "shard"]
