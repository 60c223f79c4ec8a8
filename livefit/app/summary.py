"""What a finished session amounts to, for the person who exercised: per exercise, the time
coached, the reps counted, the corrections and other lines said, and a timeline of the coached
spans (``summarize``). The page shows it after Stop, ``livefit coach`` prints it, and the
workout history (``livefit.app.history``) stores it beside the session's events.

Built from the live events alone (``LiveEvent``): a span is what lies between the ``session``
event that begins a coaching session (its ``text`` is the exercise) and the one that ends it
(``text`` ""), or the stream's end; a line is a ``feedback`` event,
counted as a correction when it is one of QEVD-SIM's correction lines for that exercise
(``correction_banks``: what the bundled coaches were trained to say), and as another line
otherwise. Reps are the ``rep`` events of a rep counter; a session without one has no count
(``reps`` None), never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from livefit.stream.live_types import LiveEvent
from livefit.synth.exercises import correction_banks, normalize_line


@dataclass(frozen=True)
class ExerciseSummary:
    """One exercise of a session (every span of it together)."""

    exercise: str
    seconds: float
    reps: int | None  # None: nothing counted reps
    corrections: int  # lines that correct one of the exercise's catalogued mistakes
    other_lines: int  # every other line said (encouragement, counts, unknown lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise,
            "seconds": round(self.seconds, 3),
            "reps": self.reps,
            "corrections": self.corrections,
            "other_lines": self.other_lines,
        }


@dataclass(frozen=True)
class SessionSummary:
    """A whole session: ``seconds`` of video, its exercises in first-coached order and the
    coached spans ``(start, end, exercise)`` in time order."""

    seconds: float
    exercises: tuple[ExerciseSummary, ...]
    timeline: tuple[tuple[float, float, str], ...]

    @property
    def lines(self) -> int:
        return sum(e.corrections + e.other_lines for e in self.exercises)

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "exercises": [e.to_json() for e in self.exercises],
            "timeline": [[round(a, 3), round(b, 3), name] for a, b, name in self.timeline],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionSummary:
        return cls(
            seconds=float(data["seconds"]),
            exercises=tuple(ExerciseSummary(**e) for e in data["exercises"]),
            timeline=tuple((float(a), float(b), str(n)) for a, b, n in data["timeline"]),
        )


def summarize(events: Iterable[LiveEvent], seconds: float) -> SessionSummary:
    """The summary of a session whose events are ``events`` (any order kept as given: the
    order they happened) and whose video covered ``seconds``."""
    banks = correction_banks()
    spans: list[list[Any]] = []  # [start, end, exercise]
    open_spans: dict[int, list[Any]] = {}  # session index -> its span (a plan's may overlap)
    exercise_of: dict[int, str] = {}  # session index -> exercise
    said: dict[str, list[int]] = {}  # exercise -> [corrections, other lines]
    reps: dict[str, int] = {}
    for event in events:
        if event.kind == "session" and event.text:  # began: ``text`` is its exercise
            span = open_spans[event.session] = [event.time, None, event.text]
            spans.append(span)
            exercise_of[event.session] = event.text
        elif event.kind == "session":  # ended (``text`` "")
            span = open_spans.pop(event.session, None)
            if span is not None:
                span[1] = event.time
        elif event.kind == "feedback":
            exercise = exercise_of.get(event.session, event.exercise)
            if not exercise:
                continue
            counts = said.setdefault(exercise, [0, 0])
            corrects = any(e == exercise for e, _ in banks.get(normalize_line(event.text), ()))
            counts[0 if corrects else 1] += 1
        elif event.kind == "rep":
            exercise = exercise_of.get(event.session, event.exercise)
            if exercise:
                reps[exercise] = reps.get(exercise, 0) + 1
    for span in open_spans.values():  # still open when the stream ended
        span[1] = max(seconds, span[0])
    timeline = tuple((float(a), float(b), str(n)) for a, b, n in spans)
    order = list(dict.fromkeys([n for _, _, n in timeline] + list(said) + list(reps)))
    exercises = tuple(
        ExerciseSummary(
            exercise=name,
            seconds=sum(b - a for a, b, n in timeline if n == name),
            reps=reps.get(name),
            corrections=said.get(name, [0, 0])[0],
            other_lines=said.get(name, [0, 0])[1],
        )
        for name in order
    )
    return SessionSummary(seconds=float(seconds), exercises=exercises, timeline=timeline)


__all__ = ["ExerciseSummary", "SessionSummary", "summarize"]
