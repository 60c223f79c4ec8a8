"""The periodic floor: the same generic encouragement every 5 s (the mean silence of the data),
whatever the user does. A coach that watches must beat it on every metric.

Flow position: QEVD segments in, predictions (the ``livefit evaluate`` format) out; it reads no
features and no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livefit.data.qevd import Segment

PERIODIC_TEXT = "Keep going, you are doing great!"
PERIODIC_EVERY_S = 5.0


def periodic_feedbacks(
    duration: float, every: float = PERIODIC_EVERY_S, text: str = PERIODIC_TEXT
) -> list[dict[str, Any]]:
    """``text`` at ``every``, 2 ``every``, ... seconds, strictly before ``duration``."""
    if every <= 0:
        raise ValueError(f"every must be positive, got {every}")
    out, k = [], 1
    while k * every < duration:
        out.append({"time": k * every, "text": text})
        k += 1
    return out


def periodic_predictions(
    segments: Sequence[Segment], every: float = PERIODIC_EVERY_S, text: str = PERIODIC_TEXT
) -> dict[str, list[dict[str, Any]]]:
    """``segment_id -> feedbacks`` of the periodic floor for every segment."""
    return {s.segment_id: periodic_feedbacks(s.end - s.start, every, text) for s in segments}


__all__ = ["PERIODIC_EVERY_S", "PERIODIC_TEXT", "periodic_feedbacks", "periodic_predictions"]
