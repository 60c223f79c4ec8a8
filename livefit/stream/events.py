"""The engine's vocabulary without the engine: ``EngineConfig`` (how sessions decode and keep
time), ``Event`` (what a session yields: time, kind, text) and ``ClockName`` (paper or wall; the
clocks themselves are ``livefit.stream.clocks``).

Flow position: in ``livefit.stream``, below ``livefit.stream.engine``, which re-exports the
first two. It is torch-free (its only livefit import is ``livefit.model.clock``, stdlib only), so
coaches with the engine's interface that need no model (``livefit.baselines``) import it
without loading torch or transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from livefit.model.clock import (
    DROP_FIRST_STEPS,
    MAX_FEEDBACK_TOKENS,
    STEPS_PER_SECOND,
    TOKENS_PER_SECOND,
    PaperClock,
)

ClockName = Literal["paper", "wall"]


@dataclass(frozen=True)
class EngineConfig:
    """How sessions decode and keep time."""

    clock: ClockName = "paper"
    """paper (the reference's token-count clock) or wall (real arrival and decoding times); the
    clock objects are built from these settings by ``livefit.stream.clocks.make_clock``."""
    steps_per_second: float = STEPS_PER_SECOND
    """Feature steps per second (the CNN's output rate)."""
    tokens_per_second: float = TOKENS_PER_SECOND
    """Assumed speaking rate: blind steps and parity times (paper: 12)."""
    max_feedback_tokens: int = MAX_FEEDBACK_TOKENS
    """Longest feedback in text tokens; the next token is forced to <answer/> (paper: 128)."""
    drop_first_steps: int = DROP_FIRST_STEPS
    """Paper clock: steps dropped at the start (the reference starts at feature index 1)."""
    blind_skip: bool = True
    """Paper clock: drop floor(n / tokens_per_second * steps_per_second) steps after a feedback."""
    constraint: Literal["force", "mask"] = "force"
    """force: replace a disallowed choice (paper); mask: choose among allowed tokens only."""
    do_sample: bool = False
    """Sample instead of greedy argmax."""
    temperature: float = 1.0
    """Sampling temperature."""
    top_k: int = 0
    """Sample among the k most likely tokens (0: all)."""
    seed: int = 0
    """Seed of each session's sampling generator."""
    window_tokens: int | None = None
    """Bounded memory: keep only this many recent tokens (plus the sink); None: unbounded."""
    sink_tokens: int | None = None
    """Tokens always kept at the start of the cache; None: the whole prompt."""
    evict_every: int = 64
    """Evict in chunks of this many tokens (cache holds at most sink + window + this)."""
    busy_policy: Literal["drop", "queue"] = "drop"
    """Wall clock: steps arriving while a feedback is being decoded are dropped or queued."""
    busy_while_speaking: bool = False
    """Wall clock: after a feedback of n text tokens the session stays busy n / tokens_per_second
    seconds more, as if it were saying it (the wall-clock twin of the paper clock's blind skip,
    so a coach trained on the paper clock sees the steps it would have seen there). Off: busy
    only while decoding."""
    max_tokens_per_step: int = 2 * (MAX_FEEDBACK_TOKENS + 2) + 1
    """Safety: after this many tokens without a <vision>, force one (a model stuck talking).
    Default 261: two full-length feedbacks (<answer>, 128 text tokens, <answer/>) and the
    <vision> after them; a trained coach says at most one per step."""
    watch_after_empty: bool = False
    """After an empty feedback (<answer><answer/>) the next token is <vision> (the model chose
    to say nothing), so a degenerate model that only emits empty feedbacks costs 3 tokens per
    step instead of the whole budget (an extra; off, the paper's way: the model chooses again,
    as in the reference loop; a trained coach never emits empty feedbacks)."""
    sentence_start: bool = False
    """A feedback's first text token must start a sentence: its text, decoded alone, begins
    with a capital letter, a digit or an opening quote. Off (the paper's way) a feedback may
    begin with any text token, and a small LM off its training data sometimes begins one with
    the tail of a line it learned (" one in total!"); on, it takes its likeliest sentence start
    (or closes the feedback). An extra; the live coach turns it on (``LiveConfig``)."""
    cache: Literal["growing", "static"] = "growing"
    """growing: per-session buffers that double when full; static: ``cache_capacity`` fixed
    slots whose shapes and addresses never change (what ``compile`` needs)."""
    cache_capacity: int = 4096
    """Static cache: token slots per session; with ``window_tokens`` it must hold sink + window +
    evict_every, without a window a session that fills it stops with an error."""
    compile: bool = False
    """torch.compile the one-token step (static cache only). On CUDA ``compile_mode``
    reduce-overhead records it as a CUDA graph; sessions reuse released caches, so later
    sessions replay the recorded step instead of compiling again."""
    compile_mode: str | None = "reduce-overhead"
    """torch.compile mode for ``compile``."""
    compile_backend: str = "inductor"
    """torch.compile backend for ``compile`` ("eager": tracing only, no code generation)."""

    @property
    def paper_clock(self) -> PaperClock:
        """The paper clock these settings describe (shared with the training sequences)."""
        return PaperClock(
            self.steps_per_second, self.tokens_per_second, self.drop_first_steps, self.blind_skip
        )


@dataclass(frozen=True)
class Event:
    """Something a session did at a time (seconds from the session start, on its clock)."""

    time: float
    kind: Literal["answer", "text", "feedback", "dropped"]
    """answer: a feedback began; text: its next piece; feedback: the finished feedback (empty
    ones are not reported); dropped: a feature step was not seen."""
    text: str = ""


__all__ = ["ClockName", "EngineConfig", "Event"]
