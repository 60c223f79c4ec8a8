"""Milliseconds per streaming step: the engine (KV cache, one new token per step) against the
naive way (re-embed and recompute the whole stream every step, like the public reference).

CPU part (default; one core): the tiny preset, ms per step at step 50 and step 800 for both;
targets: engine late/early <= 1.2 and engine >= 5x faster than naive at step 800.
``--memory``: bounded-memory option (prompt sink + recent window) against the unbounded cache on a
long stream: top-1 agreement of the constrained choice under teacher forcing, and bytes held.
GPU part (``--device cuda``, automatic when CUDA is available; ``--gpu-only`` skips the CPU part):
a LLaMA-2-7B-shaped model (random bf16 weights) with the paper's 9 adapters: ms per step of the
bare Hugging Face decode and of the Stream-VLM step, batch 1 and 64, eager and compiled with a
static cache, against the weight-streaming floor (weight bytes / measured copy bandwidth);
then batch 1 again under each ``--compile-variants`` setting (``COMPILE_VARIANTS``: inductor's
coordinate-descent tuning + freezing, max-autotune GEMMs), each ratio to the floor reported;
and ``session.push`` itself with the engine's static cache and compiled step (``--compile``).
Every GPU measurement is guarded (an error is printed and the next one runs), results are
printed and written (``--json-out``) as they come, and a time budget skips what would not fit.
``--device cpu --gpu-shape tiny`` runs the GPU code path on a tiny model (a dry run).

The last line printed is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from livefit.model.config import (  # noqa: E402
    AdapterConfig,
    StreamVLMConfig,
    TinyLMConfig,
    tiny_config,
)
from livefit.model.stream_vlm import StreamVLM  # noqa: E402
from livefit.model.tokenizer import train_tokenizer  # noqa: E402
from livefit.stream.cache import StreamCache  # noqa: E402
from livefit.stream.engine import EngineConfig, StreamEngine  # noqa: E402

PROMPT = (
    "You are an expert fitness coaching AI who coaches users as they exercise. You assess their "
    "performance, count repetitions, and proactively provide feedback. The user should be doing "
    "squats."
)
RESULTS: dict[str, Any] = {}
# name -> (torch.compile mode on CUDA, inductor settings while compiling). "tuned": gpt-fast's
# settings (coordinate-descent tuning of the generated kernels) plus freezing (weights become
# constants: layouts chosen once). "autotune": Triton GEMM templates benchmarked against cuBLAS
# for the skinny decode matmuls (CUDA graphs included).
COMPILE_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("reduce-overhead", {}),
    "tuned": ("reduce-overhead", {"coordinate_descent_tuning": True, "freezing": True}),
    "autotune": ("max-autotune", {"coordinate_descent_tuning": True, "freezing": True}),
}


def report(key: str, value: Any, json_out: str | None = None) -> None:
    RESULTS[key] = value
    print(f"{key}: {value}", flush=True)
    if json_out:
        tmp = f"{json_out}.tmp"
        with open(tmp, "w") as f:
            json.dump(RESULTS, f, indent=1)
        os.replace(tmp, json_out)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# -- CPU: engine vs naive ------------------------------------------------------------------------
def cpu_steps(early: int, late: int, naive_repeats: int) -> None:
    torch.set_num_threads(1)
    model = StreamVLM.from_config(tiny_config()).eval()
    a = model.config.adapter
    # Force mode on a random model: it only ever asks for the next step, so step k is the
    # k-th <vision> token and both ways do the same work per step.
    engine = StreamEngine(model, EngineConfig(drop_first_steps=0))
    session = engine.start(PROMPT)
    g = torch.Generator().manual_seed(0)
    steps = torch.randn(late + 6, a.feature_tokens, a.feature_dim, generator=g)
    times = []
    for step in steps:
        tic = time.perf_counter()
        for _ in session.push(step):
            pass
        times.append(time.perf_counter() - tic)
    assert set(session.tokens) == {model.ids.vision}, "the benchmark stream should only watch"
    window = lambda k: statistics.median(times[k - 5 : k + 5]) * 1e3  # noqa: E731
    eng_early, eng_late = window(early), window(late)

    @torch.inference_mode()
    def naive_step(k: int) -> float:
        """Step k the reference's way: the whole stream so far, no cache."""
        ids = torch.tensor([session.prompt + [model.ids.vision] * (k - 1)])  # k <vision> tokens
        feats = steps[None, :k]  # (1, k, N, C)
        best = []
        for _ in range(naive_repeats):
            tic = time.perf_counter()
            int(model(ids, feats).logits[0, -1].argmax())
            best.append(time.perf_counter() - tic)
        return statistics.median(best) * 1e3

    nv_early, nv_late = naive_step(early), naive_step(late)
    report("cpu_model", "tiny preset: LLaMA 4 layers x 64, adapters at 1,3 (width 64), C=64, N=35")
    report("prompt_tokens", len(session.prompt))
    report(f"engine_ms_step{early}", round(eng_early, 3))
    report(f"engine_ms_step{late}", round(eng_late, 3))
    report(f"naive_ms_step{early}", round(nv_early, 3))
    report(f"naive_ms_step{late}", round(nv_late, 3))
    report("engine_late_over_early", round(eng_late / eng_early, 3))
    report(f"engine_speedup_vs_naive_step{late}", round(nv_late / eng_late, 2))


