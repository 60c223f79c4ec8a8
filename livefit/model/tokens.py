"""The three action tokens of Stream-VLM and their own small trainable embeddings.

``<vision>`` (one per feature step: "give me the next step"), ``<answer>`` (start speaking) and
``<answer/>`` (stop). The paper names the first two ``<next>`` and ``<feedback>``; we keep the
reference spelling so its tokenizers and checkpoints work unchanged.

As in torchtune's fusion embedding, the new tokens do not train rows of the (frozen) base
matrices: ``SpecialTokenParams`` holds an input embedding [3, D] and an output head [3, D] of its
own. ``StreamVLM`` swaps them in for the special ids on the way in and computes the three special
logits with them on the way out, so the base LM's state dict keeps its Hugging Face keys and
shapes, and stage 2/3 can train these 3 x 2 vectors while the base stays frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

VISION = "<vision>"
ANSWER = "<answer>"
ANSWER_END = "<answer/>"
SPECIAL_TOKENS = (VISION, ANSWER, ANSWER_END)


@dataclass(frozen=True)
class SpecialIds:
    """Token ids of the three action tokens in one tokenizer."""

    vision: int
    answer: int
    answer_end: int

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.vision, self.answer, self.answer_end)


def special_ids(tokenizer) -> SpecialIds:
    """Look the three tokens up; a clear error if the tokenizer lacks one."""
    ids = []
    vocab = tokenizer.get_vocab()
    for token in SPECIAL_TOKENS:
        if token not in vocab:
            raise ValueError(
                f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no {token} token: "
                "add it with livefit.model.tokenizer.add_special_tokens"
            )
        ids.append(vocab[token])
    return SpecialIds(*ids)


class SpecialTokenParams(nn.Module):
    """Input embeddings and output-head rows of the special tokens, kept apart from the base LM."""

    def __init__(self, ids: SpecialIds, hidden_size: int) -> None:
        super().__init__()
        self.register_buffer(
            "ids", torch.tensor(ids.as_tuple(), dtype=torch.long), persistent=False
        )
        self.embed = nn.Parameter(torch.zeros(len(SPECIAL_TOKENS), hidden_size))  # (3, D)
        self.head = nn.Parameter(torch.zeros(len(SPECIAL_TOKENS), hidden_size))  # (3, D)
        # Logit offsets of the three tokens (0 unless calibrated, see ``calibrate``): a decision
        # threshold that is part of the model, so every decoder applies it the same way.
        self.register_buffer("bias", torch.zeros(len(SPECIAL_TOKENS)))

    @torch.no_grad()
    def copy_from(self, input_embeddings: torch.Tensor, output_embeddings: torch.Tensor) -> None:
        """Initialise from the rows the base matrices hold for these ids (e.g. after a resize)."""
        self.embed.copy_(input_embeddings[self.ids])
        self.head.copy_(output_embeddings[self.ids])

    def embed_inputs(self, input_ids: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
        """Replace the embeddings at special positions: ids [B, T], embeds [B, T, D]."""
        match = input_ids.unsqueeze(-1) == self.ids  # (B, T, 3)
        special = match.to(embeds.dtype) @ self.embed.to(embeds.dtype)  # (B, T, D)
        return torch.where(match.any(-1, keepdim=True), special, embeds)

    def patch_logits(self, hidden: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Overwrite the 3 special columns: hidden [B, T, D], logits [B, T, V]."""
        special = hidden @ self.head.to(hidden.dtype).T + self.bias.to(hidden.dtype)  # (B, T, 3)
        return logits.index_copy(-1, self.ids, special.to(logits.dtype))


__all__ = [
    "ANSWER",
    "ANSWER_END",
    "SPECIAL_TOKENS",
    "VISION",
    "SpecialIds",
    "SpecialTokenParams",
    "special_ids",
]
