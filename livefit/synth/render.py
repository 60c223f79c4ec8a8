"""Appearance and rasterisation of QEVD-SIM bodies: filled, shaded volumes on a random room.

Sits after ``motion`` (3D joints per frame) and before ``writer`` (H.264). Each body part is a
tapered capsule (outline, shadow-side fill, lit highlight) or an ellipse, drawn far-to-near with
OpenCV at the output size directly (224x160 by default, vertical like the real data), so a frame
costs well under a millisecond. Per participant: proportions, skin, hair, clothes; per video:
room (wall gradient, floor, furniture clutter, texture), camera (distance, offset, roll), light
(gain, colour cast, shading side), sensor noise, optional defocus and horizontal mirroring.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from livefit.synth.body import FLIP_INDEX, LM, BodyShape

SHIFT = 4  # OpenCV sub-pixel bits
ONE = 1 << SHIFT

SKIN_TONES = (
    (255, 224, 196),
    (241, 194, 160),
    (224, 172, 130),
    (198, 134, 96),
    (161, 102, 64),
    (121, 77, 48),
    (92, 58, 38),
    (232, 190, 172),
)
HAIR_COLOURS = (
    (25, 20, 18),
    (60, 40, 25),
    (110, 75, 40),
    (180, 140, 80),
    (200, 190, 170),
    (90, 30, 20),
    (40, 40, 40),
)


@dataclass(frozen=True)
class Appearance:
    """What one synthetic participant looks like (RGB colours)."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_style: str  # short, long, bun, bald
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    shoes: tuple[int, int, int]
    long_sleeves: bool
    shorts: bool


@dataclass(frozen=True)
class Scene:
    """Per-video camera, light and room."""

    width: int
    height: int
    px_per_m: float  # body scale
    dx: float  # horizontal offset of the body centre, px
    floor_v: float  # image row of the floor under the body
    roll: float  # camera roll, degrees
    gain: float  # global light gain
    tint: tuple[float, float, float]  # colour cast
    light: tuple[float, float]  # 2D direction the light comes from (highlight side)
    noise: float  # sensor noise sigma (grey levels)
    blur: bool  # slight defocus
    mirrored: bool  # horizontally flipped (labels swapped by the caller)
    room_seed: int


def _colour(
    rng: np.random.Generator, lo: int = 20, hi: int = 235, sat: float = 1.0
) -> tuple[int, int, int]:
    c = rng.integers(lo, hi, 3).astype(float)
    c = c.mean() + sat * (c - c.mean())  # sat < 1: duller (rooms), 1: as drawn (clothes)
    return tuple(int(v) for v in c)  # type: ignore[return-value]


def sample_appearance(rng: np.random.Generator) -> Appearance:
    skin = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    jitter = rng.integers(-12, 13, 3)
    skin = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(skin, jitter, strict=True))
    return Appearance(
        skin=skin,  # type: ignore[arg-type]
        hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
        hair_style=str(rng.choice(["short", "long", "bun", "bald"], p=[0.45, 0.3, 0.15, 0.1])),
        shirt=_colour(rng),
        pants=_colour(rng, 10, 160) if rng.random() < 0.7 else _colour(rng),
        shoes=_colour(rng, 10, 250),
        long_sleeves=bool(rng.random() < 0.35),
        shorts=bool(rng.random() < 0.4),
    )


def sample_scene(
    rng: np.random.Generator, width: int, height: int, body_height_m: float, mirrored: bool
) -> Scene:
    frac = rng.uniform(0.55, 0.72)  # standing body height as a fraction of the frame height
    return Scene(
        width=width,
        height=height,
        px_per_m=float(frac * height / body_height_m),
        dx=float(rng.uniform(-0.06, 0.06) * width),
        floor_v=float(rng.uniform(0.86, 0.95) * height),
        roll=float(rng.uniform(-4, 4)),
        gain=float(rng.uniform(0.7, 1.15)),
        tint=tuple(float(v) for v in rng.uniform(0.88, 1.12, 3)),  # type: ignore[arg-type]
        light=tuple(float(v) for v in _unit2(rng.normal(size=2) + np.array([0.0, -1.0]))),  # type: ignore[arg-type]
        noise=float(rng.uniform(1.0, 6.0)),
        blur=bool(rng.random() < 0.3),
        mirrored=mirrored,
        room_seed=int(rng.integers(2**31)),
    )


