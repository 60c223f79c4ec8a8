"""Stages 2 and 3 of Stream-VLM: the language model learns to coach.

Plugs into ``livefit.train.loop.fit`` as a ``Task``, like stage 1 (``vision_stage``). One config,
``CoachStageConfig``, covers both language stages; they differ by data and by what trains:

- stage 2 (``stage="clips"``): short clips (QEVD-FIT-300K layout), one sequence per question
  and per end-of-clip feedback (paper appendix D.2); paper: adapters and action-token
  embeddings train, the LM and the CNN stay frozen;
- stage 3 (``stage="long_range"``): the exercise segments of the long-range train split, with
  each ground-truth feedback placed in the token stream where the engine's paper clock would
  say it at its time (D.3, ``livefit.model.sequences``); paper: LoRA on the LM, adapters frozen.

What trains is the model config's flags (``StreamVLMConfig.train_*``, ``lora``), so a stage is a
config. A stage starts from a saved Stream-VLM (``init_from``: weights and tokenizer) or builds
one from its model config (a tiny LM from scratch gets a byte-level BPE trained on the training
text, saved in ``<run>/tokenizer/`` so a resume builds the same one).

Validation runs the real streaming engine (the ``engine`` settings, paper clock by default) over
held-out workouts of the train split, exactly as ``livefit predict`` does, and scores the
feedbacks with the paper-exact evaluator (temporal F-score, METEOR, ROUGE-L): the number watched
during training is the number users get. Stage 2 also answers the held-out participants' clips
(feedback METEOR, question accuracy). The CNN is not part of these stages: its features are read
from the data root (``coach_data``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from livefit.config import bounded, save_config
from livefit.data import prompts
from livefit.data.clips import Clip, load_clips
from livefit.data.qevd import Segment, load_segments
from livefit.eval.evaluate import EvalConfig, evaluate_segments
from livefit.eval.predictions import Feedback
from livefit.eval.text_metrics import get_tokenizer, meteor
from livefit.eval.wordnet import load_wordnet
from livefit.io import atomic_write_json, atomic_write_text
from livefit.model.config import LoRAConfig, StreamVLMConfig, paper_config
from livefit.model.sequences import STAGE2_SYSTEM, STAGE3_SYSTEM, prompt_ids, text_ids
from livefit.model.stream_vlm import StreamVLM
from livefit.model.tokenizer import train_tokenizer
from livefit.stream.clocks import make_clock
from livefit.stream.engine import EngineConfig, StreamEngine
from livefit.stream.predict import run_segment
from livefit.train.coach_data import (
    CLIP_ITEMS,
    IGNORE,
    Batch,
    SequenceDataset,
    clip_features,
    clip_items,
    collate,
    segment_items,
)
from livefit.train.loop import LoopConfig, OptimConfig

STAGES = ("clips", "long_range")
PROMPTS = ("paper", "segment")
MODEL_DIR = "model"  # <run>/model/: the trained Stream-VLM (save_pretrained)
TOKENIZER_DIR = "tokenizer"
PREDICTIONS_FILE = "predictions.jsonl"  # of a validation pass, in its folder


@dataclass(frozen=True)
class ValidationConfig:
    """What is held out of the train split and scored during training."""

    workouts: int = bounded(0, ge=0)
    """The last N workouts of the long-range train split: streamed by the engine and scored
    (temporal F-score, METEOR, ROUGE-L); never trained on."""
    participants: int = bounded(0, ge=0)
    """Stage 2: the clips of the last N participants of the clip train split: answered and
    scored (feedback METEOR, question accuracy); never trained on."""
    max_segments: int = bounded(0, ge=0)
    """Score at most this many held-out segments (0: all)."""
    max_clips: int = bounded(0, ge=0)
    """Answer at most this many held-out clips (0: all)."""


@dataclass(frozen=True)
class CalibrationConfig:
    """After training, choose the model's logit offset of ``<answer>`` (its speak threshold)
    on the held-out workouts; the offset is a model buffer, so every decoder applies it."""

    answer_bias: tuple[float, ...] = ()
    """Candidate offsets, each scored by streaming the held-out workouts; () = no calibration
    (the paper's model)."""
    objective: str = "t_f_score+meteor"
    """What the chosen offset maximises: t_f_score, or t_f_score+meteor (both targets)."""


@dataclass(frozen=True)
class CoachStageConfig:
    """Stage 2 or 3; the defaults are the paper's stage 3 (``paper_stage_config`` for both)."""

    stage: str = "long_range"
    """clips (stage 2, short clips) or long_range (stage 3, exercise segments)."""
    model: StreamVLMConfig = field(default_factory=StreamVLMConfig)
    """The model: architecture, and what trains (``train_*`` flags, ``lora``)."""
    init_from: str | None = None
    """A Stream-VLM directory (e.g. stage 2's ``<run>/model``) whose weights and tokenizer this
    stage starts from; its architecture must be ``model``'s. None: build ``model`` fresh."""
    prompt: str = "paper"
    """Stage 3 system prompt in training: paper (``<system>`` + the long-range prompt of appendix
    D.3, while the benchmark prompts the engine with the single-exercise prompt) or segment (the
    segment's own prompt, the one ``livefit predict`` gives the engine: an extra)."""
    clip_items: tuple[str, ...] = CLIP_ITEMS
    """Stage 2 sequences: feedback (the clip's feedbacks), high_level and fine_grained
    questions."""
    tokenizer_vocab: int = bounded(1024, ge=1)
    """Vocabulary of the BPE trained for a tiny LM built from scratch (no ``init_from``)."""
    engine: EngineConfig = field(default_factory=EngineConfig)
    """Clock and decoding the sequences are made for and validation runs with (paper clock)."""
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    """What is held out and scored."""
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    """Decision calibration on the held-out workouts after training (off in the paper)."""
    decision_weight: float = bounded(1.0, ge=0)
    """Loss weight of the <vision>/<answer> decisions relative to text tokens (paper: 1)."""
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(epochs=2, batch_size=32))
    """Paper: 2 epochs, batch 32."""
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(
            name="adamw", lr=1e-6, betas=(0.9, 0.95), weight_decay=0.01, grad_clip=1.0
        )
    )
    """Paper: AdamW, betas (0.9, 0.95), weight decay 0.01, grad-norm clip 1.0; lr 5e-6 (stage
    2), 1e-6 (stage 3)."""

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {list(STAGES)}, got {self.stage!r}")
        if self.prompt not in PROMPTS:
            raise ValueError(f"prompt must be one of {list(PROMPTS)}, got {self.prompt!r}")
        if not make_clock(self.engine).matches_training:
            raise ValueError("training sequences follow the paper clock: engine.clock = paper")


