"""The causal pose encoder: body landmarks at 16 fps -> 4 feature steps per second, in the shape
the language model's adapters read (the CNN's ``[C, h, w]`` with h = 1, w = tokens).

Second vision front end beside the causal 3D CNN (``livefit.vision.cnn``): the same coach can
read either. Landmarks look the same on a render and on a person, so a coach trained on
synthetic skeletons can coach a webcam.

Flow per frame: ``LandmarkTrack`` points ``[33, 4]`` (``livefit.data.landmarks``) ->
``normalise``: body-centred (hip midpoint at 0), scale-invariant (divided by the torso length),
x, y, z and visibility, with z and coordinates of invisible points zeroed -> a window of the last
``window_frames`` normalised frames (2 s; before the stream start, copies of its first frame)
-> per-frame linear embedding, frame-to-frame velocities, a few temporal convs over the window
-> the window's summary as ``tokens`` vectors of ``channels`` -> one feature step
``[channels, 1, tokens]`` every ``frames_per_step`` frames (the step ends on frame 4k + 3, as the
CNN's). The window only holds the past, so the encoder is causal by construction, and a stream
pushed one frame at a time (``PoseStream``) gives the clip's features exactly: both compute
the same window.

Training-time augmentation that mimics a real detector (``DetectorNoise``: jitter, missed
frames, visibility drop-outs, camera scale and position) and mirroring with left and right
swapped (``mirror``) live here too, so stage 1 and the coach stages share them.

An encoder's folder (``model.safetensors`` + ``config.json`` with ``"type": "pose"``, what
stage 1 exports to ``<run>/pose/``) is a front-end folder: ``livefit.vision.front_ends`` (type
``pose``) writes and reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livefit.data.landmarks import FLIP_INDEX, HIPS, NUM_LANDMARKS, SHOULDERS, torso_length


@dataclass(frozen=True)
class PoseEncoderConfig:
    """Architecture of the causal pose encoder."""

    fps: int = 16  # input frame rate (landmarks are resampled to it, as the CNN's frames)
    frames_per_step: int = 4  # frames per feature step (4 steps per second at 16 fps)
    window_frames: int = 32  # frames each step sees (2 s at 16 fps)
    hidden: int = 128  # width of the per-frame embedding and the temporal convs
    layers: int = 3  # temporal convs (kernel 3, dilations 1, 2, 4, ...)
    channels: int = 128  # feature channels C of a step (the adapters' feature_dim)
    tokens: int = 4  # vectors per step (the adapters' feature_tokens = h * w = 1 * tokens)
    use_z: bool = False  # read the depth coordinate (estimators' z is noisy; off by default)
    min_visibility: float = 0.5  # below: the point counts as not seen

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return (self.channels, 1, self.tokens)

    @property
    def steps_per_second(self) -> float:
        return self.fps / self.frames_per_step

    @property
    def in_features(self) -> int:
        return NUM_LANDMARKS * (4 if self.use_z else 3)


def normalise(
    points: np.ndarray | Tensor, use_z: bool = False, min_visibility: float = 0.5
) -> Tensor:
    """``[..., 33, 4]`` (x, y, z, visibility) in pixels -> ``[..., 33 * F]`` body-centred,
    torso-length units: per point x, y (, z) and a seen flag; an unseen point (visibility below
    ``min_visibility``) has zero coordinates. Frames whose hips or shoulders are unseen keep the
    raw centring of whatever is seen (all zeros when nothing is)."""
    p = torch.as_tensor(points, dtype=torch.float32)
    seen = (p[..., 3] >= min_visibility).float()  # [..., 33]
    xyz = p[..., :3] * seen[..., None]
    hips = xyz[..., HIPS, :].sum(-2) / seen[..., HIPS].sum(-1, keepdim=True).clamp(min=1)
    shoulders = xyz[..., SHOULDERS, :].sum(-2) / seen[..., SHOULDERS].sum(-1, keepdim=True).clamp(
        min=1
    )
    torso = (shoulders[..., :2] - hips[..., :2]).norm(dim=-1, keepdim=True)  # [..., 1]
    both = (seen[..., HIPS].sum(-1) > 0) & (seen[..., SHOULDERS].sum(-1) > 0)
    scale = torch.where(both[..., None], torso, torch.ones_like(torso)).clamp(min=1e-3)
    centred = (xyz - hips[..., None, :]) / scale[..., None]
    centred = centred * seen[..., None]
    parts = [centred[..., :2]] + ([centred[..., 2:3]] if use_z else []) + [seen[..., None]]
    return torch.cat(parts, dim=-1).flatten(-2)


def mirror(points: np.ndarray, width: int) -> np.ndarray:
    """A horizontally mirrored frame's landmarks: x -> width - x, and left and right swapped (the
    subject's left arm now looks like a right arm)."""
    out = points[..., FLIP_INDEX, :].copy()
    out[..., 0] = width - out[..., 0]
    return out


@dataclass(frozen=True)
class DetectorNoise:
    """Augmentation that makes true landmarks look like an estimator's (training only)."""

    jitter: float = 0.02  # Gaussian noise per point, in torso lengths
    missed_frames: float = 0.02  # probability a frame has no detection (all points unseen)
    dropout: float = 0.05  # probability a point is reported unseen
    scale: tuple[float, float] = (0.7, 1.3)  # camera zoom per clip
    shift: float = 0.2  # camera position per clip, in frame sizes
    mirror_p: float = 0.5  # probability the clip is mirrored (left and right swapped)


