"""The naive streaming generator, kept in the tests only: the public reference's loop.

Every step re-embeds and recomputes the WHOLE sequence (prompt, every token so far and every
feature step seen) without a KV cache, exactly like the reference's ``_generate_interactive``:
features start at index 1 (``input_vision_idx = 2``), a feedback of n text tokens skips
``floor(n / 12 * 4)`` steps, and the loop stops when the next <vision> would need a step past the
end. (The published loop never increments its feedback length, so it never skips nor cuts long
feedbacks; the spec counts the text tokens, and so do we here.) Its cost grows with the stream:
the benchmark compares it with the engine.
"""

from __future__ import annotations

import math

import torch


@torch.inference_mode()
def naive_generate(
    model,
    prompt: list[int],
    steps: torch.Tensor,  # (N, n, C): the segment's feature steps as [H*W, C] each
    max_feedback_tokens: int = 128,
    steps_per_second: float = 4.0,
    tokens_per_second: float = 12.0,
    max_steps: int | None = None,
    constraint: str = "force",
    max_tokens_per_step: int | None = None,
) -> list[int]:
    """Greedy decoding with full recomputation; returns the output ids (prompt included).
    ``constraint="mask"``: choose among the allowed tokens only (the engine's extra mode);
    ``max_tokens_per_step``: the engine's safety rule (after that many tokens without a
    <vision>, close any open feedback and append a <vision>)."""
    vision, answer, answer_end = model.ids.as_tuple()
    output = list(prompt)
    idx = 2  # features [1, idx) are fed
    blind = [False] * (idx - 1)
    inside, n_text = False, 0
    n = steps.shape[0]
    calls = 0
    since_vision = 0
    while idx < n and (max_steps is None or calls < max_steps):
        used = [steps[i] for i in range(1, idx) if not blind[i - 1]]
        feats = torch.stack(used)[None]  # (1, S, n, C)
        logits = model(torch.tensor([output]), feats).logits[0, -1]
        calls += 1
        if constraint == "mask":
            allowed = torch.full_like(logits, float("-inf"))
            if inside and n_text >= max_feedback_tokens:
                keep = [answer_end]
            elif inside:
                keep = [i for i in range(len(logits)) if i not in (vision, answer)]
            else:
                keep = [vision, answer]
            allowed[keep] = logits[keep]
            logits = allowed
        token = int(torch.argmax(logits))
        if inside:
            if token in (vision, answer) or n_text >= max_feedback_tokens:
                token = answer_end
        elif token not in (vision, answer):
            token = vision
        forced = [token]
        since_vision = 0 if token == vision else since_vision + 1
        if max_tokens_per_step is not None and since_vision == max_tokens_per_step:
            still_open = token == answer or (inside and token != answer_end)
            forced += ([answer_end] if still_open else []) + [vision]
            since_vision = 0
        for token in forced:
            output.append(token)
            if token == vision:
                idx += 1
                blind.append(False)
            elif token == answer:
                inside, n_text = True, 0
            elif token == answer_end:
                inside = False
                skip = math.floor(n_text / tokens_per_second * steps_per_second)
                idx += skip
                blind += [True] * skip
                n_text = 0
            else:
                n_text += 1
    return output


def parity_times(
    tokens: list[int], model, steps_per_second: float = 4.0, tokens_per_second: float = 12.0
) -> list[tuple[float, str]]:
    """The spec's parity clock (evaluation-protocol.md section 5), written independently of the
    engine: times of the non-empty feedbacks of an output stream."""
    vision, answer, answer_end = model.ids.as_tuple()
    first = tokens.index(vision)
    out = tokens[first:]
    begins = [i for i, t in enumerate(out) if t == answer]
    ends = [i for i, t in enumerate(out) if t == answer_end]
    texts, steps = [], []
    previous_generation_time = 0.0
    for k in range(min(len(begins), len(ends))):
        b, e = begins[k], ends[k]
        previous_end = ends[k - 1] if k > 0 else 1
        text = model.tokenizer.decode(out[b + 1 : e])
        if len(text) > 0:
            texts.append(text)
            steps.append((b - previous_end - 1) / steps_per_second + previous_generation_time)
            previous_generation_time = (e - b) / tokens_per_second
        else:
            previous_generation_time = 0.0
    times, total = [], 0.0
    for s in steps:
        total += s
        times.append(total)
    return list(zip(times, texts, strict=True))
