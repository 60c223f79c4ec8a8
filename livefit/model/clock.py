"""The paper clock of Stream-VLM, in one place: the streaming engine runs it forward (tokens ->
feedback times) and the training sequences run it backward (ground-truth times -> where the
``<answer>`` tokens go), so both read the same constants and the same formulas.

Facts (shared/spec/evaluation-protocol.md section 5 and the public reference):
- features arrive at ``steps_per_second`` (4); the first ``drop_first_steps`` (1) are never fed
  (the reference starts at feature index 1) and, offline, neither is the last one
  (``UNFED_LAST_STEPS``: its loop stops when the next ``<vision>`` would need it);
- after a feedback of n text tokens the next ``floor(n / tokens_per_second * steps_per_second)``
  steps are not seen (the model is "blind" while it talks at 12 tokens per second);
- feedback times follow the parity formula on the token stream (index 0 = the first
  ``<vision>``): step_k = (b_k - e_{k-1} - 1) / 4 + g_{k-1}, e_0 = 1, g the previous non-empty
  feedback's (e - b) / 12 (0 after an empty one), time = the running sum over non-empty ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STEPS_PER_SECOND = 4.0  # feature steps per second (the causal CNN's output rate)
TOKENS_PER_SECOND = 12.0  # assumed speaking rate of the paper clock
DROP_FIRST_STEPS = 1  # the reference starts feeding at feature index 1
UNFED_LAST_STEPS = 1  # offline, the reference never feeds a segment's last feature step
MAX_FEEDBACK_TOKENS = 128  # longest feedback, in text tokens (paper: 128)


@dataclass(frozen=True)
class PaperClock:
    """The constants of the paper clock (engine and training sequences share one instance)."""

    steps_per_second: float = STEPS_PER_SECOND
    """Feature steps per second."""
    tokens_per_second: float = TOKENS_PER_SECOND
    """Assumed speaking rate: blind steps and parity times (paper: 12)."""
    drop_first_steps: int = DROP_FIRST_STEPS
    """Steps dropped at the start of a stream (the reference starts at feature index 1)."""
    blind_skip: bool = True
    """Drop ``blind_steps(n)`` steps after a feedback of n text tokens."""

    def blind_steps(self, n_text: int) -> int:
        """Steps not seen after a feedback of ``n_text`` text tokens: floor(n / 12 * 4)."""
        if not self.blind_skip:
            return 0
        return math.floor(n_text / self.tokens_per_second * self.steps_per_second)

    def timer(self) -> ParityTimer:
        return ParityTimer(self)


@dataclass
class ParityTimer:
    """The running state of the parity formula over one token stream (index 0 = first
    ``<vision>``)."""

    clock: PaperClock
    last_end: int = 1  # e_{k-1}; the reference starts from 1
    gap: float = 0.0  # g_{k-1}: (e - b) / 12 of the previous non-empty feedback, else 0
    running: float = 0.0  # time of the previous non-empty feedback

    def begin_time(self, begin: int) -> float:
        """Time of a feedback whose ``<answer>`` is at stream index ``begin``."""
        c = self.clock
        return self.running + (begin - self.last_end - 1) / c.steps_per_second + self.gap

    def finish(self, begin: int, end: int, time: float, empty: bool) -> None:
        """Record a feedback from ``<answer>`` at ``begin`` to ``<answer/>`` at ``end``."""
        if empty:
            self.gap = 0.0
        else:
            self.running = time
            self.gap = (end - begin) / self.clock.tokens_per_second
        self.last_end = end


__all__ = [
    "DROP_FIRST_STEPS",
    "MAX_FEEDBACK_TOKENS",
    "STEPS_PER_SECOND",
    "TOKENS_PER_SECOND",
    "UNFED_LAST_STEPS",
    "PaperClock",
    "ParityTimer",
]
