"""Articulated body of QEVD-SIM: proportions, joint angles -> 3D joints in MediaPipe's order.

Sits between ``motion`` (which produces per-frame joint angles) and ``render`` (which draws the
body). Forward kinematics is vectorised over frames: every function takes ``[T]`` angle arrays and
returns ``[T, ...]`` positions.

Body frame (metres): x to the subject's left (the viewer's right when the subject faces the
camera), y up, z towards the camera. The pelvis centre is the origin before the global pitch
(``pitch``: 90 deg lays the body face down, head towards +z) and yaw (``yaw``: rotation about y,
90 deg turns the subject's front to the viewer's right). The lowest point is then put on the
floor (y = 0) and ``hop`` lifts the body off it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# MediaPipe Pose's 33 landmarks in its order and their left/right swap: the sidecar's format.
from livefit.data.landmarks import FLIP_INDEX, LANDMARK_NAMES, LM

# Joint angles (degrees) that drive the body; per-side angles end in _l / _r.
SIDE_ANGLES = (
    "sh_abd",  # shoulder abduction (0 = arm down, 90 = horizontal to the side, <0 = across body)
    "sh_flex",  # shoulder flexion (0 = down, 90 = forward, 180 = overhead), relative to the trunk
    "elbow",  # elbow flexion (0 = straight)
    "twist",  # direction the elbow bends the forearm: 0 = forward, 90 = up
    "hip_abd",  # hip abduction (leg out to the side)
    "hip_flex",  # hip flexion (thigh forward; < 0 = behind)
    "knee",  # knee flexion (shin backwards)
    "knee_abd",  # valgus: knees turn towards the midline (visible when the hips flex), feet stay
    "ankle",  # plantar flexion (toes pointing down)
)
GLOBAL_ANGLES = (
    "pitch",  # whole-body pitch about the pelvis (90 = lying face down, head to +z)
    "yaw",  # whole-body yaw (view angle)
    "trunk",  # trunk flexion at the hips (forward lean)
    "head",  # head flexion relative to the trunk
    "hop",  # lift off the floor, metres
)
ANGLE_NAMES: tuple[str, ...] = GLOBAL_ANGLES + tuple(
    f"{a}_{s}" for s in ("l", "r") for a in SIDE_ANGLES
)
ANGLE_INDEX = {name: i for i, name in enumerate(ANGLE_NAMES)}
REST_POSE: dict[str, float] = {
    "sh_abd_l": 8.0,
    "sh_abd_r": 8.0,
    "elbow_l": 12.0,
    "elbow_r": 12.0,
    "hip_abd_l": 3.0,
    "hip_abd_r": 3.0,
    "knee_l": 3.0,
    "knee_r": 3.0,
}


@dataclass(frozen=True)
class BodyShape:
    """Proportions of one synthetic participant, in metres."""

    height: float = 1.75
    shoulder_width: float = 0.40  # between shoulder joints
    hip_width: float = 0.26  # between hip joints
    torso: float = 0.52  # pelvis centre to neck
    neck: float = 0.08
    head_radius: float = 0.11
    upper_arm: float = 0.31
    forearm: float = 0.26
    thigh: float = 0.43
    shin: float = 0.43
    foot: float = 0.25
    build: float = 1.0  # width multiplier of limbs and torso (slim < 1 < broad)


def sample_shape(rng: np.random.Generator) -> BodyShape:
    """Random plausible proportions (height 1.52-1.95 m, +-6% per segment)."""
    h = float(rng.uniform(1.52, 1.95))

    def seg(ratio: float) -> float:
        return float(ratio * h * rng.uniform(0.94, 1.06))

    return BodyShape(
        height=h,
        shoulder_width=seg(0.225),
        hip_width=seg(0.15),
        torso=seg(0.30),
        neck=seg(0.045),
        head_radius=seg(0.066),
        upper_arm=seg(0.18),
        forearm=seg(0.155),
        thigh=seg(0.245),
        shin=seg(0.245),
        foot=seg(0.14),
        build=float(rng.uniform(0.85, 1.25)),
    )


# ---- rotations on [T, 3] vectors by [T] angles (radians) -------------------------------------


def _rx(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Pitch forward: +y turns towards +z."""
    c, s = np.cos(a), np.sin(a)
    return np.stack([v[:, 0], v[:, 1] * c - v[:, 2] * s, v[:, 1] * s + v[:, 2] * c], axis=1)


