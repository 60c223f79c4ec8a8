"""Forward kinematics and landmark conventions of the synthetic body."""

from __future__ import annotations

import numpy as np

from livefit.synth.body import (
    ANGLE_NAMES,
    FLIP_INDEX,
    LANDMARK_NAMES,
    LM,
    BodyShape,
    forward_kinematics,
    sample_shape,
    world_landmarks,
)


def _random_angles(rng: np.random.Generator, n: int) -> np.ndarray:
    angles = rng.uniform(-60, 120, (n, len(ANGLE_NAMES)))
    angles[:, ANGLE_NAMES.index("hop")] = 0.0
    return angles


def test_segment_lengths_are_preserved_for_any_pose() -> None:
    rng = np.random.default_rng(0)
    shape = sample_shape(rng)
    joints = forward_kinematics(_random_angles(rng, 64), shape)
    for side in ("left", "right"):
        for a, b, length in (
            ("shoulder", "elbow", shape.upper_arm),
            ("elbow", "wrist", shape.forearm),
            ("hip", "knee", shape.thigh),
            ("knee", "ankle", shape.shin),
        ):
            d = np.linalg.norm(joints[:, LM[f"{side}_{a}"]] - joints[:, LM[f"{side}_{b}"]], axis=1)
            np.testing.assert_allclose(d, length, rtol=1e-9)
    hips = np.linalg.norm(joints[:, LM["left_hip"]] - joints[:, LM["right_hip"]], axis=1)
    np.testing.assert_allclose(hips, shape.hip_width, rtol=1e-9)


def test_lowest_point_on_the_floor_and_hop_lifts() -> None:
    rng = np.random.default_rng(1)
    angles = _random_angles(rng, 16)
    on_floor = forward_kinematics(angles, BodyShape())
    np.testing.assert_allclose(on_floor[..., 1].min(axis=1), 0.0, atol=1e-12)
    angles[:, ANGLE_NAMES.index("hop")] = 0.2
    np.testing.assert_allclose(forward_kinematics(angles, BodyShape())[..., 1].min(axis=1), 0.2)


def test_rest_pose_stands_upright_facing_the_camera() -> None:
    joints = forward_kinematics(np.zeros((1, len(ANGLE_NAMES))), BodyShape())[0]
    assert joints[LM["nose"], 1] > joints[LM["left_shoulder"], 1] > joints[LM["left_hip"], 1]
    assert joints[LM["left_hip"], 1] > joints[LM["left_knee"], 1] > joints[LM["left_ankle"], 1]
    assert joints[LM["left_shoulder"], 0] > 0 > joints[LM["right_shoulder"], 0]  # subject's left
    assert joints[LM["nose"], 2] > joints[LM["left_ear"], 2]  # the face points at the camera
    assert joints[LM["left_foot_index"], 2] > joints[LM["left_heel"], 2]
    height = joints[:, 1].max() - joints[:, 1].min()
    assert 1.4 < height < 1.8  # the eyes/nose sit a little under the 1.75 m top of the head


def test_flip_index_swaps_left_and_right() -> None:
    assert len(LANDMARK_NAMES) == 33
    for i, j in enumerate(FLIP_INDEX):
        assert FLIP_INDEX[j] == i
        a, b = LANDMARK_NAMES[i], LANDMARK_NAMES[j]
        assert a.replace("left", "right") == b or b.replace("left", "right") == a or a == b
    assert LANDMARK_NAMES[FLIP_INDEX[LM["left_wrist"]]] == "right_wrist"
    assert FLIP_INDEX[LM["nose"]] == LM["nose"]


def test_world_landmarks_are_hip_centred_and_y_down() -> None:
    joints = forward_kinematics(np.zeros((2, len(ANGLE_NAMES))), BodyShape())
    world = world_landmarks(joints)
    hip_c = 0.5 * (world[:, LM["left_hip"]] + world[:, LM["right_hip"]])
    np.testing.assert_allclose(hip_c, 0.0, atol=1e-12)
    assert np.all(world[:, LM["nose"], 1] < 0)  # above the hips = negative y
