"""The engine's clocks as strategy objects: when a pushed feature step is, whether the model sees
it, and when a feedback is said.

Flow position: in ``livefit.stream``, under ``livefit.stream.engine``: each ``Session`` builds
one clock with ``make_clock`` (the only place that reads ``EngineConfig.clock``) and asks it at
five points of decoding (``Clock``). ``predict``, ``live`` and the coach stage ask the clock what
it needs from them (``streams_at_end``, ``drops_first_steps``, ``matches_training``) instead of
comparing names. Torch-free; the paper clock's arithmetic, shared with the training sequences,
is ``livefit.model.clock``.

- ``PaperStreamClock`` (``clock="paper"``, the reference's token-count clock): step k is at
  k / ``steps_per_second``; the first ``drop_first_steps`` steps are dropped; after a feedback
  of n text tokens the next ``floor(n / 12 * 4)`` steps are dropped (blind while it talks); a
  feedback's time follows the parity formula on the token stream (``ParityTimer``); with
  ``total_steps`` known it ends for good once a blind skip runs past the last step;
- ``TurnStreamClock``: the paper clock of a turn-based model (``StreamVLMConfig.turn_every_s``):
  a feedback's time is its turn's (the turn-based protocol reports the prompt time) and no step
  is skipped while it talks (it sees all the video, evaluation protocol section 6);
- ``WallClock`` (``clock="wall"``): a step's time is its arrival time (``t``, or the time source
  since ``t0``); decoding takes its real time; a feedback's time is when its ``<answer>`` was
  chosen. Steps arriving while the model is busy (decoding a feedback; with
  ``busy_while_speaking`` also while saying it, n text tokens at ``tokens_per_second``) are
  dropped (``busy_policy="drop"``) or fed late, in order (``"queue"``).

``TurnSchedule`` says which fed step answers a turn (the first at or after each turn); it is not
a clock: on either clock the engine forces the turn-based model's ``<answer>`` there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

from livefit.model.clock import PaperClock, ParityTimer
from livefit.stream.events import EngineConfig


class Clock(Protocol):
    """How one session keeps time. One object per session: it holds that session's clock state.

    The engine calls, per pushed step: ``arrive``; per fed step: ``start_step``, then
    ``answer_time`` at each ``<answer>``, ``end_feedback`` at each ``<answer/>``, ``end_step``
    when the step ends (its ``<vision>`` is chosen or forced).
    """

    streams_at_end: ClassVar[bool]
    """The clock must know where a stream ends before the stream starts (the paper clock: the
    reference never feeds the last step and stops once a blind skip runs past the end), so a
    caller gives it the steps at the end, at their index times, with ``total_steps``; False:
    steps are pushed as they arrive, at their arrival times."""
    drops_first_steps: ClassVar[bool]
    """``EngineConfig.drop_first_steps`` applies to this clock."""
    matches_training: ClassVar[bool]
    """Feedback times come from the token stream as the training sequences place them (the
    sequences run this clock backward), so a coach can be trained and validated on it."""
    ended: bool
    """Nothing more will be seen: every later step is dropped."""

    def arrive(self, index: int, t: float | None) -> tuple[float, bool]:
        """Pushed step ``index`` (0-based), arriving at ``t`` seconds (None: unknown) -> its time
        and whether the model sees it (False: dropped)."""
        ...

    def start_step(self) -> None:
        """The model starts feeding and decoding a seen step."""
        ...

    def answer_time(self, begin: int, turn: float | None) -> float:
        """The time of a feedback whose ``<answer>`` is at stream index ``begin``; ``turn``: the
        turn it answers (turn-based models), else None."""
        ...

    def end_feedback(self, begin: int, end: int, time: float, n_text: int, empty: bool) -> None:
        """A feedback from ``<answer>`` at ``begin`` to ``<answer/>`` at ``end``, said at
        ``time``, ``n_text`` text tokens long (``empty``: it says nothing)."""
        ...

    def end_step(self) -> None:
        """The step's decoding is over."""
        ...


@dataclass
class PaperStreamClock:
    """The paper clock on one stream (see the module docstring)."""

    paper: PaperClock
    """The constants, shared with the training sequences."""
    total_steps: int | None = None
    """How many steps will be pushed, when known (offline): end once a blind skip passes it."""
    ended: bool = field(init=False, default=False)
    streams_at_end: ClassVar[bool] = True
    drops_first_steps: ClassVar[bool] = True
    matches_training: ClassVar[bool] = True
    to_drop: int = field(init=False)  # steps still to drop (first steps, then blind skips)
    pushed: int = field(init=False, default=0)  # steps pushed so far
    timer: ParityTimer = field(init=False)  # the parity formula's running state

    def __post_init__(self) -> None:
        self.to_drop = self.paper.drop_first_steps
        self.timer = self.paper.timer()

    def arrive(self, index: int, t: float | None) -> tuple[float, bool]:
        self.pushed = index + 1
        time = index / self.paper.steps_per_second  # the arrival time is not read
        if self.to_drop > 0 or self.ended:
            self.to_drop -= 1
            return time, False
        return time, True

    def start_step(self) -> None:
        pass

    def answer_time(self, begin: int, turn: float | None) -> float:
        return self.timer.begin_time(begin)

    def end_feedback(self, begin: int, end: int, time: float, n_text: int, empty: bool) -> None:
        self.timer.finish(begin, end, time, empty=empty)
        self.to_drop += self.paper.blind_steps(n_text)
        if self.total_steps is not None:
            self.ended = self.to_drop > self.total_steps - self.pushed

    def end_step(self) -> None:
        pass


