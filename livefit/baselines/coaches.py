"""Rule-based coaches with the streaming engine's interface, so that ``livefit predict`` and
``livefit benchmark`` drive them exactly like a trained model (``coach.start(prompt)`` ->
session, ``session.push(step)`` -> events, ``session.feedbacks``), not as special cases.

- ``silent``: never speaks (the floor of the temporal F-score: precision undefined, recall 0);
- ``periodic``: the same generic encouragement every 5 s, the mean silence of the data
  (``livefit.baselines.periodic``), whatever the user does;
- ``oracle-coach``: a ceiling on QEVD-SIM data only, the data's own rule-based coach re-run with
  another seed on the same simulated user (``livefit.baselines.oracle``).

All keep the paper clock: the k-th pushed step of a segment is at k / 4 s. The names are
registered in ``livefit.stream.coaches`` by ``livefit.baselines``' ``__init__``;
``builtin_coach``, ``spec_coach`` and ``spec_prefix`` are re-exported from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from livefit.baselines.periodic import PERIODIC_EVERY_S, PERIODIC_TEXT
from livefit.stream.coaches import builtin_coach, spec_coach, spec_prefix  # re-exported
from livefit.stream.events import EngineConfig, Event


@dataclass
class RuleSession:
    """One segment of a rule-based coach; ``say`` decides what to say at a step's time."""

    coach: RuleCoach
    steps_pushed: int = 0
    feedbacks: list[tuple[float, str]] = field(default_factory=list)
    # what the engine's sessions expose for the decoding report (no tokens are decoded here)
    steps_seen: int = 0
    tokens_per_step: float = 0.0
    max_step_tokens: int = 0
    budget_hits: int = 0
    warnings: list[str] = field(default_factory=list)

    def push(self, step: Any, t: float | None = None) -> Iterator[Event]:
        """A feature step (ignored by these rules); ``t``: its time (default: the paper clock)."""
        now = self.steps_pushed / self.coach.config.steps_per_second if t is None else float(t)
        self.steps_pushed += 1
        self.steps_seen += 1
        for when, text in self.coach.say(self, now):
            self.feedbacks.append((when, text))
            yield Event(when, "feedback", text)

    def close(self) -> None:
        pass

    def __enter__(self) -> RuleSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RuleCoach:
    """Base of the rule-based coaches: an engine-like object that makes ``RuleSession``s."""

    name = "rule"

    def __init__(self) -> None:
        self.config = EngineConfig()  # the paper clock, for callers that read engine.config

    def start(
        self, system_prompt: str, total_steps: int | None = None, t0: float | None = None
    ) -> RuleSession:
        return RuleSession(self)

    def say(self, session: RuleSession, t: float) -> list[tuple[float, str]]:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """What decides this coach's output (recorded beside its predictions)."""
        return {"coach": self.name}


class SilentCoach(RuleCoach):
    """Never speaks."""

    name = "silent"

    def say(self, session: RuleSession, t: float) -> list[tuple[float, str]]:
        return []


class PeriodicCoach(RuleCoach):
    """``text`` at every multiple of ``every`` seconds that a step has reached."""

    name = "periodic"

    def __init__(self, every: float = PERIODIC_EVERY_S, text: str = PERIODIC_TEXT) -> None:
        super().__init__()
        if not every > 0:
            raise ValueError(f"every must be positive, got {every}")
        self.every, self.text = every, text

    def say(self, session: RuleSession, t: float) -> list[tuple[float, str]]:
        said = len(session.feedbacks)
        due = int(t // self.every + 1e-9)  # multiples of `every` reached by time t
        return [((k + 1) * self.every, self.text) for k in range(said, due)]

    def settings(self) -> dict[str, Any]:
        return {"coach": self.name, "every": self.every, "text": self.text}


__all__ = [
    "PeriodicCoach",
    "RuleCoach",
    "RuleSession",
    "SilentCoach",
    "builtin_coach",
    "spec_coach",
    "spec_prefix",
]
