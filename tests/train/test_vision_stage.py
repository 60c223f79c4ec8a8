"""Stage 1 end to end on tiny clips: training learns, checkpoints, exact resume, reports, export."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import FINE, make_clips, tiny_config
from typer.testing import CliRunner

from livefit.cli import app
from livefit.config import save_config
from livefit.data.clips import load_labels
from livefit.train.loop import LoopConfig, OptimConfig
from livefit.train.stage import run_stage
from livefit.train.vision_stage import (
    AugmentConfig,
    VisionStageConfig,
    VisionTask,
    _frozen_norm_statistics,
)
from livefit.vision.weights import load_model


def stage_config(**loop) -> VisionStageConfig:
    return VisionStageConfig(
        model=tiny_config(),
        augment=AugmentConfig(crop_frames=16),
        loop=LoopConfig(**{"epochs": 16, "batch_size": 4, "log_every": 1, **loop}),
        optim=OptimConfig(lr=3e-3),
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_clips(tmp_path_factory.mktemp("clips"))


def run(tmp_path, data, name, cfg, *extra):
    save_config(cfg, tmp_path / f"{name}.json")
    args = ["train", "vision", "--data", str(data), "--out", str(tmp_path / name)]
    args += ["--config", str(tmp_path / f"{name}.json"), "--threads", "1", "--no-progress"]
    result = CliRunner().invoke(app, args + list(extra))
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_training_learns_and_writes_every_artefact(tmp_path, data):
    summary = run(tmp_path, data, "run", stage_config())
    metrics = summary["metrics"]
    # Colour-coded classes on held-out clips: a working pipeline gets them all right.
    assert metrics["step_accuracy"] == 1.0 and metrics["exercise_accuracy"] == 1.0
    assert metrics["mistake_accuracy"] == 1.0 and metrics["clips"] == 8
    run_dir = tmp_path / "run"
    ckpt = (
        run_dir
        / "checkpoints"
        / json.loads((run_dir / "checkpoints/latest.json").read_text())["checkpoint"]
    )
    for name in ("model.safetensors", "config.json", "hyperparameters.json", "trainer_state.pt"):
        assert (ckpt / name).is_file()
    assert json.loads((ckpt / "hyperparameters.json").read_text())["optim.lr"] == 3e-3
    assert len(list((run_dir / "checkpoints").glob("step-*"))) <= 2  # keep_checkpoints
    report = run_dir / "eval/final"
    for name in ("report.json", "report.txt", "confusion_fine.png", "confusion_exercise.png"):
        assert (report / name).stat().st_size > 0
    per_class = json.loads((report / "report.json").read_text())["fine_grained"]["per_class"]
    assert set(per_class) == set(FINE)
    assert "squats - shallow" in (report / "report.txt").read_text()
    # The exported backbone is what `livefit features extract --model` loads.
    cnn = load_model(run_dir / "cnn")
    weights = load_file(ckpt / "model.safetensors")
    key = "backbone.cnn.3.conv.0.0.weight"
    torch.testing.assert_close(cnn.cnn[3].conv[0][0].weight, weights[key])
    losses = [json.loads(x)["loss"] for x in open(run_dir / "metrics.jsonl") if '"loss"' in x]
    assert sum(losses[-3:]) < sum(losses[:3])


def _losses(run_dir) -> dict[int, float]:
    lines = (json.loads(x) for x in open(run_dir / "metrics.jsonl"))
    return {r["step"]: r["loss"] for r in lines if "loss" in r}


def _final_weights(run_dir) -> dict[str, torch.Tensor]:
    name = json.loads((run_dir / "checkpoints/latest.json").read_text())["checkpoint"]
    return load_file(run_dir / "checkpoints" / name / "model.safetensors")


def assert_same_run(straight, resumed) -> None:
    """Bit for bit: every final tensor, every logged loss, and the same log, line for line."""
    a, b = _final_weights(straight), _final_weights(resumed)
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert _losses(resumed) == _losses(straight)
    assert (resumed / "metrics.jsonl").read_text() == (straight / "metrics.jsonl").read_text()


def test_resume_reproduces_an_uninterrupted_run(tmp_path, data):
    # With EMA: the finished short run's checkpoint holds the raw weights and the averages (its
    # export holds the average), so the longer run continues from where training stood.
    run(tmp_path, data, "straight", stage_config(max_steps=7, eval_every=0, ema_decay=0.9))
    run(tmp_path, data, "split", stage_config(max_steps=3, eval_every=0, ema_decay=0.9))
    state = torch.load(
        tmp_path / "split/checkpoints/step-0000003/trainer_state.pt", weights_only=True
    )
    assert (state["step"], state["epoch"], state["step_in_epoch"]) == (3, 1, 1)
    assert {"torch", "numpy_keys", "python_internal"} <= set(state["rng"])
    cfg = stage_config(max_steps=7, eval_every=0, ema_decay=0.9)
    save_config(cfg, tmp_path / "split.json")
    run(tmp_path, data, "split", cfg, "--resume")
    # Same batches, augmentations, dropout masks, optimizer state and kernels (the frames a
    # resume reads from the cache have the layout of freshly decoded ones), so the same bits;
    # the first run's final evaluation (step 3) is gone from the log.
    assert sorted(_losses(tmp_path / "split")) == list(range(1, 8))
    assert_same_run(tmp_path / "straight", tmp_path / "split")


class Killed(Exception):
    pass


class KilledAt(VisionTask):
    """Stage 1 whose process "dies" (an exception) in the forward pass of step ``kill_at``."""

    def __init__(self, *args, kill_at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.kill_at, self.steps = kill_at, 0

    def loss(self, model, batch):
        self.steps += 1
        if self.steps == self.kill_at:
            raise Killed
        return super().loss(model, batch)


def test_run_killed_at_a_random_step_resumes_bit_for_bit(tmp_path, data):
    """EMA, dropout, evaluations, a cosine schedule and step checkpoints every 3 steps: the killed
    run logged up to two steps past its last checkpoint, which the resume drops and redoes, to
    the same bits as an uninterrupted run."""
    cfg = replace(
        stage_config(epochs=6, eval_every=2, save_every=0, save_every_steps=3, ema_decay=0.9),
        optim=OptimConfig(lr=3e-3, schedule="cosine", warmup_steps=2),
    )
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_stage(VisionTask(cfg, data, straight, progress=False), cfg, straight, False, False)
    kill_at = random.Random().randint(2, 12)  # of 12 steps
    task = KilledAt(cfg, data, killed, progress=False, kill_at=kill_at)
    with pytest.raises(Killed):
        run_stage(task, cfg, killed, False, False)
    assert max(_losses(killed), default=0) == kill_at - 1
    run_stage(VisionTask(cfg, data, killed, progress=False), cfg, killed, True, False)
    assert_same_run(straight, killed)
    exported = load_model(killed / "cnn").state_dict()  # the average, as the straight run's
    for key, value in load_model(straight / "cnn").state_dict().items():
        assert torch.equal(value, exported[key]), (key, kill_at)


def test_resume_with_another_config_is_refused_naming_the_fields(tmp_path, data):
    run(tmp_path, data, "r", stage_config(max_steps=2, eval_every=0))
    saved = (tmp_path / "r/config.json").read_text()
    changed = replace(stage_config(max_steps=2, eval_every=0, batch_size=2), dropout=0.5)
    changed = replace(changed, optim=OptimConfig(lr=6e-3))
    save_config(changed, tmp_path / "changed.json")
    args = [
        "train",
        "vision",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "r"),
        "--config",
        str(tmp_path / "changed.json"),
        "--resume",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    message = result.output.strip()
    assert message.startswith(f"error: {tmp_path / 'r' / 'config.json'}: the run was started")
    assert "dropout: 0.2 -> 0.5" in message and "loop.batch_size: 4 -> 2" in message
    assert "optim.lr: 0.003 -> 0.006" in message and message.endswith("the same config")
    assert (tmp_path / "r/config.json").read_text() == saved  # not rewritten
    # A longer run and other reporting may change: they do not change what is trained.
    run(tmp_path, data, "r", stage_config(max_steps=3, eval_every=0, log_every=2), "--resume")
    assert json.loads((tmp_path / "r/config.json").read_text())["loop"]["max_steps"] == 3


def test_seed_option_is_the_config_seed(tmp_path, data):
    def losses(name):
        lines = (json.loads(x) for x in open(tmp_path / name / "metrics.jsonl"))
        return [r["loss"] for r in lines if "loss" in r]

    run(tmp_path, data, "seeded", stage_config(max_steps=2, eval_every=0, seed=7))
    run(tmp_path, data, "flag", stage_config(max_steps=2, eval_every=0), "--seed", "7")
    run(tmp_path, data, "other", stage_config(max_steps=2, eval_every=0), "--seed", "8")
    saved = json.loads((tmp_path / "flag/config.json").read_text())
    assert saved["loop"]["seed"] == 7  # the run folder records the seed it ran with
    assert losses("flag") == pytest.approx(losses("seeded"), rel=1e-5)
    assert losses("other")[0] != pytest.approx(losses("seeded")[0], rel=1e-3)


def test_flip_swaps_left_and_right_and_mirrors_frames(tmp_path, data):
    cfg = VisionStageConfig(
        model=tiny_config(),
        augment=AugmentConfig(crop_frames=8, flip_p=1.0, jitter_gain=0.0, jitter_offset=0.0),
    )
    task = VisionTask(cfg, data, tmp_path)
    frames = torch.randint(0, 255, (2, 8, 3, 32, 24), dtype=torch.uint8)
    labels = torch.tensor([[2] * 8, [1] * 4 + [-100] * 4])  # "lunges - left leg", "shallow"
    dataset = task.train_dataset()
    dataset.clips[0].frames, dataset.clips[0].labels = frames[0].numpy(), labels[0].numpy()
    dataset.clips[1].frames, dataset.clips[1].labels = frames[1].numpy(), labels[1].numpy()
    x, y = task.collate([dataset[0], dataset[1]])
    torch.testing.assert_close(x, frames.float().flip(-1) / 255)
    # Targets are the labels of frames 3 and 7 (the last frame of each step): left -> right,
    # a class without a mirror stays, padding stays ignored.
    assert y.tolist() == [[3, 3], [1, -100]]
    table = load_labels(data).flip_ids()
    assert table.tolist() == [0, 1, 3, 2]


class _FixedLogits(torch.nn.Module):
    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, frames):
        return self.logits, None


def test_exercise_loss_is_the_cross_entropy_of_summed_class_probabilities(tmp_path, data):
    base = stage_config()
    logits = torch.randn(2, 2, len(FINE))  # [B, n, K]
    targets = torch.tensor([[0, 1], [2, -100]])  # squats, squats, lunges, padding
    batch = (torch.zeros(2, 8, 3, 32, 24), targets)
    plain, _ = VisionTask(base, data, tmp_path).loss(_FixedLogits(logits), batch)
    cfg = VisionStageConfig(**{**base.__dict__, "exercise_loss_weight": 0.5})
    task = VisionTask(cfg, data, tmp_path)
    total, _ = task.loss(_FixedLogits(logits), batch)
    # Reference: softmax, add up each exercise's classes (FINE: 2 squats, then 2 lunges).
    probs = logits.softmax(-1).flatten(0, 1)[[0, 1, 2]]  # the 3 valid steps
    p_ex = torch.stack([probs[:, :2].sum(-1), probs[:, 2:].sum(-1)], -1)  # [3, (squats, lunges)]
    truth = torch.tensor([0, 0, 1])  # squats, squats, lunges
    ref = -p_ex[torch.arange(3), truth].log().mean()
    torch.testing.assert_close(total - plain, 0.5 * ref)


def test_stream_warmup_crops_start_as_the_deployed_stream(tmp_path, data):
    """A crop from a clip's first frame, warmed up, gives the logits ``predict`` (the deployed
    stream) gives for those steps; the warm-up pass leaves batch-norm running statistics alone."""
    model_cfg = tiny_config(norm="batch", warmup_frames=8)
    aug = AugmentConfig(crop_frames=16, stream_warmup=True)
    task = VisionTask(VisionStageConfig(model=model_cfg, augment=aug), data, tmp_path)
    model = task.build_model()
    torch.manual_seed(0)
    with torch.no_grad():  # random weights: the init's zeroed residual branches ignore the state
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    clip = task.clips("test")[0]
    frames = torch.from_numpy(clip.frames[:16]).float()[None] / 255  # [1, 16, 3, H, W]
    model.train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    model(frames)  # move the running statistics off their init
    before = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
    with torch.no_grad():
        task.crop_logits(model, frames)
    after = [(m.running_mean, m.running_var) for m in norms]
    changed = [not torch.equal(a[0], b[0]) for a, b in zip(before, after, strict=True)]
    assert sum(changed) == len(norms)  # the crop itself still updates them...
    model.eval()
    with torch.no_grad():
        crop = task.crop_logits(model, frames)[0]  # [4, K]
    torch.testing.assert_close(crop, task.predict(model, clip)[:4])
    plain = VisionTask(VisionStageConfig(model=model_cfg), data, tmp_path)
    with torch.no_grad():
        cold = plain.crop_logits(model, frames)[0]
    assert not torch.allclose(cold[0], crop[0])  # ...and a cold start differs from deployment


def test_warmup_pass_keeps_running_statistics(tmp_path, data):
    model_cfg = tiny_config(norm="batch", warmup_frames=8)
    task = VisionTask(VisionStageConfig(model=model_cfg), data, tmp_path)
    model = task.build_model().train()
    x = torch.rand(2, 4, 3, 32, 24)
    model(x)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in norms]
    with torch.no_grad(), _frozen_norm_statistics(model):
        model(x * 0.5 + 0.3)
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, norms, strict=True))
    assert all(m.momentum == 0.1 for m in norms)  # restored


def test_bad_data_is_a_clean_cli_error(tmp_path):
    (tmp_path / "nothing").mkdir()
    result = CliRunner().invoke(
        app, ["train", "vision", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "labels.json" in result.output
