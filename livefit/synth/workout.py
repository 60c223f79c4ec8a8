"""Long-range QEVD-FIT-COACH-style workouts: user behaviour and the coach, simulated together.

Sits between the catalogue/coach rules and ``motion``: ``plan_workout`` steps a simulated user
and the rule-based coach through a workout of 3 sections (warm-up, main, cool-down) of 1-2
exercises of 30 s each at 10 Hz. The user may start late, make mistakes, pause, go slow, and
fixes a mistake a second or two after being corrected; the coach sees the true state with a
human-like reaction delay (0.4-0.9 s) and speaks one line at a time, each lasting as long as it
takes to say. The result is the user's ``Interval`` timeline and the coach's ``Line``s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from livefit.synth import coach as C
from livefit.synth.exercises import IDLE, SECTIONS, Exercise, section
from livefit.synth.motion import TEMPO_RATE, Interval

DT = 0.1  # simulation step, seconds
MIN_GAP_S = 0.4  # silence between two lines at least (keeps spans apart on every frame)
FILLER_GAP_S = (4.3, 6.8)  # silence before an unprompted line (paper: 5.2-5.3 s silence)
REACTION_S = (0.4, 0.9)  # coach reaction delay after something becomes visible
VISIBLE_S = 0.5  # a mistake ramps in over ~0.5 s before it is visible
START_ACK_PROB = 0.55  # the coach acknowledges a prompt start this often
FIXED_ACK_PROB = 0.85  # ... and a fixed mistake
FIX_DELAY_S = (1.2, 2.8)  # the user fixes a mistake this long after the correction ends
ACK_SILENCE_S = 2.0  # acknowledgements and summaries wait for this much silence
BREAK_ACTIVITIES = (
    "drinking from a bottle",
    "wiping face",
    "shaking out arms",
    "hands on hips",
    "catching breath",
    "stretching arms overhead",
    "rolling shoulders",
    "fixing hair",
    "checking the phone",
    "walking in place",
)
PAUSE_ACTIVITIES = ("standing idle", "hands on hips", "catching breath")


@dataclass
class WorkoutPlan:
    """What happens in one workout."""

    intervals: list[Interval]
    lines: list[C.Line]
    exercises: list[str]
    duration: float  # seconds of video


@dataclass
class _Episode:
    """One mistake occurrence."""

    name: str
    onset: float
    will_fix: bool
    active: bool = False
    visible_at: float = 0.0  # when the coach has seen it (onset + ramp + reaction)
    said: int = 0
    last_said_end: float = 0.0
    fix_at: float | None = None
    fixed_at: float | None = None  # when the coach has seen the fix
    acked: bool = False
    done: bool = False


@dataclass
class _Sim:
    rng: np.random.Generator
    speed: float
    coach_rng: np.random.Generator | None = None  # the coach's own draws; None: ``rng`` (data)
    t: float = 0.0
    busy_until: float = -10.0
    last_start: float = -10.0
    last_text: str = ""
    lines: list[C.Line] = field(default_factory=list)
    states: list[tuple[float, dict]] = field(default_factory=list)

    def set_state(self, t: float, **changes: object) -> None:
        state = dict(self.states[-1][1]) if self.states else {}
        state.update(changes)
        if self.states and abs(self.states[-1][0] - t) < 1e-9:
            self.states[-1] = (t, state)
        else:
            self.states.append((t, state))

    @property
    def crng(self) -> np.random.Generator:
        """Where the coach's choices (words, speaking rate, reactions, optional lines) come from."""
        return self.rng if self.coach_rng is None else self.coach_rng

    @property
    def state(self) -> dict:
        return self.states[-1][1]

    def can_speak(self, t: float) -> bool:
        return t >= self.busy_until + MIN_GAP_S

    def say(self, t: float, text: str, kind: str, transition: bool = False) -> C.Line:
        line = C.Line(t, t + C.say_duration(text, self.crng), text, kind, transition)
        self.lines.append(line)
        self.busy_until, self.last_start, self.last_text = line.t1, t, text
        return line

    def react(self) -> float:
        return float(self.crng.uniform(*REACTION_S))

    def gap(self) -> float:
        return float(self.crng.uniform(*FILLER_GAP_S))


