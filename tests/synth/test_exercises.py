"""The exercise catalogue: coverage, label vocabulary and mistakes that change the body."""

from __future__ import annotations

import numpy as np
import pytest

from livefit.synth.body import ANGLE_INDEX, BodyShape
from livefit.synth.exercises import (
    EXERCISES,
    GENERAL,
    SECTIONS,
    coarse_classes,
    fine_grained_classes,
    flip_map,
)
from livefit.synth.motion import Interval, animate, fine_label

PAPER_TABLE5 = {
    "jumping jacks",
    "high knees",
    "butt kickers",
    "air jump rope",
    "good mornings",
    "push-ups",
    "plank taps",
    "moving plank",
    "squats",
    "walking lunges",
    "lunge jumps",
    "puddle jumps",
    "mountain climbers",
    "floor touches",
    "quick feet",
    "squat jumps",
    "squat kicks",
    "standing kicks",
    "boxing squat punches",
    "deltoid stretch",
    "quad stretch",
    "shoulder gators",
    "toe touchers",
}


def test_catalogue_covers_the_paper_sections() -> None:
    names = {e.name for e in EXERCISES}
    assert len(names) >= 10 and names <= PAPER_TABLE5
    for section in SECTIONS:
        assert sum(e.section == section for e in EXERCISES) >= 2
    assert any(not e.countable for e in EXERCISES if e.section == "cool-down")
    assert all(e.mistakes for e in EXERCISES)


def test_label_vocabulary() -> None:
    fine = fine_grained_classes()
    assert len(fine) >= 100 and len(set(fine)) == len(fine)
    assert sum(c.startswith("general - ") for c in fine) == len(GENERAL) >= 5
    assert coarse_classes()[-1] == "general"
    flip = flip_map()
    assert flip and all(flip[flip[k]] == k and k != flip[k] for k in flip)
    assert all(k in fine for k in flip)
    assert all(("left" in k) != ("left" in flip[k]) for k in flip)
    # Every label the frame labeller can produce is in the vocabulary.
    for ex in EXERCISES:
        for tempo in ("slow", "normal", "fast"):
            for side in ("l", "r"):
                assert fine_label(ex.name, (), tempo, side) in fine
                for mk in ex.mistakes:
                    assert fine_label(ex.name, (mk.name,), tempo, side) in fine


def _pose(name: str, mistakes: tuple[str, ...] = (), tempo: str = "normal") -> np.ndarray:
    times = np.arange(0, 6, 1 / 30)
    motion = animate([Interval(0.0, 6.0, name, tempo=tempo, mistakes=mistakes)], times, BodyShape())
    return motion.joints[45:]  # after the cross-fade from the first frame


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_exercise_moves_and_each_mistake_changes_the_body(ex) -> None:
    good = _pose(ex.name)
    assert np.isfinite(good).all()
    # Something moves by more than 5 cm per rep (2 cm for a held stretch: breathing, sway).
    assert np.ptp(good, axis=0).max() > (0.05 if ex.countable else 0.02)
    for mk in ex.mistakes:
        bad = _pose(ex.name, (mk.name,))
        # The mistake moves some landmark by at least 8 cm at some point of the rep.
        assert np.abs(bad - good).max() > 0.08, mk.name


def test_tempo_changes_rep_rate() -> None:
    times = np.arange(0, 10, 1 / 30)
    reps = {
        tempo: animate([Interval(0, 10, "squats", tempo=tempo)], times, BodyShape()).reps[-1]
        for tempo in ("slow", "normal", "fast")
    }
    assert reps["slow"] < reps["normal"] < reps["fast"]
    assert reps["normal"] == int(10 / 2.2 - 1e-9)  # period 2.2 s, one frame short of 10 s


def test_rest_angles_keys_are_known() -> None:
    x = np.linspace(0, 2, 9)
    for ex in EXERCISES + GENERAL:
        out = ex.pose(x, np.ones_like(x), {}, "l")
        assert set(out) <= set(ANGLE_INDEX), ex.name
