"""What ``annotated.mp4`` and the window show: the caption state from events (rule lines are
shown like the coach's, reps counted per session) and the skeleton drawn where the body is."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from livefit.app.overlay import BONES, Captions, annotate
from livefit.data.landmarks import LM
from livefit.stream.live import LiveEvent

sys.path.insert(0, str(Path(__file__).parents[1] / "vision"))
from body_motion import standing  # noqa: E402


def test_captions_show_rule_lines_and_count_reps_per_session():
    captions = Captions()
    captions.update(
        [
            LiveEvent(1.0, "session", "squats", "squats", 0),
            LiveEvent(2.0, "rep", "1", "squats", 0),
            LiveEvent(3.0, "rep", "2", "squats", 0),
            LiveEvent(3.5, "rule", "Step into view so I can see you!", "squats", 0),
        ]
    )
    view = captions.view(4.0)
    assert view.reps == 2 and view.exercise == "squats"
    assert view.caption == "Step into view so I can see you!"
    assert view.recent == [(3.5, "Step into view so I can see you!")]
    captions.update([LiveEvent(5.0, "session", "", "squats", 0)])
    captions.update([LiveEvent(5.0, "session", "lunges", "lunges", 1)])
    assert captions.view(5.0).reps is None  # a new session: nothing counted yet


def test_the_skeleton_is_drawn_on_the_body_and_nowhere_without_landmarks():
    frame = np.zeros((224, 160, 3), np.uint8)
    points = standing(scale=0.9)
    captions = Captions()
    bare = annotate(frame, captions.view(0.0))
    drawn = annotate(frame, captions.view(0.0, points))
    scale = bare.shape[0] / frame.shape[0]  # the video is drawn taller than the frame
    knee, ankle = points[LM["left_knee"], :2], points[LM["left_ankle"], :2]
    x, y = np.round((knee + ankle) / 2 * scale).astype(int)  # the middle of the left shin
    assert np.abs(drawn[y, x].astype(int) - BONES).max() < 30
    assert not np.any(np.all(np.abs(bare.astype(int) - BONES) < 30, axis=-1))
    hidden = points.copy()
    hidden[LM["left_ankle"], 3] = 0.0  # an unseen point: no bone to it
    partial = annotate(frame, captions.view(0.0, hidden))
    assert np.abs(partial[y, x].astype(int) - BONES).max() >= 30
