"""Rendering: bodies are drawn where their landmarks are, mirroring swaps left and right."""

from __future__ import annotations

import numpy as np

from livefit.synth.body import LM, BodyShape
from livefit.synth.motion import Interval, animate
from livefit.synth.render import Renderer, sample_appearance, sample_scene


def _setup(mirrored: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = BodyShape()
    look = sample_appearance(rng)
    scene = sample_scene(rng, 160, 224, shape.height, mirrored)
    motion = animate([Interval(0, 2, "jumping jacks")], np.arange(0, 2, 1 / 30), shape)
    return Renderer(shape, look, scene), motion.joints


def test_body_pixels_cover_the_torso_and_frames_have_the_video_shape() -> None:
    renderer, joints = _setup(False)
    frames = list(renderer.frames(joints))
    assert len(frames) == len(joints)
    assert frames[0].shape == (224, 160, 3) and frames[0].dtype == np.uint8
    uv = renderer.landmarks_2d(joints)
    diffs = []
    for t in (0, 15, 30):
        hip_c = 0.5 * (uv[t, LM["left_hip"]] + uv[t, LM["right_hip"]])
        sh_c = 0.5 * (uv[t, LM["left_shoulder"]] + uv[t, LM["right_shoulder"]])
        u, v = (0.5 * (hip_c + sh_c)).round().astype(int)
        diffs.append(np.abs(frames[t][v, u].astype(int) - renderer.background[v, u]).sum())
    # The shirt sits on the torso: differs from the room there (a tolerance for same colours).
    assert np.median(diffs) > 30
    # The figure occupies a plausible share of the frame.
    changed = np.abs(frames[0].astype(int) - renderer.background.astype(int)).sum(-1) > 40
    assert 0.03 < changed.mean() < 0.4


def test_mirroring_flips_pixels_and_swaps_landmark_sides() -> None:
    plain, joints = _setup(False, seed=3)
    flipped_scene = plain.scene.__class__(**{**plain.scene.__dict__, "mirrored": True})
    mirror = Renderer(plain.shape, plain.look, flipped_scene)
    a = np.stack(list(plain.frames(joints[:5]))).astype(int)
    b = np.stack(list(mirror.frames(joints[:5]))).astype(int)
    # Same picture flipped, up to the sensor noise that is added after the flip.
    assert np.abs(a[:, :, ::-1] - b).mean() < 2 * plain.scene.noise + 1
    ua, ub = plain.landmarks_2d(joints), mirror.landmarks_2d(joints)
    np.testing.assert_allclose(ub[:, LM["right_wrist"], 0], 159 - ua[:, LM["left_wrist"], 0])
    np.testing.assert_allclose(ub[:, LM["right_wrist"], 1], ua[:, LM["left_wrist"], 1])