# -- CPU: bounded memory -------------------------------------------------------------------------
@torch.inference_mode()
def bounded_memory(n_steps: int, window: int, evict_every: int) -> None:
    """Teacher forcing: one token stream (the unbounded greedy run, mask constraint) fed to an
    unbounded and a bounded cache; agreement of the constrained top-1 at every position after
    the first eviction, total variation of the allowed-token distributions, bytes held."""
    torch.set_num_threads(1)
    model = StreamVLM.from_config(tiny_config(tiny_lm=TinyLMConfig(seed=1))).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # make the random model speak now and then (tests/stream: talkative)
        for adapter in model.adapters.values():
            adapter.out_fc.weight.mul_(20.0)
        head = torch.randn(model.special.head.shape, generator=g) * 0.6
        head[2] *= 0.1
        model.special.head.copy_(head)
    a = model.config.adapter
    steps = torch.randn(n_steps, a.feature_tokens, a.feature_dim, generator=g)
    config = EngineConfig(
        constraint="mask", max_feedback_tokens=24, drop_first_steps=0, max_tokens_per_step=256
    )
    engine = StreamEngine(model, config)
    session = engine.start(PROMPT)
    for step in steps:
        for _ in session.push(step):
            pass
    tokens = session.prompt + session.tokens[1:-1]  # the last <vision> awaits a step
    v, ans, end = model.ids.as_tuple()
    sink = len(session.prompt)
    full, bounded = StreamCache(model.num_layers), StreamCache(model.num_layers)
    agree = total = 0
    tv = []
    pos = 0
    k = 0  # next feature step
    inside = False
    evicted = False
    for i, tok in enumerate(tokens):
        feat = None
        if tok == v and i >= sink - 1:
            feat = steps[session.fed_steps[k]][None, None]
            k += 1
        ids = torch.tensor([[tok]])
        p = torch.tensor([[pos]])
        lf = model(ids, feat, cache=full, position_ids=p, dense_vision=feat is not None).logits
        lb = model(ids, feat, cache=bounded, position_ids=p, dense_vision=feat is not None).logits
        pos += 1
        if bounded.get_seq_length() >= sink + window + evict_every:
            bounded.evict(sink, window)
            evicted = True
        inside = (tok == ans) or (inside and tok != end)
        if i < sink - 1 or not evicted:
            continue
        allowed = (
            [x for x in range(model.n_real_tokens) if x not in (v, ans)]
            if inside
            else [
                v,
                ans,
            ]
        )
        pf = torch.softmax(lf[0, -1, allowed].float(), -1)
        pb = torch.softmax(lb[0, -1, allowed].float(), -1)
        agree += int(pf.argmax() == pb.argmax())
        total += 1
        tv.append(0.5 * float((pf - pb).abs().sum()))
    report(
        "memory_setup",
        f"tiny preset, random weights (special head scaled so it speaks), {n_steps} steps "
        f"({n_steps / 4 / 60:.1f} min of stream), {len(tokens)} tokens, sink = prompt "
        f"({sink}), window {window}, evict every {evict_every}",
    )
    report("memory_top1_agreement", round(agree / max(total, 1), 4))
    report("memory_positions_compared", total)
    report("memory_mean_total_variation", round(statistics.mean(tv), 4) if tv else None)
    report("memory_cache_tokens_unbounded", full.get_seq_length())
    report("memory_cache_tokens_bounded", bounded.get_seq_length())
    report("memory_cache_bytes_unbounded", full.nbytes())
    report("memory_cache_bytes_bounded", bounded.nbytes())


