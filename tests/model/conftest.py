"""Tiny Stream-VLMs for the model tests."""

from __future__ import annotations

import pytest
import torch

from livefit.model.config import LoRAConfig, tiny_config
from livefit.model.stream_vlm import StreamVLM

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def model() -> StreamVLM:
    return StreamVLM.from_config(tiny_config()).eval()


@pytest.fixture(scope="session")
def lora_model() -> StreamVLM:
    """A LoRA model whose LoRA is not a no-op (lora_B starts at zero in peft)."""
    m = StreamVLM.from_config(tiny_config(lora=LoRAConfig(r=4))).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return m
