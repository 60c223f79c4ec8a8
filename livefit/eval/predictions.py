"""Reader for a model's predictions file (JSON Lines), the input of ``livefit evaluate``.

One line per segment: ``{"segment_id": "<video stem>:<k>", "feedbacks": [{"time": seconds from
the segment start, "text": "..."}]}``. Lines may come in any order; a segment may be absent (it
then counts as silent). Times must be finite, at most a minute before the start and under a day
after it. Every problem is reported with the file and line number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

# Plausible feedback times, seconds from the segment start. The engine may stamp a feedback a
# feature step before the start (-0.25 s); a minute before it, or a day after, is a wrong unit
# or clock (or a placeholder such as 1e308), not a time.
MIN_TIME_S = -60.0
MAX_TIME_S = 86400.0


class PredictionsError(ValueError):
    """A predictions file that cannot be scored; the message names the file and line."""


@dataclass(frozen=True)
class Feedback:
    time: float  # seconds from the segment start
    text: str


def load_predictions(
    path: str | Path, valid_ids: Collection[str] | None = None
) -> dict[str, tuple[Feedback, ...]]:
    """``segment_id -> feedbacks`` in file order (times must not decrease within a segment).

    Empty texts are kept here; the evaluator drops them before matching. With ``valid_ids``,
    ids that are not segments of the split are an error listing them.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"{path}: predictions file is missing")
    out: dict[str, tuple[Feedback, ...]] = {}
    first_line: dict[str, int] = {}
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise PredictionsError(
            f"{path}: not UTF-8 JSON Lines ({err.reason} at byte {err.start})"
        ) from None
    for lineno, line in enumerate(content.split("\n"), start=1):  # not splitlines: U+2028
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise PredictionsError(f"{where}: not valid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise PredictionsError(f"{where}: expected an object with segment_id, feedbacks")
        seg_id, feedbacks = record.get("segment_id"), record.get("feedbacks")
        if not isinstance(seg_id, str):
            raise PredictionsError(f"{where}: 'segment_id' must be a string")
        if not isinstance(feedbacks, list):
            raise PredictionsError(f"{where}: 'feedbacks' must be a list (segment {seg_id})")
        if seg_id in first_line:
            raise PredictionsError(
                f"{where}: duplicate segment_id {seg_id!r} (first on line {first_line[seg_id]})"
            )
        first_line[seg_id] = lineno
        items: list[Feedback] = []
        for k, fb in enumerate(feedbacks):
            at = f"{where}: feedback {k} of {seg_id}"
            if not isinstance(fb, dict) or "time" not in fb or "text" not in fb:
                raise PredictionsError(f"{at} must be an object with time and text")
            time, text = fb["time"], fb["text"]
            if isinstance(time, bool) or not isinstance(time, (int, float)):
                raise PredictionsError(f"{at}: time must be a number")
            if not math.isfinite(time):
                raise PredictionsError(f"{at}: time is {time}")
            if not MIN_TIME_S <= time <= MAX_TIME_S:
                raise PredictionsError(
                    f"{at}: time {time} is out of range: seconds from the segment start, "
                    f"{MIN_TIME_S:.0f} to {MAX_TIME_S:.0f}"
                )
            if not isinstance(text, str):
                raise PredictionsError(f"{at}: text must be a string")
            if items and time < items[-1].time:
                raise PredictionsError(
                    f"{where}: feedback times of {seg_id} go backwards at feedback {k} "
                    f"({items[-1].time} -> {time}); give them in the order they were spoken"
                )
            items.append(Feedback(float(time), text))
        out[seg_id] = tuple(items)
    if valid_ids is not None:
        valid = set(valid_ids)
        unknown = [seg_id for seg_id in out if seg_id not in valid]
        if unknown:
            shown = ", ".join(repr(s) for s in unknown[:20])
            more = f" (and {len(unknown) - 20} more)" if len(unknown) > 20 else ""
            examples = ", ".join(repr(s) for s in sorted(valid)[:5])
            raise PredictionsError(
                f"{path}: {len(unknown)} segment id(s) are not segments of this split: "
                f"{shown}{more} (line {first_line[unknown[0]]} first); valid ids look like "
                f"{examples}"
            )
    return out
