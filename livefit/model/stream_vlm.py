"""StreamVLM: a Hugging Face causal LM + cross-attention adapters + the three action tokens.

Flow position: feature steps from ``livefit.vision`` (each [N, C]) and token ids in, next-token
logits out; ``livefit.stream`` runs it live one token at a time through ``forward(ids, cache)``
and ``livefit.train`` trains it with the same ``forward`` on whole sequences.

The LM is any ``AutoModelForCausalLM`` (a tiny LLaMA built from a config, or LLaMA-2-7B from a
local path), left unmodified: adapters are forward hooks on its decoder layers, the special tokens
have their own parameters (``SpecialTokenParams``), LoRA comes from ``peft``. Which parts train
is set by the config flags only, so the training stages are three configs over one model.
Loading the LM and resizing its vocabulary are ``livefit.model.lm``'s; the directory format of
``save_pretrained`` / ``from_pretrained`` is ``livefit.model.checkpoint``'s.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from livefit.model.adapters import (
    AdapterHooks,
    CrossAttentionAdapter,
    TimeEmbedding,
    VisionContext,
    find_decoder_layers,
)
from livefit.model.checkpoint import load_pretrained, save_pretrained
from livefit.model.config import StreamVLMConfig
from livefit.model.lm import DTYPES as DTYPES  # the old home of the dtype names
from livefit.model.lm import load_lm, resize_vocab, torch_dtype
from livefit.model.tokenizer import add_special_tokens, load_tokenizer, train_tokenizer
from livefit.model.tokens import SpecialIds, SpecialTokenParams, special_ids


@dataclass
class StreamVLMOutput:
    logits: torch.Tensor  # (B, T', V), T' = T or logits_to_keep
    cache: Any  # the cache passed in, now holding these tokens too (None without one)
    hidden: torch.Tensor  # (B, T', D) final hidden states (after the LM's last norm)


def build_tiny_lm(config: StreamVLMConfig, vocab_size: int, tokenizer) -> nn.Module:
    """A randomly initialised LLaMA-architecture LM from ``config.tiny_lm`` (no download)."""
    if config.tiny_lm is None:
        raise ValueError("StreamVLMConfig: set lm_path or tiny_lm")
    return tiny_llama(config.tiny_lm, vocab_size, tokenizer).to(torch_dtype(config.dtype))


def tiny_llama(t: Any, vocab_size: int, tokenizer) -> nn.Module:
    """A random ``LlamaForCausalLM`` of a ``TinyLMConfig``'s size (seeded by its ``seed``
    without touching the global RNG), special ids from ``tokenizer``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    lm_config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=t.hidden_size,
        num_hidden_layers=t.num_layers,
        num_attention_heads=t.num_heads,
        num_key_value_heads=t.num_kv_heads,
        intermediate_size=t.intermediate_size,
        max_position_embeddings=t.max_position_embeddings,
        rope_theta=t.rope_theta,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(t.seed)
        return LlamaForCausalLM(lm_config)