def _rz(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Roll: -y turns towards +x for a > 0."""
    c, s = np.cos(a), np.sin(a)
    return np.stack([v[:, 0] * c - v[:, 1] * s, v[:, 0] * s + v[:, 1] * c, v[:, 2]], axis=1)


def _ry(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Yaw: +z turns towards +x for a > 0."""
    c, s = np.cos(a), np.sin(a)
    return np.stack([v[:, 0] * c + v[:, 2] * s, v[:, 1], -v[:, 0] * s + v[:, 2] * c], axis=1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _const(vec: tuple[float, float, float], n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(vec, dtype=np.float64), (n, 3)).copy()


def forward_kinematics(angles: np.ndarray, shape: BodyShape) -> np.ndarray:
    """Joint angles ``[T, len(ANGLE_NAMES)]`` (degrees; ``hop`` in metres) -> ``[T, 33, 3]``.

    Returned positions are in the camera-aligned world frame (after pitch and yaw) with the lowest
    landmark on the floor plus ``hop``; x is not centred (the renderer centres the body).
    """
    n = angles.shape[0]
    a = {name: angles[:, i] for i, name in enumerate(ANGLE_NAMES)}
    rad = {k: np.deg2rad(v) for k, v in a.items() if k != "hop"}
    down, fwd, up = _const((0, -1, 0), n), _const((0, 0, 1), n), _const((0, 1, 0), n)
    out = np.zeros((n, 33, 3))
    trunk = rad["trunk"]
    neck = _rx(_const((0, shape.torso, 0), n), trunk)
    head_ang = trunk + rad["head"]
    head_c = neck + _rx(_const((0, shape.neck + shape.head_radius, 0), n), head_ang)
    hf, hu = _rx(fwd, head_ang), _rx(up, head_ang)
    hx = _const((1, 0, 0), n)
    r = shape.head_radius
    out[:, LM["nose"]] = head_c + 1.0 * r * hf - 0.15 * r * hu
    for side, sx in (("left", 1.0), ("right", -1.0)):
        eye_base = head_c + 0.2 * r * hu + 0.8 * r * hf
        out[:, LM[f"{side}_eye_inner"]] = eye_base + sx * 0.18 * r * hx
        out[:, LM[f"{side}_eye"]] = eye_base + sx * 0.36 * r * hx
        out[:, LM[f"{side}_eye_outer"]] = eye_base + sx * 0.52 * r * hx - 0.1 * r * hf
        out[:, LM[f"{side}_ear"]] = head_c + sx * 0.95 * r * hx
        out[:, LM[f"mouth_{side}"]] = head_c - 0.5 * r * hu + 0.8 * r * hf + sx * 0.25 * r * hx
    for s, sx in (("l", 1.0), ("r", -1.0)):
        side = "left" if s == "l" else "right"
        # Arm: abduct, then flex, in the trunk frame; the trunk then leans forward.
        shoulder = neck + _rx(
            _const((sx * shape.shoulder_width / 2, -0.035 * shape.height, 0), n), trunk
        )
        u_rel = _rx(_rz(down, sx * rad[f"sh_abd_{s}"]), -rad[f"sh_flex_{s}"])
        # Forearm bends from the upper arm towards "forward/up" (twist), in the trunk frame.
        tw = rad[f"twist_{s}"]
        bend = np.cos(tw)[:, None] * fwd + np.sin(tw)[:, None] * up + 1e-3 * hx * sx
        perp = _unit(bend - np.sum(bend * u_rel, axis=1, keepdims=True) * u_rel)
        e = rad[f"elbow_{s}"][:, None]
        f_rel = np.cos(e) * u_rel + np.sin(e) * perp
        u_dir, f_dir = _rx(u_rel, trunk), _rx(f_rel, trunk)
        elbow = shoulder + shape.upper_arm * u_dir
        wrist = elbow + shape.forearm * f_dir
        hand = 0.085 * shape.height
        side_dir = _unit(np.cross(f_dir, _rx(fwd, trunk)) * sx + 1e-6)
        out[:, LM[f"{side}_shoulder"]] = shoulder
        out[:, LM[f"{side}_elbow"]] = elbow
        out[:, LM[f"{side}_wrist"]] = wrist
        out[:, LM[f"{side}_index"]] = wrist + 0.8 * hand * f_dir + 0.15 * hand * side_dir
        out[:, LM[f"{side}_pinky"]] = wrist + 0.7 * hand * f_dir - 0.25 * hand * side_dir
        out[:, LM[f"{side}_thumb"]] = wrist + 0.4 * hand * f_dir + 0.35 * hand * side_dir
        # Leg: flex in the sagittal plane, then abduct; the knee bends the shin backwards.
        hip = _const((sx * shape.hip_width / 2, 0, 0), n)
        hflex, knee_a = rad[f"hip_flex_{s}"], rad[f"knee_{s}"]
        abd = sx * rad[f"hip_abd_{s}"]
        thigh_dir = _rz(_rx(down, -hflex), abd)
        shin_dir = _rz(_rx(down, -(hflex - knee_a)), abd)
        # Valgus: the thigh turns about the vertical towards the midline, the foot stays put.
        foot_at = hip + shape.thigh * thigh_dir + shape.shin * shin_dir
        thigh_dir = _ry(thigh_dir, -sx * rad[f"knee_abd_{s}"])
        knee = hip + shape.thigh * thigh_dir
        ankle = knee + shape.shin * _unit(foot_at - knee)
        foot_dir = _rx(down, -np.pi / 2 + rad[f"ankle_{s}"])  # flat forward unless pointed
        out[:, LM[f"{side}_hip"]] = hip
        out[:, LM[f"{side}_knee"]] = knee
        out[:, LM[f"{side}_ankle"]] = ankle
        out[:, LM[f"{side}_heel"]] = (
            ankle - 0.22 * shape.foot * foot_dir + 0.035 * shape.height * down
        )
        out[:, LM[f"{side}_foot_index"]] = (
            ankle + 0.78 * shape.foot * foot_dir + 0.03 * shape.height * down
        )
    flat = out.reshape(n, 33 * 3)
    pts = flat.reshape(n * 33, 3)
    pitch = np.repeat(rad["pitch"], 33)
    yaw = np.repeat(rad["yaw"], 33)
    pts = _ry(_rx(pts, pitch), yaw)
    out = pts.reshape(n, 33, 3)
    out[:, :, 1] -= out[:, :, 1].min(axis=1, keepdims=True)
    out[:, :, 1] += a["hop"][:, None]
    return out


def world_landmarks(joints: np.ndarray) -> np.ndarray:
    """MediaPipe-style world landmarks: metres, origin at the hip centre, y down. ``[T, 33, 3]``."""
    hip_c = 0.5 * (joints[:, LM["left_hip"]] + joints[:, LM["right_hip"]])
    rel = joints - hip_c[:, None]
    # MediaPipe: x right in the image, y down, z towards the camera is negative.
    return np.stack([rel[..., 0], -rel[..., 1], -rel[..., 2]], axis=-1)


__all__ = [
    "ANGLE_INDEX",
    "ANGLE_NAMES",
    "FLIP_INDEX",
    "LANDMARK_NAMES",
    "LM",
    "REST_POSE",
    "BodyShape",
    "forward_kinematics",
    "sample_shape",
    "world_landmarks",
]
