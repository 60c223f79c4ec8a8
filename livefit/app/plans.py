"""Workout plans: exercises, their seconds and the rests between them, in order, as QEVD's
workouts are (``Plan``). The coach follows a plan as ``livefit demo`` follows a workout's: one
coaching session per exercise, on the plan's clock from the stream's first frame
(``Plan.schedule`` -> ``LiveConfig.schedule``).

A plan file is JSON: ``{"title": "Legs", "steps": [{"exercise": "squats", "seconds": 45},
{"rest": 20}, ...]}``. Three ship with livefit (``SHIPPED``: ``warm-up``, ``legs``,
``full-body``); ``load_plan`` takes one of their names or a path. Every problem is a
``PlanError`` naming the file (or plan) and the step: a malformed entry, an unknown exercise
(``check_exercises``, against what the coach knows), a step too long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livefit.io import JSONInputError, parse_json

PLANS_DIR = Path(__file__).resolve().parent / "plans"
MAX_STEP_SECONDS = 3600.0
MAX_STEPS = 200
MAX_PLAN_BYTES = 64 * 1024


class PlanError(ValueError):
    """A plan that cannot be followed; the message names the plan, the step and the problem."""


@dataclass(frozen=True)
class Step:
    """One step: ``exercise`` for ``seconds``, or a rest (``exercise`` None)."""

    exercise: str | None
    seconds: float


@dataclass(frozen=True)
class Plan:
    name: str  # the file's stem, or what the caller called it
    title: str
    steps: tuple[Step, ...]

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    @property
    def exercises(self) -> list[str]:
        return [s.exercise for s in self.steps if s.exercise is not None]

    def schedule(self, start: float = 0.0) -> tuple[tuple[float, float, str], ...]:
        """``(start, end, exercise)`` in stream seconds, the plan starting at ``start``."""
        out, t = [], start
        for s in self.steps:
            if s.exercise is not None:
                out.append((t, t + s.seconds, s.exercise))
            t += s.seconds
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "seconds": self.seconds,
            "steps": [
                {"exercise": s.exercise, "seconds": s.seconds}
                if s.exercise is not None
                else {"rest": s.seconds}
                for s in self.steps
            ],
        }


def shipped_plans() -> dict[str, Plan]:
    """The plans that ship with livefit, by name."""
    return {p.stem: load_plan(p) for p in sorted(PLANS_DIR.glob("*.json"))}


def load_plan(name_or_path: str | Path) -> Plan:
    """A shipped plan by name (``legs``) or a plan file; ``PlanError`` names what is wrong."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists() and (PLANS_DIR / f"{path}.json").is_file():
        path = PLANS_DIR / f"{path}.json"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PLANS_DIR.glob("*.json")))
        raise PlanError(f"{name_or_path}: no such plan file, nor a shipped plan ({shipped})")
    try:
        data = parse_json(path.read_bytes(), str(path), max_bytes=MAX_PLAN_BYTES, unique_keys=True)
    except JSONInputError as err:
        raise PlanError(str(err)) from None
    return parse_plan(data, path.stem, str(path))


def parse_plan(data: Any, name: str, where: str) -> Plan:
    """A plan from its JSON value (``where`` names it in errors)."""
    if not isinstance(data, dict):
        raise PlanError(f"{where}: a plan is a JSON object with 'steps', got {type(data).__name__}")
    unknown = sorted(set(data) - {"title", "steps"})
    if unknown:
        raise PlanError(f"{where}: unknown key {unknown[0]!r} (a plan has 'title' and 'steps')")
    title = data.get("title", name)
    if not isinstance(title, str) or len(title) > 80:
        raise PlanError(f"{where}: 'title' must be text of at most 80 characters")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise PlanError(f"{where}: 'steps' must be a non-empty list")
    if len(steps) > MAX_STEPS:
        raise PlanError(f"{where}: {len(steps)} steps, more than {MAX_STEPS}")
    parsed = tuple(_step(s, f"{where}: step {k}") for k, s in enumerate(steps, 1))
    if all(s.exercise is None for s in parsed):
        raise PlanError(f"{where}: every step is a rest")
    return Plan(name=name, title=title, steps=parsed)


def _step(entry: Any, where: str) -> Step:
    if not isinstance(entry, dict):
        raise PlanError(f'{where}: expected an object like {{"exercise": ..., "seconds": ...}}')
    if set(entry) == {"rest"}:
        return Step(None, _seconds(entry["rest"], f"{where}: 'rest'"))
    if set(entry) != {"exercise", "seconds"}:
        raise PlanError(
            f'{where}: expected {{"exercise": NAME, "seconds": S}} or {{"rest": S}}, '
            f"got the keys {sorted(entry)}"
        )
    exercise = entry["exercise"]
    if not isinstance(exercise, str) or not exercise.strip() or len(exercise) > 64:
        raise PlanError(f"{where}: 'exercise' must be an exercise's name")
    return Step(exercise, _seconds(entry["seconds"], f"{where}: 'seconds'"))


def _seconds(value: Any, where: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 < value <= MAX_STEP_SECONDS:
        raise PlanError(f"{where} must be a number of seconds in (0, {MAX_STEP_SECONDS:g}]")
    return float(value)


def check_exercises(plan: Plan, known: list[str], where: str | None = None) -> None:
    """``PlanError`` naming the first step whose exercise the coach does not know."""
    if not known:
        return
    for k, step in enumerate(plan.steps, 1):
        if step.exercise is not None and step.exercise not in known:
            raise PlanError(
                f"{where or plan.name}: step {k}: unknown exercise {step.exercise!r}; this coach "
                f"knows: {', '.join(known)}"
            )


__all__ = [
    "PLANS_DIR",
    "Plan",
    "PlanError",
    "Step",
    "check_exercises",
    "load_plan",
    "parse_plan",
    "shipped_plans",
]
