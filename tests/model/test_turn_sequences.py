"""The "w/o action tokens" ablation: a turn-based Stream-VLM (``turn_every_s``) answers at every
5 s turn and nowhere else, whatever its logits say; its training sequences are the engine's
token stream for it, and each turn's target is the ground truth's most recent line."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from test_sequences import Forced, random_segment

from livefit.data.prompts import single_exercise_prompt
from livefit.model.config import tiny_config
from livefit.model.sequences import turn_sequence, turn_targets, turn_times
from livefit.model.stream_vlm import StreamVLM
from livefit.stream.engine import EngineConfig, StreamEngine


def test_turn_times_every_5_s():
    assert turn_times(23.9) == [5.0, 10.0, 15.0, 20.0]
    assert turn_times(25.0) == [5.0, 10.0, 15.0, 20.0, 25.0]
    assert turn_times(4.0) == []
    with pytest.raises(ValueError, match="interval"):
        turn_times(10.0, 0.0)


def test_turn_targets_most_recent_line_else_nearest():
    times = [1.0, 3.0, 12.5, 19.0]
    texts = ["a", "b", "c", "d"]
    # (.., 5]: a, b -> b; (5, 10]: none -> nearest to 10 is c (12.5); (10, 15]: c; (15, 20]: d;
    # (20, 25]: none -> d (19.0).
    assert turn_targets(times, texts, [5, 10, 15, 20, 25]) == [1, 2, 2, 3, 3]
    # A tie goes to the earlier line; empty lines never count.
    assert turn_targets([2.0, 8.0], ["x", "y"], [5.0]) == [0]
    assert turn_targets([4.0, 6.0], [" ", "y"], [5.0]) == [1]
    assert turn_targets([1.0], [""], [5.0]) == []


class Turned(Forced):
    """``Forced`` for a turn-based model: exposes the model's config to the engine."""

    def __init__(self, model, script, always: int | None = None):
        super().__init__(model, script)
        self.config, self.always = model.config, always

    def __call__(self, input_ids, features, **kwargs):
        out = super().__call__(input_ids, features, **kwargs)
        if self.always is not None:  # a model that always wants this token outside a line
            out.logits[0, -1, self.always] = 1e9
        return out


@pytest.fixture(scope="module")
def turn_model():
    return StreamVLM.from_config(replace(tiny_config(), turn_every_s=5.0)).eval()


@pytest.mark.parametrize("seed", range(4))
def test_engine_replays_a_turn_sequence(turn_model, seed):
    model = turn_model
    n_steps, times, texts = random_segment(seed)
    system = single_exercise_prompt("squats")
    seq = turn_sequence(model.tokenizer, model.ids, system, n_steps, times, texts, 5.0)
    assert seq is not None
    forced = Turned(model, list(seq.stream[1:]))
    engine = StreamEngine(forced, EngineConfig())
    steps = torch.randn(n_steps, 35, 64, generator=torch.Generator().manual_seed(seed))
    with engine.start(system, total_steps=n_steps - 1) as session:
        for step in steps[:-1]:
            list(session.push(step))
    stream = list(seq.stream)
    assert session.tokens[: len(stream)] == stream
    assert session.fed_steps == list(seq.steps)  # nothing skipped while it talks
    fed_until = (n_steps - 2) / 4
    assert [t for t, _ in session.feedbacks] == turn_times(fed_until) == list(seq.times)
    assert [s for _, s in session.feedbacks] == [texts[k] for k in seq.placed]
    # Loss on the answers' text and <answer/> only: never on a forced token.
    ids = model.ids
    for token, target in zip(seq.ids, seq.targets, strict=True):
        if token in (ids.vision, ids.answer):
            assert not target


@pytest.mark.parametrize("wants", ["answer", "vision"])
def test_the_engine_decides_when_a_turn_based_model_speaks(turn_model, wants):
    ids = turn_model.ids
    model = Turned(turn_model, [], always=ids.answer if wants == "answer" else ids.vision)
    engine = StreamEngine(model, EngineConfig())
    with engine.start(single_exercise_prompt("squats"), total_steps=60) as session:
        for step in torch.zeros(60, 35, 64):
            list(session.push(step))
    # Paper clock: steps 1..59 are fed, one <vision> each, plus the one waiting for step 60.
    assert session.fed_steps == list(range(1, 60))
    assert session.tokens.count(ids.vision) == 60
    # <answer> comes right after the <vision> of steps 20 and 40 (5 s and 10 s), nowhere else.
    visions = [i for i, t in enumerate(session.tokens) if t == ids.vision]
    starts = [i for i, t in enumerate(session.tokens) if t == ids.answer]
    assert starts == [visions[19] + 1, visions[39] + 1]
