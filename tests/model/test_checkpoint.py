"""save_pretrained / from_pretrained round trips and the published-layout importer."""

from __future__ import annotations

import pytest
import torch

from livefit.model.checkpoint import (
    canonical_state_dict,
    import_reference_state_dict,
    load_reference_checkpoint,
)
from livefit.model.config import LoRAConfig, tiny_config
from livefit.model.stream_vlm import StreamVLM


def inputs(model):
    v = model.ids.vision
    ids = torch.tensor([model.tokenizer.encode("Squats, go lower.") + [v, v]])
    return ids, torch.randn(1, 2, 35, 64, generator=torch.Generator().manual_seed(3))


def assert_same_model(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    ids, f = inputs(a)
    with torch.no_grad():
        assert torch.equal(a(ids, f).logits, b(ids, f).logits)


@pytest.mark.parametrize("which", ["model", "lora_model"])
def test_round_trip_is_bit_exact(which, request, tmp_path):
    model = request.getfixturevalue(which)
    model.save_pretrained(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "lm"} <= names
    assert ("lora" in names) == (model.config.lora is not None)
    assert_same_model(model, StreamVLM.from_pretrained(tmp_path))


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model directory is missing"):
        StreamVLM.from_pretrained(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="not a Stream-VLM checkpoint"):
        StreamVLM.from_pretrained(tmp_path)


def reference_layout(model, new_peft: bool) -> dict[str, torch.Tensor]:
    """The published layout, built by hand: peft-wrapped LLaMA under ``lang.``, per-layer
    ``xattn_layer.attn_layers.0`` modules, special rows inside the base matrices."""
    out = {}
    state = model.state_dict()
    emb = state["lm.base_model.model.model.embed_tokens.weight"].clone()
    head = state["lm.base_model.model.lm_head.base_layer.weight"].clone()
    emb[model.special.ids] = model.special.embed.detach()
    head[model.special.ids] = model.special.head.detach()
    for key, value in state.items():
        if key.startswith("lm.base_model.model."):
            name = key[len("lm.") :]
            if not new_peft:
                name = name.replace(".base_layer.", ".")  # peft 0.5: <name>.weight
            out["lang." + name] = value
    lora_emb = "lang.base_model.model.model.embed_tokens.weight"
    out[lora_emb] = emb
    head_key = "lm_head.base_layer.weight" if new_peft else "lm_head.weight"
    out["lang.base_model.model." + head_key] = head
    for layer, adapter in model.adapters.items():
        for name, value in adapter.state_dict().items():
            key = f"lang.base_model.model.model.layers.{layer}.xattn_layer.attn_layers.0.{name}"
            out[key] = value
    out["adapter.embed_tokens.weight"] = emb
    return out


@pytest.mark.parametrize("new_peft", [False, True])
def test_reference_importer(lora_model, new_peft, tmp_path):
    layout = reference_layout(lora_model, new_peft)
    fresh = StreamVLM.from_config(
        tiny_config(lora=LoRAConfig(r=4), tiny_lm=type(lora_model.config.tiny_lm)(seed=5))
    ).eval()
    path = tmp_path / "state_dict.pth.tar"
    torch.save({"state_dict": {"module." + k: v for k, v in layout.items()}}, path)
    report = load_reference_checkpoint(fresh, path)
    assert report.missing == [] and report.unexpected == []
    assert report.ignored == ["module.adapter.embed_tokens.weight"]
    ids, f = inputs(lora_model)
    with torch.no_grad():
        assert torch.equal(fresh(ids, f).logits, lora_model(ids, f).logits)
    ours = canonical_state_dict(fresh)
    assert torch.equal(ours["special.head"], lora_model.special.head)


def test_reference_importer_reports_missing_and_unexpected(lora_model):
    layout = reference_layout(lora_model, new_peft=True)
    del layout["lang.base_model.model.model.layers.1.xattn_layer.attn_layers.0.out_fc.weight"]
    del layout["lang.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"]
    layout["vision.some_buffer"] = torch.zeros(1)
    fresh = StreamVLM.from_config(tiny_config(lora=LoRAConfig(r=4)))
    report = import_reference_state_dict(fresh, layout)
    assert report.missing == [
        "adapters.1.out_fc.weight",
        "lm.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
    ]
    assert report.unexpected == ["vision.some_buffer"]
    layout["lang.base_model.model.model.norm.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match="model.norm.weight"):
        import_reference_state_dict(fresh, layout)
