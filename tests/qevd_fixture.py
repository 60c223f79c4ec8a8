"""Writes small QEVD-FIT-COACH trees (shared/spec/qevd-format.md) for tests and benchmarks.

``write_quirk_tree`` exercises every quirk of the release: the ``armcrosschest`` rename, an
exercise without feedback (dropped, leaving a gap in k), adjacent and repeated feedback spans,
feedback times that differ from their frames' times, the eight-hour clock shift, uneven frame
times, segment ends halfway through the next transition, a final session-end transition, features
``[N, 1280, 7, 5]`` with timestamps exactly on segment boundaries, and both splits.
``write_benchmark_tree`` writes a benchmark-sized synthetic split with matching predictions.
The expected values in the tests are worked out by hand from the tables below, not from here.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPLIT_DIRS = {"test": "QEVD-FIT-COACH-Benchmark", "train": "QEVD-FIT-COACH"}
FPS = 10.0
T0_NS = 1_650_000_000_000_000_000  # UNIX ns of frame 0 of the first workout
SHIFT_S = 28800.0
JITTER_NS = 3_000_000  # odd frames arrive 3 ms late: frame times are read, never assumed


@dataclass(frozen=True)
class FSpan:
    """A feedback span in frames; its JSON timestamp is its first frame's time + ``delay``."""

    text: str
    first: int
    last: int
    transition: bool = False
    delay: float = 0.25


@dataclass
class WorkoutSpec:
    video_file: str
    spans: list[FSpan]
    n_frames: int
    t0_ns: int = T0_NS
    feature_stamps: list[float] | None = None  # None: a 4 per second grid from frame 0
    extra: dict = field(default_factory=dict)  # extra keys (a real release may carry more)


def frame_ns(spec: WorkoutSpec) -> np.ndarray:
    i = np.arange(spec.n_frames, dtype=np.int64)
    return spec.t0_ns + i * int(1e9 / FPS) + (i % 2) * JITTER_NS


def frame_seconds(spec: WorkoutSpec, frame: int) -> float:
    return float(frame_ns(spec)[frame] / 1e9 + SHIFT_S)


def record(spec: WorkoutSpec) -> dict:
    dense = [""] * spec.n_frames
    for span in spec.spans:
        for f in range(span.first, span.last + 1):
            dense[f] = span.text
    stem = Path(spec.video_file).with_suffix("")
    return {
        "long_range_video_file": spec.video_file,
        "video_timestamps": f"{stem}_timestamps.npy",
        "feedbacks": dense,
        "feedback_timestamps": [frame_seconds(spec, s.first) + s.delay for s in spec.spans],
        "is_transition": [s.transition for s in spec.spans],
        **spec.extra,
    }


def write_split(
    root: Path,
    split: str,
    workouts: list[WorkoutSpec],
    feature_shape: tuple[int, ...] | None = None,
) -> Path:
    """Write one split folder; with ``feature_shape`` also the feature files."""
    split_dir = Path(root) / SPLIT_DIRS[split]
    records = []
    for spec in workouts:
        rec = record(spec)
        records.append(rec)
        ts = split_dir / rec["video_timestamps"]
        ts.parent.mkdir(parents=True, exist_ok=True)
        np.save(ts, frame_ns(spec))
        if feature_shape is not None:
            stem = Path(spec.video_file).with_suffix("")
            feat_dir = split_dir / "efficientnet_features" / stem.parent
            feat_dir.mkdir(parents=True, exist_ok=True)
            stamps = spec.feature_stamps
            if stamps is None:
                duration = spec.n_frames / FPS
                stamps = [frame_seconds(spec, 0) + 0.25 * k for k in range(int(duration * 4))]
            feats = np.zeros((len(stamps), *feature_shape), dtype=np.float32)
            feats[:, 0, 0, 0] = np.arange(len(stamps))  # row k is recognisable by its value
            np.save(feat_dir / f"{stem.name}_features.npy", feats)
            np.save(feat_dir / f"{stem.name}_timestamps.npy", np.asarray(stamps, np.float64))
    (split_dir / "feedbacks_long_range.json").write_text(json.dumps(records))
    return split_dir


# ---- the quirk tree ------------------------------------------------------------------------------
QUIRK_SPANS = [
    FSpan("First up are squats!", 0, 19, True, 0.0),  # exercise 0
    FSpan("Go lower, knees over toes.", 30, 44),
    FSpan("Good, 5 more reps!", 45, 59),  # adjacent to the span before: its own span
    FSpan("Go lower, knees over toes.", 70, 84),  # same text again after silence: a new span
    FSpan("Moving on to armcrosschest!", 100, 119, True, 0.0),  # exercise 1, renamed
    FSpan("Hold the armcrosschest, switch sides soon.", 120, 139),
    FSpan("Moving on to high knees!", 140, 159, True, 0.0),  # exercise 2: no feedback, dropped
    FSpan("Moving on to jumping jacks!", 170, 189, True, 0.0),  # exercise 3
    FSpan("Nice rhythm, keep it up!", 190, 209),
    FSpan("That's it, great workout!", 220, 241, True, 0.0),  # ends the session
]


