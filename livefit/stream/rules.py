"""Rules beside the language model, on the body landmarks a pose front end sees: repetitions
counted, and a hint said once when the body is out of view.

``BodyRules`` runs per live stream, one 16 fps frame at a time, after the front end has found the
frame's landmarks (``FrontEnd.body_points``):

- ``start(session, exercise, t, past)`` and ``count(session, exercise, points, t)``: each coaching
  session of a countable exercise (the QEVD-SIM catalogue says which; a stretch or an unknown
  name is not counted) has its own ``RepCounter`` (``livefit.vision.reps``), started with the
  session (and fed the frames of it already seen, when the coach recognised the exercise only
  some seconds in); each returns the counts reached (one ``rep`` event each, its text the
  count), and ``counted(session, t)`` is the count at a moment (a said count is checked
  against it).
- ``view(points, t)``: when too little of the body is seen (fewer than ``min_seen`` of the key
  points) for ``seconds``, the line to say once (a ``rule`` event: a rule said it, not the
  model): "step into view" when no one is seen, "step back" when part of the body is; said
  again only after the body was seen well for ``seconds``.

And one rule for every front end, in the live pipeline's recognised mode: when no exercise has
led (none reaches ``min_confidence``) for ``LiveConfig.unsure_seconds`` and no session runs, the
coach says once ``NOT_SURE``, which names no exercise and counts nothing, instead of staying
silent; said again only after the coach switched to an exercise or a rest.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from livefit.synth.exercises import BY_NAME
from livefit.vision.reps import KEY_POINTS, RepCounter, RepCounterConfig

STEP_INTO_VIEW = "Step into view so I can see you!"
STEP_BACK = "Step back a little so I can see all of you!"
NOT_SURE = "I can't tell which exercise this is yet, so I'll just watch. Keep going!"


@dataclass(frozen=True)
class ViewConfig:
    """When the out-of-view hint is said."""

    min_seen: float = 0.75  # share of the key points (vision.reps.KEY_POINTS) that must be seen
    seconds: float = 2.0  # seen too little this long: the hint; seen well this long: re-armed
    min_visibility: float = 0.5  # a point below this is unseen


def countable(exercise: str) -> bool:
    """Whether the coach counts reps of ``exercise`` (a catalogue exercise that is counted)."""
    entry = BY_NAME.get(exercise)
    return entry is not None and entry.countable and entry.section != "general"


@dataclass
class BodyRules:
    """The rules of one live stream (see the module docstring)."""

    counter_config: RepCounterConfig = field(default_factory=RepCounterConfig)
    view_config: ViewConfig = field(default_factory=ViewConfig)
    counters: dict[int, RepCounter] = field(default_factory=dict)
    rep_times: dict[int, list[float]] = field(default_factory=dict)
    """Per session: the stream time of each rep counted."""
    _out_since: float | None = None
    _in_since: float | None = None
    _said: bool = False

    def start(
        self, session: int, exercise: str, t: float, past: Iterable[np.ndarray] = ()
    ) -> range:
        """A session begins at stream time ``t``; ``past``: frames of it seen before it began (a
        recognised exercise starts some seconds into it), counted now. Returns the counts they
        reach."""
        self.end(session)
        counter = self._counter(session, exercise)
        if counter is None:
            return range(0)
        return self._reached(session, sum(counter.push(p) for p in past), t)

    def count(self, session: int, exercise: str, points: np.ndarray, t: float) -> range:
        """The counts that this frame, at stream time ``t``, reaches in session ``session`` (one
        per rep completed: usually none or one; a counter that locks on to a motion counts those
        already done)."""
        counter = self.counters.get(session)
        if counter is None:
            counter = self._counter(session, exercise)
            if counter is None:
                return range(0)
        return self._reached(session, counter.push(points), t)

    def counted(self, session: int, t: float) -> int | None:
        """Session ``session``'s count at stream time ``t`` (None: no counter runs for it)."""
        if session not in self.counters:
            return None
        return bisect.bisect_right(self.rep_times.get(session, []), t)

    def end(self, session: int) -> int | None:
        """Forget a finished session's counter; its final count (None: not counted)."""
        self.rep_times.pop(session, None)
        counter = self.counters.pop(session, None)
        return None if counter is None else counter.count

    def _counter(self, session: int, exercise: str) -> RepCounter | None:
        if not countable(exercise):
            return None
        counter = self.counters[session] = RepCounter(self.counter_config)
        return counter

    def _reached(self, session: int, done: int, t: float) -> range:
        count = self.counters[session].count
        self.rep_times.setdefault(session, []).extend([t] * done)
        return range(count - done + 1, count + 1)

    @property
    def in_view(self) -> bool:
        """False while the body is seen too little (the view hint's clock runs); True before any
        landmarks and for a front end without them."""
        return self._out_since is None

    def view(self, points: np.ndarray, t: float) -> str | None:
        """The hint to say at stream time ``t``, once per time the body leaves the view."""
        c = self.view_config
        seen = points[list(KEY_POINTS), 3] >= c.min_visibility
        if seen.mean() >= c.min_seen:
            self._out_since = None
            if self._in_since is None:
                self._in_since = t
            if t - self._in_since >= c.seconds:
                self._said = False
            return None
        self._in_since = None
        if self._out_since is None:
            self._out_since = t
        if self._said or t - self._out_since < c.seconds:
            return None
        self._said = True
        return STEP_BACK if seen.any() else STEP_INTO_VIEW


__all__ = ["NOT_SURE", "STEP_BACK", "STEP_INTO_VIEW", "BodyRules", "ViewConfig", "countable"]
