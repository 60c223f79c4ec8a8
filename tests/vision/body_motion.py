"""Scripted landmark tracks for the rep counter's tests: a standing body ``[33, 4]`` (pixels,
visibility 1) that raises its arms or squats a known number of times."""

from __future__ import annotations

import numpy as np

from livefit.data.landmarks import LM, NUM_LANDMARKS

STANDING = {
    "nose": (100, 40),
    "shoulder": (15, 70),  # (x offset from the middle, y) of the left one; the right mirrors
    "elbow": (20, 100),
    "wrist": (22, 130),
    "hip": (10, 130),
    "knee": (10, 175),
    "ankle": (10, 220),
}


def standing(scale: float = 1.0, x0: float = 0.0) -> np.ndarray:
    """One standing body, ``scale`` times the 200-pixel one, shifted ``x0`` pixels."""
    points = np.zeros((NUM_LANDMARKS, 4))
    points[:, :2] = STANDING["nose"]  # the face's points and whatever is not placed below
    for part, (dx, y) in STANDING.items():
        if part == "nose":
            continue
        points[LM[f"left_{part}"], :2] = (100 + dx, y)
        points[LM[f"right_{part}"], :2] = (100 - dx, y)
    for side in ("left", "right"):
        for part in ("pinky", "index", "thumb"):
            points[LM[f"{side}_{part}"], :2] = points[LM[f"{side}_wrist"], :2]
        for part in ("heel", "foot_index"):
            points[LM[f"{side}_{part}"], :2] = points[LM[f"{side}_ankle"], :2] + (0, 5)
    points[:, :2] = points[:, :2] * scale + (x0, 0)
    points[:, 3] = 1.0
    return points


def cycles(seconds: float, period: float, fps: float = 16.0) -> np.ndarray:
    """Rep phase per frame, 0 at the start, 1 after one period: ``0.5 - 0.5 cos`` per cycle
    (0 at the top of a rep, 1 at the bottom)."""
    t = np.arange(int(round(seconds * fps))) / fps
    return 0.5 - 0.5 * np.cos(2 * np.pi * t / period)


def arm_raises(
    seconds: float, period: float, scale: float = 1.0, noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    """``[T, 33, 4]``: both arms raised (wrists 90 px, elbows 45 px up) once per ``period``."""
    depth = cycles(seconds, period)
    frames = np.repeat(standing(scale)[None], len(depth), axis=0)
    for side in ("left", "right"):
        for part, lift in (("wrist", 90), ("elbow", 45), ("pinky", 90), ("index", 90)):
            frames[:, LM[f"{side}_{part}"], 1] -= lift * scale * depth
    return _jitter(frames, noise * scale, seed)


def squats(
    seconds: float, period: float, scale: float = 1.0, noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    """``[T, 33, 4]``: everything above the knees drops 40 px and the knees go 15 px out, once
    per ``period``."""
    depth = cycles(seconds, period)
    frames = np.repeat(standing(scale)[None], len(depth), axis=0)
    lower = {LM[f"{s}_{p}"] for s in ("left", "right") for p in ("knee", "ankle", "heel")}
    lower |= {LM["left_foot_index"], LM["right_foot_index"]}
    upper = [i for i in range(NUM_LANDMARKS) if i not in lower]
    frames[:, upper, 1] += 40 * scale * depth[:, None]
    frames[:, LM["left_knee"], 0] += 15 * scale * depth
    frames[:, LM["right_knee"], 0] -= 15 * scale * depth
    return _jitter(frames, noise * scale, seed)


def _jitter(frames: np.ndarray, noise: float, seed: int) -> np.ndarray:
    if noise > 0:
        frames[..., :2] += np.random.default_rng(seed).normal(0, noise, frames[..., :2].shape)
    return frames