def quirk_workouts() -> list[WorkoutSpec]:
    first = WorkoutSpec("long_range_videos/0001.mp4", QUIRK_SPANS, 250, extra={"user": "p07"})
    # Feature times on a 4/s grid from frame 0, with the steps nearest to segment 0's end
    # (frame 109) and segment 3's start (frame 170) moved exactly onto those boundaries.
    grid = [frame_seconds(first, 0) + 0.25 * k for k in range(100)]
    grid[44] = frame_seconds(first, 109)  # 10.9 s + 3 ms jitter (grid: 11.0)
    grid[68] = frame_seconds(first, 170)  # 17.0 s
    first.feature_stamps = grid
    second = WorkoutSpec(
        "long_range_videos/0002.mp4",
        [
            FSpan("First up are lunges!", 0, 9, True, 0.0),
            FSpan("Step further forward.", 15, 29),
            FSpan("All done!", 40, 49, True, 0.0),
        ],
        60,
        t0_ns=T0_NS + 3_600_000_000_000,
    )
    return [first, second]


def train_workouts() -> list[WorkoutSpec]:
    return [
        WorkoutSpec(
            "long_range_videos/1001.mp4",
            [
                FSpan("First up are push ups!", 0, 9, True, 0.0),
                FSpan("Keep your core tight.", 12, 25),
                FSpan("Moving on to armcrosschest!", 30, 39, True, 0.0),
                FSpan("Switch arms.", 42, 50),
                FSpan("Great job today!", 55, 59, True, 0.0),
            ],
            60,
            t0_ns=T0_NS + 7_200_000_000_000,
        )
    ]


def write_quirk_tree(root: Path, feature_shape: tuple[int, ...] | None = (1280, 7, 5)) -> Path:
    """Both splits with every quirk; returns ``root``."""
    write_split(root, "test", quirk_workouts(), feature_shape)
    write_split(root, "train", train_workouts(), feature_shape)
    return Path(root)


# ---- benchmark-sized synthetic data --------------------------------------------------------------
EXERCISES = [
    "squats",
    "high knees",
    "jumping jacks",
    "push ups",
    "lunges",
    "armcrosschest",
    "mountain climbers",
    "plank",
    "burpees",
    "side lunges",
    "butt kicks",
    "glute bridges",
]
COACHING = [
    "Go lower, get your thighs parallel to the floor.",
    "Keep your back straight!",
    "Nice, that's {n} reps already.",
    "Push through your heels.",
    "Lift those knees higher!",
    "Great pace, keep it up.",
    "Don't let your hips sag.",
    "Breathe out as you push up.",
    "{n} more to go, you've got this!",
    "Keep your elbows close to your body.",
    "Land softly on the balls of your feet.",
    "Arms all the way up, good!",
    "You're slowing down, pick it up a bit.",
    "Hold it steady, don't rush.",
]
PARAPHRASE = {
    "Go lower": "Try to go a bit lower",
    "Keep your back straight!": "Back straight please.",
    "Push through your heels.": "Drive through the heels.",
    "Great pace": "Good speed",
}


def _line(rng: random.Random) -> str:
    return rng.choice(COACHING).format(n=rng.randint(2, 20))


def benchmark_workouts(n_workouts: int = 74, seed: int = 0) -> list[WorkoutSpec]:
    """~6 exercises x ~5.6 feedbacks per workout: 74 workouts give ~2,500 feedbacks."""
    rng = random.Random(seed)
    workouts = []
    for w in range(n_workouts):
        spans: list[FSpan] = []
        frame = 0
        names = rng.sample(EXERCISES, 6)
        for e, name in enumerate(names):
            text = f"First up are {name}!" if e == 0 else f"Moving on to {name}!"
            spans.append(FSpan(text, frame, frame + 19, True, 0.0))
            frame += 20
            for _ in range(rng.choice([5, 5, 6, 6, 6])):
                frame += rng.randint(5, 25)  # silence
                length = rng.randint(15, 30)
                spans.append(FSpan(_line(rng), frame, frame + length - 1, False, 0.2))
                frame += length
            frame += 10
        spans.append(FSpan("That's the end of the workout, well done!", frame, frame + 19, True, 0))
        # Two equal lines back to back would merge into one span: keep neighbours distinct.
        for k in range(1, len(spans)):
            if spans[k].text == spans[k - 1].text and spans[k].first == spans[k - 1].last + 1:
                spans[k] = FSpan(spans[k].text + " Again!", spans[k].first, spans[k].last)
        workouts.append(
            WorkoutSpec(f"long_range_videos/{w:04d}.mp4", spans, frame + 30, T0_NS + w * 10**12)
        )
    return workouts


def benchmark_predictions(segments, seed: int = 0) -> list[dict]:
    """A plausible model: most feedbacks near the truth (some paraphrased), some extra, some
    missed, some empty texts, one segment left out."""
    rng = random.Random(seed)
    lines = []
    for i, seg in enumerate(segments):
        if i == 3:
            continue  # a missing segment counts as silent
        feedbacks = []
        for t, text in zip(seg.response_times, seg.responses, strict=True):
            if rng.random() < 0.15:
                continue
            for old, new in PARAPHRASE.items():
                if rng.random() < 0.5:
                    text = text.replace(old, new)
            feedbacks.append({"time": max(0.0, t + rng.uniform(-2.0, 2.0)), "text": text})
            if rng.random() < 0.2:
                feedbacks.append({"time": t + rng.uniform(1.0, 4.0), "text": _line(rng)})
        if rng.random() < 0.1:
            feedbacks.append({"time": rng.uniform(0, 30), "text": ""})
        feedbacks.sort(key=lambda fb: fb["time"])
        lines.append({"segment_id": seg.segment_id, "feedbacks": feedbacks})
    rng.shuffle(lines)  # any order is allowed
    return lines