def _unit2(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _lit(c: tuple[int, int, int], scene: Scene, k: float = 1.0, add: float = 0.0) -> tuple:
    return tuple(
        float(np.clip(v * k * scene.gain * t + add, 0, 255))
        for v, t in zip(c, scene.tint, strict=True)
    )


def room(scene: Scene) -> np.ndarray:
    """The background image ``[H, W, 3]`` uint8 RGB: wall, floor, furniture, texture."""
    rng = np.random.default_rng(scene.room_seed)
    h, w = scene.height, scene.width
    wall_a, wall_b = _colour(rng, 60, 240, 0.45), _colour(rng, 40, 230, 0.45)
    horizon = int(scene.floor_v - rng.uniform(0.12, 0.3) * h)
    ys = np.linspace(0, 1, h)[:, None, None]
    img = (np.array(wall_a) * (1 - ys) + np.array(wall_b) * ys) * np.ones((1, w, 1))
    floor_a, floor_b = _colour(rng, 30, 200, 0.5), _colour(rng, 30, 200, 0.5)
    fy = np.linspace(0, 1, max(h - horizon, 1))[:, None, None]
    img[horizon:] = (np.array(floor_a) * (1 - fy) + np.array(floor_b) * fy) * np.ones((1, w, 1))
    if rng.random() < 0.5:  # floor boards / tiles
        for x in range(int(rng.integers(4, 12)), w, int(rng.integers(10, 30))):
            cv2.line(img, (x, horizon), (int(w / 2 + (x - w / 2) * 2.2), h), _dark(floor_a), 1)
    for _ in range(int(rng.integers(2, 7))):  # furniture, doors, windows, posters, plants
        kind = rng.integers(4)
        c = _colour(rng, sat=0.6)
        x0, y0 = int(rng.integers(-20, w)), int(rng.integers(0, horizon))
        if kind == 0:  # cabinet / sofa standing on the floor
            x1 = x0 + int(rng.integers(20, 70))
            cv2.rectangle(img, (x0, int(horizon - rng.integers(15, 70))), (x1, horizon + 6), c, -1)
        elif kind == 1:  # window / poster
            x1, y1 = x0 + int(rng.integers(12, 45)), y0 + int(rng.integers(12, 50))
            cv2.rectangle(img, (x0, y0), (x1, y1), c, -1)
            cv2.rectangle(img, (x0, y0), (x1, y1), _dark(c), 2)
        elif kind == 2:  # plant
            cv2.rectangle(img, (x0, horizon - 14), (x0 + 10, horizon + 4), _dark(c), -1)
            cv2.circle(img, (x0 + 5, horizon - 24), int(rng.integers(8, 16)), (40, 120, 50), -1)
        else:  # door
            cv2.rectangle(img, (x0, horizon - int(0.45 * h)), (x0 + 30, horizon), c, -1)
    tex = cv2.resize(rng.normal(0, 1, (h // 8 + 1, w // 8 + 1)), (w, h))
    img = img * (1 + 0.06 * tex[..., None])
    img = img * scene.gain * np.array(scene.tint)
    img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (3, 3), 0)
    return img


def _dark(c: tuple[int, int, int], k: float = 0.6) -> tuple[int, int, int]:
    return tuple(int(v * k) for v in c)  # type: ignore[return-value]


# Parts: (name, start landmark(s), end landmark(s), radius at start, at end, material)
# radii in body heights; "mid:a,b" is the midpoint of two landmarks.
_LIMBS = (
    ("upper_arm_l", "left_shoulder", "left_elbow", 0.027, 0.022, "sleeve"),
    ("forearm_l", "left_elbow", "left_wrist", 0.021, 0.017, "forearm"),
    ("hand_l", "left_wrist", "mid:left_index,left_pinky", 0.019, 0.017, "skin"),
    ("upper_arm_r", "right_shoulder", "right_elbow", 0.027, 0.022, "sleeve"),
    ("forearm_r", "right_elbow", "right_wrist", 0.021, 0.017, "forearm"),
    ("hand_r", "right_wrist", "mid:right_index,right_pinky", 0.019, 0.017, "skin"),
    ("thigh_l", "left_hip", "left_knee", 0.045, 0.031, "pants"),
    ("shin_l", "left_knee", "left_ankle", 0.029, 0.021, "shin"),
    ("foot_l", "left_heel", "left_foot_index", 0.019, 0.015, "shoes"),
    ("thigh_r", "right_hip", "right_knee", 0.045, 0.031, "pants"),
    ("shin_r", "right_knee", "right_ankle", 0.029, 0.021, "shin"),
    ("foot_r", "right_heel", "right_foot_index", 0.019, 0.015, "shoes"),
    ("neck", "mid:left_shoulder,right_shoulder", "mid:left_ear,right_ear", 0.03, 0.028, "skin"),
    ("spine", "mid:left_hip,right_hip", "mid:left_shoulder,right_shoulder", 0.062, 0.07, "shirt"),
    (
        "chest",
        "mix:left_shoulder,right_shoulder,0.12",
        "mix:left_shoulder,right_shoulder,0.88",
        0.05,
        0.05,
        "shirt",
    ),
    ("pelvis", "left_hip", "right_hip", 0.055, 0.055, "pants"),
)


def _point(joints: np.ndarray, spec: str) -> np.ndarray:
    if spec.startswith("mix:"):
        a, b, f = spec[4:].split(",")
        return (1 - float(f)) * joints[:, LM[a]] + float(f) * joints[:, LM[b]]
    if spec.startswith("mid:"):
        a, b = spec[4:].split(",")
        return 0.5 * (joints[:, LM[a]] + joints[:, LM[b]])
    return joints[:, LM[spec]]


class Renderer:
    """Draws one video's frames for a participant in a scene."""

    def __init__(self, shape: BodyShape, look: Appearance, scene: Scene):
        self.shape, self.look, self.scene = shape, look, scene
        self.background = room(scene)
        materials = {
            "skin": look.skin,
            "shirt": look.shirt,
            "sleeve": look.shirt,
            "forearm": look.shirt if look.long_sleeves else look.skin,
            "pants": look.pants,
            "shin": look.skin if look.shorts else look.pants,
            "shoes": look.shoes,
            "hair": look.hair,
        }
        self.tones = {
            k: (_lit(c, scene, 0.42), _lit(c, scene, 0.78), _lit(c, scene, 1.05, 12))
            for k, c in materials.items()
        }
        rng = np.random.default_rng(scene.room_seed + 1)
        sigma = scene.noise
        noise = [rng.normal(0, sigma, (scene.height, scene.width, 3)) for _ in range(4)]
        self.noise_pos = [np.clip(n, 0, 255).astype(np.uint8) for n in noise]
        self.noise_neg = [np.clip(-n, 0, 255).astype(np.uint8) for n in noise]

    def project(self, joints: np.ndarray) -> np.ndarray:
        """World joints ``[T, 33, 3]`` -> pixel coordinates ``[T, 33, 2]`` before mirroring."""
        sc = self.scene
        # Centre the body horizontally with a slow-moving reference (1.5 s average) so it moves
        # naturally within an exercise but stays in frame across exercises.
        cx = 0.5 * (joints[..., 0].min(1) + joints[..., 0].max(1))
        k = max(1, min(len(cx), 45))
        cx = np.convolve(np.pad(cx, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, "valid")
        persp = 5.0 / (5.0 - joints[..., 2])  # camera 5 m away
        u = sc.width / 2 + sc.dx + sc.px_per_m * (joints[..., 0] - cx[:, None]) * persp
        v = sc.floor_v - sc.px_per_m * joints[..., 1] * persp
        a = np.deg2rad(sc.roll)
        cu, cv_ = sc.width / 2, sc.height / 2
        uu = cu + (u - cu) * np.cos(a) - (v - cv_) * np.sin(a)
        vv = cv_ + (u - cu) * np.sin(a) + (v - cv_) * np.cos(a)
        return np.stack([uu, vv], axis=-1)

    def landmarks_2d(self, joints: np.ndarray) -> np.ndarray:
        """Pixel landmarks of the final (possibly mirrored) frames, MediaPipe order ``[T,33,2]``."""
        uv = self.project(joints)
        if self.scene.mirrored:
            uv = uv[:, list(FLIP_INDEX)]
            uv[..., 0] = self.scene.width - 1 - uv[..., 0]
        return uv

    def frames(self, joints: np.ndarray, chunk: int = 256) -> Iterator[np.ndarray]:
        """Yield RGB frames ``[H, W, 3]`` uint8, one per row of ``joints``."""
        for lo in range(0, joints.shape[0], chunk):
            yield from self._frames(joints[lo : lo + chunk])

    def _frames(self, joints: np.ndarray) -> Iterator[np.ndarray]:
        sc, shape = self.scene, self.shape
        uv = self.project(joints) * ONE  # [T, 33, 2] fixed point
        z = joints[..., 2]
        s = sc.px_per_m * shape.height * shape.build * ONE
        light = np.array(sc.light)
        polys, depth, mats = [], [], []
        for name, a, b, r0, r1, mat in _LIMBS:
            p0, p1 = _point(uv, a), _point(uv, b)
            r0, r1 = r0 * s, r1 * s
            off = light * 0.35 * r0
            # Three layers per part: dark outline, shadow-side fill, lit highlight.
            polys.append(
                np.stack(
                    [
                        _capsule_poly(p0, p1, r0 + ONE, r1 + ONE),
                        _capsule_poly(p0, p1, r0, r1),
                        _capsule_poly(p0 + off, p1 + off, 0.55 * r0, 0.55 * r1),
                    ],
                    axis=1,
                )
            )  # [T, 3, 2K, 2]
            d = 0.5 * (_point(z[..., None], a) + _point(z[..., None], b))[:, 0]
            depth.append(d - (0.06 if name in ("spine", "pelvis", "chest") else 0.0))
            mats.append(self.tones[mat])
        all_polys = np.stack(polys, axis=1).astype(np.int32)  # [T, P, 3, 2K, 2]
        head_c = 0.5 * (uv[:, LM["left_ear"]] + uv[:, LM["right_ear"]])
        head_z = 0.5 * (z[:, LM["left_ear"]] + z[:, LM["right_ear"]])
        order = np.argsort(np.stack(depth + [head_z + 0.02], 1), axis=1, kind="stable")
        head_r = shape.head_radius * sc.px_per_m * ONE * 1.05
        nose_dir = uv[:, LM["nose"]] - head_c
        facing = z[:, LM["nose"]] - head_z  # > 0: face turned towards the camera
        row = int(min(sc.floor_v, sc.height - 1))
        shadow_c = tuple(float(v) * 0.6 for v in self.background[row, sc.width // 2])
        n_parts = len(_LIMBS)
        for t in range(joints.shape[0]):
            img = self.background.copy()
            lo, hi = uv[t, :, 0].min(), uv[t, :, 0].max()
            cv2.ellipse(
                img,
                (int((lo + hi) / 2), int(sc.floor_v * ONE)),
                (int((hi - lo) / 2 + 4 * ONE), int(3 * ONE)),
                0,
                0,
                360,
                shadow_c,
                -1,
                cv2.LINE_AA,
                SHIFT,
            )
            for j in order[t]:
                if j == n_parts:
                    self._head(img, head_c[t], head_r, nose_dir[t], facing[t], uv[t], light)
                    continue
                tones = mats[j]
                for layer in range(3):
                    cv2.fillConvexPoly(
                        img, all_polys[t, j, layer], tones[layer], cv2.LINE_AA, SHIFT
                    )
            if sc.blur:
                img = cv2.GaussianBlur(img, (3, 3), 0.7)
            if sc.mirrored:
                img = cv2.flip(img, 1)
            k = t % len(self.noise_pos)
            img = cv2.subtract(cv2.add(img, self.noise_pos[k]), self.noise_neg[k])
            yield img

    def _head(self, img, c, r, nose_dir, facing, uv, light) -> None:
        dark, base, high = self.tones["skin"]
        hair_dark, hair, hair_high = self.tones["hair"]
        look = self.look
        ci = (int(c[0]), int(c[1]))
        ri = int(r)
        # Hair sits away from the face: on top when facing the camera, behind in profile.
        back = -nose_dir / r + np.array([0.0, -1.1])
        back = back / max(float(np.hypot(*back)), 1e-6)
        if look.hair_style == "long":
            tail = c + back * 0.3 * r + np.array([0, 0.9 * r])
            _capsule(img, c, tail, r * 1.05, r * 0.8, hair_dark)
            _capsule(img, c, tail, r * 0.95, r * 0.7, hair)
        cv2.circle(img, ci, ri + ONE, dark, -1, cv2.LINE_AA, SHIFT)
        cv2.circle(img, ci, ri, base, -1, cv2.LINE_AA, SHIFT)
        hl = c + light * 0.3 * r
        cv2.circle(img, (int(hl[0]), int(hl[1])), int(r * 0.55), high, -1, cv2.LINE_AA, SHIFT)
        if look.hair_style != "bald":
            # Hair cap: the half of the head away from the face, plus the crown.
            ang = float(np.degrees(np.arctan2(back[1], back[0])))
            span = 80 if facing > 0 else 150
            cv2.ellipse(
                img,
                ci,
                (ri + ONE // 2, ri + ONE // 2),
                ang,
                -span,
                span,
                hair,
                -1,
                cv2.LINE_AA,
                SHIFT,
            )
            top = c + np.array([0, -0.35 * r]) + back * 0.15 * r
            cv2.ellipse(
                img,
                (int(top[0]), int(top[1])),
                (int(r * 0.95), int(r * 0.65)),
                0,
                180,
                360,
                hair,
                -1,
                cv2.LINE_AA,
                SHIFT,
            )
            if look.hair_style == "bun":
                bun = c + np.array([0, -1.0 * r]) + back * 0.4 * r
                cv2.circle(
                    img, (int(bun[0]), int(bun[1])), int(r * 0.4), hair, -1, cv2.LINE_AA, SHIFT
                )
        if facing > -0.02:
            eye_c = (20, 20, 25)
            er = max(int(r * 0.12), ONE)
            for name in ("left_eye", "right_eye"):
                p = uv[LM[name]]
                cv2.circle(img, (int(p[0]), int(p[1])), er, eye_c, -1, cv2.LINE_AA, SHIFT)
            m0, m1 = uv[LM["mouth_left"]], uv[LM["mouth_right"]]
            cv2.line(
                img,
                (int(m0[0]), int(m0[1])),
                (int(m1[0]), int(m1[1])),
                (150, 60, 60),
                1,
                cv2.LINE_AA,
                SHIFT,
            )


_ARC = np.linspace(-np.pi / 2, np.pi / 2, 7)


def _capsule_poly(a: np.ndarray, b: np.ndarray, r0: float, r1: float) -> np.ndarray:
    """Convex outline ``[T, 14, 2]`` of tapered capsules from ``a`` to ``b`` (``[T, 2]`` each)."""
    d = b - a
    length = np.linalg.norm(d, axis=1, keepdims=True)
    d = np.where(length > 1e-6, d / np.maximum(length, 1e-6), np.array([1.0, 0.0]))
    n = np.stack([-d[:, 1], d[:, 0]], axis=1)
    c, s = np.cos(_ARC)[None, :, None], np.sin(_ARC)[None, :, None]
    cap_b = b[:, None] + r1 * (c * d[:, None] + s * n[:, None])  # around b, facing away from a
    cap_a = a[:, None] - r0 * (c * d[:, None] + s * n[:, None])  # around a, facing away from b
    return np.concatenate([cap_b, cap_a], axis=1)


def _capsule(img: np.ndarray, a: np.ndarray, b: np.ndarray, r0: float, r1: float, c) -> None:
    """Filled tapered capsule between fixed-point points ``a`` and ``b``."""
    d = b - a
    n = np.array([-d[1], d[0]]) / max(float(np.hypot(d[0], d[1])), 1e-6)
    quad = np.array([a + n * r0, b + n * r1, b - n * r1, a - n * r0]).astype(np.int32)
    cv2.fillConvexPoly(img, quad, c, cv2.LINE_AA, SHIFT)
    cv2.circle(img, (int(a[0]), int(a[1])), int(r0), c, -1, cv2.LINE_AA, SHIFT)
    cv2.circle(img, (int(b[0]), int(b[1])), int(r1), c, -1, cv2.LINE_AA, SHIFT)


__all__ = ["Appearance", "Renderer", "Scene", "room", "sample_appearance", "sample_scene"]
