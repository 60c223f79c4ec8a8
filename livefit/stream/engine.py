"""The streaming engine: feature steps in, timed feedback events out, one new token per forward.

Flow: ``livefit.vision`` feature step [C, H, W] -> ``Session.push`` -> StreamVLM forward of the
new token(s) only, on the session's KV cache -> constrained choice of the next token -> events
``(time, kind, text)`` -> speech / screen / ``livefit.stream.predict``.

``engine = StreamEngine(model, EngineConfig(...))``; ``session = engine.start(system_prompt)``;
``for event in session.push(step): ...``. The engine only calls ``model(ids, features, cache,
position_ids)`` (nanochat style), so any model with that signature can be streamed, and all
per-stream state lives in the ``Session``: many sessions share one model. ``EngineConfig`` and
``Event`` live in the torch-free ``livefit.stream.events`` and are re-exported here.

Protocol (shared/spec/evaluation-protocol.md section 5, and the public reference):
- the prompt is the system prompt then one ``<vision>``; every ``<vision>`` is fed together with
  the next feature step, every other token is fed as soon as it is chosen;
- outside a feedback only ``<vision>`` or ``<answer>`` may come out (anything else becomes
  ``<vision>``); inside, ``<vision>``, ``<answer>`` or a feedback already
  ``max_feedback_tokens`` long becomes ``<answer/>`` (``constraint="mask"`` instead restricts
  the logits to the allowed tokens before choosing: an extra, not the paper's way);
  ``sentence_start`` (an extra) also keeps a feedback's first text token to those that begin a
  sentence (``sentence_starts``);
- time is the session's clock's (``livefit.stream.clocks``, built by ``make_clock``): which
  pushed steps are seen, and when each feedback is. ``paper``: the first ``drop_first_steps``
  steps are dropped (the reference starts at feature index 1), after a feedback of n text
  tokens the next ``floor(n / 12 * 4)`` steps are dropped (blind while it talks at 12 tokens/s),
  and feedback times follow the reference's parity formula on the token stream
  (``Session.tokens``, index 0 = first ``<vision>``); ``wall``: a step's time is its arrival
  time (argument ``t``, or the real time since ``start``), tokens take their real decoding time,
  and steps that arrive while the model is busy are dropped or queued (``busy_policy``,
  ``busy_while_speaking``).

Turn-based models (``StreamVLMConfig.turn_every_s``, the "w/o action tokens" ablation, trained
without the decision of when to speak): the engine makes the decision for them. The first step
fed at or after each turn (every ``turn_every_s`` seconds of stream time, paper 5 s) is answered:
``<answer>`` is forced after its ``<vision>`` and the model writes the text; everywhere else
``<vision>`` is forced (``TurnSchedule``). On the paper clock (``TurnStreamClock``) the
feedback's time is the turn's, as the turn-based protocol reports the prompt time, and no steps
are skipped while it talks: a turn-based model sees all the video (evaluation protocol, section
6).

Degenerate models (guards the paper's loop lacks; a model trained on the paper's sequences never
meets them, so its token stream is the reference's):
- an empty feedback (``<answer><answer/>``) counts in tokens, toward the per-step budget; on
  the paper clock it takes no time (the parity formula gives it none: the gap after it is 0 and
  the next feedback counts from its end), so it skips no step. As in the reference the model
  then chooses again, and one that keeps choosing ``<answer><answer/>`` spends the whole budget
  on every step; ``watch_after_empty`` (an extra, off by default) treats an empty feedback as a
  decision to say nothing, like ``<vision>``: the next token is ``<vision>``;
- at most ``max_tokens_per_step`` tokens per fed step (default: room for two full-length
  feedbacks and the ``<vision>`` after them, 2 * (128 + 2) + 1 = 261, down from 1,024; a trained
  coach says at most one per step), then ``<vision>`` is forced, closing any open feedback;
- a session that is about to feed a position past the language model's position table
  (``max_position_embeddings``) warns once (``PositionTableWarning``, and
  ``Session.warnings``) and names the bounded-memory option (``window_tokens``);
- ``Session.tokens_per_step`` (mean), ``Session.max_step_tokens`` and ``Session.budget_hits``
  say how much decoding each step took (1.0 = watching only), for ``livefit predict`` to report.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from livefit.model.sequences import prompt_ids
from livefit.stream.cache import StaticStreamCache, StreamCache
from livefit.stream.clocks import Clock, TurnSchedule, make_clock
from livefit.stream.events import EngineConfig, Event  # re-exported: torch-free home

# A sentence may also begin with an opening quote or parenthesis (not the straight apostrophe:
# GPT-2 style vocabularies hold "'s" and "'re", which only continue a word).
OPENERS = '"\u201c\u2018('


class PositionTableWarning(RuntimeWarning):
    """A stream is about to pass the language model's position table."""


