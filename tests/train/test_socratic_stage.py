"""Our own Socratic LM: its training prompts are the session's inference prompts, the loss is on
the feedback only, and a tiny run trains, exports and coaches through ``socratic:PATH``."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from livefit.baselines import socratic
from livefit.baselines.socratic import SocraticCoach, SocraticConfig, first_sentence
from livefit.chat import split_target
from livefit.config import load_config
from livefit.data.qevd import load_segments
from livefit.model.sequences import turn_targets, turn_times
from livefit.model.tokenizer import train_tokenizer
from livefit.stream.predict import run_segment
from livefit.train.socratic_stage import (
    IGNORE,
    SETTINGS_FILE,
    SocraticLMConfig,
    SocraticLMTask,
    build_lm,
    collate_turns,
    segment_turns,
    socratic_sequence,
    train_socratic_lm,
)
from livefit.vision.activity import ActivityHead

CONFIGS = Path(__file__).parents[2] / "configs" / "socratic"
TINY = load_config(SocraticLMConfig, CONFIGS / "tiny.json")


@pytest.fixture(scope="module")
def head_dir(coach_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An activity head over the fixture CNN's 24 channels, with the data's exercises."""
    segments = load_segments(coach_root, "train")
    exercises = sorted({s.exercise for s in segments if s.exercise})
    fine = [f"{e} - {a}" for e in exercises for a in ("good form", "fast", "shallow")]
    fine.append("general - catching breath")
    torch.manual_seed(0)
    head = ActivityHead(24, fine)
    torch.nn.init.normal_(head.linear.weight, std=3.0)  # confident, varied activity lines
    folder = tmp_path_factory.mktemp("socratic_cnn")
    head.save_pretrained(folder)
    return folder


class ScriptedLM:
    """Replies in order; records what it was asked."""

    name = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.calls = replies, []

    def complete(self, messages, seed):
        self.calls.append(messages)
        return self.replies[len(self.calls) - 1] + " A second sentence."


def test_shipped_configs_load():
    emb = load_config(SocraticLMConfig, CONFIGS / "embedded.json")
    assert emb.tiny_lm.hidden_size == 192 and emb.validation_workouts == 6
    assert (emb.optim.name, emb.optim.schedule, emb.optim.grad_clip) == ("adamw", "cosine", 1.0)
    assert TINY.tiny_lm.max_position_embeddings >= 2048


def test_training_prompts_are_the_inference_prompts(coach_root, head_dir):
    torch.set_num_threads(1)
    head = ActivityHead.from_pretrained(head_dir)
    seg = load_segments(coach_root, "train")[0]
    turns, counts = segment_turns([seg], head, TINY, head_dir)
    assert counts["turns"] == len(turns) > 0 and counts["turns_without_prompt"] == 0
    # Targets: the ground truth each 5 s turn should say (the first sentence the session keeps).
    schedule = turn_times(seg.end - seg.start, TINY.every_s)
    expected = turn_targets(seg.response_times, seg.responses, schedule)
    assert [t.time for t in turns] == schedule
    assert [t.target for t in turns] == [first_sentence(seg.responses[i]) for i in expected]
    # Inference: the real coach, streamed as `livefit predict` streams it; an LM that says the
    # targets (plus a sentence the session drops) sends byte-identical prompts.
    lm = ScriptedLM([t.target for t in turns])
    coach = SocraticCoach(TINY.session_config(head_dir), lm=lm, head=head)
    said = run_segment(coach, seg)  # type: ignore[arg-type]
    sent = ["\n\n".join(m["content"] for m in messages) for messages in lm.calls]
    assert sent == [t.prompt for t in turns]
    assert [(f["time"], f["text"]) for f in said] == [(t.time, t.target) for t in turns]


