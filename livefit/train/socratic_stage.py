"""Our own Socratic LM: a tiny language model trained on the text descriptions of what the CNN
sees instead of on its visual features (the paper's Socratic baseline, Table 4, trained on QEVD).

Sits beside the three Stream-VLM stages and plugs into ``livefit.train.loop.fit`` as a ``Task``.
Flow: the long-range train split's segments -> the real ``SocraticSession``
(``livefit.baselines.socratic``: activity head -> one activity line per 1 s window -> the E.2
prompt every 5 s) driven exactly as ``livefit predict`` drives it (``run_segment``), with a
*teacher* LM that records each prompt and replies with that turn's ground-truth feedback
(``livefit.model.sequences.turn_targets``) -> one training sequence per turn:

    tokenizer(prompt) | " " + feedback | EOS        (loss on the feedback and EOS only)

The teacher forcing keeps "what you've said so far" equal to the previous targets, as at inference
when the model is right, and makes every training prompt byte-identical to the prompt the
session sends at inference (the prompt is the messages' contents joined by a blank line, what
``TransformersChat.encode`` feeds a tokenizer without chat template).

The LM is a plain ``transformers.LlamaForCausalLM`` built from scratch (like
``StreamVLM.from_config``'s tiny LM) with a byte-level BPE trained on the training prompts and
feedbacks (``<run>/tokenizer``, so a resume builds the same). Validation streams the held-out
workouts through ``SocraticCoach`` with the in-memory model, greedy, and scores them paper-exact
(temporal F-score, METEOR, ROUGE-L). ``<run>/model`` is a Hugging Face folder that
``--model socratic:<run>/model`` loads (its ``generation_config`` is greedy and stops at EOS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from transformers import GenerationConfig

from livefit.baselines.socratic import (
    SETTINGS_FILE,
    SOCRATIC_EVERY_S,
    SocraticCoach,
    SocraticConfig,
    first_sentence,
)
from livefit.chat import ChatConfig, TransformersChat
from livefit.config import bounded, save_config
from livefit.data.qevd import Segment, load_segments
from livefit.io import atomic_write_json, atomic_write_text
from livefit.model.config import TinyLMConfig
from livefit.model.sequences import turn_targets, turn_times
from livefit.model.stream_vlm import tiny_llama
from livefit.model.tokenizer import load_tokenizer, train_tokenizer
from livefit.stream.predict import run_segment
from livefit.train.coach_stage import score_streams, split_segments
from livefit.train.loop import LoopConfig, OptimConfig
from livefit.train.stage import run_stage
from livefit.vision.activity import ActivityHead

MODEL_DIR = "model"  # <run>/model/: the trained LM + tokenizer (save_pretrained)
TOKENIZER_DIR = "tokenizer"  # <run>/tokenizer/: the BPE trained on the training text
IGNORE = -100  # label of the tokens without loss (prompt, padding)


@dataclass(frozen=True)
class SocraticLMConfig:
    """Training our own Socratic LM (the tiny LM, the turns it learns, the loop)."""

    tiny_lm: TinyLMConfig = field(
        default_factory=lambda: TinyLMConfig(
            hidden_size=192,
            num_layers=4,
            num_heads=4,
            num_kv_heads=4,
            intermediate_size=512,
            max_position_embeddings=2048,
        )
    )
    """The LLaMA-architecture LM built from scratch; ``max_position_embeddings`` bounds the
    training sequences (longer ones are skipped and counted in ``data.json``)."""
    tokenizer_vocab: int = bounded(1024, ge=1)
    """Vocabulary of the byte-level BPE trained on the training prompts and feedbacks."""
    every_s: float = bounded(SOCRATIC_EVERY_S, gt=0)
    """Prompt interval of the session, in seconds (paper: 5 s)."""
    window_s: float = bounded(1.0, gt=0)
    """One activity line per window of this many seconds (paper: 1 s)."""
    min_confidence: float = bounded(0.5, ge=0, le=1)
    """The session's ``min_confidence`` (below: "The user is doing the exercise.")."""
    max_feedback_tokens: int = bounded(48, ge=1)
    """Target tokens per turn (longer feedbacks are cut) and the validation reply limit."""
    validation_workouts: int = bounded(0, ge=0)
    """The last N workouts of the long-range train split: streamed and scored, never trained."""
    max_validation_segments: int = bounded(0, ge=0)
    """Score at most this many held-out segments (0: all)."""
    max_train_turns: int = bounded(0, ge=0)
    """Train on at most this many turns, an even spread over all of them (0: all)."""
    loop: LoopConfig = field(
        default_factory=lambda: LoopConfig(epochs=2, batch_size=16, eval_every=0, log_every=10)
    )
    """Epochs, batch, evaluation and checkpoint cadence."""
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(
            name="adamw",
            lr=1e-3,
            betas=(0.9, 0.95),
            weight_decay=0.01,
            grad_clip=1.0,
            warmup_steps=20,
            schedule="cosine",
        )
    )
    """AdamW for a tiny LM from scratch: lr 1e-3, cosine after 20 warm-up steps, clip 1.0."""

    def session_config(self, cnn_dir: str | Path | None = None, **chat: Any) -> SocraticConfig:
        """The ``SocraticConfig`` whose sessions make the training prompts (greedy decoding)."""
        return SocraticConfig(
            cnn=None if cnn_dir is None else str(cnn_dir),
            every_s=self.every_s,
            window_s=self.window_s,
            min_confidence=self.min_confidence,
            temperature=0.0,
            max_new_tokens=self.max_feedback_tokens,
            **chat,
        )


