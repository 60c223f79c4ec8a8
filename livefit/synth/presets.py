"""Typed configuration of a QEVD-SIM run and its presets (tiny, small, full).

Read by ``generate`` (what to write) and saved beside the data as ``synth_config.json``.
``full`` matches the paper's split sizes (Table 2: 149 train / 74 test workouts of 5-6 exercises,
21 / 7 participants); ``small`` is sized for training the bundled model on a CPU in minutes;
``tiny`` is for tests and takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class SynthConfig:
    """Sizes and rates of one generated dataset."""

    name: str = "full"
    train_workouts: int = 149  # QEVD-FIT-COACH train workouts (paper: 149)
    test_workouts: int = 74  # QEVD-FIT-COACH-Benchmark workouts (paper: 74)
    train_participants: int = 21  # disjoint from the test ones (paper: 21)
    test_participants: int = 7  # (paper: 7)
    exercises_per_section: int = 2  # warm-up, main, cool-down; cool-down sometimes has 1
    exercise_s: float = 30.0  # each exercise lasts 30 s (paper: "30 seconds")
    train_clips: int = 30000  # QEVD-FIT-300K-style short clips (paper: 281,660)
    test_clips: int = 3000  # (paper: 16,429)
    clip_participants: int = 300  # per split, for the clips (disjoint across splits)
    clip_min_s: float = 2.0  # clip length range (paper: 5.6 +- 1.1 s)
    clip_max_s: float = 10.0
    clip_mean_s: float = 5.6
    fps: int = 30  # capture rate
    width: int = 160  # vertical frame, like the real data (features use 224x160 input)
    height: int = 224
    mirror_prob: float = 0.5  # probability a video is mirrored (left/right labels swapped)


PRESETS: dict[str, SynthConfig] = {
    "full": SynthConfig(),
    "small": SynthConfig(
        name="small",
        train_workouts=12,
        test_workouts=6,
        train_participants=8,
        test_participants=4,
        train_clips=3000,
        test_clips=500,
        clip_participants=40,
        clip_min_s=2.0,
        clip_max_s=4.0,
        clip_mean_s=3.0,
    ),
    "tiny": SynthConfig(
        name="tiny",
        train_workouts=2,
        test_workouts=2,
        train_participants=2,
        test_participants=2,
        exercises_per_section=1,
        exercise_s=8.0,
        train_clips=24,
        test_clips=12,
        clip_participants=4,
        clip_min_s=2.0,
        clip_max_s=2.5,
        clip_mean_s=2.2,
    ),
}


def preset(name: str, **overrides: object) -> SynthConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: expected one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)  # type: ignore[arg-type]


__all__ = ["PRESETS", "SynthConfig", "preset"]
