"""Long-range QEVD-FIT-COACH-style workouts: user behaviour and the coach, simulated together.

Sits between the catalogue/coach rules and ``motion``: ``plan_workout`` steps a simulated user
and the rule-based coach through a workout of 3 sections (warm-up, main, cool-down) of 1-2
exercises of 30 s each at 10 Hz. The user may start late, make mistakes, pause, go slow, and
fixes a mistake a second or two after being corrected; the coach sees the true state with a
human-like reaction delay (0.4-0.9 s) and speaks one line at a time, each lasting as long as it
takes to say. The result is the user's ``Interval`` timeline and the coach's ``Line``s.
"""

from __future__ import annotations

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
    "drinking from a bottle", "wiping face", "shaking out arms", "hands on hips",
    "catching breath", "stretching arms overhead", "rolling shoulders", "fixing hair",
    "checking the phone", "walking in place",
)  # fmt: skip
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


def _exercise_block(sim: _Sim, ex: Exercise, k: int, exercise_s: float, first: bool) -> None:
    rng, crng = sim.rng, sim.crng  # the user's draws, the coach's draws (the same for the data)
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
    # Mistake episodes, spread over the exercise without overlapping.
    n_mk = int(rng.choice([0, 1, 2], p=[0.25, 0.5, 0.25])) if ex.mistakes else 0
    episodes: list[_Episode] = []
    span = max(clock_end - 7.0 - (t_start + 2.0), 1.0)
    for j in range(n_mk):
        lo = t_start + 2.0 + j * span / n_mk
        onset = lo + float(rng.uniform(0, 0.5 * span / n_mk))
        name = ex.mistakes[int(rng.integers(len(ex.mistakes)))].name
        episodes.append(_Episode(name, onset, will_fix=bool(rng.random() < 0.85)))
    pause_at = (
        float(rng.uniform(t_start + 5, clock_end - 8))
        if rng.random() < 0.12 and clock_end - 8 > t_start + 5
        else None
    )
    switch_at = t_start + 0.5 * (clock_end - t_start) if ex.sided else None
    state = dict(
        activity=ex.name, tempo=tempo, rom=rom, mistakes=(), side=side, bout=k, speed=sim.speed
    )
    started = paused = reminded = start_acked = sped_up = praised_fast = switched = False
    pause_end: float | None = None
    paused_at = 0.0
    tempo_fix_at: float | None = None
    switch_go: float | None = None
    resume_at: float | None = None
    phase = 0.0
    gap = sim.gap()
    start_react = sim.react()
    t = tr.t1
    while t < clock_end:
        # --- the user ------------------------------------------------------------------------
        if not started and t >= t_start:
            started = True
            sim.set_state(t, **state)
        active = started and not paused and sim.state["activity"] == ex.name
        for ep in episodes:
            # One mistake at a time, and none while switching sides.
            busy = any(e.active for e in episodes) or switch_go is not None
            if active and not busy and not ep.done and t >= ep.onset:
                ep.active, ep.visible_at = True, t + VISIBLE_S + sim.react()
                sim.set_state(t, mistakes=(ep.name,))
            if ep.active and ep.fix_at is not None and t >= ep.fix_at:
                ep.active, ep.done, ep.fixed_at = False, True, t + VISIBLE_S + sim.react()
                sim.set_state(t, mistakes=())
        if (
            started
            and pause_at is not None
            and not paused
            and t >= pause_at
            and not any(ep.active for ep in episodes)
        ):
            paused, paused_at, pause_at = True, t, None
            sim.set_state(t, activity=str(rng.choice(PAUSE_ACTIVITIES)), mistakes=())
        if paused and pause_end is not None and t >= pause_end:
            paused, pause_end = False, None
            phase = float(np.ceil(phase - 1e-9))
            sim.set_state(t, activity=ex.name)
        if tempo_fix_at is not None and t >= tempo_fix_at:
            tempo_fix_at = None
            state["tempo"] = "normal"
            sim.set_state(t, tempo="normal")
        if switch_go is not None and t >= switch_go:
            switch_go, resume_at = None, t + 0.8
            state["side"] = "r" if state["side"] == "l" else "l"
            sim.set_state(t, activity=IDLE, mistakes=())
        if resume_at is not None and t >= resume_at:
            resume_at = None
            sim.set_state(t, activity=ex.name, side=state["side"])
        if sim.state.get("activity") == ex.name and started and not paused:
            phase += TEMPO_RATE[sim.state["tempo"]] * sim.speed / ex.period_s * DT
        # --- the coach -----------------------------------------------------------------------
        if sim.can_speak(t) and t < clock_end - 1.5:
            mistakes_now = [ep for ep in episodes if ep.active]
            due = [
                ep for ep in mistakes_now
                if t >= ep.visible_at and ep.said < 2
                and (ep.said == 0 or t >= ep.last_said_end + 4.0)
            ]  # fmt: skip
            fixed = [ep for ep in episodes if ep.fixed_at is not None and not ep.acked]
            if not started and not reminded and t >= tr.t1 + 3.5:
                reminded = True
                line = sim.say(t, C.pick(C.REMINDER, crng, sim.last_text), "reminder")
                t_start = min(t_start, line.t1 + float(rng.uniform(0.4, 1.0)))
            elif due:
                ep = due[0]
                mistake = next(m for m in ex.mistakes if m.name == ep.name)
                line = sim.say(t, C.pick(mistake.corrections, crng, sim.last_text), "correction")
                ep.said += 1
                ep.last_said_end = line.t1
                if ep.will_fix or ep.said == 2:
                    ep.fix_at = line.t1 + float(rng.uniform(*FIX_DELAY_S))
            elif fixed and t >= max(fixed[0].fixed_at, sim.busy_until + ACK_SILENCE_S):  # type: ignore[arg-type]
                fixed[0].acked = True
                if crng.random() < FIXED_ACK_PROB:
                    sim.say(t, C.pick(C.FIXED_ACK, crng, sim.last_text), "fixed_ack")
            elif paused and t >= paused_at + 1.0:
                line = sim.say(t, C.pick(C.KEEP_GOING, crng, sim.last_text), "keep_going")
                pause_end = line.t1 + float(rng.uniform(0.5, 1.3))
                paused_at = 1e9  # said once
            elif (
                started and not start_acked and t < t_start + 6
                and t >= max(t_start + start_react, sim.busy_until + ACK_SILENCE_S)
            ):  # fmt: skip
                start_acked = True
                if reminded:
                    sim.say(t, C.pick(C.START_AFTER_REMINDER, crng, sim.last_text), "start_ack")
                elif crng.random() < START_ACK_PROB:
                    sim.say(t, C.pick(C.START_ACK, crng, sim.last_text), "start_ack")
            elif (
                started and state["tempo"] == "slow" and not sped_up
                and t >= max(t_start + 4, sim.busy_until + ACK_SILENCE_S)
            ):  # fmt: skip
                sped_up = True
                line = sim.say(t, C.pick(C.SPEED_UP, crng, sim.last_text), "speed_up")
                if rng.random() < 0.7:
                    tempo_fix_at = line.t1 + float(rng.uniform(0.6, 1.5))
            elif (
                switch_at is not None
                and not switched
                and started
                and t >= switch_at
                and (not mistakes_now)
            ):
                switched = True
                line = sim.say(t, C.pick(C.SWITCH_SIDES, crng, sim.last_text), "switch_sides")
                switch_go = line.t1 + float(rng.uniform(0.4, 1.0))
            elif (
                started and not paused and not mistakes_now
                and t - sim.busy_until >= gap and t >= t_start + 2.5
            ):  # fmt: skip
                gap = sim.gap()
                n = int(np.floor(phase))
                if ex.countable and state["tempo"] == "fast" and not praised_fast:
                    praised_fast = True
                    sim.say(t, C.pick(C.FAST_PRAISE, crng, sim.last_text), "praise")
                elif ex.countable and n >= 1:
                    text = C.pick(C.COUNT, crng, sim.last_text, n=n, exercise=ex.name)
                    sim.say(t, text, "count")
                elif ex.countable:
                    sim.say(t, C.pick(C.GOOD_FORM, crng, sim.last_text), "praise")
                else:
                    sim.say(t, C.pick(C.ENCOURAGE, crng, sim.last_text), "encourage")
        t = round(t + DT, 6)
    if not started:  # never started: the coach still closes the exercise
        sim.set_state(t_start, **state)
    # The exercise ends: the user takes a break (a general activity) or stands.
    brk = str(rng.choice(BREAK_ACTIVITIES)) if rng.random() < 0.6 else IDLE
    sim.set_state(clock_end, activity=brk, mistakes=(), tempo="normal", bout=k)
    t_sum = max(clock_end + sim.react(), sim.busy_until + ACK_SILENCE_S)
    n = int(np.floor(phase))
    if ex.countable and n > 0:
        text = C.pick(C.SUMMARY, crng, sim.last_text, n=n, exercise=ex.name)
    else:
        text = C.pick(C.SUMMARY_UNCOUNTED, crng, sim.last_text, exercise=ex.name)
    line = sim.say(t_sum, text, "summary")
    sim.t = line.t1 + float(crng.uniform(0.6, 1.5))


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
    sim.set_state(0.0, activity=IDLE, tempo="normal", rom=1.0, mistakes=(), side="l", bout=-1,
                  speed=speed)  # fmt: skip
    sim.t = float(sim.crng.uniform(1.5, 3.0))
    for k, ex in enumerate(exercises):
        _exercise_block(sim, ex, k, exercise_s, first=k == 0)
    end = sim.say(max(sim.t, sim.busy_until + MIN_GAP_S), C.pick(C.SESSION_END, sim.crng),
                  "session_end", transition=True)  # fmt: skip
    duration = end.t1 + float(rng.uniform(1.5, 2.5))
    intervals = []
    states = sorted(sim.states, key=lambda s: s[0])
    for i, (t0, st) in enumerate(states):
        t1 = states[i + 1][0] if i + 1 < len(states) else duration
        if t1 > t0:
            intervals.append(Interval(t0=t0, t1=t1, **st))
    return WorkoutPlan(intervals, sim.lines, [e.name for e in exercises], duration)


__all__ = ["WorkoutPlan", "choose_exercises", "plan_workout"]
