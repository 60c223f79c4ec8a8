"""Short QEVD-FIT-300K-style clips: one exercise (or general activity) with one variation.

Sits beside ``workout`` (long range): ``plan_clip`` picks what a 2-10 s clip shows (exercise,
tempo, a mistake or good form, a one-sided stretch's side, sometimes an idle lead-in or a
correction half-way) and ``describe_clip`` writes its labels once the motion is known: the
coarse and fine-grained labels, question/answer pairs (high-level and fine-grained) and the 1-2
feedbacks a coach says at the end. Layout: docs/qevd-fit-300k.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livefit.synth import coach as C
from livefit.synth.exercises import EXERCISES, GENERAL, GENERAL_CLASS, IDLE, Exercise, Mistake
from livefit.synth.motion import Interval, Motion, fine_label

GENERAL_PROB = 0.12  # share of clips showing a general activity instead of an exercise
_MISTAKE_WORDS = ("sagging", "too ", "caving", "leaning", "drifting")


@dataclass(frozen=True)
class ClipPlan:
    """What one short clip shows."""

    intervals: list[Interval]
    duration: float
    exercise: Exercise
    tempo: str
    rom: float
    mistake: str | None  # the clip's mistake (None: good form)
    corrected: bool  # the mistake is fixed half-way through


def plan_clip(
    rng: np.random.Generator, min_s: float, max_s: float, mean_s: float, speed: float = 1.0
) -> ClipPlan:
    duration = float(np.clip(rng.normal(mean_s, 0.2 * mean_s), min_s, max_s))
    if rng.random() < GENERAL_PROB:
        ex = GENERAL[int(rng.integers(len(GENERAL)))]
        iv = Interval(0.0, duration, ex.name, speed=speed)
        return ClipPlan([iv], duration, ex, "normal", 1.0, None, False)
    ex = EXERCISES[int(rng.integers(len(EXERCISES)))]
    rom = float(rng.uniform(0.9, 1.05))
    u = rng.random()
    tempo, mistake = "normal", None
    if ex.mistakes and u < 0.5:
        mistake = ex.mistakes[int(rng.integers(len(ex.mistakes)))].name
    elif ex.countable and u < 0.68:
        tempo = "slow"
    elif ex.countable and u < 0.86:
        tempo = "fast"
    side = str(rng.choice(["l", "r"]))
    lead = float(rng.uniform(0.4, 0.9)) if rng.random() < 0.15 and duration > 2.5 else 0.0
    corrected = mistake is not None and rng.random() < 0.15 and duration > 3.5
    common = dict(activity=ex.name, tempo=tempo, rom=rom, side=side, speed=speed)
    intervals = []
    if lead > 0:
        intervals.append(Interval(0.0, lead, IDLE, side=side, speed=speed))
    mks = (mistake,) if mistake else ()
    if corrected:
        mid = lead + 0.55 * (duration - lead)
        intervals.append(Interval(lead, mid, mistakes=mks, **common))  # type: ignore[arg-type]
        intervals.append(Interval(mid, duration, mistakes=(), **common))  # type: ignore[arg-type]
    else:
        intervals.append(Interval(lead, duration, mistakes=mks, **common))  # type: ignore[arg-type]
    return ClipPlan(intervals, duration, ex, tempo, rom, mistake, corrected)


def flip_side(side: str, mirrored: bool) -> str:
    return ("r" if side == "l" else "l") if mirrored else side


def frame_labels(motion: Motion, mirrored: bool) -> list[str]:
    """Dense per-frame fine-grained labels as seen in the (possibly mirrored) video."""
    return [
        fine_label(a, m, tp, flip_side(s, mirrored))
        for a, m, tp, s in zip(
            motion.activity, motion.mistakes, motion.tempo, motion.side, strict=True
        )
    ]


def _mistake_answer(mk: Mistake, present: bool) -> str:
    yes_is_mistake = any(w in mk.question for w in _MISTAKE_WORDS)
    if present:
        return f"{'Yes' if yes_is_mistake else 'No'}, {mk.description}."
    return "No, that looks fine." if yes_is_mistake else "Yes, that looks good."


def describe_clip(plan: ClipPlan, motion: Motion, mirrored: bool, rng: np.random.Generator) -> dict:
    """Labels, attributes, questions and feedbacks of a rendered clip (the clips.json fields)."""
    ex = plan.exercise
    labels = frame_labels(motion, mirrored)
    fine = list(dict.fromkeys(labels))
    reps = int(motion.reps[-1])
    last_side = flip_side(motion.side[-1], mirrored)
    side_word = "left" if last_side == "l" else "right"
    # The state at the end of the clip, which the feedback is about.
    mistake_now = plan.mistake if plan.mistake and not plan.corrected else None
    qa: list[dict] = []
    feedbacks: list[str] = []
    if ex.section == "general":
        coarse = GENERAL_CLASS
        qa.append(
            {
                "question": "What is the user doing?",
                "answer": f"The user is not exercising, they are {ex.name}.",
                "kind": "high_level",
            }
        )
        qa.append(
            {"question": "Is the user exercising right now?", "answer": "No.", "kind": "high_level"}
        )
        feedbacks.append(
            C.pick(
                (
                    "Let's get back to the workout!",
                    "Ready when you are, let's go!",
                    "Take your time, then let's continue!",
                ),
                rng,
            )
        )
    else:
        coarse = ex.name
        qa.append(
            {
                "question": "What exercise is the user doing?",
                "answer": f"The user is doing {ex.name}.",
                "kind": "high_level",
            }
        )
        mk = next((m for m in ex.mistakes if m.name == mistake_now), None)
        right = "Yes, the form looks good." if mk is None else f"No, {mk.description}."
        qa.append(
            {"question": "Is the user doing this right?", "answer": right, "kind": "high_level"}
        )
        if ex.countable:
            tempo_answer = {
                "slow": "No, the user is going slowly.",
                "fast": "Yes, the user is moving fast.",
                "normal": "The user is moving at a steady pace.",
            }[plan.tempo]
            qa.append(
                {
                    "question": "Is the user going as fast as possible?",
                    "answer": tempo_answer,
                    "kind": "fine_grained",
                }
            )
            count = C.number_word(reps).capitalize() + "."
            qa.append(
                {
                    "question": "How many reps has the user done?",
                    "answer": count,
                    "kind": "fine_grained",
                }
            )
        if ex.sided:
            qa.append(
                {
                    "question": f"Which {ex.sided} is the user stretching?",
                    "answer": f"The {side_word} {ex.sided}.",
                    "kind": "fine_grained",
                }
            )
        asked = list(ex.mistakes)
        rng.shuffle(asked)
        for m in asked[: 1 + int(rng.random() < 0.5)]:
            qa.append(
                {
                    "question": m.question,
                    "answer": _mistake_answer(m, m.name == mistake_now),
                    "kind": "fine_grained",
                }
            )
        if mk is not None:
            feedbacks.append(C.pick(mk.corrections, rng))
        elif plan.corrected:
            feedbacks.append(C.pick(C.FIXED_ACK, rng))
        elif plan.tempo == "slow":
            feedbacks.append(C.pick(C.SPEED_UP, rng))
        elif plan.tempo == "fast":
            feedbacks.append(C.pick(C.FAST_PRAISE, rng))
        elif ex.countable and reps > 0:
            feedbacks.append(C.pick(C.COUNT, rng, n=reps, exercise=ex.name))
        elif ex.countable:
            feedbacks.append(C.pick(C.GOOD_FORM, rng))
        else:
            feedbacks.append(C.pick(C.ENCOURAGE, rng))
        if rng.random() < 0.3:
            feedbacks.append(C.pick(C.GOOD_FORM if mk is None else C.KEEP_GOING, rng))
    attributes = {
        "tempo": plan.tempo,
        "range_of_motion": round(plan.rom, 3),
        "mistakes": [plan.mistake] if plan.mistake else [],
        "corrected": plan.corrected,
        "mirrored": mirrored,
        "side": side_word if ex.sided else None,
        "reps": reps,
    }
    return {
        "exercise": coarse,
        "fine_grained": fine,
        "frame_labels": labels,
        "attributes": attributes,
        "qa": qa,
        "feedbacks": feedbacks,
    }


__all__ = ["ClipPlan", "describe_clip", "flip_side", "frame_labels", "plan_clip"]
