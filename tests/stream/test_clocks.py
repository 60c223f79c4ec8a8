"""The engine's clocks (``livefit.stream.clocks``): each clock's decisions worked by hand, the
engine's events on scripted streams exactly as the engine gave them before its clocks became
objects, a toy clock that the engine obeys, and the builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import ClassVar

import pytest
import torch
from test_engine import A, E, FakeClock, ScriptedModel, V

from livefit.model.clock import PaperClock
from livefit.stream.clocks import (
    PaperStreamClock,
    TurnSchedule,
    TurnStreamClock,
    WallClock,
    make_clock,
)
from livefit.stream.engine import EngineConfig, StreamEngine

# -- each clock by hand -----------------------------------------------------------------------


def test_paper_clock_drops_the_first_step_then_blind_skips():
    clock = PaperStreamClock(PaperClock())
    assert clock.arrive(0, 9.0) == (0.0, False)  # the reference starts at index 1; t not read
    assert clock.arrive(1, None) == (0.25, True)
    assert clock.answer_time(3, None) == 0.25  # (3 - e_0 - 1) / 4, e_0 = 1
    clock.end_feedback(3, 10, 0.25, n_text=6, empty=False)  # floor(6 / 12 * 4) = 2 blind steps
    assert [clock.arrive(k, None) for k in (2, 3, 4)] == [(0.5, False), (0.75, False), (1.0, True)]
    # 0.25 + (12 - 10 - 1) / 4 + the gap (10 - 3) / 12 of the previous feedback
    assert clock.answer_time(12, None) == pytest.approx(0.25 + 0.25 + 7 / 12)
    clock.end_feedback(12, 13, clock.answer_time(12, None), n_text=0, empty=True)
    assert clock.arrive(5, None) == (1.25, True)  # an empty feedback skips nothing...
    assert clock.answer_time(15, None) == pytest.approx(0.25 + (15 - 13 - 1) / 4)  # ...no gap
    assert not clock.ended  # total_steps unknown: it never ends a stream


@pytest.mark.parametrize(("total", "ended"), [(3, False), (2, True)])
def test_paper_clock_ends_once_a_blind_skip_runs_past_the_last_step(total, ended):
    clock = PaperStreamClock(PaperClock(drop_first_steps=0), total_steps=total)
    assert clock.arrive(0, None) == (0.0, True)
    clock.end_feedback(1, 8, 0.0, n_text=6, empty=False)  # 2 blind steps; total - 1 remain
    assert clock.ended is ended
    assert [clock.arrive(k, None)[1] for k in (1, 2, 3)] == [False, False, not ended]


def test_turn_clock_reports_the_turn_and_skips_nothing():
    clock = TurnStreamClock(PaperClock())
    assert clock.arrive(0, None) == (0.0, False)  # the paper clock's first step still drops
    assert clock.arrive(1, None) == (0.25, True)
    assert clock.answer_time(7, turn=5.0) == 5.0  # the turn-based protocol: the prompt's time
    clock.end_feedback(7, 40, 5.0, n_text=32, empty=False)  # would be 10 blind steps on paper
    assert clock.arrive(2, None) == (0.5, True) and not clock.ended
    assert clock.answer_time(3, None) == 0.25  # no turn: the parity formula, as before


def test_turn_schedule_answers_the_latest_turn_reached_once():
    turns = TurnSchedule(1.0)
    assert [turns.due(t) for t in (0.25, 0.75, 1.0, 1.25, 3.5, 3.75, 4.0)] == [
        None,
        None,
        1.0,
        None,
        3.0,  # turn 2.0 was never fed a step: the step at 3.5 answers turn 3.0
        None,
        4.0,
    ]


def test_wall_clock_times_are_arrival_and_decoding_times():
    now = FakeClock()  # 100.0
    clock = WallClock(now)  # time zero: now
    now.now += 0.3
    assert clock.arrive(0, None) == (pytest.approx(0.3), True)
    assert clock.arrive(1, 0.5) == (0.5, True)  # an arrival time given wins
    clock.start_step()
    now.now += 0.2  # decoding takes 0.2 s before the <answer>
    assert clock.answer_time(4, None) == pytest.approx(0.7)
    assert clock.answer_time(4, turn=9.0) == pytest.approx(0.7)  # turns do not set wall times


@pytest.mark.parametrize(
    ("policy", "rate", "seen", "free_at"),
    [
        ("drop", None, [False, False, True, True], 0.7),  # busy while decoding (0 .. 0.7 s)
        ("drop", 12.0, [False, False, False, False], 0.7 + 5 / 12),  # ...and while saying it
        ("queue", None, [True, True, True, True], 0.7),  # fed late, in order
        ("queue", 12.0, [True, True, True, True], 0.7 + 5 / 12),
    ],
)
def test_wall_clock_busy_policy(policy, rate, seen, free_at):
    now = FakeClock()
    clock = WallClock(now, policy, rate, t0=now())
    assert clock.arrive(0, 0.0) == (0.0, True)
    clock.start_step()
    now.now += 0.1
    assert clock.answer_time(2, None) == pytest.approx(0.1)
    now.now += 0.6  # 5 letters and <answer/>: decoding ends at 0.7 s
    clock.end_feedback(2, 8, 0.1, n_text=5, empty=False)
    clock.end_step()
    assert clock.busy_until == pytest.approx(free_at)
    arrivals = [0.25, 0.5, 0.75, 1.0]
    assert [clock.arrive(k + 1, t) for k, t in enumerate(arrivals)] == list(
        zip(arrivals, seen, strict=True)
    )
    assert not clock.ended


def test_wall_clock_feeds_a_queued_step_when_it_is_free():
    now = FakeClock()
    clock = WallClock(now, "queue", t0=now())
    clock.arrive(0, 0.0)
    clock.start_step()
    now.now += 0.7
    clock.end_feedback(2, 8, 0.1, n_text=5, empty=False)
    clock.end_step()
    assert clock.arrive(1, 0.25) == (0.25, True)  # reported at its arrival...
    clock.start_step()
    now.now += 0.1
    assert clock.answer_time(10, None) == pytest.approx(0.8)  # ...but decoded from 0.7 s on


# -- the engine on scripted streams, as it was before the clocks became objects ---------------
# Golden values recorded from the engine with string-branch clocks (same scripts, same model).

PAPER = [V, V, A, 5, 5, 5, 5, 5, 5, E, V, A, E, V, V, A, 6, 6, 6, E, V]
PAPER += [A] + [5] * 12 + [E, V]
WALL = [A, 5, 5, 5, 5, 5, E, V, A, 6, E, V, V, A, 7, 7, E, V, V]
TURNS = [A, 5, 6, E, V] * 3 + [5, 5, 6, 6, 7, E, V] * 4
QUARTERS = [0.25 * k for k in range(12)]
FEEDBACKS = [(0.25, "bbbbbb"), (0.75, "ccc"), (4 / 3, "b" * 12)]
CASES = {
    # name: (script, config, steps, arrival times, total_steps, turn_every, cost) ->
    #       (dropped step times, feedbacks, fed steps)
    "paper": (
        (PAPER, EngineConfig(), 20, None, None, None, 0.0),
        (
            [0.0, 1.0, 1.25, 2.25, 2.75, 3.0, 3.25, 3.5],
            FEEDBACKS,
            [1, 2, 3, 6, 7, 8, 10, 15, 16, 17, 18, 19],
        ),
    ),
    "paper_total_steps": (
        (PAPER, EngineConfig(), 12, None, 12, None, 0.0),
        ([0.0, 1.0, 1.25, 2.25, 2.75], FEEDBACKS, [1, 2, 3, 6, 7, 8, 10]),
    ),
    "wall_drop": (
        (WALL, EngineConfig(clock="wall"), 12, QUARTERS, None, None, 0.1),
        (
            [0.25, 0.5, 1.0, 1.75],
            [(0.1, "bbbbb"), (0.9, "c"), (1.6, "dd")],
            [0, 3, 5, 6, 8, 9, 10, 11],
        ),
    ),
    "wall_drop_while_speaking": (
        (WALL, EngineConfig(clock="wall", busy_while_speaking=True), 12, QUARTERS, None, None, 0.1),
        (
            [0.25, 0.5, 0.75, 1.0, 1.5, 2.25, 2.5],
            [(0.1, "bbbbb"), (1.35, "c"), (2.1, "dd")],
            [0, 5, 7, 8, 11],
        ),
    ),
    "wall_queue_while_speaking": (
        (
            WALL,
            EngineConfig(clock="wall", busy_policy="queue", busy_while_speaking=True),
            12,
            QUARTERS,
            None,
            None,
            0.1,
        ),
        ([], [(0.1, "bbbbb"), (0.9, "c"), (1.4, "dd")], list(range(12))),
    ),
    "turn_based_paper": (
        (TURNS, EngineConfig(), 24, None, None, 1.0, 0.0),
        ([0.0], [(3.0, "bccd"), (4.0, "d"), (5.0, "d")], list(range(1, 24))),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_engine_streams_as_before_the_clock_objects(name):
    (script, config, n, times, total, turn_every, cost), expected = CASES[name]
    fake = FakeClock()
    model = ScriptedModel(script, clock=fake, cost=cost)
    if turn_every is not None:
        model.config = SimpleNamespace(turn_every_s=turn_every)
    engine = StreamEngine(model, config)
    engine.clock = fake
    session = engine.start("abc", total_steps=total, t0=None if times is None else 0.0)
    events = []
    for k in range(n):
        events += session.push(torch.zeros(35, 4), t=None if times is None else times[k])
    dropped = [ev.time for ev in events if ev.kind == "dropped"]
    feedbacks = [(round(t, 9), text) for t, text in session.feedbacks]
    want_dropped, want_feedbacks, want_fed = expected
    assert dropped == want_dropped
    assert feedbacks == [(round(t, 9), text) for t, text in want_feedbacks]
    assert session.fed_steps == want_fed
    assert session.ended is (name == "paper_total_steps")


# -- the engine obeys whatever clock its session holds ----------------------------------------


@dataclass
class EveryOtherStep:
    """A toy clock: sees even steps only, step k at k seconds, a feedback at its <answer>'s
    stream index; it logs what the engine tells it."""

    streams_at_end: ClassVar[bool] = False
    drops_first_steps: ClassVar[bool] = False
    matches_training: ClassVar[bool] = False
    ended: bool = False
    log: list[object] = field(default_factory=list)

    def arrive(self, index: int, t: float | None) -> tuple[float, bool]:
        return float(index), index % 2 == 0

    def start_step(self) -> None:
        self.log.append("start")

    def answer_time(self, begin: int, turn: float | None) -> float:
        return float(begin)

    def end_feedback(self, begin: int, end: int, time: float, n_text: int, empty: bool) -> None:
        self.log.append(("feedback", begin, end, n_text, empty))

    def end_step(self) -> None:
        self.log.append("end")


def test_the_engine_asks_the_session_clock():
    model = ScriptedModel([A, 5, 6, E, V, V])
    session = StreamEngine(model, EngineConfig()).start("abc")
    session.clock = toy = EveryOtherStep()
    events = [ev for _ in range(4) for ev in session.push(torch.zeros(35, 4))]
    assert [(ev.time, ev.kind) for ev in events if ev.kind in ("dropped", "feedback")] == [
        (1.0, "feedback"),  # its <answer> is stream index 1
        (1.0, "dropped"),
        (3.0, "dropped"),
    ]
    assert session.fed_steps == [0, 2]
    assert toy.log == ["start", ("feedback", 1, 4, 2, False), "end", "start", "end"]


# -- the builder ----------------------------------------------------------------------------


def test_make_clock_builds_the_named_clock_for_one_stream():
    paper = make_clock(EngineConfig(drop_first_steps=2, blind_skip=False), total_steps=7)
    assert type(paper) is PaperStreamClock
    assert (paper.paper, paper.total_steps, paper.to_drop) == (
        PaperClock(drop_first_steps=2, blind_skip=False),
        7,
        2,
    )
    assert type(make_clock(EngineConfig(), turn_every=5.0)) is TurnStreamClock
    config = EngineConfig(clock="wall", busy_policy="queue", busy_while_speaking=True)
    wall = make_clock(config, t0=2.0, now=FakeClock())
    assert type(wall) is WallClock
    assert (wall.busy_policy, wall.speaking_rate, wall.origin) == ("queue", 12.0, 2.0)
    assert make_clock(EngineConfig(clock="wall"), now=FakeClock()).speaking_rate is None
    assert type(make_clock(EngineConfig(clock="wall"), turn_every=5.0)) is WallClock


def test_what_callers_ask_a_clock():
    # predict and live stream a paper session at its end; only the paper clock trains
    paper, wall = make_clock(EngineConfig()), make_clock(EngineConfig(clock="wall"))
    assert (paper.streams_at_end, paper.drops_first_steps, paper.matches_training) == (
        True,
        True,
        True,
    )
    assert (wall.streams_at_end, wall.drops_first_steps, wall.matches_training) == (
        False,
        False,
        False,
    )


def test_make_clock_refuses_an_unknown_clock():
    with pytest.raises(ValueError, match=r"^unknown clock 'sundial': expected paper or wall$"):
        make_clock(EngineConfig(clock="sundial"))  # type: ignore[arg-type]
