"""Stages 2 and 3 on a tiny QEVD-SIM root: they learn, validate with the streaming engine,
calibrate, export a model that ``livefit predict`` runs, refuse changed configs, resume a killed
run to the same weights, and two processes train like one; the paper-scale configs build."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from run_once import built_once
from safetensors.torch import load_file
from typer.testing import CliRunner

from livefit.cli import app
from livefit.config import load_config, save_config
from livefit.model.stream_vlm import StreamVLM
from livefit.train.coach_stage import (
    CalibrationConfig,
    CoachStageConfig,
    CoachTask,
    ValidationConfig,
    paper_stage_config,
    split_segments,
)
from livefit.train.loop import LoopConfig

CONFIGS = Path(__file__).parents[2] / "configs" / "coach"
REPO = Path(__file__).parents[2]


def tiny(stage: str, **changes) -> CoachStageConfig:
    cfg = load_config(CoachStageConfig, CONFIGS / f"tiny_{stage}.json")
    return replace(cfg, **changes)


def train(root: Path, out: Path, cfg: CoachStageConfig, *extra: str) -> dict:
    path = out.with_suffix(".json")
    save_config(cfg, path)
    command = "clips" if cfg.stage == "clips" else "long-range"
    args = ["train", command, "--data", str(root), "--out", str(out), "--config", str(path)]
    result = CliRunner().invoke(app, [*args, "--threads", "1", "--no-progress", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def losses(run: Path) -> dict[int, float]:
    lines = (json.loads(x) for x in open(run / "metrics.jsonl"))
    return {r["step"]: r["loss"] for r in lines if "loss" in r}


@pytest.fixture(scope="module")
def stage2(coach_root, tmp_path_factory) -> Path:
    """A tiny stage 2 run (once per pytest run; read-only: later stages start from it)."""

    def build(folder: Path) -> None:
        cfg = tiny("clips", loop=LoopConfig(epochs=6, batch_size=8, log_every=1, eval_every=6))
        summary = train(coach_root, folder / "run", cfg)
        assert {"clip_feedback_meteor", "clip_qa_accuracy", "t_f_score", "meteor"} <= set(
            summary["metrics"]
        )

    return built_once(tmp_path_factory, "stage2", build) / "run"


def test_stage2_learns_and_exports(stage2):
    logged = losses(stage2)
    first, last = logged[min(logged)], logged[max(logged)]
    assert last < 0.5 * first  # the clips' questions and answers are being learned
    model = StreamVLM.from_pretrained(stage2 / "model")
    counts = model.trainable_parameters()
    assert counts["lm"] > 0 and counts["adapters"] > 0  # tiny LM from scratch: all of it trains
    assert (stage2 / "tokenizer" / "tokenizer.json").is_file()
    # Held-out participants are never trained on.
    data = json.loads((stage2 / "data.json").read_text())
    assert data["clips"] < 24


def test_stage3_with_lora_from_stage2_streams(coach_root, stage2, tmp_path):
    base = tiny("long_range")
    cfg = replace(
        base,
        model=replace(
            base.model,
            lora=paper_stage_config("long_range").model.lora,
            train_lm=False,
            train_adapters=False,
        ),
        calibration=CalibrationConfig(),
        loop=LoopConfig(epochs=2, batch_size=2, log_every=1, eval_every=2),
    )
    summary = train(coach_root, tmp_path / "s3", cfg, "--init-from", str(stage2 / "model"))
    assert "t_f_score" in summary["metrics"]
    model = StreamVLM.from_pretrained(tmp_path / "s3" / "model")
    counts = model.trainable_parameters()
    assert counts["lora"] > 0 and counts["lm"] == 0 and counts["adapters"] == 0
    # The adapters are stage 2's (frozen), the LoRA is new.
    before = load_file(stage2 / "model" / "model.safetensors")
    after = load_file(tmp_path / "s3" / "model" / "model.safetensors")
    assert torch.equal(before["adapters.0.out_fc.weight"], after["adapters.0.out_fc.weight"])
    # ``livefit predict`` runs the exported model.
    result = CliRunner().invoke(
        app,
        [
            "predict",
            "--data",
            str(coach_root),
            "--model",
            str(tmp_path / "s3" / "model"),
            "--out",
            str(tmp_path / "p.jsonl"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) >= 2


@pytest.mark.slow(25)
def test_calibration_picks_the_best_offset_on_held_out_workouts(coach_root, stage2, tmp_path):
    cfg = tiny(
        "long_range",
        calibration=CalibrationConfig(answer_bias=(0.0, 3.0, 6.0)),
        loop=LoopConfig(epochs=1, batch_size=2, eval_every=0),
    )
    train(coach_root, tmp_path / "cal", cfg, "--init-from", str(stage2 / "model"))
    scores = json.loads((tmp_path / "cal" / "calibration" / "scores.json").read_text())
    assert [s["answer_bias"] for s in scores["all"]] == [0.0, 3.0, 6.0]
    best = max(scores["all"], key=lambda s: s["objective"])
    assert scores["chosen"]["answer_bias"] == best["answer_bias"]
    # Higher offsets speak more, and the chosen one is what the exported model holds.
    said = [s["predicted_feedbacks"] for s in scores["all"]]
    assert said == sorted(said)
    model = StreamVLM.from_pretrained(tmp_path / "cal" / "model")
    assert float(model.special.bias[1]) == best["answer_bias"]
    # The final evaluation is the chosen offset's pass (same weights and offset: same bytes).
    chosen = tmp_path / "cal" / "calibration" / f"answer_bias_{best['answer_bias']:+g}"
    final = tmp_path / "cal" / "eval" / "final"
    assert (final / "predictions.jsonl").read_bytes() == (chosen / "predictions.jsonl").read_bytes()
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics == {k: v for k, v in best.items() if k not in ("answer_bias", "objective")}


def test_validation_holds_out_whole_workouts(coach_root, stage2, tmp_path):
    cfg = tiny("long_range", init_from=str(stage2 / "model"))
    task = CoachTask(cfg, coach_root, tmp_path)
    videos = {s.video for s in task.train_segments}
    assert videos and task.val_segments
    assert not videos & {s.video for s in task.val_segments}
    train_segments, val = split_segments(task.train_segments + task.val_segments, 1)
    assert [s.segment_id for s in val] == [s.segment_id for s in task.val_segments]


def test_resume_refuses_another_config(coach_root, stage2, tmp_path):
    cfg = tiny(
        "long_range",
        loop=LoopConfig(epochs=1, batch_size=2, eval_every=0),
        calibration=CalibrationConfig(),
    )
    train(coach_root, tmp_path / "r", cfg, "--init-from", str(stage2 / "model"))
    changed = replace(cfg, optim=replace(cfg.optim, lr=1e-2), init_from=str(stage2 / "model"))
    save_config(changed, tmp_path / "changed.json")
    args = [
        "train",
        "long-range",
        "--data",
        str(coach_root),
        "--out",
        str(tmp_path / "r"),
        "--config",
        str(tmp_path / "changed.json"),
        "--resume",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "the run was started with other settings" in result.output
    assert "optim.lr: " in result.output and "-> 0.01" in result.output


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "model.safetensors")


@pytest.mark.slow(11)
def test_killed_run_resumes_to_the_same_weights(coach_root, stage2, tmp_path):
    loop = LoopConfig(epochs=40, batch_size=2, eval_every=0, save_every_steps=1, log_every=1)
    cfg = tiny(
        "long_range", init_from=str(stage2 / "model"), loop=loop, calibration=CalibrationConfig()
    )
    train(coach_root, tmp_path / "straight", cfg)
    save_config(cfg, tmp_path / "killed.json")
    # The same run in a process killed (SIGKILL) after a random step's checkpoint...
    kill_after = random.Random(os.getpid()).randint(3, 25)  # of 40 steps
    args = [
        sys.executable,
        "-m",
        "livefit",
        "train",
        "long-range",
        "--data",
        str(coach_root),
        "--out",
        str(tmp_path / "killed"),
        "--config",
        str(tmp_path / "killed.json"),
        "--threads",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pointer = tmp_path / "killed" / "checkpoints" / "latest.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["step"] >= kill_after:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "model").exists(), "the run finished before the kill"
    # ... and resumed: the same final weights and one log line per step.
    train(coach_root, tmp_path / "killed", cfg, "--resume")
    straight, resumed = _final_weights(tmp_path / "straight"), _final_weights(tmp_path / "killed")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key  # bit for bit
    assert sorted(losses(tmp_path / "killed")) == sorted(losses(tmp_path / "straight"))
    lines = [json.loads(x) for x in open(tmp_path / "killed" / "metrics.jsonl")]
    steps = [r["step"] for r in lines if "loss" in r]
    assert steps == sorted(set(steps))  # the killed run's steps after its checkpoint are gone
    straight_log = (tmp_path / "straight" / "metrics.jsonl").read_text()
    assert (tmp_path / "killed" / "metrics.jsonl").read_text() == straight_log


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow(16)
def test_two_processes_train_like_one(coach_root, stage2, tmp_path):
    """DDP over gloo: 2 processes with batch 3 each = 1 process with batch 6 (same losses)."""
    loop = LoopConfig(epochs=3, batch_size=6, eval_every=0, log_every=1)  # 6 segments: 1 step
    one = tiny(
        "long_range",
        init_from=str(stage2 / "model"),
        loop=loop,
        validation=ValidationConfig(),
        calibration=CalibrationConfig(),
    )
    two = replace(one, loop=replace(loop, batch_size=3))
    train(coach_root, tmp_path / "one", one)
    save_config(two, tmp_path / "two.json")
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        args = [
            sys.executable,
            "-m",
            "livefit",
            "train",
            "long-range",
            "--data",
            str(coach_root),
            "--out",
            str(tmp_path / "two"),
            "--config",
            str(tmp_path / "two.json"),
            "--threads",
            "1",
            "--no-progress",
        ]
        procs.append(
            subprocess.Popen(
                args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(a) == sorted(b) == [1, 2, 3]
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=2e-3), step


@pytest.mark.parametrize("stage", ["clips", "long_range"])
def test_paper_scale_configs_build_on_meta_tensors(stage):
    """LLaMA-2-7B shapes on the meta device: 9 adapters of width 4096 train in stage 2, only
    LoRA (r 32 on q, k, v and lm_head) in stage 3."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from livefit.model.tokenizer import train_tokenizer

    cfg = load_config(CoachStageConfig, CONFIGS / f"paper_{stage}.json")
    assert cfg == paper_stage_config(stage)
    tokenizer = train_tokenizer(vocab_size=300)
    llama = LlamaConfig(
        vocab_size=32064,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
    )
    with torch.device("meta"):
        model = StreamVLM(cfg.model, LlamaForCausalLM(llama), tokenizer)
    counts = model.trainable_parameters()
    adapter = 4096 * 4096 + 1280 * 4096 + 2 * 1280 + 1280 * 1280 + 1280 * 4096 + 4096 * 4096
    lm = sum(
        p.numel() for n, p in model.named_parameters() if n.startswith("lm.") and "lora_" not in n
    )
    assert 6.7e9 < lm < 6.8e9
    if stage == "clips":
        assert counts == {"lm": 0, "lora": 0, "adapters": 9 * adapter, "special": 2 * 3 * 4096}
    else:
        lora = 32 * 32 * (3 * (4096 + 4096)) + 32 * (4096 + 32064)  # q, k, v + lm_head
        assert counts == {"lm": 0, "lora": lora, "adapters": 0, "special": 0}
    assert cfg.optim.lr == (5e-6 if stage == "clips" else 1e-6)
    assert (cfg.loop.epochs, cfg.loop.batch_size, cfg.optim.grad_clip) == (2, 32, 1.0)
    assert (cfg.optim.betas, cfg.optim.weight_decay) == ((0.9, 0.95), 0.01)
