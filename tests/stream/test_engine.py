"""The streaming engine against the naive full-recomputation reference, and its rules on
hand-made token streams (constrained decoding, blind steps, both clocks)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from naive_reference import naive_generate, parity_times
from stream_helpers import random_steps

from livefit.model.tokens import SpecialIds
from livefit.stream.engine import (
    EngineConfig,
    PositionTableWarning,
    StreamEngine,
    position_table_size,
    sentence_starts,
)

PROMPT = "You are a coach. The user should be doing squats."


def run_engine(model, steps, config, total=True):
    """Push steps 0..N-2 (the reference never feeds the last one) and collect the events."""
    engine = StreamEngine(model, config)
    pushed = steps[:-1]
    session = engine.start(PROMPT, total_steps=len(pushed) if total else None)
    events = [ev for step in pushed for ev in session.push(step)]
    return session, events


@pytest.mark.parametrize("index", [0, 1, 2])
def test_greedy_stream_equals_naive_reference(models, index):
    model = models[index]
    steps = random_steps(40, seed=index)
    config = EngineConfig(constraint="mask", max_feedback_tokens=6)
    session, events = run_engine(model, steps, config)
    prompt = session.prompt
    naive = naive_generate(model, prompt, steps, max_feedback_tokens=6, constraint="mask")
    assert session.tokens == naive[len(prompt) - 1 :]
    # The stream is not trivial: it watches, speaks and is blind after speaking.
    v, a, e = model.ids.as_tuple()
    assert session.tokens.count(a) >= 3 and session.tokens.count(e) >= 3
    assert any(ev.kind == "dropped" for ev in events[1:])
    # Paper-clock times equal the spec's parity formula applied to the naive stream.
    got = [(ev.time, ev.text) for ev in events if ev.kind == "feedback"]
    assert got == parity_times(naive, model)
    assert session.feedbacks == got


def test_force_constraint_equals_naive_reference(models):
    model = models[1]
    steps = random_steps(30, seed=7)
    session, _ = run_engine(model, steps, EngineConfig(max_feedback_tokens=6))
    naive = naive_generate(model, session.prompt, steps, max_feedback_tokens=6)
    assert session.tokens == naive[len(session.prompt) - 1 :]


def test_bounded_cache_equals_unbounded_when_window_covers_stream(models):
    model = models[2]
    steps = random_steps(30, seed=3)
    config = EngineConfig(constraint="mask", max_feedback_tokens=6)
    full, _ = run_engine(model, steps, config)
    big, _ = run_engine(model, steps, EngineConfig(**{**config.__dict__, "window_tokens": 10_000}))
    assert big.tokens == full.tokens


def test_bounded_cache_stays_bounded(models):
    model = models[1]
    config = EngineConfig(
        constraint="mask", max_feedback_tokens=6, window_tokens=48, evict_every=16
    )
    session, _ = run_engine(model, random_steps(120, seed=5), config, total=False)
    assert session.position > 250  # the stream is much longer than the budget
    assert session.cache_tokens <= len(session.prompt) + 48 + 16
    assert len(session.tokens) > 200


# -- hand-made token streams -------------------------------------------------------------------
V, A, E = 1, 2, 3  # the scripted vocabulary: 0 pad, 1-3 action tokens, 4.. letters


class LetterTokenizer:
    """Token 4 + i is letter i; decode joins letters."""

    def encode(self, text: str) -> list[int]:
        return [4 + (ord(ch) % 20) for ch in text[:3]]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(ord("a") + i - 4) for i in ids if i >= 4)


@dataclass
class Logits:
    logits: torch.Tensor


class ScriptedModel:
    """Emits a given token stream: the engine only calls model(ids, features, cache, ...)."""

    num_layers = 1
    device = torch.device("cpu")

    def __init__(self, script: list[int], vocab: int = 24, clock=None, cost: float = 0.0) -> None:
        self.script = list(script)
        self.vocab = vocab
        self.ids = SpecialIds(V, A, E)
        self.tokenizer = LetterTokenizer()
        self.calls: list[tuple[list[int], bool]] = []
        self.clock = clock
        self.cost = cost

    def feature_tokens(self, step):
        return torch.as_tensor(step, dtype=torch.float32)

    def __call__(
        self,
        input_ids,
        features,
        cache=None,
        position_ids=None,
        logits_to_keep=0,
        dense_vision=False,
    ):
        self.calls.append((input_ids[0].tolist(), features is not None))
        if self.clock is not None:
            self.clock.now += self.cost
        logits = torch.zeros(1, 1, self.vocab)
        logits[0, 0, self.script.pop(0) if self.script else V] = 1.0
        return Logits(logits)


class WordTokenizer:
    """Ids 4.. are words and pieces, some of which cannot begin a sentence."""

    words = {4: " one", 5: "Nice", 6: " in total!", 7: "ees", 8: "\u201cGo", 9: "3 more", 10: "'s"}

    def __len__(self) -> int:
        return 11

    def encode(self, text: str) -> list[int]:
        return [5]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.words.get(i, "") for i in ids)

    def batch_decode(self, batch: list[list[int]]) -> list[str]:
        return [self.decode(ids) for ids in batch]


class RankedModel(ScriptedModel):
    """Each script item is a token (the one choice) or a {token: logit} ranking."""

    def __init__(self, script: list) -> None:
        super().__init__(script, vocab=12)
        self.tokenizer = WordTokenizer()

    def __call__(self, input_ids, features, cache=None, position_ids=None, **_):
        item = self.script.pop(0) if self.script else V
        ranking = item if isinstance(item, dict) else {item: 1.0}
        logits = torch.full((1, 1, self.vocab), -5.0)
        for token, value in ranking.items():
            logits[0, 0, token] = value
        return Logits(logits)


def test_sentence_starts_are_capitals_digits_and_opening_quotes():
    starts = sentence_starts(WordTokenizer(), 12)  # 11: padding past the tokenizer
    assert starts.nonzero().flatten().tolist() == [5, 8, 9]  # not " one", "ees", "'s"


@pytest.mark.parametrize("on", [False, True])
def test_sentence_start_keeps_a_feedback_from_starting_mid_sentence(on):
    # After <answer> the model likes " one" best, then "Nice"; then " in total!" and the end.
    script = [A, {4: 3.0, 5: 2.0, E: 1.0}, 6, E, V]
    config = EngineConfig(blind_skip=False, drop_first_steps=0, sentence_start=on)
    session = StreamEngine(RankedModel(script), config).start("abc")
    push_all(session, 3)
    said = [text for _, text in session.feedbacks]
    assert said == (["Nice in total!"] if on else [" one in total!"])
    # Later tokens are free: " in total!" cannot begin a line but may continue one.


def test_sentence_start_lets_the_model_close_an_unstartable_feedback():
    # Nothing it wants can begin a sentence: it closes the feedback (nothing is said).
    script = [A, {4: 3.0, E: 2.0, 7: 1.0}, V]
    config = EngineConfig(blind_skip=False, drop_first_steps=0, sentence_start=True)
    session = StreamEngine(RankedModel(script), config).start("abc")
    push_all(session, 3)
    assert session.feedbacks == [] and session.tokens[:4] == [V, A, E, V]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def scripted_session(script, config=None, total_steps=None, clock=None, cost=0.0):
    model = ScriptedModel(script, clock=clock, cost=cost)
    engine = StreamEngine(model, config or EngineConfig())
    if clock is not None:
        engine.clock = clock
    return model, engine.start("abc", total_steps=total_steps)


def push_all(session, n, times=None):
    events = []
    for i in range(n):
        t = None if times is None else times[i]
        events += list(session.push(torch.zeros(35, 4), t=t))
    return events


def test_constraints_force_tokens():
    # Outside: a letter is forced to <vision>, <answer/> too. Inside: <vision> and <answer> end
    # the feedback; a feedback at max_feedback_tokens is cut.
    script = [7, E, A, 5, 6, V, A, 5, A, A, 5, 6, 7, 8, 9, V]
    config = EngineConfig(max_feedback_tokens=3, blind_skip=False, drop_first_steps=0)
    model, session = scripted_session(script, config)
    push_all(session, 8)
    tokens = session.tokens
    # script:       7  E  A  5  6  V  A  5  A  A  5  6  7  8  9  V
    assert tokens[:17] == [V, V, V, A, 5, 6, E, A, 5, E, A, 5, 6, 7, E, V, V]
    assert set(tokens[17:]) == {V}  # the script is over: the mock then always asks to watch
    assert [t for _, t in session.feedbacks] == ["bc", "b", "bcd"]
    # Only the new token is fed each time; <vision> comes with a feature step.
    assert model.calls[0] == ([4 + ord(ch) % 20 for ch in "abc"] + [V], True)
    assert all(len(ids) == 1 for ids, _ in model.calls[1:])
    assert all(feat == (ids[-1] == V) for ids, feat in model.calls)


def test_paper_clock_blind_steps_and_parity_times():
    # feedback 1: 6 letters (blind 2 steps); feedback 2: empty; feedback 3: 3 letters (blind 1).
    script = [V, V, A, 5, 5, 5, 5, 5, 5, E, V, A, E, V, V, A, 6, 6, 6, E, V]
    model, session = scripted_session(script)
    events = push_all(session, 14)
    dropped = [i for i, ev in enumerate(ev for ev in events if ev.kind == "dropped")]
    assert len(dropped) == 1 + 2 + 0 + 1  # first step, then floor(6/3), floor(0/3), floor(3/3)
    fb = [(ev.time, ev.text) for ev in events if ev.kind == "feedback"]
    # By hand: stream V V V A(3) ... E(10) V A(12) E(13) V V A(16) ... E(20).
    # k1: (3 - 1 - 1)/4 + 0 = 0.25; k2 empty: g = 0; k3: (16 - 13 - 1)/4 + 0 = 0.5 -> 0.75.
    assert fb == [(0.25, "bbbbbb"), (0.75, "ccc")]
    ids = [4 + ord(ch) % 20 for ch in "abc"] + session.tokens

    class Tok:
        decode = staticmethod(LetterTokenizer().decode)

    assert fb == parity_times(ids, type("M", (), {"ids": model.ids, "tokenizer": Tok})())


def test_paper_clock_gap_after_nonempty_feedback():
    script = [A, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, E, V, V, A, 6, E, V]
    _, session = scripted_session(script, EngineConfig(blind_skip=False))
    push_all(session, 6)
    # k1 at b=1: (1-1-1)/4 = -0.25 (the reference's quirk); g = (13-1)/12 = 1.0;
    # k2 at b=16: (16-13-1)/4 + 1.0 = 1.5 -> -0.25 + 1.5 = 1.25.
    assert session.feedbacks == [(-0.25, "b" * 11), (1.25, "c")]


def test_total_steps_stops_after_skip_past_the_end():
    # A 6-letter feedback makes the next 2 steps blind; only 1 more step will come: stop.
    script = [A, 5, 5, 5, 5, 5, 5, E, A, 5, E]
    model, session = scripted_session(script, EngineConfig(drop_first_steps=0), total_steps=2)
    events = push_all(session, 2)
    assert session.tokens[-1] == E and session.tokens.count(A) == 1
    assert events[-1].kind == "dropped"


def test_wall_clock_drop_policy():
    clock = FakeClock()
    # Each model call costs 0.1 s. Step 0 -> prefill then <answer> + 5 letters + </answer>.
    script = [A, 5, 5, 5, 5, 5, E, V, V, V]
    config = EngineConfig(clock="wall")
    model, session = scripted_session(script, config, clock=clock, cost=0.1)
    events = push_all(session, 5, times=[0.0, 0.25, 0.5, 0.75, 1.0])
    fb = [ev for ev in events if ev.kind == "feedback"]
    # <answer> chosen after the prefill call: 0.1 s after arrival at 0.0.
    assert fb[0].time == pytest.approx(0.1)
    # Decoding ends after 1 + 6 calls = 0.7 s: steps at 0.25 and 0.5 are dropped.
    kinds = [ev.kind for ev in events if ev.kind == "dropped"]
    assert len(kinds) == 2
    assert session.steps_seen == 3


def test_wall_clock_busy_while_speaking():
    # As test_wall_clock_drop_policy, but the 5-letter feedback is also "spoken" at 12 tokens/s:
    # busy until 0.7 + 5 / 12 = 1.117 s, so the steps at 0.25 ... 1.0 are all dropped.
    script = [A, 5, 5, 5, 5, 5, E, V, V, V]
    config = EngineConfig(clock="wall", busy_while_speaking=True)
    _, session = scripted_session(script, config, clock=FakeClock(), cost=0.1)
    events = push_all(session, 6, times=[0.0, 0.25, 0.5, 0.75, 1.0, 1.25])
    assert [ev.time for ev in events if ev.kind == "dropped"] == [0.25, 0.5, 0.75, 1.0]
    assert session.steps_seen == 2


def test_wall_clock_queue_policy():
    clock = FakeClock()
    script = [A, 5, 5, 5, 5, 5, E, V, A, 6, E, V, V]
    config = EngineConfig(clock="wall", busy_policy="queue")
    _, session = scripted_session(script, config, clock=clock, cost=0.1)
    push_all(session, 4, times=[0.0, 0.25, 0.5, 0.75])
    assert session.steps_seen == 4  # nothing dropped
    # Step 0: 8 calls (prefill, <answer>, 5 letters, <answer/>) -> busy until 0.8. Step 1
    # (arrived 0.25) is queued: fed at 0.8, its <answer> is chosen one call later, at 0.9.
    assert [round(t, 6) for t, _ in session.feedbacks] == [0.1, 0.9]


def test_sampling_is_seeded(models):
    model = models[1]
    steps = random_steps(12, seed=9)
    runs = []
    for seed in (0, 0, 1):
        config = EngineConfig(
            constraint="mask", do_sample=True, temperature=1.5, seed=seed, max_feedback_tokens=6
        )
        session, _ = run_engine(model, steps, config)
        runs.append(session.tokens)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_bad_config_is_a_clear_error(models):
    with pytest.raises(ValueError, match="unknown clock"):
        StreamEngine(models[0], EngineConfig(clock="sundial"))  # type: ignore[arg-type]


@pytest.mark.parametrize("cache", ["growing", "static"])
@pytest.mark.parametrize("arch", ["gpt2", "qwen2"])
def test_other_hf_architectures_stream_like_the_naive_reference(arch, cache):
    """Not only LLaMA: GPT-2 (``transformer.h``, fused attention) and Qwen2 (biased q/k/v)."""
    from transformers import GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM

    from livefit.model.config import AdapterConfig, tiny_config
    from livefit.model.stream_vlm import StreamVLM
    from livefit.model.tokenizer import train_tokenizer

    tok = train_tokenizer(vocab_size=300)
    torch.manual_seed(0)
    if arch == "gpt2":
        lm = GPT2LMHeadModel(
            GPT2Config(
                vocab_size=320,
                n_embd=64,
                n_layer=3,
                n_head=4,
                n_positions=2048,
                bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id,
            )
        )
    else:
        lm = Qwen2ForCausalLM(
            Qwen2Config(
                vocab_size=320,
                hidden_size=64,
                num_hidden_layers=3,
                num_attention_heads=4,
                num_key_value_heads=2,
                intermediate_size=128,
                tie_word_embeddings=False,
            )
        )
    config = tiny_config(adapter=AdapterConfig(layers=(0, 2), width=32, feature_dim=64))
    model = StreamVLM(config, lm.eval(), tok).eval()
    with torch.no_grad():
        for adapter in model.adapters.values():
            adapter.out_fc.weight.mul_(20.0)
        head = torch.randn(3, 64, generator=torch.Generator().manual_seed(0)) * 2
        head[2] *= 0.1
        model.special.head.copy_(head)
    steps = random_steps(16, seed=1)
    # A random LM may loop on empty feedbacks: the engine's safety rule (mirrored by the naive
    # reference) bounds the tokens per step. The naive reference is the paper's loop, which lets
    # the model choose again after an empty feedback: so does the engine by default.
    config = EngineConfig(
        constraint="mask",
        max_feedback_tokens=5,
        max_tokens_per_step=24,
        cache=cache,
        cache_capacity=1024,
    )
    session, _ = run_engine(model, steps, config)
    naive = naive_generate(
        model,
        session.prompt,
        steps,
        max_feedback_tokens=5,
        constraint="mask",
        max_tokens_per_step=24,
    )
    assert session.tokens == naive[len(session.prompt) - 1 :]
    assert session.tokens.count(model.ids.answer) >= 3
    assert session.tokens.count(model.ids.vision) >= 3


# -- degenerate models --------------------------------------------------------------------------
class EmptyTalker(ScriptedModel):
    """A degenerate model: opens a feedback whenever it may and closes it at once, forever."""

    def __call__(self, input_ids, features, **kwargs):
        super().__call__(input_ids, features, **kwargs)
        logits = torch.zeros(1, 1, self.vocab)
        logits[0, 0, E if int(input_ids[0, -1]) == A else A] = 1.0
        return Logits(logits)


def empty_talker_session(config: EngineConfig, positions: int | None = None):
    model = EmptyTalker([])
    if positions is not None:
        model.max_positions = positions
    return model, StreamEngine(model, config).start("abc")


def test_with_watch_after_empty_an_empty_feedback_is_a_decision_to_watch():
    model, session = empty_talker_session(EngineConfig(watch_after_empty=True))
    events = push_all(session, 9)
    # Step 0 is dropped (paper clock); each later step: <vision> fed, <answer>, <answer/>, then
    # <vision> for the next step: three tokens and three forwards, whatever the model wants.
    assert session.tokens == [V] + [A, E, V] * 8
    assert len(model.calls) == 3 * 8
    assert (session.tokens_per_step, session.max_step_tokens, session.budget_hits) == (3.0, 3, 0)
    assert [ev.kind for ev in events] == ["dropped"] + ["answer"] * 8
    assert session.feedbacks == []  # empty feedbacks are not reported, and skip no step


def test_by_default_an_empty_talker_spends_the_budget_on_every_step():
    config = EngineConfig()  # the paper's loop: the model chooses again after an empty feedback
    assert config.max_tokens_per_step == 2 * (128 + 2) + 1  # was 1,024
    model, session = empty_talker_session(config)
    push_all(session, 3)
    # 261 chosen (the last an <answer>), then the forced <answer/> and <vision>
    assert session.budget_hits == 2 and session.max_step_tokens == 261 + 2
    assert session.tokens_per_step == 263.0


def test_a_normal_stream_reports_tokens_per_step():
    # step 1: <answer> b c <answer/> <vision> (5 tokens); steps 2-3 blind (paper clock off here)
    script = [A, 5, 6, E, V, V, V]
    config = EngineConfig(blind_skip=False, drop_first_steps=0)
    _, session = scripted_session(script, config)
    assert session.tokens_per_step == 0.0
    push_all(session, 3)
    assert session.tokens == [V, A, 5, 6, E, V, V, V]
    assert session.max_step_tokens == 5 and session.tokens_per_step == 7 / 3
    assert session.warnings == [] and session.budget_hits == 0


def test_a_stream_warns_once_before_passing_the_position_table():
    # prompt "abc" + <vision>: positions 0-3; then one <vision> per step (the talker is muted by
    # a script that only watches).
    model = ScriptedModel([])
    model.max_positions = 10
    session = StreamEngine(model, EngineConfig(drop_first_steps=0)).start("abc")
    push_all(session, 7)  # positions 0..9: inside the table
    assert session.warnings == []
    with pytest.warns(PositionTableWarning, match="window_tokens") as caught:
        push_all(session, 5)
    assert len(caught) == 1 and len(session.warnings) == 1
    assert "position 11" in session.warnings[0] and "(10 positions)" in session.warnings[0]
    assert model.calls[-1] == ([V], True)  # warned, then went on


def test_position_table_of_real_models(models):
    lm = models[0].base_lm
    assert position_table_size(models[0]) == lm.config.max_position_embeddings
    assert position_table_size(ScriptedModel([])) is None
