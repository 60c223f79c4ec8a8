"""Configs of Stream-VLM: the language backbone, the cross-attention adapters, LoRA and the
trainable flags that make the three training stages differ by config only.

Sits between ``livefit.vision`` (which produces the feature steps) and ``livefit.stream`` (which
runs the model live). Paper values are the defaults of ``paper_config``; ``tiny_config`` is the
small preset used by tests, the synthetic pipeline and CPU benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from livefit.data.qevd import PAPER_FEATURE_SHAPE

PAPER_ADAPTER_LAYERS = (6, 8, 10, 12, 14, 16, 18, 20, 22)


@dataclass(frozen=True)
class AdapterConfig:
    """Cross-attention from ``<vision>`` positions to that step's spatial feature vectors."""

    layers: tuple[int, ...] = PAPER_ADAPTER_LAYERS
    """Decoder layers whose output gets an adapter (applied after the MLP residual)."""
    width: int = 4096
    """Attention width of queries, keys and values (paper: 4096)."""
    heads: int = 1
    """Attention heads (paper: 1); ``width`` must be divisible by it."""
    feature_dim: int = PAPER_FEATURE_SHAPE[0]
    """Channels C of one spatial feature vector (paper: 1280)."""
    feature_tokens: int = PAPER_FEATURE_SHAPE[1] * PAPER_FEATURE_SHAPE[2]
    """Spatial vectors per feature step, H*W (paper: 7*5 = 35); checked on input."""
    init_std: float = 0.02
    """Std of the normal init of the adapter Linears."""
    zero_init_out: bool = False
    """Start the output projection at zero, so an untrained model equals its bare LM."""
    time_features: int = 0
    """Extra, not the paper's: each ``<vision>`` token's input embedding also gets a learned
    projection of 2 x this many sinusoids of its step's time (periods from 0.5 s to
    ``time_max_period``), so the LM reads elapsed time directly instead of counting tokens;
    0 = off (the paper). The projection starts at zero (the model starts as the paper's)."""
    time_max_period: float = 256.0
    """Longest sinusoid period of ``time_features``, in seconds."""


@dataclass(frozen=True)
class LoRAConfig:
    """LoRA on the language model through ``peft``."""

    r: int = 32
    """Rank (paper: 32)."""
    alpha: int = 16
    """Scaling numerator, lora_alpha (paper: 16)."""
    dropout: float = 0.05
    """Dropout on the LoRA input (paper: 0.05)."""
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "lm_head")
    """Module names that get LoRA (paper: q_proj, k_proj, v_proj, lm_head)."""


@dataclass(frozen=True)
class TinyLMConfig:
    """A small LLaMA-architecture LM built from scratch (no download): tests and the tiny preset."""

    hidden_size: int = 64
    """Model width."""
    num_layers: int = 4
    """Decoder layers."""
    num_heads: int = 4
    """Attention heads."""
    num_kv_heads: int = 2
    """Key/value heads (grouped-query attention when smaller than ``num_heads``)."""
    intermediate_size: int = 128
    """MLP width."""
    max_position_embeddings: int = 4096
    """RoPE table length; streams longer than this still run (RoPE extrapolates)."""
    rope_theta: float = 10000.0
    """RoPE base."""
    seed: int = 0
    """Seed of the random init."""


@dataclass(frozen=True)
class StreamVLMConfig:
    """The whole model: backbone + adapters + special tokens + what is trained."""

    lm_path: str | None = None
    """Local directory of a Hugging Face causal LM (e.g. LLaMA-2-7B); None: build ``tiny_lm``."""
    tiny_lm: TinyLMConfig | None = field(default_factory=TinyLMConfig)
    """Config of the from-scratch LM, used when ``lm_path`` is None."""
    tokenizer_path: str | None = None
    """Tokenizer directory; None: the LM's own (``lm_path``) or, for the tiny LM, a trained one."""
    tiny_vocab_size: int = 512
    """Vocabulary of the tokenizer trained for the tiny LM."""
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    """Cross-attention adapters."""
    pad_vocab_to: int = 64
    """Pad the embedding matrix to a multiple of this (reference: 64)."""
    dtype: str = "float32"
    """Parameter dtype: float32, bfloat16 or float16 (paper: bfloat16)."""
    lora: LoRAConfig | None = None
    """LoRA on the LM (stage 3); None: no LoRA."""
    train_lm: bool = False
    """Train every LM weight (full fine-tuning)."""
    train_adapters: bool = True
    """Train the cross-attention adapters (stage 2)."""
    train_special_tokens: bool = True
    """Train the own input/output embeddings of <vision>, <answer>, <answer/>."""
    train_vision: bool = False
    """Train the causal 3D CNN; read by the trainer, since the CNN lives in ``livefit.vision``."""
    turn_every_s: float | None = None
    """None: the model decides when to speak with its action tokens (the paper's Stream-VLM). A
    number: the "w/o action tokens" ablation, a turn-based model that never makes that decision:
    it is trained to answer every ``turn_every_s`` seconds (paper: 5), and the streaming engine
    forces ``<answer>`` at those times and ``<vision>`` everywhere else."""


def tiny_config(**overrides: object) -> StreamVLMConfig:
    """The tiny preset: 4-layer width-64 LLaMA, adapters at layers 1 and 3, 64-d features."""
    base = StreamVLMConfig(
        tiny_lm=TinyLMConfig(),
        adapter=AdapterConfig(layers=(1, 3), width=64, heads=1, feature_dim=64, feature_tokens=35),
        dtype="float32",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def paper_config(lm_path: str, **overrides: object) -> StreamVLMConfig:
    """The paper's model: LLaMA-2-7B from a local path, 9 adapters of width 4096, bf16."""
    base = StreamVLMConfig(lm_path=lm_path, tiny_lm=None, adapter=AdapterConfig(), dtype="bfloat16")
    return replace(base, **overrides)  # type: ignore[arg-type]


__all__ = [
    "PAPER_ADAPTER_LAYERS",
    "AdapterConfig",
    "LoRAConfig",
    "StreamVLMConfig",
    "TinyLMConfig",
    "paper_config",
    "tiny_config",
]
