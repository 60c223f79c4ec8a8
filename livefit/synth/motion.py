"""Behaviour timeline -> per-frame body motion and ground truth.

Sits between the scenario builders (``workout`` and ``clips``, which decide what the user does
when) and ``render``. A timeline is a list of ``Interval``s (activity, tempo, range of motion,
active mistakes, side); ``animate`` turns it into per-frame joint angles (rep phase integrated at
the interval's tempo, activities and mistakes blended smoothly over a few hundred ms so nothing
jumps), runs the forward kinematics and returns the 3D joints with the per-frame labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from livefit.data import labels
from livefit.synth.body import ANGLE_INDEX, ANGLE_NAMES, REST_POSE, BodyShape, forward_kinematics
from livefit.synth.exercises import BY_NAME, GENERAL_CLASS

TEMPO_RATE = {"slow": 0.6, "normal": 1.0, "fast": 1.5}  # cycles/s multiplier of the period
BLEND_S = 0.4  # activity cross-fade, seconds
MISTAKE_BLEND_S = 0.5  # mistake onset/offset ramp, seconds


@dataclass(frozen=True)
class Interval:
    """What the user does from ``t0`` to ``t1`` (seconds from the video start)."""

    t0: float
    t1: float
    activity: str  # an exercise or general-activity name (exercises.BY_NAME)
    tempo: str = "normal"  # slow, normal, fast
    rom: float = 1.0  # range-of-motion multiplier
    mistakes: tuple[str, ...] = ()
    side: str = "l"  # l/r: the working side of a one-sided stretch (before mirroring)
    bout: int = 0  # intervals of one exercise bout share it: the rep phase carries over
    speed: float = 1.0  # the participant's own tempo factor

    @property
    def rate(self) -> float:
        """Rep cycles per second."""
        return TEMPO_RATE[self.tempo] * self.speed / BY_NAME[self.activity].period_s


@dataclass
class Motion:
    """Per-frame body motion and ground truth of one video."""

    joints: np.ndarray  # [T, 33, 3] metres, world frame (body.forward_kinematics)
    angles: np.ndarray  # [T, len(ANGLE_NAMES)] degrees
    activity: list[str]  # [T] activity name
    phase: np.ndarray  # [T] rep phase of the current activity (cycles since it started)
    reps: np.ndarray  # [T] completed reps of the current exercise bout
    mistakes: list[tuple[str, ...]]  # [T] mistakes visible on each frame (intensity > 0.5)
    tempo: list[str]  # [T]
    side: list[str]  # [T]
    intervals: list[Interval] = field(default_factory=list)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0 (edges padded), keeps sums of one-hots at 1."""
    if width <= 1:
        return x
    pad = width // 2
    xp = np.concatenate([np.repeat(x[:1], pad, 0), x, np.repeat(x[-1:], width - 1 - pad, 0)], 0)
    c = np.cumsum(np.concatenate([np.zeros_like(x[:1]), xp], 0), axis=0)
    return (c[width:] - c[:-width]) / width


def fine_label(activity: str, mistakes: tuple[str, ...], tempo: str, side: str) -> str:
    """The frame's fine-grained class (mistake > side > tempo > good form)."""
    ex = BY_NAME[activity]
    if ex.section == "general":
        return labels.fine_label(GENERAL_CLASS, activity)
    if mistakes:
        return labels.fine_label(activity, mistakes[0])
    if ex.sided:
        return labels.fine_label(activity, f"{'left' if side == 'l' else 'right'} {ex.sided}")
    if tempo != "normal" and ex.countable:
        return labels.fine_label(activity, tempo)
    return labels.fine_label(activity, "good form")


