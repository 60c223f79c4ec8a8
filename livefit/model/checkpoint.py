"""Stream-VLM checkpoints: our directory format, and an importer for the published layout.

Our format (``save_pretrained`` / ``load_pretrained``), one directory:
    config.json          StreamVLMConfig (livefit.config.save_config)
    lm/config.json       the Hugging Face config of the LM (when its weights are saved here)
    model.safetensors    canonical weights: ``lm.<Hugging Face key>`` (the base LM, without
                         LoRA; left out when the frozen base is loaded from ``lm_path``),
                         ``adapters.<layer>.<name>``, ``special.embed`` / ``special.head``
    lora/                peft's adapter_config.json + adapter_model.safetensors (if LoRA)
    tokenizer.json ...   the fast tokenizer, with the three action tokens

Published Stream-VLM layout (a pickled state dict, possibly under ``state_dict``, keys possibly
prefixed ``module.``), mapped key by key by ``import_reference_state_dict``:
    lang.base_model.model.<K>                       -> lm.<K>            (peft-wrapped LLaMA)
    lang.<K>                                        -> lm.<K>            (no peft wrapper)
    ...<name>.base_layer.weight (newer peft)        -> ...<name>.weight
    ...<name>.lora_{A,B}.default.weight             -> the LoRA of <name> (needs config.lora)
    lm.model.layers.<L>.xattn_layer.attn_layers.0.<p> -> adapters.<L>.<p>  (same <p> names)
    rows <vision>, <answer>, <answer/> of embed_tokens / lm_head -> special.embed / special.head
    adapter.embed_tokens.weight                     -> ignored (a second reference to the LM's
                                                       embedding, not a weight of its own)
Missing and unexpected keys are reported, never silently dropped (the reference loads with
``strict=False``).

Imported by ``livefit.model.stream_vlm``, never the other way: ``load_pretrained`` builds the
class it is given (``StreamVLM.from_pretrained`` passes itself) on an LM from ``livefit.model.lm``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file
from torch import nn

from livefit.config import load_config, save_config
from livefit.model.config import StreamVLMConfig
from livefit.model.hf_folder import SAFE_LOAD, open_folder
from livefit.model.lm import load_lm, resize_vocab, torch_dtype
from livefit.model.tokenizer import load_tokenizer
from livefit.tensors import save_tensors

WEIGHTS = "model.safetensors"
OPTIONAL_KEYS = ("special.bias",)  # added later; a checkpoint without them loads the default
PEFT_PREFIX = "base_model.model."

M = TypeVar("M", bound=nn.Module)  # the model class load_pretrained builds (StreamVLM)


def canonical_key(key: str) -> str:
    """A StreamVLM state-dict key without peft's wrapping: ``lm.base_model.model.X.base_layer.W``
    -> ``lm.X.W``. Other keys are unchanged."""
    if key.startswith("lm." + PEFT_PREFIX):
        key = "lm." + key[len("lm." + PEFT_PREFIX) :]
    return key.replace(".base_layer.", ".")


def is_lora_key(key: str) -> bool:
    return ".lora_" in key


def canonical_state_dict(model: nn.Module, with_base: bool = True) -> dict[str, torch.Tensor]:
    """The weights ``save_pretrained`` writes (LoRA excluded; it goes to ``lora/``)."""
    out = {}
    for key, value in model.state_dict().items():
        if is_lora_key(key) or (not with_base and key.startswith("lm.")):
            continue
        out[canonical_key(key)] = value.detach().contiguous()
    return out


def load_canonical_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor], where: str
) -> list[str]:
    """Load canonical weights into ``model``; returns the canonical keys that were not given."""
    actual = {canonical_key(k): k for k in model.state_dict() if not is_lora_key(k)}
    unexpected = sorted(set(state) - set(actual))
    if unexpected:
        raise ValueError(f"{where}: unexpected weights {unexpected[:5]} ({len(unexpected)} in all)")
    own = model.state_dict()
    for key, value in state.items():
        if own[actual[key]].shape != value.shape:
            raise ValueError(
                f"{where}: {key} has shape {list(value.shape)}, "
                f"the model expects {list(own[actual[key]].shape)}"
            )
    model.load_state_dict({actual[k]: v for k, v in state.items()}, strict=False)
    return sorted(set(actual) - set(state))


def save_pretrained(model: nn.Module, path: str | Path, save_base: bool | None = None) -> None:
    """Write ``model`` to directory ``path``. ``save_base`` None: save the base LM weights unless
    they are frozen and can be reloaded from ``config.lm_path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    c = model.config
    if save_base is None:
        save_base = c.lm_path is None or c.train_lm
    save_config(replace(c, tokenizer_path=None), path / "config.json")
    if save_base:
        model.base_lm.config.save_pretrained(path / "lm")
    save_tensors(path / WEIGHTS, canonical_state_dict(model, with_base=save_base), {"format": "pt"})
    model.tokenizer.save_pretrained(path)
    if c.lora is not None:
        model.lm.save_pretrained(path / "lora")


