"""Cross-attention adapters of Stream-VLM, hooked onto unmodified Hugging Face decoder layers.

Flow: feature step [N, C] (N = H*W spatial vectors) + hidden state of its ``<vision>`` token
-> one cross-attention block -> added to that hidden state at the end of the decoder layer.
Text positions pass unchanged. The base model is never edited: a forward hook on each chosen
decoder layer rewrites its output, so the LM's state-dict keys stay those of Hugging Face
(torchtune's FusionLayer idea, without re-parenting the layer) and any causal LM with a list of
decoder layers works.

Maths (shared/spec/stream-vlm.md), for a ``<vision>`` hidden state h [D] and features F [N, C]:
    q = Wq h                       (D -> width, no bias)        hidden_attn_fc
    K = Wk F                       (C -> width, no bias)        feat_attn_keys_fc
    V = W2 GELU(W1 LN(F))          (C -> C -> width, no biases)  vision_projector.{0,1,3}
    a = softmax(q K^T / sqrt(width / heads)) V
    h <- h + Wo a                  (width -> D, no bias)        out_fc
Module names follow the published checkpoint so the importer is a prefix rename.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from livefit.model.config import AdapterConfig


class CrossAttentionAdapter(nn.Module):
    """One cross-attention block: <vision> hidden states attend to their own step's features."""

    def __init__(self, hidden_size: int, config: AdapterConfig) -> None:
        super().__init__()
        if config.width % config.heads:
            raise ValueError(
                f"adapter width {config.width} is not divisible by {config.heads} heads"
            )
        c, w = config.feature_dim, config.width
        self.heads = config.heads
        self.hidden_attn_fc = nn.Linear(hidden_size, w, bias=False)
        self.feat_attn_keys_fc = nn.Linear(c, w, bias=False)
        self.vision_projector = nn.Sequential(
            nn.LayerNorm(c), nn.Linear(c, c, bias=False), nn.GELU(), nn.Linear(c, w, bias=False)
        )
        self.out_fc = nn.Linear(w, hidden_size, bias=False)
        self.reset_parameters(config)

    def reset_parameters(self, config: AdapterConfig) -> None:
        for module in (self.hidden_attn_fc, self.feat_attn_keys_fc, self.out_fc):
            nn.init.normal_(module.weight, std=config.init_std)
        for i in (1, 3):
            nn.init.normal_(self.vision_projector[i].weight, std=config.init_std)
        self.vision_projector[0].reset_parameters()
        if config.zero_init_out:
            nn.init.zeros_(self.out_fc.weight)

    def forward(self, hidden: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """hidden [M, D], features [M, N, C] -> the update to add to ``hidden``, [M, D]."""
        m, n = features.shape[:2]
        h = self.heads
        q = self.hidden_attn_fc(hidden).view(m, h, 1, -1)  # (M, H, 1, W/H)
        k = self.feat_attn_keys_fc(features).view(m, n, h, -1).transpose(1, 2)  # (M, H, N, W/H)
        v = self.vision_projector(features).view(m, n, h, -1).transpose(1, 2)  # (M, H, N, W/H)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (M, H, 1, N)
        attn = torch.softmax(scores.float(), dim=-1).to(v.dtype)
        out = (attn @ v).reshape(m, -1)  # (M, W)
        return self.out_fc(out)


@dataclass
class VisionContext:
    """Where the current forward call has <vision> tokens and which features each one sees.

    ``rows``/``cols`` index the <vision> positions of the [B, T] input (sparse form, any T);
    ``features`` [M, N, C] holds one step per position, in the same order.
    """

    rows: torch.Tensor | None  # (M,) long; None: dense (every position is a <vision>)
    cols: torch.Tensor | None  # (M,) long
    features: torch.Tensor  # (M, N, C); dense: M = B * T in row-major order
    times: torch.Tensor | None = None  # (M,) seconds of each step (time features), or None


class AdapterHooks:
    """Forward hooks that apply ``adapters[str(layer)]`` to the output of decoder ``layer``."""

    def __init__(self, decoder_layers: nn.ModuleList, adapters: nn.ModuleDict) -> None:
        self.context: VisionContext | None = None
        self._handles = []
        for name, adapter in adapters.items():
            layer = decoder_layers[int(name)]
            self._handles.append(layer.register_forward_hook(self._make_hook(adapter)))

    def _make_hook(self, adapter: nn.Module):
        def hook(module: nn.Module, args: tuple, output: object) -> object:
            ctx = self.context
            if ctx is None or ctx.features.shape[0] == 0:
                return output
            # Decoder layers return a tensor (transformers >= 4.56) or a tuple led by one.
            hidden = output[0] if isinstance(output, tuple) else output  # (B, T, D)
            feats = ctx.features.to(hidden.dtype)
            if ctx.rows is None:  # static shapes, no indexing: the streaming/compiled path
                update = adapter(hidden.flatten(0, 1), feats)  # (B*T, D)
                hidden = hidden + update.view_as(hidden).to(hidden.dtype)
            else:
                picked = hidden[ctx.rows, ctx.cols]  # (M, D)
                update = adapter(picked, feats)  # (M, D)
                hidden = hidden.index_put((ctx.rows, ctx.cols), picked + update.to(hidden.dtype))
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        return hook

    @contextmanager
    def use(self, context: VisionContext | None) -> Iterator[None]:
        """Set the vision context for the duration of one forward call."""
        previous, self.context = self.context, context
        try:
            yield
        finally:
            self.context = previous

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


class TimeEmbedding(nn.Module):
    """Extra (``AdapterConfig.time_features``): times [M] -> sinusoids [M, 2F] -> a learned
    update [M, D] of the ``<vision>`` tokens' input embeddings (zero at init)."""

    def __init__(self, hidden_size: int, config: AdapterConfig) -> None:
        super().__init__()
        n = config.time_features
        periods = torch.logspace(math.log10(0.5), math.log10(config.time_max_period), n)
        self.register_buffer("omega", 2 * math.pi / periods, persistent=False)  # (F,)
        self.proj = nn.Linear(2 * n, hidden_size, bias=False)
        nn.init.zeros_(self.proj.weight)

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        angles = times.float()[:, None] * self.omega  # (M, F)
        waves = torch.cat([angles.sin(), angles.cos()], dim=-1)  # (M, 2F)
        return self.proj(waves.to(self.proj.weight.dtype))  # (M, D)


def find_decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of decoder layers of a Hugging Face causal LM (LLaMA, Mistral, Qwen, GPT-2, ...)."""
    n = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    for path in ("model.layers", "transformer.h", "model.decoder.layers", "gpt_neox.layers"):
        module: nn.Module | None = model
        for part in path.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList) and (n is None or len(module) == n):
            return module
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"{type(model).__name__}: cannot find its list of {n} decoder layers")


__all__ = [
    "AdapterHooks",
    "CrossAttentionAdapter",
    "TimeEmbedding",
    "VisionContext",
    "find_decoder_layers",
]