def paper_stage_config(stage: str, lm_path: str = "models/Llama-2-7b-hf") -> CoachStageConfig:
    """The paper's stage 2 or 3 (appendix D.2/D.3) on LLaMA-2-7B from a local path, bf16."""
    optim = OptimConfig(name="adamw", lr=5e-6, betas=(0.9, 0.95), weight_decay=0.01, grad_clip=1.0)
    loop = LoopConfig(epochs=2, batch_size=32, mixed_precision="bf16")
    if stage == "clips":
        model = paper_config(lm_path, train_adapters=True, train_special_tokens=True)
        return CoachStageConfig("clips", model, loop=loop, optim=optim)
    model = paper_config(
        lm_path, lora=LoRAConfig(), train_adapters=False, train_special_tokens=False
    )
    return CoachStageConfig(
        "long_range", model, prompt="paper", loop=loop, optim=replace(optim, lr=1e-6)
    )


def _participants(clips: list[Clip]) -> list[str]:
    return list(dict.fromkeys(c.participant for c in clips))


def split_clips(clips: list[Clip], held_out: int) -> tuple[list[Clip], list[Clip]]:
    """(train, validation): the clips of the last ``held_out`` participants are held out."""
    names = _participants(clips)
    if held_out >= len(names) and held_out:
        raise ValueError(f"cannot hold out {held_out} of {len(names)} clip participants")
    out = set(names[len(names) - held_out :]) if held_out else set()
    kept = [c for c in clips if c.participant not in out]
    return kept, [c for c in clips if c.participant in out]


def split_segments(segments: list[Segment], held_out: int) -> tuple[list[Segment], list[Segment]]:
    """(train, validation): the segments of the last ``held_out`` workouts are held out."""
    videos = list(dict.fromkeys(s.video for s in segments))
    if held_out >= len(videos) and held_out:
        raise ValueError(f"cannot hold out {held_out} of {len(videos)} workouts")
    out = set(videos[len(videos) - held_out :]) if held_out else set()
    return [s for s in segments if s.video not in out], [s for s in segments if s.video in out]