@dataclass(frozen=True)
class Turn:
    """One prompt of a segment's session and the feedback the LM should reply."""

    segment_id: str
    time: float  # the turn's time, seconds from the segment start (k * every_s)
    prompt: str  # the whole prompt text, as the session sent it
    target: str  # the reply the session keeps: the ground truth's first sentence


class TeacherLM:
    """A ``ChatBackend`` that records each prompt of one session and replies with that turn's
    ground-truth feedback (teacher forcing). The turn is the session's ``_asked * every_s``,
    the boundary ``SocraticSession._ask`` is prompting for."""

    name = "teacher"

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.session: Any = None
        self.targets: dict[int, str] = {}  # turn number k (time k * every_s) -> reply
        self.turns: list[tuple[float, str, str]] = []  # (time, prompt, reply)
        self.unanswerable = 0  # prompts with no target (past the segment's last turn)

    def start(self, session: Any, targets: dict[int, str]) -> None:
        self.session, self.targets = session, targets

    def complete(self, messages: list[dict[str, str]], seed: int | None) -> str:
        k = self.session._asked  # incremented by push() before it calls _ask
        reply = self.targets.get(k, "")
        if reply:
            prompt = "\n\n".join(m["content"] for m in messages)  # = TransformersChat.encode
            self.turns.append((k * self.every_s, prompt, reply))
        else:
            self.unanswerable += 1
        return reply


class _TeacherCoach(SocraticCoach):
    """A ``SocraticCoach`` that hands each new session to its ``TeacherLM``."""

    def start(self, system_prompt: str, total_steps: int | None = None, t0: float | None = None):
        session = super().start(system_prompt, total_steps, t0)
        self.lm.start(session, self.pending)  # type: ignore[attr-defined]
        return session


def segment_turns(
    segments: list[Segment], head: Any, config: SocraticLMConfig, cnn_dir: str | Path | None = None
) -> tuple[list[Turn], dict[str, int]]:
    """Every turn of ``segments``: the real session streamed as ``livefit predict`` streams it
    (``run_segment``), with the ground-truth feedback of each 5 s turn as the LM's reply."""
    teacher = TeacherLM(config.every_s)
    coach = _TeacherCoach(config.session_config(cnn_dir), lm=teacher, head=head)
    turns: list[Turn] = []
    counts = {
        "segments": len(segments),
        "segments_without_feedback": 0,
        "turns": 0,
        "turns_without_prompt": 0,
    }
    for seg in segments:
        feats, times = seg.load_features()
        # The session may reach a turn past the duration (features run longer): it still
        # answers there at inference, so it learns the nearest feedback there too.
        last = (len(feats) - 2) / coach.socratic.steps_per_second  # run_segment drops one step
        schedule = turn_times(max(seg.end - seg.start, last, 0.0), config.every_s)
        targets = turn_targets(seg.response_times, seg.responses, schedule)
        if not targets:
            counts["segments_without_feedback"] += 1
            continue
        coach.pending = {  # type: ignore[attr-defined]
            k + 1: first_sentence(seg.responses[i]) for k, i in enumerate(targets)
        }
        teacher.turns = []
        run_segment(coach, seg, features=(feats, times))  # type: ignore[arg-type]
        asked = {round(t / config.every_s) for t, _, _ in teacher.turns}
        counts["turns_without_prompt"] += len(set(coach.pending) - asked)  # type: ignore[attr-defined]
        turns += [Turn(seg.segment_id, t, p, r) for t, p, r in teacher.turns]
    counts["turns"] = len(turns)
    return turns, counts


