"""The QEVD-SIM exercise catalogue: rep-phase kinematics, variations, mistakes and their words.

Sits under ``motion`` (which evaluates these pose functions per frame) and ``coach`` (which speaks
the mistake corrections written here). Exercises follow Table 5 of the paper (warm-up, main and
cool-down candidates); each has a pose function ``pose(phase, rom, mistakes, side)`` returning
joint angles in degrees (see ``body.ANGLE_NAMES``) as arrays over frames: ``phase`` counts
repetition cycles (integer = start of a rep, standing/top position), ``rom`` scales the range of
motion and ``mistakes[name]`` is each mistake's intensity in [0, 1].
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from livefit.data.labels import fine_label

Arr = np.ndarray
PoseFn = Callable[[Arr, Arr, dict[str, Arr], str], dict[str, Arr | float]]


@dataclass(frozen=True)
class Mistake:
    """An exercise-specific form error the coach corrects."""

    name: str  # fine-grained label suffix, e.g. "shallow"
    corrections: tuple[str, ...]  # paraphrases the coach says when it sees the mistake
    question: str  # fine-grained yes/no question about it
    description: str  # completes "No, ..." in answers


@dataclass(frozen=True)
class Exercise:
    """One catalogue entry."""

    name: str  # as the coach says it: "jumping jacks"
    section: str  # "warm-up", "main", "cool-down" or "general"
    pose: PoseFn = field(repr=False)
    period_s: float = 2.0  # seconds per cycle at normal tempo
    countable: bool = True  # reps are counted (False: a held stretch or a general activity)
    view_yaw: float = 0.0  # preferred camera angle, degrees (80 = side view for planks)
    mistakes: tuple[Mistake, ...] = ()
    sided: str = ""  # "arm" or "leg" for stretches done one side at a time
    unit: str = "reps"  # word for counting lines


def _c(x: Arr) -> Arr:
    """0 at the top of a rep, 1 at the bottom (phase 0.5)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * x)


def _alt(x: Arr) -> tuple[Arr, Arr]:
    """Alternating left/right bumps in [0, 1] (left in the first half cycle)."""
    s = np.sin(2 * np.pi * x)
    return np.clip(s, 0, None) ** 1.3, np.clip(-s, 0, None) ** 1.3


def _m(m: dict[str, Arr], name: str, like: Arr) -> Arr:
    return m.get(name, np.zeros_like(like))


def _both(**kw: Arr | float) -> dict[str, Arr | float]:
    out: dict[str, Arr | float] = {}
    for k, v in kw.items():
        out[f"{k}_l"] = v
        out[f"{k}_r"] = v
    return out


# ---- pose functions ------------------------------------------------------------------------