# -- GPU (or a CPU dry run of the same code) -----------------------------------------------------
def seven_b_config(shape: str):
    from transformers import LlamaConfig

    if shape == "tiny":
        return LlamaConfig(
            vocab_size=576,
            hidden_size=64,
            num_hidden_layers=2,  # one plain layer, one with an adapter: every code path, and
            num_attention_heads=4,  # dynamo traces each layer, so the dry run stays short
            num_key_value_heads=4,
            intermediate_size=128,
            max_position_embeddings=4096,
            tie_word_embeddings=False,
        ), AdapterConfig(layers=(1,), width=64, feature_dim=32, feature_tokens=35)
    vocab = -(-(32000 + 3) // 64) * 64  # LLaMA-2 + 3 action tokens, padded to 64: 32064
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=4096,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        intermediate_size=11008,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
    ), AdapterConfig()


def build_gpu_model(device: torch.device, shape: str, dtype: torch.dtype) -> StreamVLM:
    from transformers import LlamaForCausalLM

    lm_config, adapter = seven_b_config(shape)
    tokenizer = train_tokenizer(vocab_size=512)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build straight in the target dtype, on the device
    try:
        with torch.device(device):
            lm = LlamaForCausalLM(lm_config).eval()
            config = StreamVLMConfig(tiny_lm=None, adapter=adapter, dtype=str(dtype)[6:])
            model = StreamVLM(config, lm, tokenizer).eval()
    finally:
        torch.set_default_dtype(previous)
    return model


def median_ms(fn, device: torch.device, n: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(n):
        tic = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - tic)
    return statistics.median(times) * 1e3


