"""Training sequences are the streaming engine's paper clock run backward: teacher-forcing a
stage-3 sequence through the engine reproduces its token stream, the steps its <vision> tokens
read and the ground-truth feedback times (within one step), and the training forward gives the
engine's logits at every decision."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import pytest
import torch

from livefit.data.prompts import single_exercise_prompt
from livefit.model.clock import PaperClock
from livefit.model.config import tiny_config
from livefit.model.sequences import (
    STAGE2_SYSTEM,
    clip_sequence,
    prompt_ids,
    segment_sequence,
    text_ids,
)
from livefit.model.stream_vlm import StreamVLM
from livefit.stream.engine import EngineConfig, StreamEngine

LINES = [
    "Nice, you got started right away!",
    "Go lower into the squat.",
    "That's five, keep it up, looking strong!",
    "Perfect form, well done, keep going!",
    "Great job on the squats!",
    "Keep your back straight and your chest up, you are doing great today!",
]


@dataclass
class Out:
    logits: torch.Tensor


class Forced:
    """Wraps a StreamVLM so that the engine's greedy choice follows a script (the teacher),
    recording the logits the real model gave at each decision."""

    def __init__(self, model, script: list[int]):
        self.model, self.script, self.seen = model, list(script), []
        self.ids, self.tokenizer, self.num_layers = model.ids, model.tokenizer, model.num_layers
        self.device, self.feature_tokens = model.device, model.feature_tokens
        self.uses_vision_times = model.uses_vision_times

    def __call__(self, input_ids, features, **kwargs):
        out = self.model(input_ids, features, **kwargs)
        self.seen.append(out.logits[0, -1].clone())
        forced = torch.full_like(out.logits, -1e9)
        forced[0, -1, self.script.pop(0) if self.script else self.ids.vision] = 0.0
        return Out(forced)


def random_segment(seed: int) -> tuple[int, list[float], list[str]]:
    rng = random.Random(seed)
    n_steps = rng.randint(60, 140)
    times, t = [], rng.uniform(-0.5, 3.0)
    while t < n_steps / 4 + 2:
        times.append(round(t, 3))
        t += rng.uniform(0.3, 7.0)  # sometimes closer than the previous line takes to say
    texts = [rng.choice(LINES) for _ in times]
    return n_steps, times, texts


def run_forced(model, seq, n_steps: int, system: str):
    forced = Forced(model, list(seq.stream[1:]))
    engine = StreamEngine(forced, EngineConfig())
    steps = torch.randn(n_steps, 35, 64, generator=torch.Generator().manual_seed(n_steps))
    with engine.start(system, total_steps=n_steps - 1) as session:
        for step in steps[:-1]:  # what ``predict`` feeds: every step but the last
            list(session.push(step))
    return session, forced, steps


@pytest.mark.parametrize("seed", range(6))
def test_engine_replays_a_segment_sequence_at_its_times(model, seed):
    n_steps, times, texts = random_segment(seed)
    system = single_exercise_prompt("squats")
    seq = segment_sequence(model.tokenizer, model.ids, system, n_steps, times, texts)
    session, _, _ = run_forced(model, seq, n_steps, system)
    # The token stream, and the step every <vision> read.
    stream = list(seq.stream)
    assert session.tokens[: len(stream)] == stream
    assert set(session.tokens[len(stream) :]) <= {model.ids.vision}  # never fed
    assert session.fed_steps == list(seq.steps)
    # The engine reports the sequence's times, which are the ground truth's within one step
    # wherever the previous line's speaking time allows it.
    assert [t for t, _ in session.feedbacks] == list(seq.times)
    assert [text for _, text in session.feedbacks] == [texts[k] for k in seq.placed]
    assert len(seq.placed) + seq.unplaced == len(times)
    earliest = [True] + [False] * (len(seq.placed) - 1)
    for i, (k, t) in enumerate(zip(seq.placed, seq.times, strict=True)):
        if i > 0:  # could the engine have said it earlier? only if it was not forced late
            gap = (len(text_ids(model.tokenizer, texts[seq.placed[i - 1]])) + 1) / 12
            earliest[i] = times[k] >= seq.times[i - 1] + gap
        if earliest[i] and times[k] > -0.25:
            assert abs(t - times[k]) <= 0.125 + 1e-9
        else:
            assert t >= times[k] - 1e-9  # said as soon as the stream allowed
    # Unplaced lines are the ones after the last step the engine feeds.
    for k in range(len(times)):
        if k not in seq.placed:
            assert times[k] > (n_steps - 1 - 1) / 4 - 0.5


@pytest.fixture(scope="module")
def timed_model():
    """A tiny model with time features (an extra), their projection randomised."""
    cfg = tiny_config()
    cfg = replace(cfg, adapter=replace(cfg.adapter, time_features=4))
    m = StreamVLM.from_config(cfg).eval()
    with torch.no_grad():
        m.time_embedding.proj.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    return m


@pytest.mark.parametrize("timed", [False, True], ids=["paper", "time-features"])
def test_training_forward_gives_the_engine_logits(model, timed_model, timed):
    model = timed_model if timed else model
    n_steps, times, texts = random_segment(3)
    system = single_exercise_prompt("push ups")
    seq = segment_sequence(model.tokenizer, model.ids, system, n_steps, times, texts)
    session, forced, steps = run_forced(model, seq, n_steps, system)
    feats = steps[list(seq.steps)][None]  # (1, S, N, C): the k-th <vision> reads steps[k]
    step_times = torch.tensor(seq.steps, dtype=torch.float32)[None] / 4  # the paper clock's
    with torch.no_grad():
        logits = model(torch.tensor([seq.ids]), feats, vision_times=step_times).logits[0]
    if timed:  # the times matter: other times, other logits
        with torch.no_grad():
            shifted = model(torch.tensor([seq.ids]), feats, vision_times=step_times + 1).logits[0]
        assert not torch.allclose(shifted, logits, atol=1e-3)
    # Decision j (after stream token j) is the forward of position prompt_length + j.
    start = seq.prompt_length
    stream_len = len(seq.stream)
    assert len(forced.seen) >= stream_len - 1
    for j in range(stream_len - 1):
        assert torch.allclose(forced.seen[j], logits[start + j], atol=1e-4), j
    # The loss is on exactly the tokens the model produced (all but the prompt and first V).
    assert seq.targets == tuple([False] * (start + 1) + [True] * (stream_len - 1))


def test_blind_steps_and_end_of_stream():
    class Tok:
        def encode(self, text, add_special_tokens=True):
            return ([1] if add_special_tokens else []) + [10] * len(text)

    from livefit.model.tokens import SpecialIds

    ids = SpecialIds(5, 6, 7)
    clock = PaperClock()
    # 20 steps: steps 1..18 are fed. Line of 6 tokens at 1.0 s: after V0 (step 1) the parity
    # time of m more <vision> is (m - 1) / 4, so m = 5 (steps 2..6); then 2 blind steps.
    seq = segment_sequence(Tok(), ids, "ab", 20, [1.0, 100.0], ["x" * 6, "y"], clock)
    assert seq.stream[:6] == (5,) * 6 and seq.stream[6] == 6
    assert seq.steps[:6] == (1, 2, 3, 4, 5, 6)
    assert seq.steps[6] == 6 + 1 + 2  # two steps not seen after a 6-token line
    assert seq.steps[-1] == 18 and seq.times == (1.0,) and seq.unplaced == 1
    # A long line near the end: blind past the last step, the stream stops after <answer/>.
    seq = segment_sequence(Tok(), ids, "ab", 20, [4.0, 4.5], ["x" * 30, "y"], clock)
    assert seq.stream[-1] == 7 and seq.unplaced == 1
    assert PaperClock(blind_skip=False).blind_steps(30) == 0 and clock.blind_steps(30) == 10


def test_clip_sequence_layout(model):
    tok, ids = model.tokenizer, model.ids
    seq = clip_sequence(tok, ids, 5, "What exercise is the user doing?", "Squats.")
    prompt = prompt_ids(tok, STAGE2_SYSTEM)
    question = text_ids(tok, "What exercise is the user doing?")
    answer = text_ids(tok, "Squats.")
    assert seq.ids == tuple(
        prompt + [ids.vision] * 5 + question + [ids.answer, *answer, ids.answer_end]
    )
    assert seq.steps == (0, 1, 2, 3, 4)
    targets = [i for i, t in enumerate(seq.targets) if t]
    p = len(prompt)
    assert targets == [*range(p + 1, p + 5), *range(p + 5 + len(question), len(seq.ids))]
    assert tok.decode(list(seq.ids[-len(answer) - 1 : -1])) == "Squats."