def position_table_size(model: Any) -> int | None:
    """The language model's position table (``max_position_embeddings``, GPT-2's
    ``n_positions``), or None when the model does not say (a scripted test model)."""
    explicit = getattr(model, "max_positions", None)
    if isinstance(explicit, int):
        return explicit
    for owner in ("base_lm", "lm", None):
        part = model if owner is None else getattr(model, owner, None)
        config = getattr(part, "config", None)
        for name in ("max_position_embeddings", "n_positions"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return None


@dataclass
class _Feedback:
    begin: int  # index of <answer> in Session.tokens
    time: float
    ids: list[int] = field(default_factory=list)
    text: str = ""


class StreamEngine:
    """Holds the model and the decoding rules; ``start`` makes independent sessions."""

    # EngineConfig is a frozen dataclass: one shared default is safe (ruff sees that only
    # for classes defined in the same module)
    def __init__(self, model: Any, config: EngineConfig = EngineConfig()) -> None:  # noqa: B008
        make_clock(config)  # an unknown clock is refused here, not at the first session
        if config.constraint not in ("force", "mask"):
            raise ValueError(f"unknown constraint {config.constraint!r}: expected force or mask")
        if config.busy_policy not in ("drop", "queue"):
            raise ValueError(f"unknown busy_policy {config.busy_policy!r}: expected drop or queue")
        if config.cache not in ("growing", "static"):
            raise ValueError(f"unknown cache {config.cache!r}: expected growing or static")
        if config.compile and config.cache != "static":
            raise ValueError("compile needs cache='static' (fixed shapes for every step)")
        self.model = model
        self.config = config
        self.tokenizer = model.tokenizer
        self.vision, self.answer, self.answer_end = model.ids.as_tuple()
        self.num_layers: int = model.num_layers
        self.clock = time.perf_counter  # the wall clock's time source; tests swap in a fake one
        self._free_caches: list[StaticStreamCache] = []  # released by closed sessions
        # transformers < 5.24 derive the write slots from the cache (a sync) unless told them.
        self._pass_cache_position = bool(getattr(model, "takes_cache_position", False))
        # Models with time features (an extra) read each <vision> step's time.
        self._takes_times = bool(getattr(model, "uses_vision_times", False))
        # A turn-based model (trained without action tokens) answers every ``turn_every`` s.
        self.turn_every: float | None = getattr(
            getattr(model, "config", None), "turn_every_s", None
        )
        self.position_limit = position_table_size(model)
        self._not_starts: torch.Tensor | None = None  # sentence_start: ids that cannot begin
        self._step = self._static_forward
        if config.compile:
            self._step = torch.compile(
                self._static_forward, mode=config.compile_mode, backend=config.compile_backend
            )

    def start(
        self, system_prompt: str, total_steps: int | None = None, t0: float | None = None
    ) -> Session:
        """A new session; the prompt is ``tokenizer.encode(system_prompt) + [<vision>]``.

        ``total_steps``: how many steps will be pushed, when known (offline prediction). Like the
        reference, the paper clock then stops decoding for good once a blind skip runs past the
        last step, instead of talking on about steps that will never come.
        """
        prompt = prompt_ids(self.tokenizer, system_prompt) + [self.vision]
        c = self.config
        if c.cache == "static":
            sink = len(prompt) if c.sink_tokens is None else c.sink_tokens
            need = len(prompt)
            if c.window_tokens is not None:
                need = sink + c.window_tokens + c.evict_every
            if need > c.cache_capacity:
                raise ValueError(
                    f"cache_capacity {c.cache_capacity} cannot hold {need} tokens "
                    "(the prompt, or sink + window + evict_every)"
                )
        return Session(self, prompt, total_steps, t0)

    def make_cache(self) -> StreamCache | StaticStreamCache:
        if self.config.cache == "growing":
            return StreamCache(self.num_layers)
        if self._free_caches:
            return self._free_caches.pop()
        return StaticStreamCache(self.num_layers, self.config.cache_capacity)

    def release(self, cache: StreamCache | StaticStreamCache) -> None:
        """Take back a closed session's cache (static caches are emptied and reused)."""
        if isinstance(cache, StaticStreamCache):
            cache.reset()
            self._free_caches.append(cache)

    @torch.inference_mode()
    def forward(
        self,
        ids: list[int],
        feature: torch.Tensor | None,
        cache: StreamCache | StaticStreamCache,
        position: int,
        time: float = 0.0,
    ) -> torch.Tensor:
        """Feed ``ids`` (the last one a <vision> iff ``feature`` is given; ``time``: its step's
        time in seconds, for models with time features) -> last logits [V]."""
        device = self.model.device
        input_ids = torch.tensor([ids], device=device)  # (1, T)
        positions = torch.arange(position, position + len(ids), device=device)[None]  # (1, T)
        features = None if feature is None else feature[None, None]  # (1, 1, N, C)
        extra = {}
        if self._takes_times and feature is not None:
            extra["vision_times"] = torch.tensor([[time]], device=device)  # (1, 1)
        if not isinstance(cache, StaticStreamCache):
            dense = feature is not None and len(ids) == 1  # a lone <vision>: static shapes
            out = self.model(
                input_ids,
                features,
                cache=cache,
                position_ids=positions,
                logits_to_keep=1,
                dense_vision=dense,
                **extra,
            )
            return out.logits[0, -1].float()  # (V,)
        n = len(ids)
        if cache.get_seq_length() + n > cache.capacity:
            raise RuntimeError(
                f"static KV cache full ({cache.capacity} tokens): set window_tokens "
                "(bounded memory) or a larger cache_capacity"
            )
        mask = cache.attention_mask(n)  # (1, 1, n, capacity)
        slots = cache.cache_position(n) if self._pass_cache_position else None
        times = extra.get("vision_times")
        if n == 1:  # every step after the prompt: one graph for <vision>, one for text
            return self._step(input_ids, features, cache, positions, mask, slots, times=times)
        return self._static_forward(
            input_ids, features, cache, positions, mask, slots, dense=False, times=times
        )

    def _static_forward(
        self,
        input_ids: torch.Tensor,
        features: torch.Tensor | None,
        cache: StaticStreamCache,
        positions: torch.Tensor,
        mask: torch.Tensor,
        slots: torch.Tensor | None,
        dense: bool = True,
        times: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The static-cache forward (compiled with ``compile``) -> last logits [V]."""
        extra = {} if times is None else {"vision_times": times}
        out = self.model(
            input_ids,
            features,
            cache=cache,
            position_ids=positions,
            attention_mask=mask,
            logits_to_keep=1,
            dense_vision=dense,
            cache_position=slots,
            **extra,
        )
        return out.logits[0, -1].float()

    def choose(self, logits: torch.Tensor, inside: bool, n_text: int, rng: torch.Generator) -> int:
        """The next token under the constraints (see the module docstring)."""
        c = self.config
        over_long = inside and n_text >= c.max_feedback_tokens
        if c.sentence_start and inside and n_text == 0:
            logits = logits.masked_fill(self._cannot_start(logits.numel()), float("-inf"))
        if c.constraint == "mask":
            logits = logits.clone()
            if over_long:
                keep = logits[self.answer_end].clone()
                logits.fill_(float("-inf"))
                logits[self.answer_end] = keep
            elif inside:
                logits[[self.vision, self.answer]] = float("-inf")
            else:
                allowed = logits[[self.vision, self.answer]].clone()
                logits.fill_(float("-inf"))
                logits[[self.vision, self.answer]] = allowed
        if c.do_sample:
            scaled = logits / max(c.temperature, 1e-6)
            if c.top_k > 0:
                kth = torch.topk(scaled, min(c.top_k, scaled.numel())).values[-1]
                scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            token = int(torch.multinomial(torch.softmax(scaled, -1), 1, generator=rng))
        else:
            token = int(torch.argmax(logits))
        if inside:
            if token in (self.vision, self.answer) or over_long:
                token = self.answer_end
        elif token not in (self.vision, self.answer):
            token = self.vision
        return token

    def _cannot_start(self, vocab: int) -> torch.Tensor:
        """Bool ``[vocab]``: the text ids that cannot begin a feedback (``sentence_starts``);
        the special tokens stay allowed (the rules above turn them into ``<answer/>``)."""
        if self._not_starts is None or self._not_starts.numel() != vocab:
            starts = sentence_starts(self.tokenizer, vocab)
            starts[[self.vision, self.answer, self.answer_end]] = True
            self._not_starts = ~starts
        return self._not_starts


def sentence_starts(tokenizer: Any, vocab: int) -> torch.Tensor:
    """Bool ``[vocab]``: the ids whose text, decoded alone, begins a sentence (a capital
    letter, a digit or an opening quote: what the first token of an English coaching line
    decodes to, with GPT-2 style and SentencePiece tokenizers alike). Padding ids past the
    tokenizer's vocabulary are not starts."""
    size = min(vocab, len(tokenizer))
    texts = tokenizer.batch_decode([[i] for i in range(size)])
    starts = torch.zeros(vocab, dtype=torch.bool)
    first = [t[:1] for t in texts]
    starts[:size] = torch.tensor(
        [c.isupper() or c.isdigit() or (c != "" and c in OPENERS) for c in first]
    )
    return starts


class Session:
    """One live stream: its KV cache, token stream, decoding state and clock."""

    def __init__(
        self, engine: StreamEngine, prompt: list[int], total_steps: int | None, t0: float | None
    ) -> None:
        self.engine = engine
        self.config = engine.config
        self.prompt = prompt
        self.tokens: list[int] = [engine.vision]  # the stream from the first <vision> (index 0)
        self.cache: StreamCache | StaticStreamCache | None = engine.make_cache()
        self.position = 0  # absolute position of the next token fed
        self.started = False  # has the prompt been fed?
        self.steps_seen = 0  # feature steps fed to the model
        self.fed_steps: list[int] = []  # which pushed step (0-based) each fed <vision> saw
        self.steps_pushed = 0
        self.total_steps = total_steps
        self.clock: Clock = make_clock(self.config, total_steps, t0, self._now, engine.turn_every)
        every = engine.turn_every  # turn-based models: when the engine makes them answer
        self.turns = None if every is None else TurnSchedule(every)
        self.feedbacks: list[tuple[float, str]] = []  # non-empty feedbacks (time, text)
        self.rng = torch.Generator().manual_seed(self.config.seed)
        self.max_step_tokens = 0  # most tokens decoded for one fed step
        self.budget_hits = 0  # steps cut short by the per-step token budget
        self.warnings: list[str] = []  # what the session warned about (once each)
        self._passed_table = False  # warned about the position table

    # -- public -------------------------------------------------------------------------------
    def push(self, step: Any, t: float | None = None) -> Iterator[Event]:
        """Give the next feature step ([C, H, W] or [N, C]); yields what the model does until
        it asks for the next one. ``t``: arrival time in seconds from the session start (wall
        clock; default: now)."""
        if self.cache is None:
            raise RuntimeError("push on a closed session")
        self.steps_pushed += 1
        arrival, seen = self.clock.arrive(self.steps_pushed - 1, t)
        if not seen:
            yield Event(arrival, "dropped")
            return
        feature = self.engine.model.feature_tokens(step)
        ids = [self.engine.vision] if self.started else self.prompt
        self.started = True
        self.steps_seen += 1
        self.fed_steps.append(self.steps_pushed - 1)
        yield from self._decode(ids, feature, arrival)

    @property
    def ended(self) -> bool:
        """Nothing more will be seen (paper clock with ``total_steps``, after a blind skip past
        the last step)."""
        return self.clock.ended

    @property
    def cache_tokens(self) -> int:
        return 0 if self.cache is None else self.cache.get_seq_length()

    @property
    def tokens_per_step(self) -> float:
        """Tokens decoded per fed step, on average (each step ends with its ``<vision>``, so
        1.0 means the model only watched); 0.0 before the first step."""
        return (len(self.tokens) - 1) / self.steps_seen if self.steps_seen else 0.0

    def close(self) -> None:
        """End the session: its cache goes back to the engine (a static one is reused)."""
        if self.cache is not None:
            self.engine.release(self.cache)
            self.cache = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------
    def _now(self) -> float:
        """The wall clock's time source, looked up per call (tests swap the engine's)."""
        return self.engine.clock()

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        warnings.warn(message, PositionTableWarning, stacklevel=4)

    def _check_positions(self, n: int) -> None:
        """Warn once, before the first token past the LM's position table is fed."""
        limit = self.engine.position_limit
        if limit is None or self.position + n <= limit or self._passed_table:
            return
        self._passed_table = True
        self._warn(
            f"stream position {self.position + n} passes the language model's position table "
            f"({limit} positions): it was not trained on later positions, and without a "
            "window the cache keeps growing; EngineConfig(window_tokens=N) (livefit predict "
            "--window N) bounds the cache's memory"
        )

    @torch.inference_mode()
    def _feed(
        self, ids: list[int], feature: torch.Tensor | None, time: float = 0.0
    ) -> torch.Tensor:
        self._check_positions(len(ids))
        logits = self.engine.forward(ids, feature, self.cache, self.position, time)
        self.position += len(ids)
        c = self.config
        if c.window_tokens is not None:
            sink = len(self.prompt) if c.sink_tokens is None else c.sink_tokens
            if self.cache.get_seq_length() >= sink + c.window_tokens + c.evict_every:
                self.cache.evict(sink, c.window_tokens)
        return logits

    def _decode(self, ids: list[int], feature: torch.Tensor, time: float) -> Iterator[Event]:
        """Feed a seen step, then choose and feed tokens until the model asks for the next one
        (its ``<vision>``, fed with that step). The clock times what is said."""
        engine, clock = self.engine, self.clock
        clock.start_step()
        logits = self._feed(ids, feature, time)
        first = len(self.tokens)  # this step's tokens are self.tokens[first:]
        fb: _Feedback | None = None
        turn = None if self.turns is None else self.turns.due(time)  # the turn it answers
        for _ in range(self.config.max_tokens_per_step):
            token = engine.choose(logits, fb is not None, len(fb.ids) if fb else 0, self.rng)
            if self.turns is not None and fb is None:  # the engine decides, not the model
                token = engine.answer if turn is not None else engine.vision
            self.tokens.append(token)
            index = len(self.tokens) - 1
            if token == engine.vision:
                self._end_step(first)
                return  # fed with the next step
            if token == engine.answer:
                fb, turn = _Feedback(index, clock.answer_time(index, turn)), None
                yield Event(fb.time, "answer")
            elif token == engine.answer_end:
                assert fb is not None
                yield from self._finish(fb, index)
                empty, fb = not fb.text, None
                if clock.ended:
                    self._end_step(first)
                    return
                if empty and self.config.watch_after_empty:
                    self._feed([token], None)
                    yield from self._watch(first)
                    return
            else:
                assert fb is not None
                fb.ids.append(token)
                text = engine.tokenizer.decode(fb.ids)
                yield Event(fb.time, "text", text[len(fb.text) :])
                fb.text = text
            logits = self._feed([token], None)
        # A model that never asks for a step again: make it (closing any open feedback).
        self.budget_hits += 1
        if fb is not None:
            self.tokens.append(engine.answer_end)
            yield from self._finish(fb, len(self.tokens) - 1)
            self._feed([engine.answer_end], None)
        yield from self._watch(first)

    def _watch(self, first: int) -> Iterator[Event]:
        """End the step with a forced ``<vision>`` (fed with the next step)."""
        self.tokens.append(self.engine.vision)
        self._end_step(first)
        yield from ()

    def _end_step(self, first: int) -> None:
        self.clock.end_step()
        self.max_step_tokens = max(self.max_step_tokens, len(self.tokens) - first)

    def _finish(self, fb: _Feedback, end: int) -> Iterator[Event]:
        """Close ``fb`` at stream index ``end``: the clock learns of it, then it is reported
        (``fb.text`` is the decoded text: it is decoded after every text token)."""
        self.clock.end_feedback(fb.begin, end, fb.time, len(fb.ids), empty=not fb.text)
        if fb.text:
            self.feedbacks.append((fb.time, fb.text))
            yield Event(fb.time, "feedback", fb.text)


__all__ = [
    "EngineConfig",
    "Event",
    "PositionTableWarning",
    "Session",
    "StreamEngine",
    "position_table_size",
    "sentence_starts",
]