class CoachTask:
    """Stage 2 or 3 as a ``livefit.train.loop.Task``."""

    def __init__(
        self,
        config: CoachStageConfig,
        data_root: Path,
        run_dir: Path,
        progress: bool = True,
    ):
        self.config, self.data_root, self.run_dir = config, Path(data_root), Path(run_dir)
        self.progress = progress
        v = config.validation
        self.train_clips: list[Clip] = []
        self.val_clips: list[Clip] = []
        if config.stage == "clips":
            self.train_clips, self.val_clips = split_clips(
                load_clips(self.data_root, "train"), v.participants
            )
            if v.max_clips:
                self.val_clips = self.val_clips[: v.max_clips]
        segments = []
        if config.stage == "long_range" or v.workouts:
            segments = load_segments(self.data_root, "train")
        self.train_segments, self.val_segments = split_segments(segments, v.workouts)
        if v.max_segments:
            self.val_segments = self.val_segments[: v.max_segments]
        self.model: StreamVLM | None = None
        self.data_counts: dict[str, int] = {}
        # The calibration's pass at the offset it chose: (its metrics, its folder). The final
        # evaluation, which follows at once on the same weights and offset, takes it instead of
        # streaming the held-out workouts again (greedy or seeded: the same predictions).
        self._chosen_pass: tuple[dict[str, float], Path] | None = None

    # -- model --------------------------------------------------------------------------------
    def corpus(self) -> list[str]:
        """Training text for a tokenizer built from scratch: prompts, clip questions, answers
        and feedbacks, segment feedbacks (train split only)."""
        texts = [STAGE2_SYSTEM, STAGE3_SYSTEM, prompts.SHORT_CLIP_FEEDBACK_QUESTION]
        clips = self.train_clips or load_clips(self.data_root, "train")
        for clip in clips:
            texts += [q.question for q in clip.qa] + [q.answer for q in clip.qa]
            texts += list(clip.feedbacks)
        segments = self.train_segments or load_segments(self.data_root, "train")
        exercises = sorted({s.exercise for s in segments if s.exercise})
        exercises += sorted({c.exercise for c in clips})
        texts += [prompts.single_exercise_prompt(e) for e in dict.fromkeys(exercises)]
        for seg in segments:
            texts += list(seg.responses)
        return texts

    def build_model(self) -> StreamVLM:
        c = self.config
        if c.init_from is not None:
            model = StreamVLM.from_pretrained(c.init_from, config=c.model)
        elif c.model.lm_path is None and c.model.tokenizer_path is None:
            tok_dir = self.run_dir / TOKENIZER_DIR
            if not (tok_dir / "tokenizer.json").is_file():  # a resume reuses the saved one
                train_tokenizer(self.corpus(), c.tokenizer_vocab).save_pretrained(tok_dir)
            model = StreamVLM.from_config(replace(c.model, tokenizer_path=str(tok_dir)))
        else:
            model = StreamVLM.from_config(c.model)
        model.train()
        self.model = model
        return model

    # -- data ---------------------------------------------------------------------------------
    def train_dataset(self) -> SequenceDataset:
        assert self.model is not None, "build_model first (fit does)"
        c = self.config
        tok, ids = self.model.tokenizer, self.model.ids
        limit = c.engine.max_feedback_tokens
        if c.stage == "clips":
            items = clip_items(self.train_clips, tok, ids, c.clip_items, limit)
            self.data_counts = {"clips": len(self.train_clips), "items": len(items)}
        else:
            system = STAGE3_SYSTEM if c.prompt == "paper" else None
            items, self.data_counts = segment_items(
                self.train_segments,
                tok,
                ids,
                system,
                c.engine.paper_clock,
                limit,
                turn_every_s=c.model.turn_every_s,
            )
        if not items:
            raise ValueError(f"{self.data_root}: no training sequences for stage {c.stage!r}")
        atomic_write_json(self.run_dir / "data.json", self.data_counts)
        return SequenceDataset(items)

    def collate(self, items) -> Batch:
        assert self.model is not None
        pad = self.model.tokenizer.pad_token_id or 0
        return collate(items, pad, self.config.engine.steps_per_second)

    # -- loss ---------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        core = getattr(model, "module", model)  # under DDP: the wrapped StreamVLM
        device = next(p for p in model.parameters()).device
        batch = batch.to(device)
        times = batch.times if core.uses_vision_times else None
        out = model(
            batch.ids, batch.features, attention_mask=batch.attention_mask, vision_times=times
        )
        logits = out.logits[:, :-1].float()  # (B, T-1, V): position t predicts token t+1
        labels = batch.labels[:, 1:]  # (B, T-1)
        per_token = F.cross_entropy(
            logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="none"
        ).view_as(labels)
        valid = labels != IGNORE
        decision = valid & ((labels == core.ids.vision) | (labels == core.ids.answer))
        text = valid & ~decision
        weight = torch.where(decision, self.config.decision_weight, 1.0) * valid
        loss = (per_token * weight).sum() / _global_mean(weight.sum()).clamp(min=1e-9)
        with torch.no_grad():
            parts = {
                "decision_loss": float(per_token[decision].mean()) if decision.any() else 0.0,
                "text_loss": float(per_token[text].mean()) if text.any() else 0.0,
            }
            answers = labels == core.ids.answer
            if answers.any():
                said = logits.argmax(-1) == core.ids.answer
                parts["answer_recall"] = float(said[answers].float().mean())
        return loss, parts

    # -- validation ---------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: nn.Module, out_dir: Path) -> dict[str, float]:
        out_dir.mkdir(parents=True, exist_ok=True)
        metrics: dict[str, float] = {}
        chosen, self._chosen_pass = self._chosen_pass, None
        if self.val_segments and chosen is not None:
            metrics.update(chosen[0])
            predictions = (chosen[1] / PREDICTIONS_FILE).read_text()
            atomic_write_text(out_dir / PREDICTIONS_FILE, predictions)
        elif self.val_segments:
            metrics.update(self.stream_validation(model, out_dir))  # type: ignore[arg-type]
        if self.val_clips:
            metrics.update(self.clip_validation(model, out_dir))  # type: ignore[arg-type]
        atomic_write_json(out_dir / "metrics.json", metrics)
        return metrics

    def stream_validation(self, model: StreamVLM, out_dir: Path) -> dict[str, float]:
        """The engine over the held-out segments, scored paper-exact."""
        return score_streams(StreamEngine(model, self.config.engine), self.val_segments, out_dir)

    def clip_validation(self, model: StreamVLM, out_dir: Path) -> dict[str, float]:
        """Greedy answers to the held-out clips' questions and feedback requests."""
        wordnet, tokenize = load_wordnet(), get_tokenizer().tokenize
        scores, correct, asked, lines = [], 0, 0, []
        for clip in self.val_clips:
            feats = torch.from_numpy(clip_features(clip))
            if len(feats) == 0:
                continue
            for fb in clip.feedbacks[:1]:
                said = answer(model, feats, prompts.SHORT_CLIP_FEEDBACK_QUESTION)
                scores.append(meteor(fb, said, wordnet, tokenize))
                lines.append({"clip_id": clip.clip_id, "truth": fb, "said": said})
            for qa in clip.qa:
                said = answer(model, feats, qa.question)
                asked += 1
                correct += said.strip().lower() == qa.answer.strip().lower()
                lines.append(
                    {
                        "clip_id": clip.clip_id,
                        "question": qa.question,
                        "truth": qa.answer,
                        "said": said,
                    }
                )
        atomic_write_text(
            out_dir / "clip_answers.jsonl", "".join(json.dumps(x) + "\n" for x in lines)
        )
        return {
            "clip_feedback_meteor": sum(scores) / max(1, len(scores)),
            "clip_qa_accuracy": correct / max(1, asked),
        }

    # -- calibration ----------------------------------------------------------------------------
    @torch.no_grad()
    def finalize(self, model: nn.Module, run_dir: Path) -> None:
        """Calibrate the ``<answer>`` offset on the held-out workouts (``calibration``)."""
        c = self.config.calibration
        if not c.answer_bias:
            return
        if not self.val_segments:
            raise ValueError("calibration needs held-out workouts (validation.workouts > 0)")
        if c.objective not in ("t_f_score", "t_f_score+meteor"):
            raise ValueError(f"unknown calibration objective {c.objective!r}")
        core: StreamVLM = getattr(model, "module", model)
        was_training = core.training
        core.eval()
        bias = core.special.bias
        scores, passes = [], {}
        for offset in c.answer_bias:  # absolute values: a rerun chooses the same one
            bias[1] = offset
            folder = run_dir / "calibration" / f"answer_bias_{offset:+g}"
            m = passes[offset] = self.stream_validation(core, folder)
            value = m["t_f_score"] + (m["meteor"] if c.objective == "t_f_score+meteor" else 0.0)
            scores.append({"answer_bias": offset, "objective": value, **m})
        best = max(scores, key=lambda r: r["objective"])
        bias[1] = best["answer_bias"]
        chosen = run_dir / "calibration" / f"answer_bias_{best['answer_bias']:+g}"
        self._chosen_pass = (passes[best["answer_bias"]], chosen)
        atomic_write_json(run_dir / "calibration" / "scores.json", {"chosen": best, "all": scores})
        core.train(was_training)

    # -- export -------------------------------------------------------------------------------
    def export(self, model: nn.Module, run_dir: Path) -> None:
        """``<run>/model/``: the trained Stream-VLM (``save_pretrained``) + this stage's config."""
        model.save_pretrained(run_dir / MODEL_DIR)  # type: ignore[operator]
        save_config(self.config, run_dir / MODEL_DIR / "stage_config.json")


