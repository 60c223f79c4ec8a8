"""Pose features of a video, in the official features layout (``livefit features extract
--vision pose``): the landmark front end's twin of the CNN's ``extract_video``.

Flow per video: its 33 landmarks per frame, either the true ones of QEVD-SIM's sidecar
(``landmarks="sidecar"``) or the pose estimator's on the decoded frames (``"estimator"``,
``livefit.vision.pose_estimator``) -> resampled to 16 fps on the capture clock (the CNN's rule)
-> the causal pose encoder (``livefit.vision.pose``) -> feature steps ``[N, C, 1, tokens]``, step
k ending on 16 fps frame 4k + 3 with that frame's capture time, like the CNN's. The settings that
decide the bytes (encoder config and weights hash, landmark source and estimator settings) are
the producer recorded in ``extraction.json``, so pose features and CNN features never mix.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livefit.config import config_to_dict
from livefit.data.landmarks import LandmarkTrack, read_sidecar
from livefit.provenance import state_dict_sha256
from livefit.vision.pose import PoseEncoder
from livefit.vision.pose_estimator import PoseEstimator
from livefit.vision.pose_residuals import ResidualBank
from livefit.vision.preprocess import load_timestamps, resample_indices, video_size

LANDMARK_SOURCES = ("sidecar", "estimator")


class PoseProducer:
    """The pose encoder plus a landmark source, as ``run_extraction``'s producer."""

    def __init__(
        self,
        encoder: PoseEncoder,
        landmarks: str = "sidecar",
        estimator: Any = None,
        noise: ResidualBank | None = None,
        noise_seed: int = 0,
    ) -> None:
        if landmarks not in LANDMARK_SOURCES:
            raise ValueError(f"unknown landmark source {landmarks!r}: expected {LANDMARK_SOURCES}")
        if landmarks == "estimator" and estimator is None:
            estimator = PoseEstimator.load()
        self.encoder, self.landmarks, self.estimator = encoder.eval(), landmarks, estimator
        self.noise, self.noise_seed = noise, noise_seed
        self.tracks: dict[str, LandmarkTrack] | None = None  # {} keeps every video's landmarks

    def settings(self) -> dict[str, Any]:
        source: dict[str, Any] = {"source": self.landmarks}
        if self.estimator is not None:
            source["estimator"] = self.estimator.settings()
        if self.noise is not None:
            blob = self.noise.error.tobytes() + self.noise.seen.tobytes()
            source["recorded_errors"] = {
                "bank_sha256": hashlib.sha256(blob).hexdigest(),
                "frames": len(self.noise),
                "seed": self.noise_seed,
            }
        return {
            "pose": {
                "config": config_to_dict(self.encoder.config),
                "weights_sha256": state_dict_sha256(self.encoder.state_dict()),
            },
            "landmarks": source,
        }

    def track(self, video: Path, timestamps: Path) -> LandmarkTrack:
        """The video's landmarks at 16 fps."""
        fps = self.encoder.config.fps
        times = load_timestamps(timestamps)
        picks = resample_indices(times, fps)
        if self.landmarks == "sidecar":
            width, height = video_size(video)
            return read_sidecar(video, times, width, height).take(picks)
        return self.estimator.track(video, times, fps)

    @torch.no_grad()
    def extract(self, job: Any) -> tuple[np.ndarray, np.ndarray]:
        track = self.track(job.video, job.timestamps)
        if self.tracks is not None:
            self.tracks[str(job.video)] = track
        points = track.points
        if self.noise is not None:  # one draw per video, fixed by its name
            name = zlib.crc32(Path(job.video).name.encode())
            rng = np.random.default_rng([self.noise_seed, name])
            points = self.noise.apply(points, rng)
        feats = self.encoder.encode(points).numpy().astype(np.float32)
        step = self.encoder.config.frames_per_step
        times = np.asarray(track.times[step - 1 :: step][: len(feats)], dtype=np.float64)
        return feats, times


__all__ = ["LANDMARK_SOURCES", "PoseProducer"]
