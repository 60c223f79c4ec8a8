"""The causal pose encoder: streaming equals clip, it only looks back, normalisation removes the
camera (position, zoom) and mirroring swaps sides; augmentation is seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livefit.data.landmarks import FLIP_INDEX, LM, LandmarkError, LandmarkTrack
from livefit.vision.pose import (
    DetectorNoise,
    PoseEncoder,
    PoseEncoderConfig,
    PoseStream,
    augment,
    mirror,
    normalise,
)


def skeleton(t: int = 40, seed: int = 0) -> np.ndarray:
    """A moving random skeleton in pixels, every point visible: [t, 33, 4]."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(100, 300, size=(33, 2))
    base[LM["left_hip"]], base[LM["right_hip"]] = (190, 300), (210, 300)
    base[LM["left_shoulder"]], base[LM["right_shoulder"]] = (185, 200), (215, 200)
    wave = np.sin(np.arange(t) / 3.0)[:, None, None] * rng.normal(size=(1, 33, 2)) * 5
    xy = base[None] + wave
    z = rng.normal(size=(t, 33, 1)) * 10
    return np.concatenate([xy, z, np.ones((t, 33, 1))], axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return PoseEncoder(PoseEncoderConfig(hidden=32, channels=16, tokens=3, window_frames=12)).eval()


def test_stream_equals_clip(encoder):
    points = skeleton(41)
    clip = encoder.encode(points)
    assert clip.shape == (10, 16, 1, 3)  # 41 frames -> 10 steps; step k ends on frame 4k + 3
    stream = PoseStream(encoder)
    steps = [s for s in (stream.push(p) for p in points) if s is not None]
    torch.testing.assert_close(torch.stack(steps), clip, rtol=1e-5, atol=1e-6)


def test_causal_and_windowed(encoder):
    points = skeleton(48)
    clip = encoder.encode(points)
    changed = points.copy()
    changed[20:, :, :2] += 7.0  # the future of step 4 (frames 16..19) is untouched
    diff = (encoder.encode(changed) - clip).abs().flatten(1).amax(1)
    assert (diff[:5] == 0).all() and (diff[5:] > 0).all()
    # A step sees its window only (12 frames): frames before it do not matter.
    early = points.copy()
    early[:4, :, :2] += 9.0
    diff = (encoder.encode(early) - clip).abs().flatten(1).amax(1)
    assert diff[0] > 0 and (diff[4:] == 0).all()


def test_normalise_removes_position_and_zoom_and_marks_unseen_points():
    points = skeleton(5)
    moved = points.copy()
    moved[..., :3] = moved[..., :3] * 2.5
    moved[..., :2] += np.array([40.0, -25.0])
    torch.testing.assert_close(normalise(moved), normalise(points), rtol=1e-4, atol=1e-4)
    hidden = points.copy()
    hidden[:, LM["nose"], 3] = 0.1
    out = normalise(hidden).view(5, 33, 3)
    assert (out[:, LM["nose"]] == 0).all() and (out[:, LM["left_hip"], 2] == 1).all()
    nothing = points.copy()
    nothing[..., 3] = 0.0
    assert (normalise(nothing) == 0).all()


def test_mirror_swaps_sides_and_is_its_own_inverse():
    points = skeleton(3)
    flipped = mirror(points, 400)
    assert np.allclose(flipped[:, LM["left_wrist"], 0], 400 - points[:, LM["right_wrist"], 0])
    assert np.allclose(mirror(flipped, 400), points)
    assert sorted(FLIP_INDEX) == list(range(33))


def test_augmentation_is_seeded_and_looks_like_a_detector():
    points = skeleton(200)
    noise = DetectorNoise(missed_frames=0.1, dropout=0.1)
    a, _ = augment(points, 400, 600, np.random.default_rng(1), noise)
    b, _ = augment(points, 400, 600, np.random.default_rng(1), noise)
    assert np.array_equal(a, b) and not np.array_equal(a, points)
    seen = a[..., 3] > 0
    assert 0.7 < seen.mean() < 0.9  # drop-outs and missed frames
    assert (~seen).all(axis=1).any()  # at least one missed frame


def test_track_checks_its_shape():
    with pytest.raises(LandmarkError, match=r"\[T, 33, 4\]"):
        LandmarkTrack(np.zeros((3, 33, 2), np.float32), np.zeros(3), 10, 10)
    with pytest.raises(LandmarkError, match="3 landmark frames but 2 times"):
        LandmarkTrack(np.zeros((3, 33, 4), np.float32), np.zeros(2), 10, 10)
