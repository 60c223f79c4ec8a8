"""The estimator's recorded errors (``livefit.vision.pose_residuals``): the error's units, how a
recorded run lands on another clip (scaled by its torso, mirrored with left and right swapped,
its seen flags), the bank file, and training features made with it."""

from __future__ import annotations

import numpy as np
import pytest

from livefit.data.landmarks import FLIP_INDEX, LM, torso_length
from livefit.vision.pose import DetectorNoise, PoseEncoder, PoseEncoderConfig, augment
from livefit.vision.pose_residuals import (
    ResidualBank,
    bank_sources,
    collect_residuals,
    residuals,
)

TINY = PoseEncoderConfig(hidden=16, layers=2, channels=24, tokens=4, window_frames=16)


def body(frames: int = 8, torso: float = 40.0) -> np.ndarray:
    """A standing body ``[T, 33, 4]``: hips at y = 200, shoulders ``torso`` pixels above."""
    rng = np.random.default_rng(0)
    p = np.zeros((frames, 33, 4), np.float32)
    p[..., 0] = 80 + rng.normal(size=(frames, 33)) * 10
    p[..., 1] = 150 + rng.normal(size=(frames, 33)) * 10
    p[..., 3] = 1.0
    for name, x in (("left_hip", 90), ("right_hip", 70)):
        p[:, LM[name], :2] = (x, 200)
    for name, x in (("left_shoulder", 95), ("right_shoulder", 65)):
        p[:, LM[name], :2] = (x, 200 - torso)
    return p


def constant_bank(frames: int, dx: float, seen: bool = True) -> ResidualBank:
    error = np.zeros((frames, 33, 2), np.float32)
    error[:, LM["left_wrist"], 0] = dx
    return ResidualBank(error, np.full((frames, 33), seen), {})


def test_residuals_are_in_true_torso_lengths_and_zero_where_unseen():
    truth = body(torso=40.0)
    est = truth.copy()
    est[:, LM["left_wrist"], 0] += 20.0  # half a torso to the right
    est[:, LM["nose"], 3] = 0.1  # not reported
    est[:, LM["nose"], 0] += 99.0
    error, seen = residuals(est, truth)
    np.testing.assert_allclose(torso_length(truth), 40.0)
    np.testing.assert_allclose(error[:, LM["left_wrist"], 0], 0.5, rtol=1e-6)
    assert not seen[:, LM["nose"]].any() and seen[:, LM["left_wrist"]].all()
    assert np.all(error[:, LM["nose"]] == 0)
    others = np.ones(33, bool)
    others[[LM["left_wrist"], LM["nose"]]] = False
    assert np.all(error[:, others] == 0)


def test_apply_scales_by_the_clips_torso_and_mirrors_with_left_and_right_swapped():
    clip = body(frames=6, torso=80.0)  # twice the recording's torso: twice the pixels
    bank = constant_bank(10, 0.25)
    plain = mirrored = 0
    for seed in range(20):
        out = bank.apply(clip, np.random.default_rng(seed))
        moved = np.flatnonzero(np.abs(out[..., :2] - clip[..., :2]).max(axis=(0, 2)) > 1e-4)
        if list(moved) == [LM["left_wrist"]]:
            np.testing.assert_allclose(
                out[:, LM["left_wrist"], 0] - clip[:, LM["left_wrist"], 0], 20.0, rtol=1e-5
            )
            plain += 1
        else:  # the mirror image: the right wrist, moved to the left
            assert list(moved) == [LM["right_wrist"]] == [FLIP_INDEX[LM["left_wrist"]]]
            np.testing.assert_allclose(
                out[:, LM["right_wrist"], 0] - clip[:, LM["right_wrist"], 0], -20.0, rtol=1e-5
            )
            mirrored += 1
    assert plain and mirrored
    assert np.all(out[..., 3] == 1.0)
    hidden = constant_bank(10, 0.25, seen=False).apply(clip, np.random.default_rng(0))
    assert np.all(hidden[..., 3] == 0)  # the recorded misses replace the clip's visibility


def test_apply_takes_a_contiguous_run_wrapping_around():
    error = np.zeros((5, 33, 2), np.float32)
    error[:, LM["nose"], 1] = np.arange(5) / 40.0  # 0, 1, 2, 3, 4 pixels on a 40 px torso
    bank = ResidualBank(error, np.ones((5, 33), bool), {})
    clip = body(frames=7, torso=40.0)
    for seed in range(10):
        out = bank.apply(clip, np.random.default_rng(seed))
        dy = np.round(out[:, LM["nose"], 1] - clip[:, LM["nose"], 1]).astype(int)
        assert np.all(np.diff(dy) % 5 == 1), dy  # consecutive recorded frames