def gpu_part(args: argparse.Namespace) -> None:
    start = time.monotonic()
    left = lambda: args.time_budget - (time.monotonic() - start)  # noqa: E731
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type == "cpu":
        torch.set_num_threads(1)  # the dry run: a shared box
    out = args.json_out
    if device.type == "cuda":
        report("gpu", torch.cuda.get_device_name(0), out)
    report("gpu_shape", args.gpu_shape, out)
    report("versions", {"torch": torch.__version__, "transformers": _tv()}, out)
    tic = time.monotonic()
    model = build_gpu_model(device, args.gpu_shape, dtype)
    report("gpu_build_s", round(time.monotonic() - tic, 1), out)
    lm = model.base_lm
    a = model.config.adapter
    emb = lm.get_input_embeddings().weight
    lm_bytes = sum(p.numel() * p.element_size() for p in lm.parameters()) - emb.numel() * 2 * (
        emb.element_size() // 2
    )
    ad_bytes = sum(p.numel() * p.element_size() for p in model.adapters.parameters())
    report("weight_bytes_lm_read_per_step", lm_bytes, out)
    report("weight_bytes_adapters", ad_bytes, out)
    prompt_len = 64
    kw = model._cache_kwarg  # "cache" from transformers 5.24, "past_key_values" before
    g = torch.Generator(device=device).manual_seed(0)

    def feats(b: int) -> torch.Tensor:
        return torch.randn(b, 1, a.feature_tokens, a.feature_dim, generator=g, device=device).to(
            dtype
        )

    def guarded(name: str, need_s: float, fn) -> None:
        if left() < need_s:
            report(name, f"skipped: {left():.0f} s left, needs ~{need_s:.0f} s", out)
            return
        try:
            fn()
        except Exception as err:  # report and move on: one failure must not sink the run
            traceback.print_exc()
            report(name, f"error: {type(err).__name__}: {err}"[:300], out)
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()

    def bandwidth() -> None:
        n = (1 << 30) if device.type == "cuda" else (1 << 26)
        x = torch.empty(n, dtype=torch.uint8, device=device)
        y = torch.empty_like(x)
        ms = median_ms(lambda: y.copy_(x), device, n=10, warmup=2)
        bw = 2 * n / (ms / 1e3)  # read + write
        report("copy_bandwidth_GBps", round(bw / 1e9, 1), out)
        report("floor_ms_bare_lm", round(lm_bytes / bw * 1e3, 3), out)
        report("floor_ms_stream_vlm", round((lm_bytes + ad_bytes) / bw * 1e3, 3), out)

    def bare_eager(b: int) -> None:
        from transformers import DynamicCache

        cache = DynamicCache()
        ids = torch.randint(10, model.n_real_tokens - 10, (b, prompt_len))
        with torch.inference_mode():
            lm(input_ids=ids.to(device), **{kw: cache}, use_cache=True)
            tok = torch.full((b, 1), 42, device=device)
            ms = median_ms(
                lambda: lm(input_ids=tok, **{kw: cache}, use_cache=True).logits.argmax(-1),
                device,
                n=args.steps,
                warmup=3,
            )
        report(f"bare_hf_eager_ms_b{b}", round(ms, 3), out)

    def engine_eager() -> None:
        engine = StreamEngine(model, EngineConfig(drop_first_steps=0))
        session = engine.start(PROMPT)
        step = torch.randn(a.feature_dim, 7, 5, generator=g, device=device)

        def push() -> None:
            for _ in session.push(step):
                pass

        ms = median_ms(push, device, n=args.steps, warmup=3)
        report("engine_eager_ms_b1", round(ms, 3), out)
        report("engine_eager_cache_tokens", session.cache_tokens, out)

    def engine_compiled() -> None:
        """``session.push`` with the static cache and the compiled one-token step (the product
        path: what ``livefit predict --compile`` and a live session run)."""
        torch._dynamo.reset()
        config = EngineConfig(
            drop_first_steps=0,
            blind_skip=False,
            cache="static",
            cache_capacity=4096,
            compile=True,
            compile_backend=args.compile_backend,
        )
        engine = StreamEngine(model, config)
        step = torch.randn(a.feature_dim, 7, 5, generator=g, device=device)
        with engine.start(PROMPT) as session:

            def push() -> None:
                for _ in session.push(step):
                    pass

            tic = time.monotonic()
            for _ in range(3):  # prompt, then compile and record the <vision> step
                push()
            sync(device)
            report("engine_compile_warmup_s_b1", round(time.monotonic() - tic, 1), out)
            ms = median_ms(push, device, n=args.steps, warmup=2)
            report("engine_compiled_ms_b1", round(ms, 3), out)
            per_push = len(session.tokens) / session.steps_pushed  # > 1 when the model talks
            report("engine_compiled_tokens_per_push", round(per_push, 2), out)

    def stream_step_eager(b: int) -> None:
        """b streams in lockstep: one <vision> token each, on a shared batched cache."""
        cache = StreamCache(model.num_layers)
        v = model.ids.vision
        ids = torch.tensor([model.tokenizer.encode(PROMPT)[: prompt_len - 1] + [v]] * b)
        pos = [ids.shape[1]]
        with torch.inference_mode():
            model(ids.to(device), torch.cat([feats(b)] * 1, 1), cache=cache)
            tok = torch.full((b, 1), v, device=device)
            f = feats(b)

            def step() -> None:
                p = torch.full((b, 1), pos[0], device=device)
                model(tok, f, cache=cache, position_ids=p, logits_to_keep=1, dense_vision=True)
                pos[0] += 1

            ms = median_ms(step, device, n=args.steps, warmup=3)
        report(f"stream_vlm_eager_ms_b{b}", round(ms, 3), out)

    def compiled(kind: str, b: int, variant: str = "default") -> None:
        from transformers import StaticCache

        torch._dynamo.reset()  # each variant compiles afresh (no graph or limit carried over)
        cache = StaticCache(config=lm.config, max_cache_len=prompt_len + args.steps + 16)
        mode, inductor = COMPILE_VARIANTS[variant]
        mode = mode if device.type == "cuda" else None
        backend = args.compile_backend
        v = model.ids.vision
        ids = torch.tensor([model.tokenizer.encode(PROMPT)[: prompt_len - 1] + [v]] * b)
        ids = ids.to(device)
        pos = [ids.shape[1]]
        f = feats(b)
        # transformers < 5.24 take cache_position (else derived from the cache, with a sync).
        takes_cp = "cache_position" in inspect.signature(lm.get_decoder().forward).parameters

        def extra() -> dict[str, torch.Tensor]:
            if not takes_cp:
                return {}
            return {"cache_position": torch.tensor([pos[0]], device=device)}

        with torch.inference_mode():
            if kind == "bare":
                lm(input_ids=ids, **{kw: cache}, use_cache=True)  # eager prefill
                fwd = torch.compile(lm.forward, mode=mode, backend=backend)
                tok = torch.full((b, 1), 42, device=device)

                def step() -> None:
                    p = torch.full((b, 1), pos[0], device=device)
                    fwd(
                        input_ids=tok,
                        **{kw: cache},
                        use_cache=True,
                        position_ids=p,
                        **extra(),
                    )
                    pos[0] += 1
            else:
                model(ids, f, cache=cache)  # eager prefill
                fwd = torch.compile(model.forward, mode=mode, backend=backend)
                tok = torch.full((b, 1), v, device=device)

                def step() -> None:
                    p = torch.full((b, 1), pos[0], device=device)
                    fwd(
                        tok,
                        f,
                        cache=cache,
                        position_ids=p,
                        logits_to_keep=1,
                        dense_vision=True,
                        **extra(),
                    )
                    pos[0] += 1

            tic = time.monotonic()
            with torch._inductor.config.patch(inductor):  # active while it compiles
                for _ in range(3):  # compile, then CUDA-graph record
                    step()
            sync(device)
            suffix = "" if variant == "default" else f"_{variant}"
            report(f"{kind}_compile_warmup_s_b{b}{suffix}", round(time.monotonic() - tic, 1), out)
            ms = median_ms(step, device, n=args.steps, warmup=2)
        name = "bare_hf" if kind == "bare" else "stream_vlm"
        report(f"{name}_compiled_static_ms_b{b}{suffix}", round(ms, 3), out)

    guarded("copy_bandwidth_GBps", 10, bandwidth)
    guarded("bare_hf_eager_ms_b1", 20, lambda: bare_eager(1))
    guarded("engine_eager_ms_b1", 20, engine_eager)
    guarded("stream_vlm_eager_ms_b1", 20, lambda: stream_step_eager(1))
    guarded("stream_vlm_eager_ms_b64", 30, lambda: stream_step_eager(64))
    guarded("bare_hf_eager_ms_b64", 30, lambda: bare_eager(64))
    guarded("bare_hf_compiled_static_ms_b1", 100, lambda: compiled("bare", 1))
    guarded("stream_vlm_compiled_static_ms_b1", 100, lambda: compiled("stream", 1))
    guarded("stream_vlm_compiled_static_ms_b64", 100, lambda: compiled("stream", 64))
    guarded("engine_compiled_ms_b1", 100, engine_compiled)
    for variant in args.compile_variants:
        for kind, name in (("stream", "stream_vlm"), ("bare", "bare_hf")):
            key = f"{name}_compiled_static_ms_b1_{variant}"
            guarded(key, 150, lambda k=kind, v=variant: compiled(k, 1, v))
    engine_ms, floor = RESULTS.get("engine_compiled_ms_b1"), RESULTS.get("floor_ms_stream_vlm")
    if isinstance(engine_ms, float) and isinstance(floor, float):
        report("engine_compiled_b1_over_floor", round(engine_ms / floor, 3), out)
    for name, floor_key in (("stream_vlm", "floor_ms_stream_vlm"), ("bare_hf", "floor_ms_bare_lm")):
        floor = RESULTS.get(floor_key)
        for variant in ("default", *args.compile_variants):
            suffix = "" if variant == "default" else f"_{variant}"
            ms = RESULTS.get(f"{name}_compiled_static_ms_b1{suffix}")
            if isinstance(floor, float) and isinstance(ms, float):
                report(f"{name}_compiled_b1_over_floor{suffix}", round(ms / floor, 3), out)
    report("gpu_part_s", round(time.monotonic() - start, 1), out)


