"""The periodic floor: its times, and its score on the hand-made example split."""

from __future__ import annotations

from pathlib import Path

import pytest

from livefit.baselines.periodic import PERIODIC_TEXT, periodic_feedbacks, periodic_predictions
from livefit.data.qevd import load_segments

EXAMPLE = Path(__file__).parents[2] / "examples" / "qevd-mini"


def test_every_five_seconds_strictly_before_the_end():
    assert [f["time"] for f in periodic_feedbacks(20.0)] == [5.0, 10.0, 15.0]
    assert [f["time"] for f in periodic_feedbacks(20.01)] == [5.0, 10.0, 15.0, 20.0]
    assert periodic_feedbacks(4.9) == []
    assert {f["text"] for f in periodic_feedbacks(60)} == {PERIODIC_TEXT}
    with pytest.raises(ValueError, match="positive"):
        periodic_feedbacks(10, every=0)


def test_one_line_per_segment_of_a_split():
    segments = load_segments(EXAMPLE, "test")
    predictions = periodic_predictions(segments)
    assert list(predictions) == [s.segment_id for s in segments]
    for seg in segments:
        times = [f["time"] for f in predictions[seg.segment_id]]
        assert times == [5.0 * k for k in range(1, len(times) + 1)]
        assert times[-1] < seg.end - seg.start <= times[-1] + 5.0