def choose_exercises(rng: np.random.Generator, per_section: int) -> list[Exercise]:
    """``per_section`` exercises from each section (cool-down: 1 a third of the time)."""
    out: list[Exercise] = []
    for name in SECTIONS:
        pool = section(name)
        k = per_section
        if name == "cool-down" and per_section > 1 and rng.random() < 1 / 3:
            k = per_section - 1
        picks = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
        out += [pool[int(i)] for i in picks]
    return out


def _plan_mistakes(
    rng: np.random.Generator, ex: Exercise, t_start: float, clock_end: float
) -> list[_Episode]:
    """Mistake episodes, spread over the exercise without overlapping."""
    n_mk = int(rng.choice([0, 1, 2], p=[0.25, 0.5, 0.25])) if ex.mistakes else 0
    episodes: list[_Episode] = []
    span = max(clock_end - 7.0 - (t_start + 2.0), 1.0)
    for j in range(n_mk):
        lo = t_start + 2.0 + j * span / n_mk
        onset = lo + float(rng.uniform(0, 0.5 * span / n_mk))
        name = ex.mistakes[int(rng.integers(len(ex.mistakes)))].name
        episodes.append(_Episode(name, onset, will_fix=bool(rng.random() < 0.85)))
    return episodes


@dataclass
class _Block:
    """One exercise as it runs: the user's plan and progress, and what the coach has done.

    ``_start_block`` makes the user's draws; ``user_step`` and then ``coach_step`` advance it by
    one ``DT``; ``close`` ends it. Draws come from ``sim.rng`` (the user) and ``sim.crng`` (the
    coach) in a fixed order: the data depend on it.
    """

    sim: _Sim = field(repr=False)
    ex: Exercise
    bout: int
    transition: C.Line  # the coach's line that announced the exercise
    clock_end: float  # the exercise's clock runs out here
    t_start: float  # the user starts here (a reminder can bring it forward)
    setup: dict  # the user's state while exercising (a speed-up and a side switch change it)
    episodes: list[_Episode]
    pause_at: float | None  # the user pauses here (None: not, or already done)
    switch_at: float | None  # sided exercises: the coach asks for the other side from here
    gap: float  # silence before the next unprompted line
    start_react: float  # the coach's reaction delay to the start
    phase: float = 0.0  # repetitions done, fractional
    started: bool = False
    paused: bool = False
    paused_at: float = 0.0  # 1e9 once the coach has said "keep going"
    pause_end: float | None = None
    tempo_fix_at: float | None = None  # a slow user speeds up here
    switch_go: float | None = None  # the user stops to switch sides here
    resume_at: float | None = None  # ... and goes on with the other side here
    reminded: bool = False
    start_acked: bool = False
    sped_up: bool = False
    praised_fast: bool = False
    switched: bool = False

    # --- the user ------------------------------------------------------------------------------

    def user_step(self, t: float) -> None:
        sim, ex = self.sim, self.ex
        if not self.started and t >= self.t_start:
            self.started = True
            sim.set_state(t, **self.setup)
        self._mistakes_step(t)
        self._pause_step(t)
        self._tempo_step(t)
        self._sides_step(t)
        if sim.state.get("activity") == ex.name and self.started and not self.paused:
            self.phase += TEMPO_RATE[sim.state["tempo"]] * sim.speed / ex.period_s * DT

    def _mistakes_step(self, t: float) -> None:
        """Episodes begin at their onset and end when the user fixes them after a correction."""
        sim = self.sim
        active = self.started and not self.paused and sim.state["activity"] == self.ex.name
        for ep in self.episodes:
            # One mistake at a time, and none while switching sides.
            busy = any(e.active for e in self.episodes) or self.switch_go is not None
            if active and not busy and not ep.done and t >= ep.onset:
                ep.active, ep.visible_at = True, t + VISIBLE_S + sim.react()
                sim.set_state(t, mistakes=(ep.name,))
            if ep.active and ep.fix_at is not None and t >= ep.fix_at:
                ep.active, ep.done, ep.fixed_at = False, True, t + VISIBLE_S + sim.react()
                sim.set_state(t, mistakes=())

    def _pause_step(self, t: float) -> None:
        """A pause (between mistakes) starts at ``pause_at`` and ends after "keep going"."""
        sim = self.sim
        if (
            self.started
            and self.pause_at is not None
            and not self.paused
            and t >= self.pause_at
            and not any(ep.active for ep in self.episodes)
        ):
            self.paused, self.paused_at, self.pause_at = True, t, None
            sim.set_state(t, activity=str(sim.rng.choice(PAUSE_ACTIVITIES)), mistakes=())
        if self.paused and self.pause_end is not None and t >= self.pause_end:
            self.paused, self.pause_end = False, None
            self.phase = float(np.ceil(self.phase - 1e-9))
            sim.set_state(t, activity=self.ex.name)

    def _tempo_step(self, t: float) -> None:
        if self.tempo_fix_at is not None and t >= self.tempo_fix_at:
            self.tempo_fix_at = None
            self.setup["tempo"] = "normal"
            self.sim.set_state(t, tempo="normal")

    def _sides_step(self, t: float) -> None:
        """Switching sides: a short stand, then the exercise on the other side."""
        if self.switch_go is not None and t >= self.switch_go:
            self.switch_go, self.resume_at = None, t + 0.8
            self.setup["side"] = "r" if self.setup["side"] == "l" else "l"
            self.sim.set_state(t, activity=IDLE, mistakes=())
        if self.resume_at is not None and t >= self.resume_at:
            self.resume_at = None
            self.sim.set_state(t, activity=self.ex.name, side=self.setup["side"])

    # --- the coach -----------------------------------------------------------------------------

    def coach_step(self, t: float) -> None:
        """At most one line: the first rule, by priority, whose moment has come."""
        if not (self.sim.can_speak(t) and t < self.clock_end - 1.5):
            return
        rules = (
            self._remind,
            self._correct,
            self._ack_fix,
            self._keep_going,
            self._ack_start,
            self._speed_up,
            self._switch_sides,
            self._fill,
        )
        for rule in rules:
            if rule(t):  # the rule's moment had come (it may still have chosen silence)
                return

    def _say(self, t: float, lines: Sequence[str], kind: str) -> C.Line:
        return self.sim.say(t, C.pick(lines, self.sim.crng, self.sim.last_text), kind)

    def _remind(self, t: float) -> bool:
        """A user who has not started 3.5 s after the announcement is reminded, once."""
        if self.started or self.reminded or t < self.transition.t1 + 3.5:
            return False
        self.reminded = True
        line = self._say(t, C.REMINDER, "reminder")
        self.t_start = min(self.t_start, line.t1 + float(self.sim.rng.uniform(0.4, 1.0)))
        return True

    def _correct(self, t: float) -> bool:
        """A visible mistake is corrected, at most twice, 4 s apart; the user then fixes it."""
        due = [
            ep
            for ep in self.episodes
            if ep.active
            and t >= ep.visible_at
            and ep.said < 2
            and (ep.said == 0 or t >= ep.last_said_end + 4.0)
        ]
        if not due:
            return False
        ep = due[0]
        mistake = next(m for m in self.ex.mistakes if m.name == ep.name)
        line = self._say(t, mistake.corrections, "correction")
        ep.said += 1
        ep.last_said_end = line.t1
        if ep.will_fix or ep.said == 2:
            ep.fix_at = line.t1 + float(self.sim.rng.uniform(*FIX_DELAY_S))
        return True

    def _ack_fix(self, t: float) -> bool:
        """A fixed mistake is acknowledged (mostly) once the coach has seen the fix."""
        sim = self.sim
        fixed = [ep for ep in self.episodes if ep.fixed_at is not None and not ep.acked]
        if not (fixed and t >= max(fixed[0].fixed_at, sim.busy_until + ACK_SILENCE_S)):  # type: ignore[arg-type]
            return False
        fixed[0].acked = True
        if sim.crng.random() < FIXED_ACK_PROB:
            self._say(t, C.FIXED_ACK, "fixed_ack")
        return True

    def _keep_going(self, t: float) -> bool:
        """A pause of a second draws one "keep going"; the user resumes soon after."""
        if not (self.paused and t >= self.paused_at + 1.0):
            return False
        line = self._say(t, C.KEEP_GOING, "keep_going")
        self.pause_end = line.t1 + float(self.sim.rng.uniform(0.5, 1.3))
        self.paused_at = 1e9  # said once
        return True

    def _ack_start(self, t: float) -> bool:
        """The start is acknowledged: always after a reminder, else often."""
        sim = self.sim
        if not (
            self.started
            and not self.start_acked
            and t < self.t_start + 6
            and t >= max(self.t_start + self.start_react, sim.busy_until + ACK_SILENCE_S)
        ):
            return False
        self.start_acked = True
        if self.reminded:
            self._say(t, C.START_AFTER_REMINDER, "start_ack")
        elif sim.crng.random() < START_ACK_PROB:
            self._say(t, C.START_ACK, "start_ack")
        return True

    def _speed_up(self, t: float) -> bool:
        """A slow user is asked, once, to speed up, and mostly does."""
        if not (
            self.started
            and self.setup["tempo"] == "slow"
            and not self.sped_up
            and t >= max(self.t_start + 4, self.sim.busy_until + ACK_SILENCE_S)
        ):
            return False
        self.sped_up = True
        line = self._say(t, C.SPEED_UP, "speed_up")
        if self.sim.rng.random() < 0.7:
            self.tempo_fix_at = line.t1 + float(self.sim.rng.uniform(0.6, 1.5))
        return True

    def _switch_sides(self, t: float) -> bool:
        """Halfway through a sided exercise, with no mistake on, the coach asks for the other
        side."""
        if not (
            self.switch_at is not None
            and not self.switched
            and self.started
            and t >= self.switch_at
            and not any(ep.active for ep in self.episodes)
        ):
            return False
        self.switched = True
        line = self._say(t, C.SWITCH_SIDES, "switch_sides")
        self.switch_go = line.t1 + float(self.sim.rng.uniform(0.4, 1.0))
        return True

    def _fill(self, t: float) -> bool:
        """After a silence, an unprompted line: praise for a fast user, a rep count, good form,
        or encouragement."""
        sim, ex = self.sim, self.ex
        if not (
            self.started
            and not self.paused
            and not any(ep.active for ep in self.episodes)
            and t - sim.busy_until >= self.gap
            and t >= self.t_start + 2.5
        ):
            return False
        self.gap = sim.gap()
        n = int(np.floor(self.phase))
        if ex.countable and self.setup["tempo"] == "fast" and not self.praised_fast:
            self.praised_fast = True
            self._say(t, C.FAST_PRAISE, "praise")
        elif ex.countable and n >= 1:
            text = C.pick(C.COUNT, sim.crng, sim.last_text, n=n, exercise=ex.name)
            sim.say(t, text, "count")
        elif ex.countable:
            self._say(t, C.GOOD_FORM, "praise")
        else:
            self._say(t, C.ENCOURAGE, "encourage")
        return True

    # --- the end -------------------------------------------------------------------------------

    def close(self) -> None:
        """The exercise ends: the user takes a break (a general activity) or stands, and the
        coach sums it up."""
        sim, ex = self.sim, self.ex
        if not self.started:  # never started: the coach still closes the exercise
            sim.set_state(self.t_start, **self.setup)
        brk = str(sim.rng.choice(BREAK_ACTIVITIES)) if sim.rng.random() < 0.6 else IDLE
        sim.set_state(self.clock_end, activity=brk, mistakes=(), tempo="normal", bout=self.bout)
        t_sum = max(self.clock_end + sim.react(), sim.busy_until + ACK_SILENCE_S)
        n = int(np.floor(self.phase))
        if ex.countable and n > 0:
            text = C.pick(C.SUMMARY, sim.crng, sim.last_text, n=n, exercise=ex.name)
        else:
            text = C.pick(C.SUMMARY_UNCOUNTED, sim.crng, sim.last_text, exercise=ex.name)
        line = sim.say(t_sum, text, "summary")
        sim.t = line.t1 + float(sim.crng.uniform(0.6, 1.5))