def test_augment_with_recorded_errors_keeps_the_camera_and_replaces_the_jitter():
    clip = body(frames=6)
    zero = constant_bank(10, 0.0)
    calm = DetectorNoise(scale=(2.0, 2.0), shift=0.0, mirror_p=0.0, jitter=0.5)
    out, mirrored = augment(clip, 160, 224, np.random.default_rng(0), calm, zero)
    assert not mirrored
    centre = np.array([80, 112], np.float32)
    np.testing.assert_allclose(out[..., :2], (clip[..., :2] - centre) * 2 + centre, atol=1e-3)
    jittered, _ = augment(clip, 160, 224, np.random.default_rng(0), calm)
    assert np.abs(jittered[..., :2] - out[..., :2]).max() > 1.0


def test_bank_file_round_trip_and_a_clear_error_for_a_bad_file(tmp_path):
    bank = constant_bank(12, 0.3)
    bank.meta.update({"sources": ["a.mp4"]})
    bank.save(tmp_path / "bank.safetensors")
    back = ResidualBank.load(tmp_path / "bank.safetensors")
    np.testing.assert_array_equal(back.error, bank.error)
    np.testing.assert_array_equal(back.seen, bank.seen)
    assert back.meta == {"sources": ["a.mp4"]}
    assert back.summary()["frames"] == 12
    (tmp_path / "junk.safetensors").write_bytes(b"not a bank")
    with pytest.raises(ValueError, match="junk.safetensors: not a residual bank"):
        ResidualBank.load(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        ResidualBank.load(tmp_path / "nowhere.safetensors")
    with pytest.raises(ValueError, match="do not fit"):
        ResidualBank(np.zeros((3, 33, 2), np.float32), np.ones((3, 32), bool), {})


def test_bank_sources_spread_over_the_train_split(coach_root):
    from livefit.vision.extract import list_jobs

    _, jobs = list_jobs(coach_root, "train")
    assert [j.name for j in bank_sources(coach_root, 1)] == [jobs[0].name]
    assert [j.name for j in bank_sources(coach_root, 99)] == [j.name for j in jobs]
    assert bank_sources(coach_root, 0) == []


def test_training_features_with_recorded_errors(coach_root, tmp_path):
    """A noisy producer: other features than the clean one, the same on a rerun, and its bank
    recorded in the producer's settings (so clean and noisy features never mix)."""
    from livefit.vision.extract import list_jobs
    from livefit.vision.pose_extract import PoseProducer

    encoder = PoseEncoder(TINY).eval()
    bank = constant_bank(50, 0.4)
    _, jobs = list_jobs(coach_root, "train")
    clean = PoseProducer(encoder).extract(jobs[0])[0]
    noisy = PoseProducer(encoder, noise=bank, noise_seed=3)
    first, again = noisy.extract(jobs[0])[0], noisy.extract(jobs[0])[0]
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - clean).max() > 1e-3
    recorded = noisy.settings()["landmarks"]["recorded_errors"]
    assert recorded["frames"] == 50 and recorded["seed"] == 3
    assert "recorded_errors" not in PoseProducer(encoder).settings()["landmarks"]


@pytest.mark.slow(5)
def test_collect_residuals_records_and_resumes(coach_root, tmp_path, pose_estimator_available):
    out = tmp_path / "bank.safetensors"
    # the first train workout's first 10 s (of 54: the estimator costs about 20 ms a frame)
    bank = collect_residuals(coach_root, out, 1, progress=False, seconds=10.0)
    (source,) = bank_sources(coach_root, 1)
    assert bank.meta["sources"] == [source.video.name] and bank.meta["unit"] == "true torso lengths"
    models = {"pose_detection.tflite", "pose_landmark_full.tflite"}
    assert set(bank.meta["estimator"]["models_sha256"]) == models
    assert len(bank) == 160 and np.isfinite(bank.error).all()  # 10 s at 16 fps
    assert bank.meta["seconds_per_workout"] == 10.0
    assert ResidualBank.load(out).meta == bank.meta  # the file's metadata holds its provenance
    assert (tmp_path / "bank.safetensors.parts").is_dir()
    again = collect_residuals(coach_root, out, 1, progress=False)  # read back, not recorded again
    np.testing.assert_array_equal(again.error, bank.error)