def score_streams(coach: Any, segments: list[Segment], out_dir: Path) -> dict[str, float]:
    """Stream ``segments`` through ``coach`` (an engine or any coach with its session
    interface) as ``livefit predict`` does, write ``out_dir/predictions.jsonl`` and score them
    paper-exact: what the validation of a language stage watches."""
    predictions: dict[str, tuple[Feedback, ...]] = {}
    lines = []
    for seg in segments:
        feedbacks = run_segment(coach, seg)
        predictions[seg.segment_id] = tuple(Feedback(f["time"], f["text"]) for f in feedbacks)
        lines.append(json.dumps({"segment_id": seg.segment_id, "feedbacks": feedbacks}))
    atomic_write_text(out_dir / PREDICTIONS_FILE, "\n".join(lines) + "\n")
    evaluation = evaluate_segments(segments, predictions, EvalConfig(split="train"))
    m, n = evaluation.metrics, evaluation.counts
    return {
        "t_f_score": float(m["t_f_score"] or 0.0),
        "precision": float(m["precision"] or 0.0),
        "recall": float(m["recall"] or 0.0),
        "meteor": float(m["meteor"] or 0.0),
        "rouge_l": float(m["rouge_l"] or 0.0),
        "predicted_feedbacks": n["predicted_feedbacks"],
        "gt_feedbacks": n["gt_feedbacks"],
    }


