"""Tokenizers for Stream-VLM: the LM's own (plus the three action tokens), or, for the tiny
preset, a small byte-level BPE trained here with ``tokenizers`` on coaching text.

Used by ``StreamVLM`` when it is built and saved beside every checkpoint as a fast tokenizer
(``tokenizer.json``), so ``from_pretrained`` never needs the hub.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from livefit.data import prompts
from livefit.model.hf_folder import SAFE_LOAD, open_folder
from livefit.model.tokens import SPECIAL_TOKENS

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"

# A little coaching language so the tiny tokenizer has whole-word merges for the common words
# even before any dataset is seen; real training text is added by the caller.
SEED_TEXT = (
    prompts.SINGLE_EXERCISE.format(exercise="squats"),
    prompts.FULL_WORKOUT.format(list="1) squats; 2) high knees; 3) jumping jacks"),
    prompts.SHORT_CLIP,
    prompts.SHORT_CLIP_FEEDBACK_QUESTION,
    prompts.LONG_RANGE,
    "First up are squats! Moving on to high knees! Moving on to push ups!",
    "Nice job, keep going! That's 5 reps. Go lower into the squat. Keep your back straight.",
    "Great form! Bend your knees more. Straighten your arms. You're doing great, 3 more to go.",
    "Lift your knees higher. Keep your core tight. Slow down a bit. Don't lock your elbows.",
    "Push your hips back. Keep your chest up. Well done! Faster! Breathe out as you push up.",
    "jumping jacks lunges plank burpees mountain climbers deltoid stretch shoulder taps",
    "one two three four five six seven eight nine ten reps repetitions",
)


def train_tokenizer(texts: Iterable[str] = (), vocab_size: int = 512):
    """Train a byte-level BPE on ``SEED_TEXT`` + ``texts``; returns a PreTrainedTokenizerFast
    with BOS/EOS/PAD/UNK and the three action tokens as special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [BOS, EOS, PAD, UNK, *SPECIAL_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([*SEED_TEXT, *texts], trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    # A BOS in front of every encoding, like the LLaMA tokenizer the reference prompts with.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK
    )
    fast.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    return fast


def add_special_tokens(tokenizer) -> int:
    """Add the three action tokens to an LM's tokenizer (no-op when present); returns # added."""
    missing = [t for t in SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
    if not missing:
        return 0
    return tokenizer.add_special_tokens({"additional_special_tokens": missing})


def load_tokenizer(path: str | Path):
    """A tokenizer from a local directory (no hub); a clear error when it is not one."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: tokenizer directory is missing")
    return open_folder(
        path, "tokenizer", lambda: AutoTokenizer.from_pretrained(str(path), **SAFE_LOAD)
    )


__all__ = ["SEED_TEXT", "add_special_tokens", "load_tokenizer", "train_tokenizer"]
