"""Helpers of the streaming tests: tiny Stream-VLMs whose action tokens compete, random steps."""

from __future__ import annotations

import torch

from livefit.model.config import tiny_config
from livefit.model.stream_vlm import StreamVLM

torch.set_num_threads(1)  # tiny models: threads only add contention on a shared box


def talkative(seed: int) -> StreamVLM:
    """A random tiny model whose <vision>/<answer>/<answer/> logits are scaled up so that the
    greedy stream mixes watching, speaking and stopping (a plain random model only watches)."""
    cfg = tiny_config()
    model = StreamVLM.from_config(tiny_config(tiny_lm=type(cfg.tiny_lm)(seed=seed))).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for adapter in model.adapters.values():
            adapter.out_fc.weight.mul_(20.0)  # features matter for the decisions
        head = torch.randn(model.special.head.shape, generator=g) * 0.6
        head[2] *= 0.1  # <answer/> rarely wins on its own: feedbacks end by length too
        model.special.head.copy_(head)
    return model


def random_steps(n: int, seed: int, c: int = 64) -> torch.Tensor:
    """n feature steps [n, 35, C]."""
    return torch.randn(n, 35, c, generator=torch.Generator().manual_seed(seed))
