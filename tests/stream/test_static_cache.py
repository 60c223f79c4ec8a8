"""The static-cache engine (fixed slots, a 4D mask, what torch.compile / CUDA graphs need) decodes
exactly like the growing-cache engine, bounded or not, compiled or not."""

from __future__ import annotations

import pytest
import torch
from stream_helpers import random_steps
from test_engine import PROMPT, run_engine

from livefit.stream.cache import StaticStreamCache
from livefit.stream.engine import EngineConfig, StreamEngine

BASE = dict(constraint="mask", max_feedback_tokens=6)


def static(**kw) -> EngineConfig:
    return EngineConfig(**{**BASE, "cache": "static", "cache_capacity": 1024, **kw})


@pytest.mark.parametrize("index", [0, 1, 2])
def test_static_cache_decodes_like_the_growing_cache(models, index):
    steps = random_steps(40, seed=index)
    growing, grown_events = run_engine(models[index], steps, EngineConfig(**BASE))
    fixed, fixed_events = run_engine(models[index], steps, static())
    assert fixed.tokens == growing.tokens
    assert fixed_events == grown_events
    assert isinstance(fixed.cache, StaticStreamCache)
    assert fixed.cache_tokens == growing.cache_tokens


def test_static_cache_evicts_like_the_growing_cache(models):
    """Sink + window eviction moves slots in place; the kept keys and positions are the same."""
    window = dict(window_tokens=48, evict_every=16)
    steps = random_steps(120, seed=5)
    growing, _ = run_engine(models[1], steps, EngineConfig(**BASE, **window), total=False)
    fixed, _ = run_engine(models[1], steps, static(cache_capacity=128, **window), total=False)
    assert growing.position > 250  # several evictions happened
    assert fixed.tokens == growing.tokens
    assert fixed.cache_tokens <= len(fixed.prompt) + 48 + 16
    assert fixed.cache.capacity == 128  # fixed size: bounded memory by construction


def test_compiled_step_decodes_like_eager_without_graph_breaks(models):
    """torch.compile of the one-token step (the eager backend checks the tracing only; the CUDA
    graph needs a GPU). Closed sessions hand their cache back, so a second session reuses the
    compiled step instead of tracing again."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    steps = random_steps(24, seed=2)
    eager, _ = run_engine(models[2], steps, static())
    engine = StreamEngine(models[2], static(compile=True, compile_backend="eager"))
    tokens = []
    for _ in range(2):
        with engine.start(PROMPT, total_steps=len(steps) - 1) as session:
            for step in steps[:-1]:
                list(session.push(step))
            tokens.append(session.tokens)
        if not counters["stats"]["unique_graphs"]:
            pytest.fail("nothing was compiled")
        graphs = counters["stats"]["unique_graphs"]
    assert tokens[0] == eager.tokens and tokens[1] == eager.tokens
    assert dict(counters["graph_break"]) == {}
    assert graphs <= 2  # one graph for <vision> steps, one for text tokens; none for session 2
    assert len(engine._free_caches) == 1


def test_static_cache_limits_are_clear_errors(models):
    with pytest.raises(ValueError, match="compile needs cache='static'"):
        StreamEngine(models[0], EngineConfig(compile=True))
    with pytest.raises(ValueError, match="cannot hold"):
        StreamEngine(models[0], static(cache_capacity=8)).start(PROMPT)
    with pytest.raises(ValueError, match="cannot hold"):
        StreamEngine(models[0], static(cache_capacity=64, window_tokens=48)).start(PROMPT)
    session = StreamEngine(models[0], static(cache_capacity=40)).start(PROMPT)
    with pytest.raises(RuntimeError, match="static KV cache full"):
        for step in random_steps(60, seed=0):
            list(session.push(step))
    session.close()
    with pytest.raises(RuntimeError, match="closed session"):
        list(session.push(random_steps(1, seed=0)[0]))
