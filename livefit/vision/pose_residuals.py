"""The pose estimator's own errors, recorded on training renders and replayed on true landmarks
(training only), so the pose encoder and the coach learn from landmarks that look like the ones
they will be fed.

Why: on QEVD-SIM renders the estimator's landmarks differ from the sidecar's truth by 0.1-0.35
torso lengths per point, with a bias per point (the renderer's face and hips sit where the
estimator's do not) and errors that persist for seconds. ``DetectorNoise`` (white jitter, point
drop-outs) has neither, and a coach trained on it loses a tenth of its temporal F-score on
estimated landmarks. The residual bank keeps the real thing:

- ``collect_residuals``: the estimator on a few training workouts (never a test split); per 16 fps
  frame, (estimated - true) x, y in units of the true torso length, and which points the
  estimator reported as seen. One file per workout (a rerun resumes), then one bank file
  (safetensors plus its sources and the estimator's settings in the metadata).
- ``ResidualBank.apply``: a clip's true landmarks plus a contiguous run of recorded residuals
  (from a random start, mirrored with left and right swapped half the time), scaled by the clip's
  own torso length per frame; the recorded seen flags replace the clip's visibility, so missed
  frames and drop-outs come with their real timing.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livefit.data.landmarks import FLIP_INDEX, NUM_LANDMARKS, read_sidecar, torso_length
from livefit.io import atomic_write
from livefit.vision.jobs import list_jobs
from livefit.vision.pose_estimator import PoseEstimator
from livefit.vision.preprocess import (
    first_seconds,
    load_timestamps,
    resample_indices,
    video_size,
)

BANK_FILE = "residuals.safetensors"


def residuals(
    estimated: np.ndarray, truth: np.ndarray, min_visibility: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Paired ``[T, 33, 4]`` tracks -> (``[T, 33, 2]`` float32 error in true torso lengths, zero
    where the estimator saw nothing; ``[T, 33]`` bool: the estimator reported the point)."""
    seen = estimated[..., 3] >= min_visibility
    torso = np.maximum(torso_length(truth), 1e-3)[:, None, None]
    error = (estimated[..., :2] - truth[..., :2]) / torso
    return (error * seen[..., None]).astype(np.float32), seen


