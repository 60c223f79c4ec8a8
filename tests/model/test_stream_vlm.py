"""StreamVLM: parity with the bare Hugging Face LM, the adapter maths, where adapters act, the
trainable flags, and the tokenizer."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaForCausalLM

from livefit.model.config import LoRAConfig, tiny_config
from livefit.model.stream_vlm import StreamVLM
from livefit.model.tokenizer import load_tokenizer, train_tokenizer
from livefit.model.tokens import SPECIAL_TOKENS


def ids_with_vision(model, n_vision=3):
    v = model.ids.vision
    text = model.tokenizer.encode("You are a coach. Squats.")
    seq = text + [v] + model.tokenizer.encode(" Go lower", add_special_tokens=False)
    seq += [v] * (n_vision - 1)
    return torch.tensor([seq])


def features(n, seed=0):
    return torch.randn(1, n, 35, 64, generator=torch.Generator().manual_seed(seed))


def test_zeroed_adapters_give_the_bare_hf_logits(model):
    ids = ids_with_vision(model)
    bare = LlamaForCausalLM(model.base_lm.config).eval()
    bare.load_state_dict(model.base_lm.state_dict())
    zeroed = StreamVLM(model.config, model.base_lm, model.tokenizer).eval()
    with torch.no_grad():
        for p in zeroed.adapters.parameters():
            p.zero_()
        ours = zeroed(ids, features(3)).logits
        ref = bare(ids).logits
    n = model.n_real_tokens
    assert torch.allclose(ours[..., :n], ref[..., :n], atol=1e-5, rtol=0)
    assert torch.isinf(ours[..., n:]).all() or n == ours.shape[-1]
    zeroed._hooks.remove()


def test_adapter_matches_the_spec_formula(model):
    adapter = model.adapters["1"]
    g = torch.Generator().manual_seed(1)
    h = torch.randn(2, 64, generator=g)
    f = torch.randn(2, 35, 64, generator=g)
    with torch.no_grad():
        got = adapter(h, f)
        vp = adapter.vision_projector
        for i in range(2):
            q = h[i] @ adapter.hidden_attn_fc.weight.T  # (W,)
            k = f[i] @ adapter.feat_attn_keys_fc.weight.T  # (35, W)
            ln = torch.nn.functional.layer_norm(f[i], (64,), vp[0].weight, vp[0].bias)
            v = torch.nn.functional.gelu(ln @ vp[1].weight.T) @ vp[3].weight.T  # (35, W)
            a = torch.softmax(k @ q / math.sqrt(q.numel()), 0) @ v
            assert torch.allclose(got[i], a @ adapter.out_fc.weight.T, atol=1e-6)
    assert all(m.bias is None for m in (adapter.hidden_attn_fc, adapter.out_fc, vp[1], vp[3]))


def test_adapters_act_only_at_vision_positions_on_their_own_step(model):
    ids = ids_with_vision(model, n_vision=3)
    v_pos = (ids[0] == model.ids.vision).nonzero().flatten().tolist()
    a = features(3, seed=0)
    b = a.clone()
    b[0, 1] = torch.randn(35, 64)  # change only the second <vision> token's step
    with torch.no_grad():
        la, lb = model(ids, a).logits, model(ids, b).logits
    same = (la - lb).abs().amax(-1)[0]  # (T,)
    assert same[: v_pos[1]].max() == 0  # everything before the 2nd <vision> is untouched
    assert same[v_pos[1]] > 0  # the 2nd <vision> sees its new step


def test_vision_tokens_need_features(model):
    with pytest.raises(ValueError, match="no vision_features"):
        model(ids_with_vision(model))
    with pytest.raises(ValueError, match="feature steps"):
        model(ids_with_vision(model, n_vision=3), features(2))
    with pytest.raises(ValueError, match=r"\[N=35, C=64\]"):
        model(ids_with_vision(model, n_vision=1), torch.zeros(1, 1, 35, 32))


def test_feature_step_layouts(model):
    step = torch.randn(64, 7, 5)
    tokens = model.feature_tokens(step)
    assert tokens.shape == (35, 64)
    assert torch.equal(tokens[7], step[:, 1, 2])  # row-major over (H, W)
    with pytest.raises(ValueError, match="feature step"):
        model.feature_tokens(torch.zeros(64, 6, 5))


def test_trainable_flags_per_part(model, lora_model):
    assert model.trainable_parameters()["lm"] == 0
    assert model.trainable_parameters()["adapters"] > 0
    assert model.trainable_parameters()["special"] == 2 * 3 * 64
    counts = lora_model.trainable_parameters()
    assert counts["lora"] > 0 and counts["lm"] == 0
    stage3 = StreamVLM.from_config(
        tiny_config(lora=LoRAConfig(r=2), train_adapters=False, train_special_tokens=False)
    )
    c = stage3.trainable_parameters()
    assert c["adapters"] == 0 and c["special"] == 0 and c["lora"] > 0
    full = StreamVLM.from_config(tiny_config(train_lm=True))
    assert full.trainable_parameters()["lm"] == sum(p.numel() for p in full.base_lm.parameters())


def test_special_tokens_train_apart_from_the_frozen_base(model):
    ids = ids_with_vision(model)
    m = StreamVLM(model.config, model.base_lm, model.tokenizer)
    out = m(ids, features(3)).logits
    out[0, -1, model.ids.answer].backward()
    assert m.special.embed.grad is not None and m.special.head.grad.abs().sum() > 0
    assert m.base_lm.get_input_embeddings().weight.grad is None
    m._hooks.remove()


def test_tokenizer_has_action_tokens_and_round_trips(tmp_path):
    tok = train_tokenizer(["Keep your knees over your toes."], vocab_size=300)
    for t in SPECIAL_TOKENS:
        ids = tok.encode(t, add_special_tokens=False)
        assert len(ids) == 1
    text = "Keep your knees over your toes."
    assert tok.decode(tok.encode(text), skip_special_tokens=True) == text
    tok.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode(text + "<vision>") == tok.encode(text + "<vision>")
    with pytest.raises(FileNotFoundError, match="tokenizer directory is missing"):
        load_tokenizer(tmp_path / "nope")


def test_bad_adapter_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="do not exist"):
        StreamVLM.from_config(tiny_config(adapter=tiny_config().adapter.__class__(layers=(9,))))
