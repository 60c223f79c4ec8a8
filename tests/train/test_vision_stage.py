"""Stage 1 end to end on tiny clips: training learns, checkpoints, exact resume, reports, export."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import FINE, make_clips, tiny_config
from typer.testing import CliRunner

from livefit.cli import app
from livefit.config import save_config
from livefit.data.clips import load_labels
from livefit.train.loop import LoopConfig, OptimConfig
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


def test_resume_reproduces_an_uninterrupted_run(tmp_path, data):
    run(tmp_path, data, "straight", stage_config(max_steps=7, eval_every=0))
    run(tmp_path, data, "split", stage_config(max_steps=3, eval_every=0))  # stops mid-epoch
    state = torch.load(
        tmp_path / "split/checkpoints/step-0000003/trainer_state.pt", weights_only=True
    )
    assert (state["step"], state["epoch"], state["step_in_epoch"]) == (3, 1, 1)
    cfg = stage_config(max_steps=7, eval_every=0)
    save_config(cfg, tmp_path / "split.json")
    run(tmp_path, data, "split", cfg, "--resume")

    # Same batches, augmentations, dropout masks and optimizer state, so the same losses at
    # steps 4-7, up to float summation order in the conv kernels (measured ~1e-6 relative;
    # resuming on the wrong batch or RNG state changes them by > 1e-2).
    def losses(name):
        lines = (json.loads(x) for x in open(tmp_path / name / "metrics.jsonl"))
        return {r["step"]: r["loss"] for r in lines if "loss" in r}

    straight, resumed = losses("straight"), losses("split")
    assert sorted(resumed) == list(range(1, 8))
    for step in range(4, 8):
        assert resumed[step] == pytest.approx(straight[step], rel=1e-3)


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
        model=tiny_config(), augment=AugmentConfig(crop_frames=8, flip_p=1.0, jitter_gain=0.0,
                                                   jitter_offset=0.0),
    )  # fmt: skip
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