def _global_mean(total: torch.Tensor) -> torch.Tensor:
    """The mean over processes of a per-process total (itself on one process). Dividing each
    process's loss sum by it makes data-parallel training, which averages gradients over
    processes, equal to one process with the whole batch: a mean over all its tokens."""
    if not (dist.is_available() and dist.is_initialized()):
        return total
    total = total.detach().clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


@torch.no_grad()
def answer(
    model: StreamVLM,
    features: torch.Tensor,
    question: str,
    system: str = STAGE2_SYSTEM,
    max_tokens: int = 32,
    steps_per_second: float = 4.0,
) -> str:
    """Greedy answer of a stage-2 sequence: prompt, one <vision> per step of ``features``
    [n, N, C], the question, then ``<answer>`` ... until ``<answer/>`` (full recompute per token:
    answers are short)."""
    tok, ids = model.tokenizer, model.ids
    prefix = prompt_ids(tok, system) + [ids.vision] * len(features) + text_ids(tok, question)
    seq = prefix + [ids.answer]
    feats = features.to(model.device, model.special.embed.dtype)[None]
    times = torch.arange(len(features), device=model.device)[None] / steps_per_second  # (1, S)
    out: list[int] = []
    for _ in range(max_tokens):
        ids_ = torch.tensor([seq], device=model.device)
        logits = model(ids_, feats, logits_to_keep=1, vision_times=times).logits
        token = int(logits[0, -1].argmax())
        if token in ids.as_tuple():
            break
        out.append(token)
        seq.append(token)
    return tok.decode(out)


__all__ = [
    "MODEL_DIR",
    "CalibrationConfig",
    "CoachStageConfig",
    "CoachTask",
    "ValidationConfig",
    "answer",
    "paper_stage_config",
    "score_streams",
    "split_clips",
    "split_segments",
]