def animate(
    intervals: list[Interval],
    times: np.ndarray,
    shape: BodyShape,
    view_sign: float = 1.0,
    yaw_jitter: float = 0.0,
) -> Motion:
    """Evaluate a timeline at ``times`` (seconds, [T]) for one body.

    ``view_sign`` picks which way side-view exercises face; ``yaw_jitter`` (degrees) is added to
    every activity's view angle.
    """
    n = len(times)
    dt = np.diff(times, prepend=times[0] - (times[1] - times[0] if n > 1 else 1 / 30))
    fps = 1.0 / float(np.median(dt))
    starts = np.array([iv.t0 for iv in intervals])
    idx = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(intervals) - 1)
    names = sorted({iv.activity for iv in intervals})
    act_of = {name: i for i, name in enumerate(names)}
    act = np.array([act_of[intervals[i].activity] for i in idx])
    rate = np.array([intervals[i].rate for i in idx])
    rom = np.array([intervals[i].rom for i in idx])
    # Phase restarts at each new bout of an activity and, after a pause inside a bout, resumes
    # at the next whole rep (the top position), so the body never jumps mid-rep.
    phase = np.zeros(n)
    reps = np.zeros(n, dtype=np.int32)
    bout_phase: dict[tuple[str, int], float] = {}
    p = 0.0
    for t in range(n):
        iv = intervals[idx[t]]
        key = (iv.activity, iv.bout)
        if t == 0 or act[t] != act[t - 1] or intervals[idx[t - 1]].bout != iv.bout:
            p = float(np.ceil(bout_phase[key] - 1e-9)) if key in bout_phase else 0.0
        else:
            p += rate[t] * dt[t]
        phase[t] = p
        bout_phase[key] = p
        reps[t] = int(np.floor(p)) if BY_NAME[iv.activity].countable else 0
    # Cross-fade weights between activities, and mistake intensities.
    onehot = np.zeros((n, len(names)))
    onehot[np.arange(n), act] = 1.0
    weights = _smooth(onehot, max(1, int(round(BLEND_S * fps))))
    all_mk = sorted({m for iv in intervals for m in iv.mistakes})
    mk_raw = np.zeros((n, max(1, len(all_mk))))
    for j, name in enumerate(all_mk):
        mk_raw[:, j] = [name in intervals[i].mistakes for i in idx]
    mk_int = _smooth(mk_raw, max(1, int(round(MISTAKE_BLEND_S * fps))))
    mk_dict = {name: mk_int[:, j] for j, name in enumerate(all_mk)}
    angles = np.zeros((n, len(ANGLE_NAMES)))
    rest = np.zeros(len(ANGLE_NAMES))
    for k, v in REST_POSE.items():
        rest[ANGLE_INDEX[k]] = v
    for a, name in enumerate(names):
        w = weights[:, a]
        rows = np.flatnonzero(w > 1e-6)
        if rows.size == 0:
            continue
        ex = BY_NAME[name]
        sides = np.array([intervals[idx[r]].side for r in rows])
        part = np.tile(rest, (rows.size, 1))
        for s in ("l", "r"):
            sel = np.flatnonzero(sides == s)
            if sel.size == 0:
                continue
            r_sel = rows[sel]
            out = ex.pose(phase[r_sel], rom[r_sel], {k: v[r_sel] for k, v in mk_dict.items()}, s)
            for key, val in out.items():
                part[sel, ANGLE_INDEX[key]] = val
        part[:, ANGLE_INDEX["yaw"]] += view_sign * ex.view_yaw + yaw_jitter
        angles[rows] += w[rows, None] * part
    joints = forward_kinematics(angles, shape)
    mistakes = []
    for t in range(n):
        mistakes.append(tuple(m for m in intervals[idx[t]].mistakes if mk_dict[m][t] > 0.5))
    return Motion(
        joints=joints,
        angles=angles,
        activity=[intervals[i].activity for i in idx],
        phase=phase,
        reps=reps,
        mistakes=mistakes,
        tempo=[intervals[i].tempo for i in idx],
        side=[intervals[i].side for i in idx],
        intervals=list(intervals),
    )


__all__ = ["BLEND_S", "TEMPO_RATE", "Interval", "Motion", "animate", "fine_label"]
