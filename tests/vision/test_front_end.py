"""Front ends are a type: a toy front end, registered here and nowhere else, goes through
``livefit features extract``, ``livefit predict`` and a live session like the CNN and the pose
encoder; its live features equal its offline ones. Plus the folder format's errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from typer.testing import CliRunner

from livefit.cli import app
from livefit.data.qevd import load_segments
from livefit.model.config import tiny_config
from livefit.model.stream_vlm import StreamVLM
from livefit.stream.live import LiveCoach, LiveConfig, play_video
from livefit.synth.generate import generate
from livefit.synth.presets import preset
from livefit.vision.errors import WeightsError
from livefit.vision.extract import list_jobs
from livefit.vision.front_end import FRONT_ENDS, FrontEnd, register_front_end
from livefit.vision.front_ends import load_front_end, read_front_end_config, save_front_end
from livefit.vision.preprocess import decode_frames, load_timestamps, resample_indices


@dataclass(frozen=True)
class ToyConfig:
    """A front end that reads each frame's mean colour."""

    fps: int = 16
    frames_per_step: int = 4
    channels: int = 8
    tokens: int = 2

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return (self.channels, 1, self.tokens)

    @property
    def steps_per_second(self) -> float:
        return self.fps / self.frames_per_step


class ToyModel(nn.Module):
    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.linear = nn.Linear(3, config.channels * config.tokens)

    @torch.no_grad()
    def step(self, colours: Tensor) -> Tensor:
        """``[frames_per_step, 3]`` mean colours -> one step ``[C, 1, tokens]``."""
        c = self.config
        return self.linear(colours.mean(0)).view(c.channels, 1, c.tokens)


def mean_colour(frame: np.ndarray) -> Tensor:
    return torch.from_numpy(frame.reshape(-1, 3).mean(0, dtype=np.float64).astype(np.float32) / 255)


class ToyStream:
    def __init__(self, model: ToyModel) -> None:
        self.model = model
        self.restart()

    def prepare(self, frame: np.ndarray, t: float) -> Tensor:
        return mean_colour(frame)

    def push(self, x: Tensor) -> Tensor | None:
        self.frames.append(x)
        if len(self.frames) < self.model.config.frames_per_step:
            return None
        step, self.frames = self.model.step(torch.stack(self.frames)), []
        return step

    def restart(self) -> None:
        self.frames: list[Tensor] = []


class ToyProducer:
    def __init__(self, model: ToyModel) -> None:
        self.model = model

    def settings(self) -> dict[str, Any]:
        return {"toy": {"weights": self.model.linear.weight.sum().item()}}

    def extract(self, job: Any) -> tuple[np.ndarray, np.ndarray]:
        c = self.model.config
        times = load_timestamps(job.timestamps)
        frames = [frame for frame, _ in decode_frames(job.video)][: len(times)]
        picks = resample_indices(times[: len(frames)], c.fps)
        stream, steps = ToyStream(self.model), []
        for k in picks:
            step = stream.push(mean_colour(frames[k]))
            if step is not None:
                steps.append(step.numpy())
        ends = times[picks][c.frames_per_step - 1 :: c.frames_per_step][: len(steps)]
        return np.stack(steps).astype(np.float32), np.asarray(ends, dtype=np.float64)


class ToyFrontEnd(FrontEnd):
    type = "toy"
    config_class = ToyConfig

    @classmethod
    def build(cls, config: ToyConfig) -> nn.Module:
        return ToyModel(config)

    def producer(self) -> ToyProducer:
        return ToyProducer(self.model)

    def stream(self, bgr: bool = False) -> ToyStream:
        return ToyStream(self.model)


@pytest.fixture
def toy():
    register_front_end(ToyFrontEnd)
    yield ToyFrontEnd
    FRONT_ENDS.pop("toy")


@pytest.fixture(scope="module")
def workout(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy") / "data"
    config = preset("tiny", train_workouts=0, test_workouts=1, train_clips=0, test_clips=0)
    generate(config, root, 5, workers=1, progress=False)
    return root


@pytest.mark.slow(10)
def test_a_toy_front_end_runs_extract_predict_and_live(toy, workout, tmp_path):
    torch.manual_seed(0)
    folder = save_front_end(ToyModel(ToyConfig()), tmp_path / "toy")
    assert json.loads((folder / "config.json").read_text())["type"] == "toy"
    assert read_front_end_config(folder)[0] is ToyFrontEnd

    runner = CliRunner()
    result = runner.invoke(app, ["features", "extract", str(workout), "--model", str(folder)])
    assert result.exit_code == 0 and "1 extracted" in result.output, result.output
    _, (job,) = list_jobs(workout, "test")
    offline = np.load(job.features_out)
    assert offline.shape[1:] == (8, 1, 2) and len(offline) > 20
    manifest = json.loads((job.features_out.parent.parent / "extraction.json").read_text())
    assert "toy" in manifest["producer"]

    cfg = tiny_config()
    vlm = StreamVLM.from_config(
        replace(cfg, adapter=replace(cfg.adapter, feature_dim=8, feature_tokens=2))
    )
    vlm.save_pretrained(tmp_path / "vlm")
    out = tmp_path / "pred.jsonl"
    args = ["predict", "--data", str(workout), "--out", str(out), "--model", str(tmp_path / "vlm")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    predicted = [json.loads(line)["segment_id"] for line in out.read_text().splitlines()]
    assert predicted == [s.segment_id for s in load_segments(workout, "test")]

    coach = LiveCoach.load(tmp_path / "vlm", folder)
    assert coach.front.type == "toy" and coach.head is None
    seen: list[Tensor] = []
    pipe = coach.pipeline(LiveConfig(exercise="squats"), on_feature=lambda f, t: seen.append(f))
    for _ in play_video(pipe, job.video, load_timestamps(job.timestamps)):
        pass
    events = pipe.close()
    assert pipe.stats.steps == len(offline)
    np.testing.assert_allclose(torch.stack(seen).numpy(), offline, rtol=1e-5, atol=1e-6)
    assert events[-1].kind == "session" and events[-1].exercise == "squats"


def test_front_end_folders_say_their_type(toy, tmp_path):
    folder = save_front_end(ToyModel(ToyConfig()), tmp_path / "toy")
    front = load_front_end(folder, expect="toy")
    assert isinstance(front, ToyFrontEnd) and front.feature_tokens == 2
    with pytest.raises(WeightsError, match="a toy front end, not a cnn one"):
        load_front_end(folder, expect="cnn")

    config = json.loads((folder / "config.json").read_text())
    untyped = {k: v for k, v in config.items() if k != "type"}
    (folder / "config.json").write_text(json.dumps(untyped))
    with pytest.raises(WeightsError, match=r'config.json: no front-end "type"'):
        load_front_end(folder)
    (folder / "config.json").write_text(json.dumps({**config, "type": "lidar"}))
    with pytest.raises(WeightsError, match=r"unknown front-end type 'lidar' \(known: .*toy"):
        load_front_end(folder)
    (folder / "config.json").write_text(json.dumps({**config, "channels": "eight"}))
    with pytest.raises(WeightsError, match="channels"):
        load_front_end(folder)


def test_a_type_name_is_one_class(toy):
    class Other(ToyFrontEnd):
        pass

    with pytest.raises(ValueError, match="'toy' is already ToyFrontEnd"):
        register_front_end(Other)