def test_the_loss_is_on_the_feedback_and_eos_only(coach_root, head_dir):
    torch.set_num_threads(1)
    head = ActivityHead.from_pretrained(head_dir)
    turns, _ = segment_turns(load_segments(coach_root, "train")[:2], head, TINY, head_dir)
    tok = train_tokenizer([t.prompt for t in turns], 512)
    items = [socratic_sequence(tok, t, TINY.max_feedback_tokens) for t in turns]
    batch = collate_turns(items, tok.pad_token_id)
    for b, (turn, (ids, n_prompt)) in enumerate(zip(turns, items, strict=True)):
        # The prompt is what TransformersChat.encode feeds the model (BOS + the text).
        assert ids[:n_prompt] == tok(turn.prompt)["input_ids"]
        assert tok.decode(ids[:n_prompt], skip_special_tokens=True) == turn.prompt
        labelled = batch["labels"][b][batch["labels"][b] != IGNORE].tolist()
        assert labelled == ids[n_prompt:] and labelled[-1] == tok.eos_token_id
        assert tok.decode(labelled, skip_special_tokens=True) == " " + turn.target
        assert int(batch["attention_mask"][b].sum()) == len(ids)
    # Reference: cross-entropy of the full logits on the labelled positions.
    model = build_lm(TINY.tiny_lm, tok)
    task = SocraticLMTask.__new__(SocraticLMTask)
    loss, parts = task.loss(model, batch)
    logits = model(batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    reference = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
    assert torch.allclose(loss, reference, atol=1e-5)
    assert parts["target_tokens"] == sum(len(ids) - n for ids, n in items)


@pytest.mark.slow(10)
def test_a_tiny_run_trains_exports_and_coaches(coach_root, head_dir, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    summary = train_socratic_lm(coach_root, head_dir, out, TINY, progress=False)
    losses = [
        r["loss"]
        for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
        if "loss" in r
    ]
    assert losses[-1] < 0.5 * losses[0]
    assert set(summary["metrics"]) >= {"t_f_score", "meteor", "rouge_l"}
    data = json.loads((out / "data.json").read_text())
    assert data["sequences"] > 0 and data["skipped_too_long"] == 0
    # The held-out segments' greedy feedbacks, from the in-memory model at the end.
    lines = (out / "eval" / "final" / "predictions.jsonl").read_text().splitlines()
    val = {json.loads(x)["segment_id"]: json.loads(x)["feedbacks"] for x in lines}
    folder = out / "model"
    coach = SocraticCoach.from_spec(f"socratic:{folder}")  # the local HF backend loads it
    assert coach.lm.tokenizer.pad_token is not None
    assert coach.lm.model.generation_config.do_sample is False
    # The spec alone samples at 0.6 with the bundled CNN; the settings the model was trained
    # for (socratic.json: the run's head, greedy) give exactly the validation's feedbacks.
    settings = json.loads((folder / SETTINGS_FILE).read_text())
    assert settings["temperature"] == 0.0 and Path(settings["cnn"]) == head_dir.resolve()
    coach = SocraticCoach(SocraticConfig(**split_target(str(folder)), **settings))
    coaches = [coach]
    if hasattr(socratic, "SPEC_OPTIONS"):  # socratic:PATH?OPTIONS (being added to the specs)
        options = f"cnn={head_dir}&temperature=0&max_new_tokens={TINY.max_feedback_tokens}"
        coaches.append(SocraticCoach.from_spec(f"socratic:{folder}?{options}"))
    segments = {s.segment_id: s for s in load_segments(coach_root, "train")}
    for (segment_id, expected), coach in itertools.product(val.items(), coaches):
        feedbacks = run_segment(coach, segments[segment_id])  # type: ignore[arg-type]
        assert feedbacks == expected
        assert [f["time"] for f in feedbacks] == [5.0 * (k + 1) for k in range(len(feedbacks))]
        assert all(f["text"] and f["text"] == first_sentence(f["text"]) for f in feedbacks)
    assert sum(len(v) for v in val.values()) > 0
    # A resume of the finished run is refused with another config, accepted with the same.
    with pytest.raises(ValueError, match="other settings"):
        train_socratic_lm(
            coach_root,
            head_dir,
            out,
            replace(TINY, tokenizer_vocab=600),
            resume=True,
            progress=False,
        )