def socratic_sequence(tokenizer, turn: Turn, max_feedback_tokens: int) -> tuple[list[int], int]:
    """(ids, prompt length): the prompt as ``TransformersChat.encode`` tokenizes it (BOS
    included), then " " + target (at most ``max_feedback_tokens`` tokens) and EOS."""
    prompt = list(tokenizer(turn.prompt)["input_ids"])
    reply = list(tokenizer.encode(" " + turn.target, add_special_tokens=False))
    return prompt + reply[:max_feedback_tokens] + [tokenizer.eos_token_id], len(prompt)


class TurnDataset(Dataset):
    """(ids, prompt length) per turn."""

    def __init__(self, items: list[tuple[list[int], int]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.items[i]


def collate_turns(items: list[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (IGNORE on the prompt and
    the padding), each (B, T)."""
    width = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for b, (seq, n_prompt) in enumerate(items):
        ids[b, : len(seq)] = torch.tensor(seq)
        labels[b, n_prompt : len(seq)] = torch.tensor(seq[n_prompt:])
        mask[b, : len(seq)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def build_lm(tiny: TinyLMConfig, tokenizer) -> nn.Module:
    """A random ``LlamaForCausalLM`` of ``tiny``'s size over ``tokenizer`` (vocabulary padded to
    a multiple of 64), greedy and stopping at EOS when it generates."""
    lm = tiny_llama(tiny, -(-len(tokenizer) // 64) * 64, tokenizer)
    lm.generation_config = GenerationConfig(
        do_sample=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return lm


class LoadedChat(TransformersChat):
    """``TransformersChat`` over a model and tokenizer already in memory (validation)."""

    def __init__(self, model: nn.Module, tokenizer, config: ChatConfig) -> None:
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.device = next(model.parameters()).device
        self.eot = None
        self.name = "in-memory socratic LM"


class SocraticLMTask:
    """Our own Socratic LM as a ``livefit.train.loop.Task``."""

    def __init__(
        self,
        config: SocraticLMConfig,
        data_root: Path,
        cnn_dir: Path,
        run_dir: Path,
        head: Any = None,
    ) -> None:
        self.config, self.data_root = config, Path(data_root)
        self.cnn_dir, self.run_dir = Path(cnn_dir), Path(run_dir)
        self.head = head if head is not None else ActivityHead.from_pretrained(self.cnn_dir)
        segments = load_segments(self.data_root, "train")
        self.train_segments, self.val_segments = split_segments(
            segments, config.validation_workouts
        )
        if config.max_validation_segments:
            self.val_segments = self.val_segments[: config.max_validation_segments]
        self.turns: list[Turn] | None = None
        self.tokenizer: Any = None
        self.model: nn.Module | None = None
        self.data_counts: dict[str, int] = {}

    # -- data ---------------------------------------------------------------------------------
    def training_turns(self) -> list[Turn]:
        """The turns trained on (built once; deterministic, so a resume rebuilds the same)."""
        if self.turns is None:
            turns, self.data_counts = segment_turns(
                self.train_segments, self.head, self.config, self.cnn_dir
            )
            n = self.config.max_train_turns
            if n and len(turns) > n:  # an even spread keeps every part of the data
                turns = [turns[i * len(turns) // n] for i in range(n)]
            self.turns = turns
            if not turns:
                raise ValueError(f"{self.data_root}: no Socratic training turns")
            lines = (json.dumps(t.__dict__, ensure_ascii=False) for t in turns)
            atomic_write_text(self.run_dir / "turns.jsonl", "\n".join(lines) + "\n")
        return self.turns

    def build_model(self) -> nn.Module:
        tok_dir = self.run_dir / TOKENIZER_DIR
        if not (tok_dir / "tokenizer.json").is_file():  # a resume reuses the saved one
            corpus = [t.prompt for t in self.training_turns()] + [
                t.target for t in self.training_turns()
            ]
            train_tokenizer(corpus, self.config.tokenizer_vocab).save_pretrained(tok_dir)
        self.tokenizer = load_tokenizer(tok_dir)
        self.model = build_lm(self.config.tiny_lm, self.tokenizer)
        self.model.train()
        return self.model

    def train_dataset(self) -> TurnDataset:
        assert self.tokenizer is not None, "build_model first (fit does)"
        limit = self.config.tiny_lm.max_position_embeddings
        items, too_long = [], 0
        for turn in self.training_turns():
            ids, n_prompt = socratic_sequence(self.tokenizer, turn, self.config.max_feedback_tokens)
            if len(ids) > limit:
                too_long += 1  # cutting the prompt would teach prompts inference never sends
                continue
            items.append((ids, n_prompt))
        if not items:
            raise ValueError(f"every training turn is longer than {limit} tokens")
        lengths = [len(ids) for ids, _ in items]
        self.data_counts.update(
            sequences=len(items),
            skipped_too_long=too_long,
            max_tokens=max(lengths),
            mean_tokens=round(sum(lengths) / len(lengths), 1),
        )
        atomic_write_json(self.run_dir / "data.json", self.data_counts)
        return TurnDataset(items)

    def collate(self, items: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        return collate_turns(items, self.tokenizer.pad_token_id)

    # -- loss ---------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]):
        core = getattr(model, "module", model)  # under DDP: the LlamaForCausalLM
        device = next(model.parameters()).device
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        labels = batch["labels"].to(device)[:, 1:]  # (B, T-1): position t predicts token t+1
        hidden = core.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, H)
        scored = labels != IGNORE
        # The head only where the loss is: the targets are ~2% of the tokens.
        logits = core.lm_head(hidden[:, :-1][scored]).float()  # (N, V)
        loss = F.cross_entropy(logits, labels[scored])
        with torch.no_grad():
            accuracy = float((logits.argmax(-1) == labels[scored]).float().mean())
        return loss, {"token_accuracy": accuracy, "target_tokens": float(scored.sum())}

    # -- validation ---------------------------------------------------------------------------
    def coach(self, model: nn.Module) -> SocraticCoach:
        """A greedy ``SocraticCoach`` over the in-memory model."""
        config = self.config.session_config(self.cnn_dir)
        lm = LoadedChat(getattr(model, "module", model), self.tokenizer, config)
        return SocraticCoach(config, lm=lm, head=self.head)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, out_dir: Path) -> dict[str, float]:
        if not self.val_segments:
            return {}

        out_dir.mkdir(parents=True, exist_ok=True)
        metrics = score_streams(self.coach(model), self.val_segments, out_dir)
        atomic_write_json(out_dir / "metrics.json", metrics)
        return metrics

    # -- export -------------------------------------------------------------------------------
    def export(self, model: nn.Module, run_dir: Path) -> None:
        """``<run>/model/``: the LM and its tokenizer (``socratic:<run>/model``), greedy by its
        ``generation_config``, and this stage's config."""
        folder = run_dir / MODEL_DIR
        getattr(model, "module", model).save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        save_config(self.config, folder / "stage_config.json")
        atomic_write_json(folder / SETTINGS_FILE, self.coach_settings())

    def coach_settings(self) -> dict[str, Any]:
        """The ``SocraticConfig`` fields this model was trained for (``socratic.json``): its
        CNN's activity head, the session's clock, greedy decoding; ``socratic:<run>/model``
        reads them (spec options override them)."""
        c = self.config.session_config(self.cnn_dir.resolve())
        names = ("cnn", "every_s", "window_s", "min_confidence", "temperature", "max_new_tokens")
        return {name: getattr(c, name) for name in names}


def train_socratic_lm(
    data_root: str | Path,
    cnn_dir: str | Path,
    out_dir: str | Path,
    config: SocraticLMConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    head: Any = None,
) -> dict[str, Any]:
    """Train our own Socratic LM on ``data_root``'s long-range train split with the activity
    head of ``cnn_dir``, into ``out_dir`` (``model/``, ``summary.json``, checkpoints);
    ``head``: an ``ActivityHead`` to use instead of the folder's (tests)."""
    config = config or SocraticLMConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = SocraticLMTask(config, Path(data_root), Path(cnn_dir), out, head=head)
    return run_stage(task, config, out, resume, progress)


__all__ = [
    "SETTINGS_FILE",
    "LoadedChat",
    "SocraticLMConfig",
    "SocraticLMTask",
    "TeacherLM",
    "Turn",
    "build_lm",
    "collate_turns",
    "segment_turns",
    "train_socratic_lm",
    "socratic_sequence",
]
