"""Preprocessing: crop/resize/colour order, 16 fps resampling, decoding and bad videos."""

from __future__ import annotations

import numpy as np
import pytest
from vision_helpers import write_video

from livefit.vision.preprocess import (
    PreprocessConfig,
    VideoError,
    crop_and_resize,
    load_timestamps,
    load_video,
    resample_indices,
)


def test_centre_crop_and_resize_keep_the_middle():
    cfg = PreprocessConfig(height=28, width=20)  # ratio 1.4 like 224x160
    frame = np.zeros((300, 100, 3), np.uint8)  # too tall: the crop keeps the middle 140 rows
    frame[:80] = 255  # cropped away (rows 0..79 < top = 80)
    frame[80:220, :, 1] = 200
    out = crop_and_resize(frame, cfg)
    assert out.shape == (3, 28, 20) and out.dtype == np.float32
    np.testing.assert_allclose(out[1], 200 / 255, atol=1e-6)
    np.testing.assert_allclose(out[0], 0)
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 114:186, 2] = 255  # the middle 71 columns survive a 1.4 crop (100 / 1.4 = 71)
    np.testing.assert_allclose(crop_and_resize(wide, cfg)[2, :, 1:-1], 1.0, atol=0.02)


def test_bgr_frames_become_rgb():
    blue_bgr = np.zeros((14, 10, 3), np.uint8)
    blue_bgr[..., 0] = 255  # BGR blue
    out = crop_and_resize(blue_bgr, PreprocessConfig(height=14, width=10), bgr=True)
    assert out[2].min() == 1.0 and out[0].max() == 0.0


def test_resampling_30_to_16_fps_on_the_capture_clock():
    rng = np.random.default_rng(0)
    times = 1000.0 + np.cumsum(rng.uniform(0.025, 0.042, 90))  # jittery ~30 fps clock
    idx = resample_indices(times, 16)
    grid = times[0] + np.arange(len(idx)) / 16
    assert len(idx) == int((times[-1] - times[0]) * 16) + 1
    assert np.all(times[idx] >= grid - 1e-9)  # never a frame from before the grid time
    assert np.all(idx[1:] >= idx[:-1]) and idx[0] == 0
    prev = np.maximum(idx - 1, 0)
    assert np.all((idx == 0) | (times[prev] < grid))  # ... and the first such frame


def _grey_video(tmp_path, n=45, fps=30):
    levels = (np.arange(n) * 5 + 10).astype(np.uint8)
    frames = np.broadcast_to(levels[:, None, None, None], (n, 64, 48, 3)).copy()
    video = tmp_path / "v.mp4"
    write_video(video, frames, fps)
    ns = (1_700_000_000 * 10**9 + np.arange(n) * (10**9 // fps)).astype(np.int64)
    np.save(tmp_path / "v_timestamps.npy", ns)
    return video, tmp_path / "v_timestamps.npy", levels


def test_load_video_end_to_end(tmp_path):
    video, stamps, levels = _grey_video(tmp_path)
    frames, times = load_video(video, stamps, PreprocessConfig(height=28, width=20))
    seconds = load_timestamps(stamps)
    assert seconds[0] == pytest.approx(1_700_000_000 + 28800.0)
    idx = resample_indices(seconds, 16)
    assert frames.shape == (len(idx), 3, 28, 20) == (24, 3, 28, 20)
    np.testing.assert_allclose(times, seconds[idx])
    # Each output frame is the source frame the resampler picked (grey level = 5 i + 10).
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)) * 255, levels[idx], atol=3)


def test_bad_videos_raise_errors_naming_the_file(tmp_path):
    video, stamps, _ = _grey_video(tmp_path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    for bad in (empty, garbage, truncated, tmp_path / "missing.mp4"):
        with pytest.raises(VideoError, match=bad.name):
            load_video(bad, stamps)
    with pytest.raises(VideoError, match="timestamps"):
        short = tmp_path / "short_timestamps.npy"
        np.save(short, np.load(stamps)[:10])
        load_video(video, short)