TRAINING_FIELDS = ("lora", "train_lm", "train_adapters", "train_special_tokens", "train_vision")


def architecture_differences(a: StreamVLMConfig, b: StreamVLMConfig) -> list[str]:
    """Names of the fields that make two configs different models (everything but what is
    trained, where the tokenizer comes from and when it speaks: a turn-based model starts from
    an action-token one)."""
    skip = {*TRAINING_FIELDS, "tokenizer_path", "turn_every_s"}
    return [
        f.name for f in fields(a) if f.name not in skip and getattr(a, f.name) != getattr(b, f.name)
    ]


def load_pretrained(
    path: str | Path,
    device: str | torch.device = "cpu",
    config: StreamVLMConfig | None = None,
    *,
    cls: type[M],
) -> M:
    """Read a directory written by ``save_pretrained`` into a ``cls`` (``StreamVLM``, whose
    ``from_pretrained`` calls this); clear errors for anything missing.

    ``config``: build with these training settings (trainable flags, a new LoRA) instead of the
    saved ones, e.g. stage 3 starting from stage 2's model; its architecture must be the saved
    one (a difference is an error naming the fields)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: model directory is missing")
    if not (path / "config.json").is_file() or not (path / WEIGHTS).is_file():
        raise FileNotFoundError(
            f"{path}: not a Stream-VLM checkpoint (expected config.json and {WEIGHTS})"
        )
    saved = load_config(StreamVLMConfig, path / "config.json")
    if config is not None:
        differ = architecture_differences(saved, config)
        if differ:
            raise ValueError(
                f"{path}: the saved model differs from the requested config in {differ}"
            )
        if saved.lora is not None and config.lora != saved.lora:
            raise ValueError(f"{path}: has LoRA {saved.lora}; cannot load it with {config.lora}")
        config = replace(config, tokenizer_path=None)
    else:
        config = saved
    tokenizer = load_tokenizer(path)
    dtype = torch_dtype(config.dtype)
    if (path / "lm" / "config.json").is_file():
        lm_dir = str(path / "lm")
        lm_config = open_folder(
            lm_dir, "language model config", lambda: AutoConfig.from_pretrained(lm_dir, **SAFE_LOAD)
        )
        lm = AutoModelForCausalLM.from_config(lm_config, dtype=dtype)
        with_base = True
    elif config.lm_path is not None:
        lm = load_lm(config.lm_path, dtype)
        resize_vocab(lm, len(tokenizer), config.pad_vocab_to)
        with_base = False
    else:
        raise FileNotFoundError(f"{path}: no lm/config.json and no lm_path in config.json")
    model = cls(config, lm, tokenizer)
    try:
        state = load_file(str(path / WEIGHTS))
    except Exception as err:  # safetensors raises its own error types
        raise ValueError(f"{path / WEIGHTS}: unreadable safetensors file ({err})") from None
    missing = load_canonical_state_dict(model, state, str(path / WEIGHTS))
    missing = [k for k in missing if k not in OPTIONAL_KEYS]  # older checkpoints: defaults
    if not with_base:
        missing = [k for k in missing if not k.startswith("lm.")]
    if missing:
        raise ValueError(f"{path / WEIGHTS}: missing weights {missing[:5]} ({len(missing)} in all)")
    if saved.lora is not None:
        from peft import set_peft_model_state_dict

        lora_file = path / "lora" / "adapter_model.safetensors"
        if not lora_file.is_file():
            raise FileNotFoundError(f"{lora_file}: LoRA weights are missing (config has lora)")
        result = set_peft_model_state_dict(model.lm, load_file(str(lora_file)))
        bad = [k for k in getattr(result, "unexpected_keys", []) if is_lora_key(k)]
        if bad:
            raise ValueError(f"{lora_file}: unexpected LoRA weights {bad[:5]}")
    return model.to(device).eval()


# -- the published Stream-VLM layout ------------------------------------------------------------

XATTN = re.compile(r"^model\.layers\.(\d+)\.xattn_layer\.attn_layers\.0\.(.+)$")


@dataclass
class ImportReport:
    """What ``import_reference_state_dict`` did with each key."""

    loaded: int = 0
    missing: list[str] = field(default_factory=list)  # our canonical keys with no source
    unexpected: list[str] = field(default_factory=list)  # source keys we could not place
    ignored: list[str] = field(default_factory=list)  # source keys skipped on purpose

    def summary(self) -> str:
        return (
            f"loaded {self.loaded} tensors; missing {len(self.missing)} {self.missing[:5]}; "
            f"unexpected {len(self.unexpected)} {self.unexpected[:5]}; ignored {self.ignored}"
        )


def reference_key_map(key: str) -> tuple[str, str] | None:
    """One published key -> (kind, our canonical key); kind is base, lora, adapter or ignore.
    None when the key has no place in our model."""
    if key.startswith("module."):
        key = key[len("module.") :]
    if key == "adapter.embed_tokens.weight":
        return ("ignore", key)
    if not key.startswith("lang."):
        return None
    rest = key[len("lang.") :]
    if rest.startswith(PEFT_PREFIX):
        rest = rest[len(PEFT_PREFIX) :]
    rest = rest.replace(".base_layer.", ".")
    match = XATTN.match(rest)
    if match:
        return ("adapter", f"adapters.{match.group(1)}.{match.group(2)}")
    if is_lora_key(rest):
        return ("lora", rest)
    return ("base", f"lm.{rest}")


def import_reference_state_dict(model: nn.Module, state: dict[str, Any]) -> ImportReport:
    """Load a published Stream-VLM state dict into ``model`` (built with the same LM shape,
    tokenizer and, if the source has LoRA, a ``config.lora``). Shape mismatches are errors."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    report = ImportReport()
    ours = canonical_state_dict(model)
    lora_actual = {}
    for key in model.state_dict():
        if is_lora_key(key):
            # lm.base_model.model.X.lora_A.default.weight -> X.lora_A.default.weight
            lora_actual[key[len("lm." + PEFT_PREFIX) :]] = key
    mapped: dict[str, torch.Tensor] = {}
    lora: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        target = reference_key_map(key)
        if target is None:
            report.unexpected.append(key)
        elif target[0] == "ignore":
            report.ignored.append(key)
        elif target[0] == "lora":
            if target[1] in lora_actual:
                lora[lora_actual[target[1]]] = value
            else:
                report.unexpected.append(key)
        elif target[1] in ours:
            if ours[target[1]].shape != value.shape:
                raise ValueError(
                    f"{key}: shape {list(value.shape)} does not fit {target[1]} "
                    f"{list(ours[target[1]].shape)} (same LM size, tokenizer and adapter config?)"
                )
            mapped[target[1]] = value
        else:
            report.unexpected.append(key)
    missing = load_canonical_state_dict(model, mapped, "reference checkpoint")
    own = model.state_dict()
    for key, value in lora.items():
        if own[key].shape != value.shape:
            raise ValueError(f"{key}: LoRA shape {list(value.shape)} != {list(own[key].shape)}")
    model.load_state_dict(lora, strict=False)
    report.loaded = len(mapped) + len(lora)
    # The published model trained the special tokens' rows of the base matrices: take them.
    emb, head = "lm.model.embed_tokens.weight", "lm.lm_head.weight"
    if emb in mapped and head in mapped:
        model.special.copy_from(mapped[emb], mapped[head])
        missing = [k for k in missing if not k.startswith("special.")]
    report.missing = missing + sorted(set(lora_actual.values()) - set(lora))
    return report


def load_reference_checkpoint(model: nn.Module, path: str | Path) -> ImportReport:
    """``torch.load`` (weights only: the file is a pickle) + ``import_reference_state_dict``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a pickle can fail in many ways; name the file
        raise ValueError(f"{path}: cannot read the checkpoint ({err})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return import_reference_state_dict(model, state)


__all__ = [
    "TRAINING_FIELDS",
    "ImportReport",
    "architecture_differences",
    "canonical_key",
    "canonical_state_dict",
    "import_reference_state_dict",
    "load_pretrained",
    "load_reference_checkpoint",
    "reference_key_map",
    "save_pretrained",
]