class StreamVLM(nn.Module):
    """LM + adapters + action tokens; build with ``from_config`` or ``from_pretrained``."""

    def __init__(self, config: StreamVLMConfig, lm: nn.Module, tokenizer) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.ids: SpecialIds = special_ids(tokenizer)
        self.n_real_tokens = len(tokenizer)  # ids at or above are vocabulary padding
        vocab = lm.get_input_embeddings().weight.shape[0]
        if vocab < self.n_real_tokens:
            raise ValueError(f"LM vocabulary {vocab} < tokenizer size {self.n_real_tokens}")
        hidden = lm.config.hidden_size
        self.special = SpecialTokenParams(self.ids, hidden)
        self.special.copy_from(lm.get_input_embeddings().weight, lm.get_output_embeddings().weight)
        layers = find_decoder_layers(lm)
        n_layers = len(layers)
        bad = [i for i in config.adapter.layers if not 0 <= i < n_layers]
        if bad:
            raise ValueError(f"adapter layers {bad} do not exist in a {n_layers}-layer LM")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.tiny_lm.seed + 1 if config.tiny_lm else 1)
            self.adapters = nn.ModuleDict(
                {
                    str(i): CrossAttentionAdapter(hidden, config.adapter)
                    for i in config.adapter.layers
                }
            )
        # Extra (off in the paper): the time of each <vision> token's step, as an embedding.
        self.time_embedding = (
            TimeEmbedding(hidden, config.adapter) if config.adapter.time_features else None
        )
        dtype = lm.get_input_embeddings().weight.dtype
        self.adapters.to(dtype)
        if self.time_embedding is not None:
            self.time_embedding.to(dtype)
        self.special.to(dtype)
        self._hooks = AdapterHooks(layers, self.adapters)
        if config.lora is not None:
            from peft import LoraConfig, get_peft_model

            lora = config.lora
            lm = get_peft_model(
                lm,
                LoraConfig(
                    r=lora.r,
                    lora_alpha=lora.alpha,
                    lora_dropout=lora.dropout,
                    target_modules=list(lora.target_modules),
                ),
            )
        self.lm = lm
        self.set_trainable()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: StreamVLMConfig, texts: tuple[str, ...] = ()) -> StreamVLM:
        """Build: the LM (tiny from scratch, or from ``lm_path``), its tokenizer + action tokens."""
        dtype = torch_dtype(config.dtype)
        if config.tokenizer_path is not None:
            tokenizer = load_tokenizer(config.tokenizer_path)
        elif config.lm_path is not None:
            tokenizer = load_tokenizer(config.lm_path)
        else:
            tokenizer = train_tokenizer(texts, config.tiny_vocab_size)
        add_special_tokens(tokenizer)
        if config.lm_path is not None:
            lm = load_lm(config.lm_path, dtype)
            resize_vocab(lm, len(tokenizer), config.pad_vocab_to)
        else:
            vocab = -(-len(tokenizer) // config.pad_vocab_to) * config.pad_vocab_to
            lm = build_tiny_lm(config, vocab, tokenizer)
        return cls(config, lm, tokenizer)

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs: Any) -> StreamVLM:
        """A ``save_pretrained`` directory; ``device=``, ``config=`` (new training settings)."""
        return load_pretrained(path, cls=cls, **kwargs)

    def save_pretrained(self, path: str | Path, save_base: bool | None = None) -> None:
        save_pretrained(self, path, save_base=save_base)

    # -- parts --------------------------------------------------------------------------------
    @property
    def base_lm(self) -> nn.Module:
        """The Hugging Face model (inside peft's wrapper when LoRA is on)."""
        return self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm

    @property
    def decoder(self) -> nn.Module:
        return self.base_lm.get_decoder()

    @functools.cached_property
    def _cache_kwarg(self) -> str:
        # transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name still works,
        # with a warning); earlier 5.x releases only know the old one.
        params = inspect.signature(self.decoder.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    @functools.cached_property
    def takes_cache_position(self) -> bool:
        """transformers < 5.24 decoders take ``cache_position`` (else they ask the cache)."""
        return "cache_position" in inspect.signature(self.decoder.forward).parameters

    @property
    def num_layers(self) -> int:
        return len(find_decoder_layers(self.base_lm))

    @property
    def device(self) -> torch.device:
        return self.special.embed.device

    @property
    def hidden_size(self) -> int:
        return self.base_lm.config.hidden_size

    def set_trainable(self) -> None:
        """Apply the config's trainable flags (called at construction)."""
        c = self.config
        for name, param in self.lm.named_parameters():
            param.requires_grad = ("lora_" in name) if c.lora is not None else False
            if c.train_lm and "lora_" not in name:
                param.requires_grad = True
        for param in self.adapters.parameters():
            param.requires_grad = c.train_adapters
        if self.time_embedding is not None:
            for param in self.time_embedding.parameters():
                param.requires_grad = c.train_adapters
        for param in self.special.parameters():
            param.requires_grad = c.train_special_tokens

    def trainable_parameters(self) -> dict[str, int]:
        """Number of trainable parameters per part: lm, lora, adapters, special."""
        counts = {"lm": 0, "lora": 0, "adapters": 0, "special": 0}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            part = name.split(".")[0]
            if part == "lm":
                part = "lora" if "lora_" in name else "lm"
            elif part == "time_embedding":
                part = "adapters"  # trained with them
            counts[part] += p.numel()
        return counts

    # -- the forward pass ---------------------------------------------------------------------
    @property
    def uses_vision_times(self) -> bool:
        """Does ``forward`` want ``vision_times`` (``AdapterConfig.time_features``)?"""
        return self.time_embedding is not None

    def vision_context(
        self,
        input_ids: torch.Tensor,
        vision_features: torch.Tensor | None,
        dense: bool = False,
        vision_times: torch.Tensor | None = None,
    ) -> VisionContext | None:
        """Pair the k-th <vision> token of each row with ``vision_features[row, k]`` (and
        ``vision_times[row, k]``, seconds, when the model has time features).

        ``dense``: the caller guarantees every position is a <vision> token and gives
        ``vision_features`` [B, T, N, C] aligned with them, or that none is when it gives none
        (no data-dependent indexing or checks: the streaming step, and what ``torch.compile`` /
        CUDA graphs need)."""
        if self.time_embedding is not None and vision_features is not None:
            if vision_times is None:
                raise ValueError("this model has time features: give vision_times [B, S]")
            if tuple(vision_times.shape) != tuple(vision_features.shape[:2]):
                raise ValueError(
                    f"vision_times must be [B, S] = {list(vision_features.shape[:2])}, "
                    f"got {list(vision_times.shape)}"
                )
        else:
            vision_times = None
        if dense:
            if vision_features is None:
                return None
            b, t = input_ids.shape
            if tuple(vision_features.shape[:2]) != (b, t):
                raise ValueError(
                    f"dense vision_features must be [B={b}, T={t}, N, C], "
                    f"got {list(vision_features.shape)}"
                )
            times = None if vision_times is None else vision_times.flatten()  # (B*T,)
            return VisionContext(None, None, vision_features.flatten(0, 1), times)
        mask = input_ids == self.ids.vision  # (B, T)
        if vision_features is None:
            if bool(mask.any()):
                raise ValueError("input has <vision> tokens but no vision_features were given")
            return None
        b = input_ids.shape[0]
        if vision_features.dim() != 4 or vision_features.shape[0] != b:
            raise ValueError(
                f"vision_features must be [B={b}, S, N, C], got {list(vision_features.shape)}"
            )
        a = self.config.adapter
        if tuple(vision_features.shape[2:]) != (a.feature_tokens, a.feature_dim):
            raise ValueError(
                f"feature steps must be [N={a.feature_tokens}, C={a.feature_dim}], "
                f"got {list(vision_features.shape[2:])}"
            )
        rank = mask.cumsum(1) - 1  # (B, T): index of each <vision> among its row's
        rows, cols = mask.nonzero(as_tuple=True)  # (M,), (M,)
        steps = rank[rows, cols]
        if steps.numel() and int(steps.max()) >= vision_features.shape[1]:
            raise ValueError(
                f"{int(steps.max()) + 1} <vision> tokens in a row but only "
                f"{vision_features.shape[1]} feature steps"
            )
        times = None if vision_times is None else vision_times[rows, steps]  # (M,)
        return VisionContext(rows, cols, vision_features[rows, steps], times)  # (M, N, C)

    def embed(self, input_ids: torch.Tensor, context: VisionContext | None = None) -> torch.Tensor:
        embeds = self.base_lm.get_input_embeddings()(input_ids)  # (B, T, D)
        embeds = self.special.embed_inputs(input_ids, embeds)
        if self.time_embedding is not None and context is not None and context.times is not None:
            update = self.time_embedding(context.times).to(embeds.dtype)  # (M, D)
            if context.rows is None:  # dense: every position is a <vision>
                embeds = embeds + update.view_as(embeds)
            else:
                embeds = embeds.index_put(
                    (context.rows, context.cols), embeds[context.rows, context.cols] + update
                )
        return embeds

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.base_lm.get_output_embeddings()(hidden)  # (B, T, V)
        logits = self.special.patch_logits(hidden, logits)
        if logits.shape[-1] > self.n_real_tokens:  # never predict vocabulary padding
            logits[..., self.n_real_tokens :] = float("-inf")
        return logits

    def forward(
        self,
        input_ids: torch.Tensor,
        vision_features: torch.Tensor | None = None,
        cache: Any = None,
        position_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        logits_to_keep: int = 0,
        dense_vision: bool = False,
        cache_position: torch.Tensor | None = None,
        vision_times: torch.Tensor | None = None,
    ) -> StreamVLMOutput:
        """input_ids [B, T]; vision_features [B, S, N, C] (the k-th <vision> of a row sees step k);
        cache: a transformers ``Cache`` extended in place; position_ids [B, T] (default: after the
        cache); ``logits_to_keep`` > 0 keeps only the last positions' logits; ``dense_vision``:
        see ``vision_context``; vision_times [B, S]: seconds of each step (models with time
        features only)."""
        context = self.vision_context(input_ids, vision_features, dense_vision, vision_times)
        embeds = self.embed(input_ids, context)
        kwargs: dict[str, Any] = {"inputs_embeds": embeds, "use_cache": cache is not None}
        if cache is not None:
            kwargs[self._cache_kwarg] = cache
        if position_ids is not None:
            kwargs["position_ids"] = position_ids
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        if cache_position is not None:  # transformers < 5.24 (static caches need it there)
            kwargs["cache_position"] = cache_position
        with self._hooks.use(context):
            out = self.decoder(**kwargs)
        hidden = out[0]  # (B, T, D)
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        return StreamVLMOutput(self.logits(hidden), cache, hidden)

    def feature_tokens(self, step: Any) -> torch.Tensor:
        """One feature step as the adapters want it: [C, H, W] or [N, C] -> [N, C] tensor."""
        t = torch.as_tensor(step)
        if t.dim() == 3:
            t = t.flatten(1).T  # (C, H*W) -> (N, C)
        a = self.config.adapter
        if tuple(t.shape) != (a.feature_tokens, a.feature_dim):
            raise ValueError(
                f"a feature step must be [C={a.feature_dim}, H, W] with H*W={a.feature_tokens} "
                f"or [N, C], got {list(torch.as_tensor(step).shape)}"
            )
        p = self.special.embed
        return t.to(device=p.device, dtype=p.dtype)


__all__ = [
    "StreamVLM",
    "StreamVLMOutput",
    "build_tiny_lm",
    "load_lm",
    "resize_vocab",
    "torch_dtype",
]
