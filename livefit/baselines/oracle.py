"""``oracle-coach``: a ceiling on QEVD-SIM data only, the synthetic data's own rule-based coach
as a second annotator of the same workouts (like inter-annotator agreement).

Flow position: beside ``livefit.baselines.coaches`` (same engine interface, driven by ``livefit
predict`` and ``livefit benchmark``); it reads no features, only the segment's workout id and
the generator's ``synth_run.json``, and re-runs ``livefit.synth.workout.plan_workout``.

How a segment's feedbacks are made:

1. From the segment's video (``<root>/<split dir>/long_range_videos/<NNNN>.mp4``) and
   ``<root>/synth_run.json`` (seed and config): the workout's seed ``(seed, split, workout,
   index)``, its participant's tempo and its exercises, exactly as ``generate.make_workout``
   draws them.
2. **Record** the data run: ``plan_workout`` is re-run with the user's draws (start delay, tempo,
   range of motion, mistakes and their onsets, whether and when they fix them, pauses, breaks)
   recorded and the coach's draws taken from the same stream, which reproduces the data exactly;
   its lines are checked against the ``<NNNN>_groundtruth.json`` sidecar (a mismatch means the
   generator changed since the data was made, and is refused).
3. **Replay** with another coach: ``plan_workout`` again, the user getting the recorded draws in
   the same order (a uniform draw over a range that moved with the coach's timing keeps its
   position in the range) and the coach drawing from its own stream, seeded by ``(workout seed,
   oracle seed)``: other paraphrases, speaking rates, reaction delays, silences before unprompted
   lines, and other coin flips on optional acknowledgements. Same events, another annotator.
4. Segment ``<NNNN>:<k>``: the second coach's lines between its k-th and (k+1)-th transitions,
   timed from its k-th transition (the segment starts at the data's k-th transition); full
   workouts: every line, from the first frame. Lines are emitted as the stream reaches them.

Limits: the simulated user reacts to the coach (fixes a mistake 1.2-2.8 s after a correction
ends, starts after a reminder, switches sides after being told), so in the replay the same
decisions happen up to about a second earlier or later than in the video, and timings drift
within a segment; if the second coach does something the first did not (a second correction
before the exercise ends, a speed-up request), the user's draws fall out of step and the rest of
that workout's user decisions come from a fresh stream (``replayed_fraction`` in
``workout_plans`` says how much was replayed). It never copies a ground-truth line: it only
reads the sidecar to check that the data run was reproduced. On data without ``synth_run.json``
and sidecars (not QEVD-SIM), it refuses with ``PredictError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livefit.baselines.coaches import RuleCoach, RuleSession
from livefit.data.qevd import SPLIT_DIRS
from livefit.io import parse_json
from livefit.stream.coaches import PredictError
from livefit.synth.presets import SynthConfig
from livefit.synth.workout import choose_exercises, plan_workout

ORACLE_TAG = 0x0AC1E  # separates the oracle's coach streams from every stream of the generator


class _Recorder:
    """Forwards draws to ``gen`` and logs ``(method, args, kwargs, result)``."""

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen, self.log = gen, []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.gen, name)

        def draw(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            self.log.append((name, args, kwargs, result))
            return result

        return draw


class _Replayer:
    """Gives back a recorded user's draws in order; after the first call that does not match the
    record (other method), every draw comes from ``fallback``."""

    def __init__(self, log: list[tuple], fallback: np.random.Generator) -> None:
        self.log, self.fallback, self.i, self.in_step = log, fallback, 0, True

    def __getattr__(self, name: str) -> Any:
        def draw(*args: Any, **kwargs: Any) -> Any:
            if self.in_step and self.i < len(self.log) and self.log[self.i][0] == name:
                _, args0, _, result = self.log[self.i]
                self.i += 1
                if name == "uniform" and tuple(args) != tuple(args0):
                    # A range that moved with the coach's timing: same position in the range.
                    (lo0, hi0), (lo, hi) = args0, args
                    u = (result - lo0) / (hi0 - lo0) if hi0 != lo0 else 0.5
                    return lo + (hi - lo) * u
                return result
            self.in_step = False
            return getattr(self.fallback, name)(*args, **kwargs)

        return draw


@dataclass(frozen=True)
class WorkoutRef:
    """Which QEVD-SIM workout a segment comes from."""

    root: Path  # the data root (holds synth_run.json)
    split: str
    index: int  # 0-based workout index (video stem - 1)
    sidecar: Path  # <NNNN>_groundtruth.json


def workout_ref(video: Path) -> WorkoutRef:
    """The QEVD-SIM workout of ``video``; ``PredictError`` when it is not QEVD-SIM data."""
    video = Path(video)
    root = video.parent.parent.parent
    split = next((s for s, d in SPLIT_DIRS.items() if d == video.parent.parent.name), None)
    sidecar = video.with_name(f"{video.stem}_groundtruth.json")
    run = root / "synth_run.json"
    if split is None or not video.stem.isdigit() or not run.is_file() or not sidecar.is_file():
        raise PredictError(
            f"{video}: oracle-coach only coaches QEVD-SIM workouts (needs {run.name} in the data "
            f"root and {sidecar.name} beside the video): make data with `livefit data synth`"
        )
    return WorkoutRef(root, split, int(video.stem) - 1, sidecar)


def workout_plans(ref: WorkoutRef, oracle_seed: int) -> tuple[Any, Any, float]:
    """``(data plan, second coach's plan, replayed_fraction)`` of one QEVD-SIM workout."""
    from livefit.synth.generate import (  # lazy: cv2 off --help (coach registry)
        KIND_CODE,
        SPLIT_CODE,
        participant,
    )

    run_path = ref.root / "synth_run.json"
    try:
        run = parse_json(run_path.read_bytes(), str(run_path))
        seed, cfg = int(run["seed"]), SynthConfig(**run["config"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise PredictError(f"{run_path}: not a QEVD-SIM run record ({err})") from None
    n_part = cfg.train_participants if ref.split == "train" else cfg.test_participants
    who = participant(seed, ref.split, "workout", ref.index % n_part)
    key = [seed, SPLIT_CODE[ref.split], KIND_CODE["workout"], ref.index]

    gen = np.random.default_rng(key)
    exercises = choose_exercises(gen, cfg.exercises_per_section)
    user = _Recorder(gen)
    data = plan_workout(user, exercises, cfg.exercise_s, who.speed, coach_rng=gen)  # type: ignore[arg-type]
    _check_reproduced(ref.sidecar, data.lines)

    gen = np.random.default_rng(key)
    choose_exercises(gen, cfg.exercises_per_section)  # same exercises, same user stream after
    replay = _Replayer(user.log, np.random.default_rng([*key, ORACLE_TAG, oracle_seed, 1]))
    coach = np.random.default_rng([*key, ORACLE_TAG, oracle_seed, 0])
    other = plan_workout(replay, exercises, cfg.exercise_s, who.speed, coach_rng=coach)  # type: ignore[arg-type]
    return data, other, replay.i / max(len(user.log), 1)


def _check_reproduced(sidecar: Path, lines: list[Any]) -> None:
    try:
        recorded = parse_json(sidecar.read_bytes(), str(sidecar))["lines"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise PredictError(f"{sidecar}: unreadable QEVD-SIM sidecar ({err})") from None
    ours = [(round(ln.t0, 4), ln.text) for ln in lines]
    if ours != [(r.get("t0"), r.get("text")) for r in recorded]:
        raise PredictError(
            f"{sidecar}: this version of livefit.synth does not reproduce the workout's coach "
            "lines (the generator changed since the data was made); regenerate the data"
        )


def segment_feedbacks(lines: list[Any], segment_id: str) -> list[tuple[float, str]]:
    """``(seconds from segment start, text)`` of a plan's lines for ``<stem>:<k>`` or ``<stem>``."""
    if ":" not in segment_id:  # full workout: every line, from the first frame
        return [(float(ln.t0), ln.text) for ln in lines]
    k = int(segment_id.rsplit(":", 1)[1])
    starts = [i for i, ln in enumerate(lines) if ln.is_transition]
    if k + 1 >= len(starts):
        return []
    here, after = starts[k], starts[k + 1]
    t0 = lines[here].t0
    return [(float(ln.t0 - t0), ln.text) for ln in lines[here + 1 : after]]


@dataclass
class OracleSession(RuleSession):
    """One segment of the oracle: its precomputed lines, emitted as the stream reaches them."""

    pending: list[tuple[float, str]] | None = None


class OracleCoach(RuleCoach):
    """The QEVD-SIM rule-based coach re-run with another seed on the same user decisions."""

    name = "oracle-coach"
    wants_segment = True  # livefit predict passes ``segment=`` to ``start``

    def __init__(self, seed: int = 1) -> None:
        super().__init__()
        self.seed = seed
        self._plans: dict[WorkoutRef, Any] = {}  # one plan per workout, shared by its segments

    def start(
        self,
        system_prompt: str,
        total_steps: int | None = None,
        t0: float | None = None,
        segment: Any = None,
    ) -> OracleSession:
        if segment is None:
            raise PredictError("oracle-coach needs the segment it coaches (start(segment=...))")
        ref = workout_ref(segment.video)
        if ref not in self._plans:
            self._plans = {ref: workout_plans(ref, self.seed)[1]}  # segments come in file order
        return OracleSession(
            self, pending=segment_feedbacks(self._plans[ref].lines, segment.segment_id)
        )

    def say(self, session: RuleSession, t: float) -> list[tuple[float, str]]:
        pending = session.pending  # type: ignore[attr-defined]
        due = [(when, text) for when, text in pending if when <= t + 1e-9]
        session.pending = pending[len(due) :]  # type: ignore[attr-defined]
        return due

    def settings(self) -> dict[str, Any]:
        return {"coach": self.name, "seed": self.seed}


__all__ = ["OracleCoach", "WorkoutRef", "segment_feedbacks", "workout_plans", "workout_ref"]
