"""The live pose path end to end: a rendered workout's frames -> MediaPipe Pose through LiteRT ->
the causal pose encoder -> a Stream-VLM -> events; the live features equal the offline pose
features of the same video (``features extract --landmarks estimator``). Needs the pose models
(``bash scripts/fetch_pose_models.sh``) and ``ai-edge-litert``; ``make test`` installs both and
sets ``LIVEFIT_REQUIRE_POSE=1``, so there a missing piece fails instead of skipping."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def pose_coach(tmp_path_factory, pose_estimator_available):
    """A tiny random pose encoder + a tiny random Stream-VLM that reads its features."""
    from dataclasses import replace

    from livefit.model.config import tiny_config
    from livefit.model.stream_vlm import StreamVLM
    from livefit.vision.front_ends import save_front_end
    from livefit.vision.pose import PoseEncoder, PoseEncoderConfig

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("pose_coach")
    encoder = PoseEncoder(PoseEncoderConfig(hidden=16, layers=2, channels=64, tokens=35))
    save_front_end(encoder, folder / "pose")
    cfg = tiny_config()
    model = StreamVLM.from_config(
        replace(cfg, adapter=replace(cfg.adapter, feature_dim=64, feature_tokens=35))
    )
    model.save_pretrained(folder / "stream_vlm")
    return folder


@pytest.mark.slow(17)
def test_live_pose_path_matches_offline_pose_features(pose_coach, sim_workout_head_root, tmp_path):
    from livefit.stream.live import LiveCoach, LiveConfig, play_video
    from livefit.vision.extract import list_jobs, run_extraction
    from livefit.vision.front_ends import FrontEndOptions, load_front_end
    from livefit.vision.preprocess import load_timestamps

    root = shutil.copytree(sim_workout_head_root, tmp_path / "data")  # a workout's first 20 s
    options = FrontEndOptions(landmarks="estimator")
    producer = load_front_end(pose_coach / "pose", options).producer()
    assert run_extraction(root, "test", producer, progress=False).done == 1
    _, (job,) = list_jobs(root, "test")
    offline = np.load(job.features_out)
    coach = LiveCoach.load(pose_coach / "stream_vlm", pose_coach / "pose")
    assert coach.front.type == "pose"
    seen: list[torch.Tensor] = []
    pipe = coach.pipeline(LiveConfig(exercise="squats"), on_feature=lambda f, t: seen.append(f))
    for _ in play_video(pipe, job.video, load_timestamps(job.timestamps)):
        pass
    pipe.close()
    assert pipe.stats.steps == len(offline) > 20
    np.testing.assert_allclose(torch.stack(seen).numpy(), offline, rtol=1e-4, atol=1e-5)


def test_a_pose_coach_needs_matching_feature_shapes(pose_coach):
    from dataclasses import replace

    from livefit.model.config import tiny_config
    from livefit.model.stream_vlm import StreamVLM
    from livefit.stream.live import LiveCoach
    from livefit.vision.front_ends import load_front_end

    front = load_front_end(pose_coach / "pose")  # 35 x 64 per step
    cfg = tiny_config()
    other = StreamVLM.from_config(replace(cfg, adapter=replace(cfg.adapter, feature_tokens=12)))
    with pytest.raises(ValueError, match="35 x 64-channel .* reads 12 x 64: they are not one"):
        LiveCoach(front, other)
    coach = LiveCoach(front, StreamVLM.from_pretrained(pose_coach / "stream_vlm"))
    assert coach.front is front and coach.steps_per_second == 4
