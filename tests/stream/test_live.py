"""The live path (frames -> events) against the offline one, on the bundled coach and the
session's tiny QEVD-SIM workout: same resampling, same features, same feedbacks on the paper
clock."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from livefit.data.qevd import load_segments
from livefit.stream.live import (
    LiveCoach,
    LiveConfig,
    LiveInputError,
    feedbacks_in,
    play_video,
    schedule_of,
)
from livefit.vision.preprocess import FrameResampler, load_timestamps, resample_indices

# One worker runs this module: its module-scoped fixtures are built once (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("test_live")


@pytest.fixture(scope="module")
def coach() -> LiveCoach:
    return LiveCoach.load()


@pytest.fixture(scope="module")
def workout(sim_workout_features, tmp_path_factory):
    """The session's tiny workout (3 exercises of 8 s, 30 fps) with the bundled CNN's features
    (tests/conftest.py), copied, and the bundled coach's offline predictions."""
    from livefit.stream.predict import predict
    from livefit.vision.extract import list_jobs

    root = shutil.copytree(sim_workout_features, tmp_path_factory.mktemp("live") / "root")
    predict(root, _bundled_model(), root / "pred.jsonl", "test", progress=False)
    _, (job,) = list_jobs(root, "test")
    return root, job


def _bundled_model():
    from livefit.bundled import bundled_model

    return bundled_model()


@pytest.mark.parametrize("fps,jitter,drop", [(30.0, 0.0, 0.0), (25.0, 0.004, 0.1), (60, 0.0, 0.3)])
def test_resampler_is_the_offline_rule_one_frame_at_a_time(fps, jitter, drop):
    rng = np.random.default_rng(0)
    times = 1.7e9 + np.arange(400) / fps + rng.uniform(0, jitter, 400)
    times = np.sort(times[rng.uniform(size=400) >= drop])
    offline = np.bincount(resample_indices(times, 16.0), minlength=len(times))
    resampler = FrameResampler(16.0)
    assert [resampler.push(float(t)).fill for t in times] == offline.tolist()


def test_resampler_work_is_bounded_whatever_the_clock_says():
    """A gap longer than max_fill_seconds fills one slot and skips the rest: the frames either
    side keep the offline rule, and a jump of 10^7 s costs what a normal frame costs."""
    resampler = FrameResampler(16.0, max_fill_seconds=1.0)
    times = [0.0, 1 / 30, 2 / 30, 1800.0, 1800.0 + 1 / 30, 1e7, 1e7 + 0.5]
    slots = [resampler.push(t) for t in times]
    assert [s.fill for s in slots] == [1, 0, 1, 1, 0, 1, 8]
    assert slots[3].skipped == 1800 * 16 - 2 and slots[5].skipped > 1e8
    assert sum(s.skipped for s in slots[:3] + slots[4:5] + slots[6:]) == 0
    with pytest.raises(ValueError, match="too far from the first frame"):
        resampler.push(1e300)  # k / fps would stop advancing: refused, never a spin


@pytest.fixture(scope="module")
def paper_replay(coach, workout):
    """The workout played once through a live pipeline with its segments as the schedule, on
    the paper clock: (the pipeline, closed; [(feature, stream time)] of every step)."""
    root, job = workout
    schedule = schedule_of(load_segments(root, "test"), load_timestamps(job.timestamps)[0])
    live: list[tuple[torch.Tensor, float]] = []
    config = LiveConfig(  # predict's decoding, every line said as decoded
        schedule=schedule, clock="paper", sentence_start=False, whole_lines=False
    )
    pipe = coach.pipeline(config, on_feature=lambda f, t: live.append((f, t)))
    for _ in play_video(pipe, job.video, load_timestamps(job.timestamps)):
        pass
    pipe.close()
    return pipe, live


def test_live_features_equal_feature_extraction(workout, paper_replay):
    root, job = workout
    offline = np.load(job.features_out)
    offline_times = np.load(job.timestamps_out)
    times = load_timestamps(job.timestamps)
    _, live = paper_replay
    features = torch.stack([f for f, _ in live]).numpy()
    assert features.shape == offline.shape
    np.testing.assert_allclose(features, offline, atol=2e-4, rtol=0)
    np.testing.assert_allclose([t for _, t in live], offline_times - times[0], atol=1e-6)


