"""Feature extraction in the QEVD layout: read back by livefit.data.qevd, resumable, sharded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner
from vision_helpers import make_clips, make_split, random_model

from livefit.cli import app
from livefit.data.clips import load_clips
from livefit.data.qevd import load_segments
from livefit.vision.cnn import extract_clip
from livefit.vision.extract import Job, shard
from livefit.vision.front_ends import save_front_end
from livefit.vision.preprocess import (
    PreprocessConfig,
    load_timestamps,
    load_video,
    resample_indices,
)
from livefit.vision.weights import load_model


@pytest.fixture
def model_dir(tmp_path):
    save_front_end(random_model(), tmp_path / "cnn")
    return tmp_path / "cnn"


def test_features_line_up_with_segments_and_match_clip_mode(tmp_path, model_dir):
    make_split(tmp_path / "data", stems=("w1", "bad"))
    args = ["features", "extract", str(tmp_path / "data"), "--model", str(model_dir)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2  # one video failed ...
    assert "bad.mp4" in result.output and "1 extracted" in result.output  # ... the other is done
    failures = tmp_path / "data/QEVD-FIT-COACH-Benchmark/efficientnet_features/failures_rank0.json"
    assert "bad.mp4" in json.loads(failures.read_text())[0]["video"]

    segments = [s for s in load_segments(tmp_path / "data", "test") if "w1" in s.segment_id]
    model = load_model(model_dir)
    feats, rel_times = segments[0].load_features(expected_shape=model.config.feature_shape)
    seg = segments[0]
    assert len(feats) > 0 and np.all(rel_times > 0) and np.all(rel_times <= seg.end - seg.start)

    # Step k's time is the capture time of the source frame behind 16 fps frame 4k + 3.
    split = tmp_path / "data/QEVD-FIT-COACH-Benchmark"
    capture = load_timestamps(split / "long_range_videos/w1_timestamps.npy")
    all_times = np.load(split / "efficientnet_features/long_range_videos/w1_timestamps.npy")
    expected = capture[resample_indices(capture, 16)][3::4]
    np.testing.assert_allclose(all_times, expected[: len(all_times)])
    assert len(all_times) == len(resample_indices(capture, 16)) // 4
    in_span = (all_times > seg.start) & (all_times <= seg.end)
    assert in_span.sum() == len(feats)

    # Chunked, warmed-up extraction == one clip-mode pass over the whole preprocessed video.
    cfg = PreprocessConfig(height=32, width=24)
    stamps = split / "long_range_videos/w1_timestamps.npy"
    frames, _ = load_video(split / "long_range_videos/w1.mp4", stamps, cfg)
    clip = extract_clip(model, torch.from_numpy(frames), warmup=True, chunk=1024)
    all_feats = np.load(split / "efficientnet_features/long_range_videos/w1_features.npy")
    np.testing.assert_allclose(all_feats, clip.numpy(), rtol=1e-4, atol=1e-5)


def test_resume_skips_finished_videos_and_ranks_split_the_work(tmp_path, model_dir, monkeypatch):
    make_split(tmp_path / "data", stems=("w1", "w2", "w3"))
    args = ["features", "extract", str(tmp_path / "data"), "--model", str(model_dir)]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "rank 1/2: 1 extracted" in result.output  # jobs [w1, w2, w3] -> rank 1 gets w2
    out = tmp_path / "data/QEVD-FIT-COACH-Benchmark/efficientnet_features/long_range_videos"
    assert sorted(p.name for p in out.glob("*_features.npy")) == ["w2_features.npy"]
    stamp = (out / "w2_features.npy").stat().st_mtime_ns
    monkeypatch.setenv("RANK", "0")
    assert "rank 0/2: 2 extracted" in CliRunner().invoke(app, args).output
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert "0 extracted, 3 already done" in CliRunner().invoke(app, args).output
    assert (out / "w2_features.npy").stat().st_mtime_ns == stamp
    assert not list(out.glob(".*tmp"))  # atomic writes leave no temporary files


def test_shards_cover_every_job_once(tmp_path):
    jobs = [Job(f"v{i}", *(tmp_path / f"{i}{s}" for s in "abcd")) for i in range(11)]
    for world in (1, 2, 3, 5):
        shards = [shard(jobs, r, world) for r in range(world)]
        names = sorted(j.name for part in shards for j in part)
        assert names == sorted(j.name for j in jobs)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    with pytest.raises(ValueError):
        shard(jobs, 2, 2)


def test_missing_annotation_is_a_clean_cli_error(tmp_path, model_dir):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        app, ["features", "extract", str(tmp_path / "empty"), "--model", str(model_dir)]
    )
    assert result.exit_code == 2 and "feedbacks_long_range.json" in result.output


def test_clip_features_are_read_back_by_the_clip_reader(tmp_path, model_dir):
    make_clips(tmp_path / "data", per_class=1)
    args = ["features", "extract", str(tmp_path / "data"), "--split", "test", "--clips"]
    result = CliRunner().invoke(app, args + ["--model", str(model_dir)])
    assert result.exit_code == 0 and "4 extracted" in result.output, result.output
    for clip in load_clips(tmp_path / "data", "test"):
        feats, times = clip.load_features()
        capture = load_timestamps(clip.video_timestamps)
        assert feats.shape == (len(resample_indices(capture, 16)) // 4, 24, 2, 2)
        np.testing.assert_allclose(times, capture[resample_indices(capture, 16)][3::4])