def _tv() -> str:
    import transformers

    return transformers.__version__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--early", type=int, default=50)
    parser.add_argument("--late", type=int, default=800)
    parser.add_argument("--naive-repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="run the bounded-memory study")
    parser.add_argument("--memory-steps", type=int, default=2400)
    parser.add_argument("--memory-window", type=int, default=512)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else None)
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU part")
    parser.add_argument("--gpu-shape", choices=["7b", "tiny"], default="7b")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument(
        "--compile-variants",
        type=lambda text: [v for v in text.split(",") if v],
        default=["tuned", "autotune"],
        help=f"extra compile settings measured at batch 1, in order: {', '.join(COMPILE_VARIANTS)}",
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps per GPU measurement")
    parser.add_argument("--time-budget", type=float, default=400.0, help="seconds for GPU part")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    unknown = sorted(set(args.compile_variants) - set(COMPILE_VARIANTS))
    if unknown:
        parser.error(f"unknown --compile-variants {unknown}: choose from {list(COMPILE_VARIANTS)}")
    report("machine", f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus")
    if not args.gpu_only:
        cpu_steps(args.early, args.late, args.naive_repeats)
    if args.memory:
        bounded_memory(args.memory_steps, args.memory_window, 64)
    if args.device is not None:
        gpu_part(args)
    print(json.dumps(RESULTS), flush=True)


if __name__ == "__main__":
    main()
