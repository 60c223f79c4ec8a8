"""The language model under StreamVLM, as a plain Hugging Face model: dtype names, loading one
from a local folder, and resizing its vocabulary for the action tokens.

Below both ``livefit.model.stream_vlm`` (which builds a new model with them) and
``livefit.model.checkpoint`` (which rebuilds a saved one), so neither needs the other's
internals: stream_vlm -> checkpoint -> lm.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from livefit.model.hf_folder import SAFE_LOAD, open_folder

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def torch_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}: expected one of {sorted(DTYPES)}")
    return DTYPES[name]


def load_lm(path: str | Path, dtype: torch.dtype) -> nn.Module:
    """An LM from a local Hugging Face directory; a clear error when it is not one."""
    from transformers import AutoModelForCausalLM

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: not a Hugging Face model directory (no config.json)")
    return open_folder(
        path,
        "language model",
        lambda: AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, **SAFE_LOAD),
    )


@torch.no_grad()
def resize_vocab(lm: nn.Module, n_tokens: int, multiple: int) -> None:
    """Resize to ``n_tokens`` padded to ``multiple``; new rows = mean of the old (deterministic)."""
    old = lm.get_input_embeddings().weight.shape[0]
    target = -(-n_tokens // multiple) * multiple
    if target == old:
        return
    lm.resize_token_embeddings(target, mean_resizing=False)
    for emb in (lm.get_input_embeddings(), lm.get_output_embeddings()):
        if emb is not None and emb.weight.shape[0] == target and target > old:
            emb.weight[old:] = emb.weight[:old].mean(0, keepdim=True)


__all__ = ["DTYPES", "load_lm", "resize_vocab", "torch_dtype"]