def augment(
    points: np.ndarray,
    width: int,
    height: int,
    rng: np.random.Generator,
    noise: DetectorNoise,
    recorded: Any = None,
) -> tuple[np.ndarray, bool]:
    """``[T, 33, 4]`` true landmarks -> (what a detector might report for the same clip, whether
    it was mirrored: then the clip's left/right classes swap too). ``recorded``: a
    ``ResidualBank`` (``livefit.vision.pose_residuals``) whose real estimator errors replace the
    jitter, drop-outs and missed frames (after the camera's mirror, zoom and shift)."""
    p = points.astype(np.float32, copy=True)
    mirrored = bool(rng.random() < noise.mirror_p)
    if mirrored:
        p = mirror(p, width)
    zoom = rng.uniform(*noise.scale)
    centre = np.array([width / 2, height / 2], np.float32)
    offset = rng.uniform(-noise.shift, noise.shift, size=2) * np.array([width, height])
    p[..., :2] = (p[..., :2] - centre) * zoom + centre + offset.astype(np.float32)
    p[..., 2] *= zoom
    if recorded is not None:
        return recorded.apply(p, rng), mirrored
    torso = torso_length(p)
    p[..., :3] += rng.normal(size=p[..., :3].shape).astype(np.float32) * (
        noise.jitter * torso[:, None, None]
    )
    p[..., 3] *= rng.random(p.shape[:2]) >= noise.dropout
    p[rng.random(len(p)) < noise.missed_frames, :, 3] = 0.0
    return p, mirrored


def step_windows(frames: Tensor, config: PoseEncoderConfig) -> Tensor:
    """Normalised frames ``[T, F]`` of a whole clip -> the window of each step ``[T // 4, R, F]``
    (step k ends on frame 4k + 3; before the start, copies of the first frame)."""
    c = config
    n = len(frames) // c.frames_per_step
    padded = torch.cat([frames[:1].expand(c.window_frames - 1, -1), frames])
    ends = torch.arange(n) * c.frames_per_step + c.frames_per_step - 1 + c.window_frames - 1
    index = ends[:, None] - torch.arange(c.window_frames - 1, -1, -1)[None]  # [n, R]
    return padded[index]


class PoseEncoder(nn.Module):
    """Windows of normalised frames ``[B, R, F]`` -> feature steps ``[B, C, 1, tokens]``."""

    def __init__(self, config: PoseEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or PoseEncoderConfig()
        self.embed = nn.Linear(2 * c.in_features, c.hidden)  # positions and velocities
        self.convs = nn.ModuleList(
            nn.Conv1d(c.hidden, c.hidden, 3, padding=2**i, dilation=2**i) for i in range(c.layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(c.hidden) for _ in range(c.layers))
        self.out = nn.Linear(2 * c.hidden, c.channels * c.tokens)

    def forward(self, windows: Tensor) -> Tensor:
        c = self.config
        velocity = torch.diff(windows, dim=1, prepend=windows[:, :1])
        h = self.embed(torch.cat([windows, velocity], dim=-1))  # [B, R, H]
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = h + F.gelu(conv(norm(h).transpose(1, 2)).transpose(1, 2))
        summary = torch.cat([h[:, -1], h.mean(dim=1)], dim=-1)  # the latest frame and the window
        feats = self.out(summary).view(-1, c.tokens, c.channels)  # [B, tokens, C]
        return feats.transpose(1, 2).unsqueeze(2)  # [B, C, 1, tokens]

    @torch.no_grad()
    def encode(self, points: np.ndarray | Tensor, chunk: int = 256) -> Tensor:
        """A clip's landmarks at 16 fps ``[T, 33, 4]`` -> its feature steps ``[T // 4, C, 1,
        tokens]`` (the offline twin of ``PoseStream``)."""
        c = self.config
        frames = normalise(points, c.use_z, c.min_visibility)
        windows = step_windows(frames, c)
        parts = [self(windows[i : i + chunk]) for i in range(0, len(windows), chunk)]
        return torch.cat(parts) if parts else torch.zeros(0, *c.feature_shape)


class PoseStream:
    """One live stream: push a frame's landmarks ``[33, 4]`` at 16 fps, get a feature step
    ``[C, 1, tokens]`` every 4th frame (None otherwise); equal to ``PoseEncoder.encode``."""

    def __init__(self, encoder: PoseEncoder) -> None:
        self.encoder = encoder
        self.window: Tensor | None = None  # [R, F] the last R normalised frames
        self.frames = 0

    @torch.no_grad()
    def push(self, points: np.ndarray | Tensor) -> Tensor | None:
        c = self.encoder.config
        frame = normalise(points, c.use_z, c.min_visibility)  # [F]
        if self.window is None:
            self.window = frame[None].expand(c.window_frames, -1).clone()
        else:
            self.window = torch.cat([self.window[1:], frame[None]])
        self.frames += 1
        if self.frames % c.frames_per_step:
            return None
        return self.encoder(self.window[None])[0]


__all__ = [
    "DetectorNoise",
    "PoseEncoder",
    "PoseEncoderConfig",
    "PoseStream",
    "augment",
    "mirror",
    "normalise",
    "step_windows",
]