def _start_block(sim: _Sim, ex: Exercise, k: int, exercise_s: float, first: bool) -> _Block:
    """The coach announces exercise ``k``; the user's plan for it is drawn."""
    rng = sim.rng
    template = C.TRANSITION_FIRST if first else C.TRANSITION_NEXT
    tr = sim.say(sim.t, template.format(exercise=ex.name), "transition", transition=True)
    clock_end = tr.t1 + 0.5 + exercise_s
    late = rng.random() < 0.15
    t_start = tr.t1 + float(rng.uniform(4.5, 7.0) if late else rng.uniform(0.5, 1.8))
    tempo = (
        str(rng.choice(["slow", "normal", "fast"], p=[0.2, 0.6, 0.2])) if ex.countable else "normal"
    )
    rom = float(rng.uniform(0.9, 1.05))
    side = str(rng.choice(["l", "r"]))
    episodes = _plan_mistakes(rng, ex, t_start, clock_end)
    pause_at = (
        float(rng.uniform(t_start + 5, clock_end - 8))
        if rng.random() < 0.12 and clock_end - 8 > t_start + 5
        else None
    )
    switch_at = t_start + 0.5 * (clock_end - t_start) if ex.sided else None
    setup = dict(
        activity=ex.name, tempo=tempo, rom=rom, mistakes=(), side=side, bout=k, speed=sim.speed
    )
    gap = sim.gap()  # drawn before the reaction delay: the order of draws is the data's
    start_react = sim.react()
    return _Block(
        sim, ex, k, tr, clock_end, t_start, setup, episodes, pause_at, switch_at, gap, start_react
    )