def jumping_jacks(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    c = _c(x)
    no_arms, low = _m(m, "no arms", x), _m(m, "arms too low", x)
    still_legs = _m(m, "legs not moving", x)
    arm_amp = 165 * rom * (1 - 0.95 * no_arms) * (1 - 0.5 * low)
    return {
        **_both(sh_abd=10 + arm_amp * c, elbow=10 + 15 * c),
        **_both(hip_abd=3 + 17 * c * rom * (1 - 0.9 * still_legs)),
        "hop": 0.06 * np.abs(np.sin(2 * np.pi * x)) * (1 - still_legs),
        **_both(ankle=25 * np.abs(np.sin(2 * np.pi * x)) * (1 - still_legs)),
    }


def high_knees(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    left, right = _alt(x)
    amp = rom * (1 - 0.6 * _m(m, "knees too low", x))
    arms = 1 - 0.9 * _m(m, "no arm swing", x)
    out: dict[str, Arr | float] = {"hop": 0.04 * (left + right) * amp, "trunk": 4.0}
    for s, a, b in (("l", left, right), ("r", right, left)):
        out.update({f"hip_flex_{s}": 5 + 90 * a * amp, f"knee_{s}": 5 + 100 * a * amp})
        out.update({f"sh_flex_{s}": (45 * b - 25 * a) * arms, f"elbow_{s}": 85 * arms + 12})
        out[f"ankle_{s}"] = 20 * a
    return out


def butt_kickers(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    left, right = _alt(x)
    amp = rom * (1 - 0.6 * _m(m, "heels not high enough", x))
    lean = _m(m, "leaning forward", x)
    out: dict[str, Arr | float] = {"hop": 0.04 * (left + right), "trunk": 5 + 30 * lean}
    for s, a, b in (("l", left, right), ("r", right, left)):
        out.update({f"hip_flex_{s}": -8 * a + 5, f"knee_{s}": 5 + 125 * a * amp})
        out.update({f"sh_flex_{s}": 35 * b - 25 * a, f"elbow_{s}": 90.0, f"ankle_{s}": 30 * a})
    return out


def air_jump_rope(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    hop = np.abs(np.sin(np.pi * 2 * x)) * (1 - 0.95 * _m(m, "not jumping", x))
    wide = _m(m, "arms too wide", x)
    circle = np.sin(2 * np.pi * 2 * x)
    return {
        "hop": 0.07 * hop * rom,
        **_both(ankle=30 * hop),
        **_both(sh_abd=22 + 45 * wide + 8 * circle, sh_flex=15 + 10 * circle, elbow=70 - 40 * wide),
        **_both(knee=5 + 10 * hop),
    }


def good_mornings(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    c = _c(x)
    depth = rom * (1 - 0.6 * _m(m, "shallow", x))
    bent = _m(m, "knees bent too much", x)
    drop = _m(m, "hands off head", x)
    arms_up = 1 - drop
    return {
        "trunk": 80 * c * depth,
        "head": -15 * c * depth,
        **_both(knee=8 + 50 * bent * c + 4 * c, hip_abd=5.0),
        **_both(hip_flex=-10 * c * depth + 45 * bent * c),
        **_both(sh_abd=8 + 92 * arms_up, sh_flex=25 * arms_up, elbow=12 + 128 * arms_up),
        **_both(twist=90 * arms_up),
    }


def _plank_arms(pitch: Arr, bend: Arr) -> dict[str, Arr | float]:
    """Arms of a plank: forearms vertical (flex = pitch), upper arms back by ``bend``."""
    return _both(sh_flex=pitch - bend, elbow=bend, sh_abd=6.0)


def push_ups(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    c = _c(x)
    depth = c * rom * (1 - 0.7 * _m(m, "shallow", x))
    sag, high = _m(m, "hips sagging", x), _m(m, "hips too high", x)
    pitch = 66 + 14 * depth - 12 * high + 4 * sag
    return {
        "pitch": pitch,
        "trunk": -14 * sag + 40 * high,
        **_both(hip_flex=-14 * sag + 40 * high - 0 * depth, knee=2.0, ankle=70.0),
        **_plank_arms(pitch - 14 * sag + 40 * high, 95 * depth),
        "head": -10.0,
    }


def plank_taps(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    left, right = _alt(x)
    sag, high = _m(m, "hips sagging", x), _m(m, "hips too high", x)
    pitch = 66 - 12 * high + 4 * sag
    arm_pitch = pitch - 14 * sag + 40 * high
    out: dict[str, Arr | float] = {
        "pitch": pitch,
        "trunk": -14 * sag + 40 * high,
        **_both(hip_flex=-14 * sag + 40 * high, knee=2.0, ankle=70.0, hip_abd=6.0),
        "head": -10.0,
    }
    for s, a in (("l", left), ("r", right)):
        tap = a * rom
        out.update({f"sh_flex_{s}": arm_pitch - 25 * tap, f"elbow_{s}": 120 * tap})
        out.update({f"sh_abd_{s}": 6 - 45 * tap})
    return out


def squats(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    c = _c(x)
    depth = c * rom * (1 - 0.65 * _m(m, "shallow", x))
    lean = _m(m, "leaning too far forward", x)
    cave = _m(m, "knees caving in", x) * depth
    return {
        "trunk": 38 * depth + 40 * lean * depth,
        **_both(hip_flex=100 * depth, knee=115 * depth, hip_abd=9.0, knee_abd=13 * cave),
        **_both(sh_flex=10 + 75 * depth - 35 * lean * depth, elbow=15 + 20 * depth),
        "head": -15 * depth,
    }


def walking_lunges(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    left, right = _alt(x)
    amp = rom * (1 - 0.65 * _m(m, "shallow", x))
    lean = _m(m, "leaning forward", x)
    out: dict[str, Arr | float] = {"trunk": 5 + 40 * lean * (left + right)}
    for s, a, b in (("l", left, right), ("r", right, left)):
        front, back = a * amp, b * amp
        out[f"hip_flex_{s}"] = 85 * front - 28 * back
        out[f"knee_{s}"] = 90 * front + 95 * back
        out[f"ankle_{s}"] = 50 * back
        out[f"sh_abd_{s}"] = 12.0
    out.update(_both(sh_flex=0.0, elbow=20.0))
    return out


def mountain_climbers(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    left, right = _alt(x)
    amp = rom * (1 - 0.65 * _m(m, "knees not coming forward", x))
    high, sag = _m(m, "hips too high", x), _m(m, "hips sagging", x)
    pitch = 62 - 14 * high + 4 * sag
    out: dict[str, Arr | float] = {
        "pitch": pitch,
        "trunk": 40 * high - 14 * sag,
        **_plank_arms(pitch + 40 * high - 14 * sag, 0.0 * x),
        "head": -10.0,
    }
    for s, a in (("l", left), ("r", right)):
        out[f"hip_flex_{s}"] = 40 * high - 14 * sag + 85 * a * amp
        out[f"knee_{s}"] = 3 + 105 * a * amp
        out[f"ankle_{s}"] = 70.0
    return out


def squat_jumps(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    p = np.mod(x, 1.0)
    down = np.where(p < 0.55, np.abs(np.sin(np.pi * np.minimum(p, 0.55) / 0.55)) ** 1.5, 0.0)
    depth = down * rom * (1 - 0.65 * _m(m, "shallow", x))
    air = np.where(p >= 0.55, np.sin(np.pi * (p - 0.55) / 0.45), 0.0)
    no_jump = _m(m, "not jumping", x)
    swing = 1 - 0.9 * _m(m, "no arm swing", x)
    return {
        "trunk": 40 * depth,
        **_both(hip_flex=95 * depth, knee=110 * depth, hip_abd=8.0),
        **_both(sh_flex=swing * (-30 * depth + 150 * air) + 10, elbow=20.0),
        "hop": 0.28 * air * (1 - 0.95 * no_jump) * rom,
        **_both(ankle=45 * air * (1 - no_jump)),
    }


def standing_kicks(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    left, right = _alt(x)
    amp = rom * (1 - 0.6 * _m(m, "kicks too low", x))
    guard = 1 - _m(m, "hands down", x)
    out: dict[str, Arr | float] = {"trunk": -5 * (left + right)}
    for s, a in (("l", left), ("r", right)):
        out[f"hip_flex_{s}"] = 95 * a * amp
        out[f"knee_{s}"] = 25 * (1 - a) * a * 4 + 5
        out[f"ankle_{s}"] = 20 * a
    out.update(_both(sh_flex=10 + 40 * guard, sh_abd=10 + 5 * guard, elbow=15 + 115 * guard))
    out.update(_both(twist=60 * guard))
    return out


def boxing_squat_punches(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    c = _c(x)
    depth = c * rom * (1 - 0.65 * _m(m, "shallow", x))
    punch = 1 - _m(m, "no punches", x)
    pl = np.clip(np.sin(2 * np.pi * 2 * x), 0, None) * punch
    pr = np.clip(-np.sin(2 * np.pi * 2 * x), 0, None) * punch
    out: dict[str, Arr | float] = {
        "trunk": 30 * depth,
        **_both(hip_flex=85 * depth, knee=100 * depth, hip_abd=10.0),
    }
    for s, p in (("l", pl), ("r", pr)):
        out[f"sh_flex_{s}"] = 45 + 45 * p - 20 * depth
        out[f"elbow_{s}"] = 125 * (1 - p) + 5
        out[f"sh_abd_{s}"] = 15 - 12 * p
        out[f"twist_{s}"] = 70 * (1 - p)
    return out


def toe_touchers(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    c = _c(x)
    depth = c * rom * (1 - 0.55 * _m(m, "not reaching down", x))
    bent = _m(m, "knees bent", x) * c
    trunk = 105 * depth
    return {
        "trunk": trunk,
        "head": -20 * depth,
        **_both(hip_flex=-15 * depth + 40 * bent, knee=5 + 60 * bent, hip_abd=8.0),
        **_both(sh_flex=trunk + 5, elbow=8.0, sh_abd=6.0),
    }


def shoulder_gators(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    s = np.sin(2 * np.pi * x)
    amp = rom * (1 - 0.6 * _m(m, "small range", x))
    bent = _m(m, "arms bent", x)
    return {
        "sh_flex_l": 90 + 55 * s * amp,
        "sh_flex_r": 90 - 55 * s * amp,
        **_both(elbow=5 + 70 * bent, sh_abd=0.0, hip_abd=5.0),
    }


def deltoid_stretch(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    other = "r" if side == "l" else "l"
    low = _m(m, "arm too low", x)
    breathe = 3 * np.sin(2 * np.pi * x)
    return {
        f"sh_flex_{side}": 90 - 45 * low + breathe,
        f"sh_abd_{side}": -55.0 + 15 * low,
        f"elbow_{side}": 5.0,
        f"sh_flex_{other}": 70 - 35 * low + breathe,
        f"sh_abd_{other}": -15.0,
        f"elbow_{other}": 105.0,
        **_both(hip_abd=5.0),
    }


def quad_stretch(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    other = "r" if side == "l" else "l"
    drift = _m(m, "knee drifting forward", x)
    sway = 3 * np.sin(2 * np.pi * x)
    return {
        f"knee_{side}": 150.0,
        f"hip_flex_{side}": -8 + 40 * drift,
        f"ankle_{side}": 40.0,
        f"sh_flex_{side}": -35 + 30 * drift,
        f"elbow_{side}": 20.0,
        f"sh_abd_{side}": 12.0,
        f"sh_abd_{other}": 45 + sway,
        f"elbow_{other}": 10.0,
        "trunk": 4 + 6 * drift,
    }


# ---- general activities (coarse class "general") ---------------------------------------------


def standing_idle(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    sway = np.sin(2 * np.pi * x)
    return {"trunk": 1.5 * sway, **_both(sh_abd=8 + 2 * sway)}


def drinking(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    lift = np.clip(1.4 * np.sin(np.pi * np.mod(x, 1.0)), 0, 1)
    return {
        "sh_flex_r": 40 + 35 * lift,
        "elbow_r": 60 + 85 * lift,
        "sh_abd_r": 20.0,
        "head": -25 * lift,
    }


def wiping_face(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    w = np.sin(2 * np.pi * 2 * x)
    return {**_both(sh_flex=55 + 8 * w, elbow=135.0, sh_abd=-5 + 6 * w), "head": 10.0}


def hands_on_hips(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    breathe = np.sin(2 * np.pi * x)
    return {**_both(sh_abd=38.0 + 2 * breathe, elbow=95.0, twist=-90.0, sh_flex=-12.0)}


def shaking_arms(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    w = np.sin(2 * np.pi * 3 * x)
    return {**_both(sh_abd=20 + 10 * w, elbow=20 + 20 * w, sh_flex=10 - 8 * w), "hop": 0.01 * w**2}


def stretching_overhead(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    c = _c(x)
    return {**_both(sh_flex=30 + 140 * c, sh_abd=5.0, elbow=20 - 15 * c), "head": 10 * c}


def walking_in_place(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    left, right = _alt(x)
    out: dict[str, Arr | float] = {}
    for s, a, b in (("l", left, right), ("r", right, left)):
        out.update({f"hip_flex_{s}": 30 * a, f"knee_{s}": 45 * a, f"sh_flex_{s}": 20 * b - 10 * a})
    return out


def waving(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    w = np.sin(2 * np.pi * 2 * x)
    return {"sh_abd_r": 125 + 15 * w, "elbow_r": 30 + 25 * w, "twist_r": 90.0}


def catching_breath(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    b = np.sin(2 * np.pi * x)
    return {
        "trunk": 50 + 4 * b,
        **_both(hip_flex=15.0, knee=30.0, sh_flex=60 + 2 * b, elbow=15.0),
        "head": -30.0,
    }


def clapping(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    c = _c(2 * x)
    return {**_both(sh_flex=70.0, sh_abd=-5 + 35 * (1 - c), elbow=50.0, twist=20.0)}


def fixing_hair(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    w = np.sin(2 * np.pi * 2 * x)
    return {**_both(sh_abd=95 + 5 * w, sh_flex=40.0, elbow=140.0, twist=90.0), "head": 5 * w}


def checking_phone(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    tap = np.sin(2 * np.pi * 3 * x)
    return {**_both(sh_flex=25.0, sh_abd=-8.0, elbow=100 + 3 * tap), "head": -35.0}


def rolling_shoulders(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    w = np.sin(2 * np.pi * x)
    return {
        **_both(sh_abd=12 + 8 * w, sh_flex=8 * np.cos(2 * np.pi * x), elbow=15.0),
        "head": 3 * w,
    }


def side_bends(x: Arr, rom: Arr, m: dict[str, Arr], side: str) -> dict[str, Arr | float]:
    s = np.sin(2 * np.pi * x)
    return {
        "sh_abd_l": 90 + 80 * np.clip(-s, 0, None),
        "sh_abd_r": 90 + 80 * np.clip(s, 0, None),
        **_both(elbow=10.0),
    }


def _mk(name: str, corrections: tuple[str, ...], question: str, description: str) -> Mistake:
    return Mistake(name, corrections, question, description)


EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        "jumping jacks",
        "warm-up",
        jumping_jacks,
        1.0,
        mistakes=(
            _mk(
                "no arms",
                (
                    "Use your arms too, raise them up!",
                    "Bring your arms up over your head!",
                    "Don't forget to move your arms!",
                ),
                "Is the user moving their arms?",
                "the user is not moving their arms",
            ),
            _mk(
                "arms too low",
                ("Get your hands all the way up!", "Raise your arms higher, reach up!"),
                "Are the user's arms going all the way up?",
                "the arms stay too low",
            ),
            _mk(
                "legs not moving",
                ("Jump your feet out wide!", "Move your legs too, jump out!"),
                "Is the user jumping their feet out?",
                "the legs are not moving",
            ),
        ),
    ),
    Exercise(
        "high knees",
        "warm-up",
        high_knees,
        0.75,
        mistakes=(
            _mk(
                "knees too low",
                (
                    "Get those knees up higher!",
                    "Drive your knees up to your hips!",
                    "Lift your knees higher!",
                ),
                "Are the user's knees coming up high enough?",
                "the knees are too low",
            ),
            _mk(
                "no arm swing",
                ("Pump your arms as you go!", "Use your arms to drive you!"),
                "Is the user swinging their arms?",
                "the arms are not swinging",
            ),
        ),
    ),
    Exercise(
        "butt kickers",
        "warm-up",
        butt_kickers,
        0.75,
        mistakes=(
            _mk(
                "heels not high enough",
                ("Kick your heels up to your glutes!", "Bring those heels higher!"),
                "Are the user's heels reaching their glutes?",
                "the heels are not high enough",
            ),
            _mk(
                "leaning forward",
                ("Stay tall, keep your chest up!", "Don't lean forward, stand tall!"),
                "Is the user leaning forward?",
                "the user is leaning forward",
            ),
        ),
    ),
    Exercise(
        "air jump rope",
        "warm-up",
        air_jump_rope,
        0.5,
        mistakes=(
            _mk(
                "not jumping",
                ("Hop on your toes with each turn!", "Add a little jump there!"),
                "Is the user jumping?",
                "the user is not jumping",
            ),
            _mk(
                "arms too wide",
                ("Keep your elbows close to your body!", "Bring your hands in closer!"),
                "Are the user's arms too wide?",
                "the arms are too wide",
            ),
        ),
    ),
    Exercise(
        "good mornings",
        "warm-up",
        good_mornings,
        2.6,
        view_yaw=55.0,
        mistakes=(
            _mk(
                "shallow",
                (
                    "Hinge further at your hips!",
                    "Bend forward a bit more!",
                    "Push your hips back further!",
                ),
                "Is the user hinging far enough?",
                "the hinge is too shallow",
            ),
            _mk(
                "knees bent too much",
                ("Keep your legs almost straight!", "Less bend in your knees, please!"),
                "Is the user bending their knees too much?",
                "the knees are bent too much",
            ),
            _mk(
                "hands off head",
                ("Keep your hands behind your head!", "Hands back behind your head!"),
                "Are the user's hands behind their head?",
                "the hands are not behind the head",
            ),
        ),
    ),
    Exercise(
        "push-ups",
        "main",
        push_ups,
        2.0,
        view_yaw=82.0,
        mistakes=(
            _mk(
                "hips sagging",
                (
                    "Don't let your hips sag, tighten your core!",
                    "Lift your hips up a little!",
                    "Keep your hips in line!",
                ),
                "Are the user's hips sagging?",
                "the hips are sagging",
            ),
            _mk(
                "hips too high",
                (
                    "Bring your hips down in line!",
                    "Lower your hips a little!",
                    "Your hips are too high, flatten out!",
                ),
                "Are the user's hips too high?",
                "the hips are too high",
            ),
            _mk(
                "shallow",
                ("Go all the way down, chest to the floor!", "Lower your chest further!"),
                "Is the user going all the way down?",
                "the push-ups are too shallow",
            ),
        ),
    ),
    Exercise(
        "plank taps",
        "main",
        plank_taps,
        1.6,
        view_yaw=78.0,
        mistakes=(
            _mk(
                "hips too high",
                ("Bring your hips down in line!", "Lower those hips a little!"),
                "Are the user's hips too high?",
                "the hips are too high",
            ),
            _mk(
                "hips sagging",
                ("Don't let your hips drop!", "Squeeze your core, hips up!"),
                "Are the user's hips sagging?",
                "the hips are sagging",
            ),
        ),
    ),
    Exercise(
        "squats",
        "main",
        squats,
        2.2,
        view_yaw=20.0,
        mistakes=(
            _mk(
                "shallow",
                (
                    "Go lower, get your hips down!",
                    "Squat deeper, thighs to parallel!",
                    "Try to sink a bit deeper!",
                ),
                "Is the user squatting deep enough?",
                "the squats are too shallow",
            ),
            _mk(
                "leaning too far forward",
                (
                    "Keep your chest up!",
                    "Don't lean so far forward!",
                    "Chest up and back straight!",
                ),
                "Is the user leaning too far forward?",
                "the user is leaning too far forward",
            ),
            _mk(
                "knees caving in",
                (
                    "Push your knees out!",
                    "Don't let your knees cave in!",
                    "Keep your knees over your toes!",
                ),
                "Are the user's knees caving in?",
                "the knees are caving in",
            ),
        ),
    ),
    Exercise(
        "walking lunges",
        "main",
        walking_lunges,
        2.6,
        view_yaw=60.0,
        mistakes=(
            _mk(
                "shallow",
                ("Lower your back knee closer to the floor!", "Go deeper into each lunge!"),
                "Is the user lunging deep enough?",
                "the lunges are too shallow",
            ),
            _mk(
                "leaning forward",
                ("Keep your torso upright!", "Stay tall through your chest!"),
                "Is the user leaning forward?",
                "the user is leaning forward",
            ),
        ),
    ),
    Exercise(
        "mountain climbers",
        "main",
        mountain_climbers,
        0.8,
        view_yaw=80.0,
        mistakes=(
            _mk(
                "hips too high",
                ("Keep your hips down!", "Drop your hips into a plank!"),
                "Are the user's hips too high?",
                "the hips are too high",
            ),
            _mk(
                "knees not coming forward",
                ("Drive your knees all the way in!", "Bring your knees to your chest!"),
                "Are the user's knees coming in far enough?",
                "the knees are not coming far enough",
            ),
            _mk(
                "hips sagging",
                ("Don't let your hips sag!", "Tighten your core, hips up!"),
                "Are the user's hips sagging?",
                "the hips are sagging",
            ),
        ),
    ),
    Exercise(
        "squat jumps",
        "main",
        squat_jumps,
        1.7,
        view_yaw=15.0,
        mistakes=(
            _mk(
                "shallow",
                ("Sink deeper before you jump!", "Get lower on the way down!"),
                "Is the user squatting deep enough?",
                "the squats are too shallow",
            ),
            _mk(
                "not jumping",
                ("Explode up, jump higher!", "Get off the ground on each rep!"),
                "Is the user jumping off the ground?",
                "the user is not jumping",
            ),
            _mk(
                "no arm swing",
                ("Swing your arms up as you jump!", "Use your arms to jump higher!"),
                "Is the user swinging their arms?",
                "the arms are not swinging",
            ),
        ),
    ),
    Exercise(
        "standing kicks",
        "main",
        standing_kicks,
        1.6,
        view_yaw=35.0,
        mistakes=(
            _mk(
                "kicks too low",
                ("Kick higher, up to your waist!", "Get those kicks up higher!"),
                "Is the user kicking high enough?",
                "the kicks are too low",
            ),
            _mk(
                "hands down",
                ("Keep your hands up in a guard!", "Hands up by your face!"),
                "Is the user keeping their guard up?",
                "the hands are down",
            ),
        ),
    ),
    Exercise(
        "boxing squat punches",
        "main",
        boxing_squat_punches,
        2.4,
        view_yaw=15.0,
        mistakes=(
            _mk(
                "shallow",
                ("Sit lower into the squat!", "Get deeper in that squat!"),
                "Is the user squatting deep enough?",
                "the squats are too shallow",
            ),
            _mk(
                "no punches",
                ("Throw those punches out!", "Don't forget to punch!"),
                "Is the user punching?",
                "the user is not punching",
            ),
        ),
    ),
    Exercise(
        "toe touchers",
        "cool-down",
        toe_touchers,
        3.0,
        view_yaw=50.0,
        mistakes=(
            _mk(
                "not reaching down",
                ("Reach all the way to your toes!", "Try to reach further down!"),
                "Is the user reaching their toes?",
                "the user is not reaching down far enough",
            ),
            _mk(
                "knees bent",
                ("Keep your legs straight!", "Try not to bend your knees!"),
                "Is the user keeping their legs straight?",
                "the knees are bent",
            ),
        ),
    ),
    Exercise(
        "shoulder gators",
        "cool-down",
        shoulder_gators,
        2.0,
        view_yaw=55.0,
        mistakes=(
            _mk(
                "arms bent",
                ("Keep your arms straight!", "Straighten those elbows!"),
                "Is the user keeping their arms straight?",
                "the arms are bent",
            ),
            _mk(
                "small range",
                ("Open your arms wider!", "Make the movement bigger!"),
                "Is the user opening their arms wide?",
                "the range is too small",
            ),
        ),
    ),
    Exercise(
        "deltoid stretch",
        "cool-down",
        deltoid_stretch,
        4.0,
        countable=False,
        sided="arm",
        mistakes=(
            _mk(
                "arm too low",
                ("Bring your arm up to chest height!", "Lift that arm a bit higher!"),
                "Is the user's arm at chest height?",
                "the arm is too low",
            ),
        ),
    ),
    Exercise(
        "quad stretch",
        "cool-down",
        quad_stretch,
        4.0,
        countable=False,
        sided="leg",
        view_yaw=40.0,
        mistakes=(
            _mk(
                "knee drifting forward",
                ("Keep your knees together!", "Pull your knee back down!"),
                "Is the user's knee drifting forward?",
                "the knee is drifting forward",
            ),
        ),
    ),
)

GENERAL: tuple[Exercise, ...] = tuple(
    Exercise(name, "general", fn, period, countable=False)
    for name, fn, period in (
        ("standing idle", standing_idle, 4.0),
        ("drinking from a bottle", drinking, 4.0),
        ("wiping face", wiping_face, 2.0),
        ("hands on hips", hands_on_hips, 3.0),
        ("shaking out arms", shaking_arms, 2.0),
        ("stretching arms overhead", stretching_overhead, 3.0),
        ("walking in place", walking_in_place, 1.2),
        ("waving at the camera", waving, 2.0),
        ("catching breath", catching_breath, 2.5),
        ("clapping", clapping, 1.0),
        ("fixing hair", fixing_hair, 2.0),
        ("checking the phone", checking_phone, 5.0),
        ("rolling shoulders", rolling_shoulders, 1.5),
        ("side bends", side_bends, 3.0),
    )
)
IDLE = "standing idle"
BY_NAME: dict[str, Exercise] = {e.name: e for e in EXERCISES + GENERAL}
SECTIONS = ("warm-up", "main", "cool-down")
GENERAL_CLASS = "general"  # coarse label of the general activities


def section(name: str) -> list[Exercise]:
    return [e for e in EXERCISES if e.section == name]


def fine_grained_classes() -> list[str]:
    """Every fine-grained class, ``"<exercise> - <variant or mistake>"``; index = class id."""
    out: list[str] = []
    for ex in EXERCISES:
        if ex.sided:
            out += [fine_label(ex.name, f"{side} {ex.sided}") for side in ("left", "right")]
        else:
            out += [fine_label(ex.name, v) for v in ("good form", "slow", "fast")]
        out += [fine_label(ex.name, mk.name) for mk in ex.mistakes]
    out += [fine_label(GENERAL_CLASS, g.name) for g in GENERAL]
    return out


def flip_map() -> dict[str, str]:
    """Fine-grained classes that swap under a horizontal flip (both directions listed)."""
    out: dict[str, str] = {}
    for ex in EXERCISES:
        if ex.sided:
            left, right = (fine_label(ex.name, f"{hand} {ex.sided}") for hand in ("left", "right"))
            out[left], out[right] = right, left
    return out


def coarse_classes() -> list[str]:
    return [e.name for e in EXERCISES] + [GENERAL_CLASS]


def all_mistakes() -> list[str]:
    """Distinct mistake names (the main mistakes a classifier is scored on)."""
    seen: dict[str, None] = {}
    for ex in EXERCISES:
        for mk in ex.mistakes:
            seen[mk.name] = None
    return list(seen)


def normalize_line(text: str) -> str:
    """A coach line as the correction banks key it: lower case, single spaces."""
    return " ".join(text.lower().split())


@functools.cache
def correction_banks() -> dict[str, frozenset[tuple[str, str]]]:
    """QEVD-SIM's correction lines (``normalize_line``) -> the (exercise, mistake) pairs they
    correct."""
    banks: dict[str, set[tuple[str, str]]] = {}
    for ex in EXERCISES:
        for mistake in ex.mistakes:
            for line in mistake.corrections:
                banks.setdefault(normalize_line(line), set()).add((ex.name, mistake.name))
    return {line: frozenset(pairs) for line, pairs in banks.items()}


__all__ = [
    "BY_NAME",
    "EXERCISES",
    "GENERAL",
    "GENERAL_CLASS",
    "IDLE",
    "SECTIONS",
    "Exercise",
    "Mistake",
    "all_mistakes",
    "coarse_classes",
    "correction_banks",
    "fine_grained_classes",
    "flip_map",
    "normalize_line",
    "section",
]
