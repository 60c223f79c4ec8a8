"""Body landmarks: MediaPipe Pose's 33 points, the format every landmark source speaks.

A ``LandmarkTrack`` is per-frame ``points [T, 33, 4]`` = (x, y, z, visibility) with x, y in
pixels of the frame (x right, y down), z in the same scale (depth, smaller = nearer the camera,
0 at the hips' depth), visibility in [0, 1], plus the frames' capture times (seconds, shifted
clock) and the frame size. Sources: QEVD-SIM's ground-truth sidecar (``read_sidecar``: its
``landmarks_2d`` in pixels; z from its world landmarks; visibility 1), a pose estimator run on
video frames, or live frames (``livefit.vision.pose_estimator``). "left" is the subject's left,
as in MediaPipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# MediaPipe Pose's 33 landmarks, in its order.
LANDMARK_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
NUM_LANDMARKS = len(LANDMARK_NAMES)
LM = {name: i for i, name in enumerate(LANDMARK_NAMES)}
# The index permutation that swaps left and right (a mirrored image shows the other side).
FLIP_INDEX: tuple[int, ...] = tuple(
    LM[n.replace("left", "#").replace("right", "left").replace("#", "right")]
    for n in LANDMARK_NAMES
)
# The bones a viewer sees drawn between the points (torso, arms, legs, feet; the face's points
# are left out): pairs of indices.
SKELETON: tuple[tuple[int, int], ...] = tuple(
    (LM[a], LM[b])
    for a, b in (
        ("left_shoulder", "right_shoulder"),
        ("left_hip", "right_hip"),
        ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"),
        ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"),
        ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"),
        ("right_hip", "right_knee"),
        ("right_knee", "right_ankle"),
        ("left_ankle", "left_heel"),
        ("left_heel", "left_foot_index"),
        ("right_ankle", "right_heel"),
        ("right_heel", "right_foot_index"),
    )
)
HIPS = (LM["left_hip"], LM["right_hip"])
SHOULDERS = (LM["left_shoulder"], LM["right_shoulder"])
SIDECAR_SUFFIX = "_groundtruth.npz"


class LandmarkError(ValueError):
    """Landmarks that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class LandmarkTrack:
    """Per-frame landmarks of one video (or one live stream so far)."""

    points: np.ndarray  # [T, 33, 4] float32: x, y (pixels), z (pixel scale), visibility
    times: np.ndarray  # [T] float64 seconds (shifted clock), increasing
    width: int  # frame size in pixels
    height: int

    def __post_init__(self) -> None:
        if self.points.ndim != 3 or self.points.shape[1:] != (NUM_LANDMARKS, 4):
            raise LandmarkError(f"landmarks must be [T, 33, 4], got {list(self.points.shape)}")
        if len(self.times) != len(self.points):
            raise LandmarkError(f"{len(self.points)} landmark frames but {len(self.times)} times")

    def __len__(self) -> int:
        return len(self.points)

    def take(self, index: np.ndarray) -> LandmarkTrack:
        """The frames ``index`` (e.g. a resampling), in that order."""
        return LandmarkTrack(self.points[index], self.times[index], self.width, self.height)


def torso_length(points: np.ndarray, dims: int = 2) -> np.ndarray:
    """``[T, 33, >=dims]`` -> ``[T]``: the distance between the shoulder and hip midpoints over
    the first ``dims`` coordinates (the body's scale: pixels for x, y)."""
    return np.linalg.norm(
        points[:, SHOULDERS, :dims].mean(1) - points[:, HIPS, :dims].mean(1), axis=-1
    )


def sidecar_path(video: str | Path) -> Path:
    video = Path(video)
    return video.with_name(video.stem + SIDECAR_SUFFIX)


def read_sidecar(video: str | Path, times: np.ndarray, width: int, height: int) -> LandmarkTrack:
    """QEVD-SIM's true landmarks of ``video`` (its ``<id>_groundtruth.npz``): ``landmarks_2d``
    (pixels) as x, y; z from ``landmarks_3d`` (metres, hip-centred, negative towards the
    camera, as MediaPipe's) scaled to pixels by the body's size in the frame (2D torso length
    over 3D torso length); visibility 1.
    ``times``: the video's frame times (seconds), one per sidecar frame."""
    path = sidecar_path(video)
    if not path.is_file():
        raise LandmarkError(
            f"{path}: no ground-truth sidecar (only QEVD-SIM videos have one; "
            "--landmarks estimator finds landmarks in any video)"
        )
    try:
        with np.load(path) as data:
            lm2d = np.asarray(data["landmarks_2d"], dtype=np.float32)
            lm3d = np.asarray(data["landmarks_3d"], dtype=np.float32)
    except (OSError, KeyError, ValueError) as err:
        raise LandmarkError(f"{path}: unreadable landmarks ({err})") from None
    if lm2d.shape[1:] != (NUM_LANDMARKS, 2) or lm3d.shape != (*lm2d.shape[:2], 3):
        raise LandmarkError(
            f"{path}: landmarks_2d {list(lm2d.shape)} / landmarks_3d {list(lm3d.shape)} are not "
            "[T, 33, 2] / [T, 33, 3]"
        )
    if len(lm2d) != len(times):
        raise LandmarkError(f"{path}: {len(lm2d)} landmark frames but the video has {len(times)}")
    # Depth in pixels: metres times the frame's pixels per metre (the 2D torso over the 3D one).
    scale = torso_length(lm2d) / np.maximum(torso_length(lm3d, dims=3), 1e-6)
    z = (lm3d[..., 2] - lm3d[:, HIPS, 2].mean(1, keepdims=True)) * scale[:, None]
    points = np.concatenate([lm2d, z[..., None], np.ones_like(z)[..., None]], axis=-1)
    return LandmarkTrack(points.astype(np.float32), np.asarray(times, np.float64), width, height)


__all__ = [
    "FLIP_INDEX",
    "HIPS",
    "SHOULDERS",
    "SKELETON",
    "LANDMARK_NAMES",
    "LM",
    "NUM_LANDMARKS",
    "LandmarkError",
    "LandmarkTrack",
    "read_sidecar",
    "sidecar_path",
    "torso_length",
]
