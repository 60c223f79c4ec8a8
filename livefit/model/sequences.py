"""Training sequences of Stream-VLM: a short clip (stage 2) or an exercise segment (stage 3) ->
token ids, the feature step each ``<vision>`` reads, and which tokens the loss is on.

Flow position: ``livefit.data`` records (a clip's question/answer, a segment's timed feedbacks)
and their feature steps -> these sequences -> ``livefit.train`` (teacher forcing through
``StreamVLM.forward``). The streaming engine (``livefit.stream``) produces the same token streams
at inference; a stage-3 sequence is the engine's paper clock run backward.

Stage 2 (shared/spec/stream-vlm.md, paper appendix D.2):
    encode(<system>...</system>) | <vision> x n steps | question | <answer> text <answer/>
loss on the <vision> tokens after the first and on the answer (``<answer>``, text, ``<answer/>``).

Stage 3 (appendix D.3): a system prompt, then the token stream the engine would produce if the
model had said each ground-truth feedback at its time:
    encode(system) | <vision> ... <vision> <answer> text <answer/> <vision> ... <vision>
Each ``<vision>`` reads the feature step the engine would feed it: the first is step
``drop_first_steps`` (1), the next ones follow in order, ``blind_steps(n)`` steps are skipped
after a feedback of n text tokens, and the segment's last step is never read (the offline loop
stops before it). The number of ``<vision>`` tokens before each ``<answer>`` is chosen so that
the parity formula gives the time nearest the ground truth (within half a step, unless the
previous feedback's speaking time makes it later). Loss on every token after the first
``<vision>`` (the ones the model must produce); never on the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from livefit.data import prompts
from livefit.model.clock import MAX_FEEDBACK_TOKENS, UNFED_LAST_STEPS, PaperClock
from livefit.model.tokens import SpecialIds

STAGE2_SYSTEM = f"<system>{prompts.SHORT_CLIP}</system>"  # appendix D.2, wrapped as published
STAGE3_SYSTEM = f"<system>{prompts.LONG_RANGE}</system>"  # appendix D.3


def prompt_ids(tokenizer, system: str) -> list[int]:
    """A system prompt's token ids as the engine feeds them (the tokenizer's BOS included)."""
    return list(tokenizer.encode(system))


def text_ids(tokenizer, text: str, limit: int = MAX_FEEDBACK_TOKENS) -> list[int]:
    """A question or feedback inside a sequence: no BOS/EOS, at most ``limit`` tokens."""
    return list(tokenizer.encode(text, add_special_tokens=False))[:limit]


@dataclass(frozen=True)
class Sequence:
    """One training sequence."""

    ids: tuple[int, ...]
    """Prompt + stream token ids."""
    steps: tuple[int, ...]
    """The feature step read by each ``<vision>`` token, in order (one per ``<vision>``)."""
    targets: tuple[bool, ...]
    """Per position: the loss is on predicting this token (from the ones before it)."""
    prompt_length: int
    """Tokens of the system prompt (before the first ``<vision>``)."""
    times: tuple[float, ...] = ()
    """Stage 3: the parity times of the placed feedbacks (what the engine would report)."""
    placed: tuple[int, ...] = ()
    """Stage 3: index of the ground-truth feedback behind each placed one."""
    unplaced: int = 0
    """Stage 3: ground-truth feedbacks that did not fit in the stream (after its last step)."""

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def stream(self) -> tuple[int, ...]:
        """The token stream from the first ``<vision>`` (the engine's ``Session.tokens``)."""
        return self.ids[self.prompt_length :]


def clip_sequence(
    tokenizer,
    ids: SpecialIds,
    n_steps: int,
    question: str,
    answer: str,
    system: str = STAGE2_SYSTEM,
    max_feedback_tokens: int = MAX_FEEDBACK_TOKENS,
) -> Sequence:
    """Stage 2: ``n_steps`` ``<vision>`` tokens (steps 0..n-1), the question, the answer."""
    if n_steps < 1:
        raise ValueError("a clip sequence needs at least one feature step")
    prompt = prompt_ids(tokenizer, system)
    question_ids = text_ids(tokenizer, question, limit=10**9)
    body = [ids.answer, *text_ids(tokenizer, answer, max_feedback_tokens), ids.answer_end]
    stream = [ids.vision] * n_steps
    seq = prompt + stream + question_ids + body
    targets = (
        [False] * len(prompt)
        + [False]
        + [True] * (n_steps - 1)
        + [False] * len(question_ids)
        + [True] * len(body)
    )
    return Sequence(tuple(seq), tuple(range(n_steps)), tuple(targets), len(prompt))


def segment_sequence(
    tokenizer,
    ids: SpecialIds,
    system: str,
    n_steps: int,
    times: tuple[float, ...] | list[float],
    texts: tuple[str, ...] | list[str],
    clock: PaperClock | None = None,
    max_feedback_tokens: int = MAX_FEEDBACK_TOKENS,
) -> Sequence | None:
    """Stage 3: the stream that makes the engine's paper clock say ``texts`` at ``times``
    (seconds from the segment start). ``n_steps``: the segment's feature steps. None when the
    segment is too short to feed a single step."""
    clock = clock or PaperClock()
    prompt = prompt_ids(tokenizer, system)
    fed = n_steps - UNFED_LAST_STEPS  # the engine feeds pushed steps 0 .. fed - 1
    first = clock.drop_first_steps
    if first >= fed:
        return None
    stream, steps = [ids.vision], [first]
    nxt = first + 1  # the step the next <vision> would read
    timer = clock.timer()
    placed_times: list[float] = []
    placed: list[int] = []
    unplaced = 0
    ended = False  # blind past the last step: the engine decodes nothing more
    late = False  # a line after the last step: it and every later one cannot be said
    for k, (t, text) in enumerate(zip(times, texts, strict=True)):
        body = text_ids(tokenizer, text, max_feedback_tokens)
        if not body:
            continue  # the evaluator drops empty feedbacks
        if ended or late:
            unplaced += 1
            continue
        # With m more <vision> tokens, <answer> lands at index len(stream) + m and the parity
        # formula gives base + m / steps_per_second; at most fed - nxt more steps exist.
        base = timer.begin_time(len(stream))
        m_max = fed - nxt
        if t > base + (m_max + 0.5) / clock.steps_per_second:
            unplaced += 1  # after the last fed step: the engine can never say it in time
            late = True
            continue
        m = min(max(0, round((t - base) * clock.steps_per_second)), m_max)
        stream += [ids.vision] * m
        steps += range(nxt, nxt + m)
        nxt += m
        begin = len(stream)
        time = timer.begin_time(begin)
        stream += [ids.answer, *body, ids.answer_end]
        timer.finish(begin, len(stream) - 1, time, empty=False)
        placed_times.append(time)
        placed.append(k)
        nxt += clock.blind_steps(len(body))
        if nxt >= fed:  # blind past the end: the engine stops decoding here
            ended = True
    if not ended:
        stream += [ids.vision] * (fed - nxt)
        steps += range(nxt, fed)
    targets = [False] * (len(prompt) + 1) + [True] * (len(stream) - 1)
    return Sequence(
        tuple(prompt + stream),
        tuple(steps),
        tuple(targets),
        len(prompt),
        tuple(placed_times),
        tuple(placed),
        unplaced,
    )


def turn_times(duration: float, every_s: float = 5.0) -> list[float]:
    """The prompt times of a turn-based model over a segment of ``duration`` seconds: every
    ``every_s`` seconds (paper: 5 s, the mean silence in the data), the last one <= duration."""
    if every_s <= 0:
        raise ValueError(f"the turn interval must be > 0 s, got {every_s}")
    return [k * every_s for k in range(1, int(duration / every_s + 1e-9) + 1)]


def turn_targets(
    times: tuple[float, ...] | list[float],
    texts: tuple[str, ...] | list[str],
    turns: tuple[float, ...] | list[float],
) -> list[int]:
    """Training target of each turn of a turn-based model (one that answers at every turn and
    never chooses when to speak): the index of the ground-truth feedback it should say at turn
    ``turns[k]``. The most recent non-empty feedback since the previous turn (``(turns[k-1],
    turns[k]]``); a turn with none says the one nearest in time (the earlier on a tie), so every
    turn has a sentence, as the paper's turn-based models always answer. Empty list when the
    segment has no non-empty feedback."""
    said = [(t, k) for k, (t, text) in enumerate(zip(times, texts, strict=True)) if text.strip()]
    if not said:
        return []
    out, previous = [], float("-inf")
    for turn in turns:
        since = [k for t, k in said if previous < t <= turn]
        out.append(since[-1] if since else min(said, key=lambda p: (abs(p[0] - turn), p[0]))[1])
        previous = turn
    return out


def turn_sequence(
    tokenizer,
    ids: SpecialIds,
    system: str,
    n_steps: int,
    times: tuple[float, ...] | list[float],
    texts: tuple[str, ...] | list[str],
    every_s: float,
    clock: PaperClock | None = None,
    max_feedback_tokens: int = MAX_FEEDBACK_TOKENS,
) -> Sequence | None:
    """Stage 3 of a turn-based model (``StreamVLMConfig.turn_every_s``, "w/o action tokens"):
    the stream the engine produces for it, with each turn's target (``turn_targets``) as the
    answer. One ``<vision>`` per fed step (``drop_first_steps`` .. the last fed one, none
    skipped); after the first step fed at or after each turn, ``<answer> text <answer/>``. The
    engine forces ``<vision>`` and ``<answer>``, so the loss is on the answer's text and its
    ``<answer/>`` only. None when the segment is too short to feed a step or has no feedback."""
    clock = clock or PaperClock()
    fed = n_steps - UNFED_LAST_STEPS
    first = clock.drop_first_steps
    if first >= fed:
        return None
    sps = clock.steps_per_second
    turns = turn_times((fed - 1) / sps, every_s)
    targets_of_turns = turn_targets(times, texts, turns)
    if not targets_of_turns:
        return None
    prompt = prompt_ids(tokenizer, system)
    stream: list[int] = []
    targets = [False] * len(prompt)
    placed_times: list[float] = []
    k = 0  # next turn
    for step in range(first, fed):
        stream.append(ids.vision)
        targets.append(False)
        if k < len(turns) and step / sps >= turns[k] - 1e-9:
            body = text_ids(tokenizer, texts[targets_of_turns[k]], max_feedback_tokens)
            stream += [ids.answer, *body, ids.answer_end]
            targets += [False] + [True] * (len(body) + 1)
            placed_times.append(turns[k])
            while k < len(turns) and step / sps >= turns[k] - 1e-9:
                k += 1
    return Sequence(
        tuple(prompt + stream),
        tuple(range(first, fed)),
        tuple(targets),
        len(prompt),
        tuple(placed_times),
        tuple(targets_of_turns[: len(placed_times)]),
        0,
    )


__all__ = [
    "STAGE2_SYSTEM",
    "turn_sequence",
    "STAGE3_SYSTEM",
    "Sequence",
    "turn_targets",
    "turn_times",
    "clip_sequence",
    "prompt_ids",
    "segment_sequence",
    "text_ids",
]
