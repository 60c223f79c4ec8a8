"""The coach evaluation's pieces: the correction share (hand-made), the shuffled pairs."""

from __future__ import annotations

from dataclasses import dataclass

from livefit.data.qevd import Segment
from livefit.eval.evaluate import EvalConfig, evaluate_segments
from livefit.eval.predictions import Feedback
from livefit.synth.exercises import BY_NAME
from livefit.train.coach_eval import correction_share, shuffled_pairs


def segment(exercise: str, times, texts, video="a.mp4", k=0) -> Segment:
    from pathlib import Path

    return Segment(
        f"{Path(video).stem}:{k}",
        Path(video),
        exercise,
        0.0,
        40.0,
        tuple(texts),
        tuple(times),
        tuple(False for _ in texts),
        "prompt",
        Path("f.npy"),
        Path("t.npy"),
        Path("v.npy"),
    )


def test_correction_share_counts_same_mistake_matches():
    squats = BY_NAME["squats"]
    first, second = squats.mistakes[0], squats.mistakes[1]
    gt = [
        first.corrections[0],
        "That's five, keep going!",
        second.corrections[0],
        first.corrections[1],
    ]
    seg = segment("squats", [5.0, 10.0, 20.0, 30.0], gt)
    preds = (
        Feedback(5.5, first.corrections[2]),  # same mistake, other words: a hit
        Feedback(10.2, "Nice, keep going!"),  # not a correction
        Feedback(20.3, first.corrections[0]),  # matched in time, wrong mistake: a miss
        Feedback(35.0, first.corrections[1]),  # right words, too late: a miss
    )
    evaluation = evaluate_segments([seg], {seg.segment_id: preds}, EvalConfig())
    share = correction_share(evaluation)
    assert share == {
        "gt_corrections": 3,
        "matched_same_mistake": 1,
        "share": 1 / 3,
        "predicted_corrections": 3,
    }


@dataclass
class Fake:
    video: str


def test_shuffled_pairs_come_from_other_workouts():
    segments = [Fake(v) for v in ["a", "a", "a", "b", "b", "c"]]
    pairs = shuffled_pairs(segments)  # type: ignore[arg-type]
    assert len(pairs) == 6
    assert all(segments[j].video != segments[i].video for i, j in enumerate(pairs))