@dataclass
class TurnStreamClock(PaperStreamClock):
    """The paper clock of a turn-based model: turn times, no blind skip, no early end."""

    def answer_time(self, begin: int, turn: float | None) -> float:
        return turn if turn is not None else super().answer_time(begin, turn)

    def end_feedback(self, begin: int, end: int, time: float, n_text: int, empty: bool) -> None:
        pass  # it sees all the video: nothing skipped while it talks


@dataclass
class WallClock:
    """Real time on one stream (see the module docstring)."""

    now: Callable[[], float] = time.perf_counter
    """The time source (``StreamEngine.clock``; tests swap in a fake one)."""
    busy_policy: Literal["drop", "queue"] = "drop"
    """What becomes of a step that arrives while the model is busy."""
    speaking_rate: float | None = None
    """Tokens per second at which a feedback is said, keeping the model busy (None: busy only
    while decoding)."""
    t0: float | None = None
    """Time source value at the stream's time zero (None: now)."""
    ended: bool = field(init=False, default=False)  # a wall clock never ends a stream
    streams_at_end: ClassVar[bool] = False
    drops_first_steps: ClassVar[bool] = False
    matches_training: ClassVar[bool] = False
    busy_until: float = field(init=False, default=-math.inf)  # stream time it is free again
    stream_now: float = field(init=False, default=0.0)  # stream time at time source ``tic``
    tic: float = field(init=False, default=0.0)
    origin: float = field(init=False)  # ``t0``, or the time source when the clock was made

    def __post_init__(self) -> None:
        self.origin = self.now() if self.t0 is None else self.t0

    def arrive(self, index: int, t: float | None) -> tuple[float, bool]:
        arrival = (self.now() - self.origin) if t is None else float(t)
        if arrival < self.busy_until and self.busy_policy == "drop":
            return arrival, False
        self.stream_now = max(arrival, self.stream_now)  # a queued step is fed late
        return arrival, True

    def start_step(self) -> None:
        self.tic = self.now()

    def answer_time(self, begin: int, turn: float | None) -> float:
        return self.stream_now + (self.now() - self.tic)

    def end_feedback(self, begin: int, end: int, time: float, n_text: int, empty: bool) -> None:
        self.tic = self._sync()
        speaking = 0.0 if self.speaking_rate is None else n_text / self.speaking_rate
        self.busy_until = self.stream_now + speaking

    def end_step(self) -> None:
        self._sync()

    def _sync(self) -> float:
        """Advance ``stream_now`` to the present; returns the new reference value ``tic``."""
        self.stream_now = self.stream_now + (self.now() - self.tic)
        return self.now()


@dataclass
class TurnSchedule:
    """Turn-based models: which fed step answers a turn (the latest turn reached and not yet
    answered; turns every ``every`` seconds of stream time, the first at ``every``)."""

    every: float
    next_turn: float = field(init=False)

    def __post_init__(self) -> None:
        self.next_turn = self.every

    def due(self, time: float) -> float | None:
        """The turn a step fed at ``time`` answers (None: no turn due)."""
        if time < self.next_turn - 1e-9:
            return None
        turn = self.next_turn
        while self.next_turn <= time + 1e-9:
            turn, self.next_turn = self.next_turn, self.next_turn + self.every
        return turn


def make_clock(
    config: EngineConfig,
    total_steps: int | None = None,
    t0: float | None = None,
    now: Callable[[], float] = time.perf_counter,
    turn_every: float | None = None,
) -> Clock:
    """The clock ``config.clock`` names, for one stream: ``total_steps`` (paper: where it ends,
    when known), ``t0`` and ``now`` (wall: time zero and the time source), ``turn_every`` (a
    turn-based model's turn interval). The one place that reads clock names."""
    if config.clock == "paper":
        kind = PaperStreamClock if turn_every is None else TurnStreamClock
        return kind(config.paper_clock, total_steps)
    if config.clock == "wall":
        rate = config.tokens_per_second if config.busy_while_speaking else None
        return WallClock(now, config.busy_policy, rate, t0)
    raise ValueError(f"unknown clock {config.clock!r}: expected paper or wall")


__all__ = [
    "Clock",
    "PaperStreamClock",
    "TurnSchedule",
    "TurnStreamClock",
    "WallClock",
    "make_clock",
]