def test_live_paper_clock_says_what_offline_predict_says(workout, paper_replay):
    """The workout's segments as the schedule, on the paper clock: the live path gives the
    offline prediction file's feedbacks, times and words (the engine settings are the model's)."""
    root, job = workout
    segments = load_segments(root, "test")
    schedule = schedule_of(segments, load_timestamps(job.timestamps)[0])
    pipe, _ = paper_replay
    offline = {
        r["segment_id"]: [(f["time"], f["text"]) for f in r["feedbacks"]]
        for r in map(json.loads, (root / "pred.jsonl").read_text().splitlines())
    }
    live = feedbacks_in(pipe.feedbacks, schedule)
    assert sum(map(len, live)) > 0, "the coach said nothing"
    for seg, said in zip(segments, live, strict=True):
        want = offline[seg.segment_id]
        assert [text for _, text in said] == [text for _, text in want], seg.segment_id
        np.testing.assert_allclose([t for t, _ in said], [t for t, _ in want], atol=1e-6)


def test_live_wall_clock_coaches_in_real_time_order(coach, workout):
    root, job = workout
    segments = load_segments(root, "test")
    times = load_timestamps(job.timestamps)
    schedule = schedule_of(segments, times[0])
    pipe = coach.pipeline(LiveConfig(schedule=schedule))
    events = [e for _, _, evs in play_video(pipe, job.video, times) for e in evs]
    events += pipe.close()
    said = [e for e in events if e.kind == "feedback"]
    assert said and [e.time for e in events] == sorted(e.time for e in events)
    sessions = [e for e in events if e.kind == "session" and e.text]
    assert [e.exercise for e in sessions] == [s.exercise for s in segments]
    for e in said:  # within its own entry (decoding takes a few ms past the step's time)
        assert schedule[e.session][0] < e.time <= schedule[e.session][1] + 0.1, e
    s = pipe.stats
    assert s.steps == len(np.load(job.features_out)) and s.frames_dropped == 0
    assert 0 < s.real_time_factor < 1.0, s.to_json()  # keeps up with the camera
    assert s.media_seconds == pytest.approx(times[-1] - times[0])


def test_recognised_exercise_follows_the_workout(coach, workout):
    root, job = workout
    truth = [s.exercise for s in load_segments(root, "test")]
    pipe = coach.pipeline(LiveConfig())
    events = [e for _, _, evs in play_video(pipe, job.video) for e in evs] + pipe.close()
    recognised = [e.text for e in events if e.kind == "exercise" and e.text != "general"]
    assert recognised == truth, (recognised, truth)
    started = [e.exercise for e in events if e.kind == "session" and e.text]
    assert started == truth


def test_late_frames_are_dropped_and_the_capture_clock_kept(coach):
    pipe = coach.pipeline(LiveConfig(exercise="squats", max_lag_seconds=0.5))
    frame = np.full((120, 90, 3), 128, np.uint8)
    for i in range(60):  # 2 s at 30 fps; every third frame arrives 0.8 s late
        pipe.push(frame, 100.0 + i / 30, lag=0.8 if i % 3 == 1 else 0.0)
    s = pipe.stats
    assert s.frames_in == 60 and s.frames_late == 20 and s.frames_dropped == 20
    assert s.cnn_frames == 32  # 16 fps over the 1.97 s of capture time, filled by other frames


def test_bad_frames_are_refused_clearly_and_the_stream_goes_on(coach):
    pipe = coach.pipeline(LiveConfig(exercise="squats"))
    good = np.zeros((64, 48, 3), np.uint8)
    bad = {
        "uint8 numpy array": good.astype(np.float32),
        "[H, W, 3]": good[..., :2],
        "larger than the limit": np.zeros((5000, 4000, 3), np.uint8),
    }
    for message, frame in bad.items():
        with pytest.raises(LiveInputError, match=message.replace("[", r"\[")):
            pipe.push(frame, 0.0)
    with pytest.raises(LiveInputError, match="finite"):
        pipe.push(good, float("nan"))
    pipe.push(good, 1.0)
    assert pipe.push(good, 0.5) == [] and pipe.stats.frames_out_of_order == 1
    assert pipe.stats.frames_in == 2 and pipe.stats.cnn_frames == 1