def _exercise_block(sim: _Sim, ex: Exercise, k: int, exercise_s: float, first: bool) -> None:
    """Exercise ``k`` from its announcement to the coach's summary, stepped every ``DT``."""
    block = _start_block(sim, ex, k, exercise_s, first)
    t = block.transition.t1
    while t < block.clock_end:
        block.user_step(t)
        block.coach_step(t)
        t = round(t + DT, 6)
    block.close()


def plan_workout(
    rng: np.random.Generator,
    exercises: list[Exercise],
    exercise_s: float,
    speed: float = 1.0,
    coach_rng: np.random.Generator | None = None,
) -> WorkoutPlan:
    """Simulate one workout: the user's timeline and the coach's lines.

    ``coach_rng``: a separate stream for the coach's choices (phrasing, speaking rate, reaction
    delays, silences, whether to acknowledge), so the same user can meet another coach
    (``livefit.baselines.oracle``); None (the data) draws everything from ``rng``.
    """
    sim = _Sim(rng=rng, speed=speed, coach_rng=coach_rng)
    sim.set_state(
        0.0, activity=IDLE, tempo="normal", rom=1.0, mistakes=(), side="l", bout=-1, speed=speed
    )
    sim.t = float(sim.crng.uniform(1.5, 3.0))
    for k, ex in enumerate(exercises):
        _exercise_block(sim, ex, k, exercise_s, first=k == 0)
    end = sim.say(
        max(sim.t, sim.busy_until + MIN_GAP_S),
        C.pick(C.SESSION_END, sim.crng),
        "session_end",
        transition=True,
    )
    duration = end.t1 + float(rng.uniform(1.5, 2.5))
    intervals = []
    states = sorted(sim.states, key=lambda s: s[0])
    for i, (t0, st) in enumerate(states):
        t1 = states[i + 1][0] if i + 1 < len(states) else duration
        if t1 > t0:
            intervals.append(Interval(t0=t0, t1=t1, **st))
    return WorkoutPlan(intervals, sim.lines, [e.name for e in exercises], duration)


__all__ = ["WorkoutPlan", "choose_exercises", "plan_workout"]