@dataclass
class ResidualBank:
    """Recorded estimator errors, frame by frame, end to end over the recordings."""

    error: np.ndarray  # [N, 33, 2] float32, torso lengths
    seen: np.ndarray  # [N, 33] bool
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        if self.error.shape[1:] != (NUM_LANDMARKS, 2) or self.seen.shape != self.error.shape[:2]:
            shapes = f"error {list(self.error.shape)} and seen {list(self.seen.shape)}"
            raise ValueError(f"residual bank: {shapes} do not fit [N, 33, 2] / [N, 33]")
        if len(self.error) == 0:
            raise ValueError("residual bank: no frames")

    def __len__(self) -> int:
        return len(self.error)

    def apply(self, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``[T, 33, 4]`` true landmarks -> the same frames with a recorded run of estimator
        errors (random start, wrapping around; mirrored half the time)."""
        n = len(points)
        index = (int(rng.integers(len(self))) + np.arange(n)) % len(self)
        error, seen = self.error[index], self.seen[index]
        if rng.random() < 0.5:  # the mirror image's errors: x flips sign, left and right swap
            error = error[:, FLIP_INDEX] * np.array([-1.0, 1.0], np.float32)
            seen = seen[:, FLIP_INDEX]
        out = points.astype(np.float32, copy=True)
        out[..., :2] += error * torso_length(points)[:, None, None]
        out[..., 3] *= seen
        return out

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save

        tensors = {"error": self.error.astype(np.float32), "seen": self.seen.astype(np.uint8)}
        blob = save(tensors, metadata={"meta": json.dumps(self.meta)})
        atomic_write(path, lambda f: f.write(blob))

    @classmethod
    def load(cls, path: str | Path) -> ResidualBank:
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no residual bank there")
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = json.loads((f.metadata() or {}).get("meta", "{}"))
                error, seen = f.get_tensor("error"), f.get_tensor("seen").astype(bool)
        except Exception as e:  # safetensors raises its own types for a damaged file
            raise ValueError(f"{path}: not a residual bank ({e})") from None
        return cls(error.astype(np.float32), seen, meta)

    def summary(self) -> dict[str, float]:
        """RMS error per point (torso lengths) over seen points, and the seen rate."""
        sq = (self.error**2).sum(-1)
        rms = np.sqrt(sq[self.seen].mean()) if self.seen.any() else 0.0
        return {"frames": len(self), "rms_error": float(rms), "seen": float(self.seen.mean())}


@dataclass(frozen=True)
class ResidualsConfig:
    """Training with the estimator's recorded errors (``livefit.vision.pose_residuals``)."""

    workouts: int = 0
    """Training workouts the estimator runs on to record its errors (0 = off: DetectorNoise
    only). Spread evenly over the sorted train split."""
    share: float = 0.8
    """Stage 1: probability a clip gets recorded errors instead of DetectorNoise's jitter and
    drop-outs (camera zoom, shift and mirroring apply either way)."""
    features: bool = True
    """Stages 2-3: the train split's features are made from true landmarks plus recorded errors
    (one draw per video, fixed by its name); the test split's stay true."""
    seconds: float = 0.0
    """Seconds of each of those workouts the estimator runs on, from its start (0 = the whole
    workout; it costs about 20 ms a 16 fps frame on one core)."""


def bank_sources(data_root: str | Path, workouts: int) -> list[Any]:
    """The train workouts a bank of ``workouts`` records: evenly spread over the sorted split."""
    _, jobs = list_jobs(data_root, "train")
    if workouts <= 0 or not jobs:
        return []
    picks = np.unique(np.linspace(0, len(jobs) - 1, min(workouts, len(jobs))).round().astype(int))
    return [jobs[i] for i in picks]


def _record(args: tuple[str, str, str, str, float]) -> str:
    """One workout's residuals (its first ``seconds``; 0: all of it) into ``part`` (a worker
    process, one thread)."""
    video, timestamps, part, models, seconds = args
    import torch

    torch.set_num_threads(1)
    estimator = PoseEstimator.load(models or None)
    times = load_timestamps(Path(timestamps))
    width, height = video_size(Path(video))
    estimated = estimator.track(video, times, 16.0, seconds)
    cut = times[: first_seconds(times, seconds)] if seconds > 0 else times
    truth = read_sidecar(Path(video), times, width, height).take(resample_indices(cut, 16.0))
    error, seen = residuals(estimated.points, truth.points)

    def write(f: Any) -> None:
        np.savez(f, error=error, seen=seen, allow_pickle=False)

    atomic_write(part, write)
    return part


def collect_residuals(
    data_root: str | Path,
    out: str | Path,
    workouts: int,
    workers: int = 1,
    models: str | Path | None = None,
    progress: bool = True,
    seconds: float = 0.0,
) -> ResidualBank:
    """Record the estimator's errors on ``workouts`` train workouts of ``data_root`` (the first
    ``seconds`` of each; 0: all of it) into the bank file ``out`` (resumes: finished workouts are
    kept in ``out``'s ``.parts`` folder)."""
    from tqdm import tqdm

    out = Path(out)
    if out.is_file():
        return ResidualBank.load(out)
    jobs = bank_sources(data_root, workouts)
    if not jobs:
        raise ValueError(f"{data_root}: no train workouts to record the estimator's errors on")
    parts_dir = out.with_name(out.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    parts = [parts_dir / f"{job.name}.npz" for job in jobs]
    todo = [
        (str(j.video), str(j.timestamps), str(p), str(models or ""), float(seconds))
        for j, p in zip(jobs, parts, strict=True)
        if not p.is_file()
    ]
    bar = tqdm(
        total=len(jobs),
        initial=len(jobs) - len(todo),
        desc="estimator errors",
        unit="workout",
        disable=not progress,
    )
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
            for _ in pool.map(_record, todo):
                bar.update(1)
    bar.close()
    loaded = [np.load(p, allow_pickle=False) for p in parts]
    meta = {
        "sources": [str(Path(j.video).name) for j in jobs],
        "estimator": PoseEstimator.load(models).settings(),
        "unit": "true torso lengths",
        "fps": 16,
        "seconds_per_workout": float(seconds) if seconds > 0 else None,
    }
    bank = ResidualBank(
        np.concatenate([d["error"] for d in loaded]),
        np.concatenate([d["seen"] for d in loaded]),
        meta,
    )
    bank.meta["summary"] = bank.summary()
    bank.save(out)
    return bank


__all__ = [
    "BANK_FILE",
    "ResidualBank",
    "ResidualsConfig",
    "bank_sources",
    "collect_residuals",
    "residuals",
]
