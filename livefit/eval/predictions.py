"""Reader for a model's predictions file (JSON Lines), the input of ``livefit evaluate``.

One line per segment: ``{"segment_id": "<video stem>:<k>", "feedbacks": [{"time": seconds from
the segment start, "text": "..."}]}``. Lines may come in any order; a segment may be absent (it
then counts as silent). Times must be finite, at most a minute before the start and under a day
after it. Every problem is reported with the file and line number. The file is read line by
line with each line's length bounded, so a huge line is refused after reading just past the
bound, and a feedback's text is bounded like an annotated one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from livefit.data.qevd import MAX_FEEDBACK_CHARS, MAX_PATH_CHARS, record_name
from livefit.io import JSONInputError, parse_json

# Plausible feedback times, seconds from the segment start. The engine may stamp a feedback a
# feature step before the start (-0.25 s); a minute before it, or a day after, is a wrong unit
# or clock (or a placeholder such as 1e308), not a time.
MIN_TIME_S = -60.0
MAX_TIME_S = 86400.0
# One line holds one segment's feedbacks. A whole workout (full_workout mode, ~4 min) with a
# feedback at every feature step (4 a second) of ~100 characters is ~100 KB; a line of more than
# this is not predictions.
MAX_LINE_BYTES = 8 * 2**20


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
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = parse_json(line, where)
        except JSONInputError as err:
            raise PredictionsError(str(err)) from None
        if not isinstance(record, dict):
            raise PredictionsError(f"{where}: expected an object with segment_id, feedbacks")
        seg_id, feedbacks = record.get("segment_id"), record.get("feedbacks")
        if not isinstance(seg_id, str):
            raise PredictionsError(f"{where}: 'segment_id' must be a string")
        if len(seg_id) > MAX_PATH_CHARS:
            raise PredictionsError(
                f"{where}: 'segment_id' {record_name(seg_id)!r} is {len(seg_id):,} characters, "
                f"more than a segment id ({MAX_PATH_CHARS:,})"
            )
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
            if len(text) > MAX_FEEDBACK_CHARS:
                raise PredictionsError(
                    f"{at}: text is {len(text):,} characters, more than a spoken feedback "
                    f"({MAX_FEEDBACK_CHARS:,})"
                )
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
            shown = ", ".join(repr(record_name(s)) for s in unknown[:20])
            more = f" (and {len(unknown) - 20} more)" if len(unknown) > 20 else ""
            examples = ", ".join(repr(s) for s in sorted(valid)[:5])
            raise PredictionsError(
                f"{path}: {len(unknown)} segment id(s) are not segments of this split: "
                f"{shown}{more} (line {first_line[unknown[0]]} first); valid ids look like "
                f"{examples}"
            )
    return out


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line, read one at a time: a line longer than
    ``MAX_LINE_BYTES`` is refused once that much of it is read, and bytes that are not UTF-8 are
    an error naming the line. Lines end at "\\n" only (U+2028 may appear inside a JSON string)."""
    with open(path, "rb") as f:
        for lineno in itertools.count(1):
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise PredictionsError(
                    f"{path}:{lineno}: line longer than {MAX_LINE_BYTES:,} bytes; one line holds "
                    "one segment's feedbacks"
                )
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise PredictionsError(
                    f"{path}:{lineno}: not UTF-8 JSON Lines ({err.reason} at byte {err.start} "
                    "of the line)"
                ) from None
