"""The readers check values, not only shapes: NaN or infinite features, timestamps in the wrong
unit or on the wrong clock, each an error naming the file and the segment or clip."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from qevd_fixture import write_quirk_tree  # noqa: E402

from livefit.data.clips import ClipFormatError, load_clips  # noqa: E402
from livefit.data.qevd import QEVDFormatError, load_segments, read_video_timestamps  # noqa: E402

FEATS = "QEVD-FIT-COACH-Benchmark/efficientnet_features/long_range_videos/0001"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_quirk_tree(tmp_path, feature_shape=(4, 1, 1))


def _poke(path: Path, index: tuple, value: float) -> None:
    data = np.load(path)
    data[index] = value
    np.save(path, data)


def test_nan_features_inside_a_segment_are_an_error_on_load(root: Path) -> None:
    seg = load_segments(root)[0]  # 0001:0 keeps feature steps 1..43
    feats, _ = seg.load_features()
    assert np.isfinite(feats).all()
    _poke(root / f"{FEATS}_features.npy", (10, 1, 0, 0), math.inf)
    with pytest.raises(
        QEVDFormatError,
        match=r"0001_features\.npy \(segment 0001:0\): feature "
        r"step 9 holds NaN",
    ):
        seg.load_features()
    later = [s for s in load_segments(root) if s.segment_id == "0001:3"][0]
    assert later.load_features()[0].shape[0] > 0  # another segment's steps are still fine


def test_feature_times_that_miss_the_segment_are_an_error(root: Path) -> None:
    path = root / f"{FEATS}_timestamps.npy"
    np.save(path, np.load(path) - 28800.0)  # unshifted clock
    with pytest.raises(
        QEVDFormatError,
        match=r"0001_timestamps\.npy: feature times .* do not "
        r"reach segment 0001:0",
    ):
        load_segments(root)[0].load_features()


def test_video_timestamps_must_be_integer_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "v_timestamps.npy"
    ns = 1_700_000_000 * 10**9 + np.arange(30, dtype=np.int64) * 33_333_333
    np.save(path, ns)
    assert read_video_timestamps(path)[0] == pytest.approx(1_700_000_000 + 28800.0)
    np.save(path, ns / 1e9)
    with pytest.raises(QEVDFormatError, match="must be int64 UNIX nanoseconds, got float64"):
        read_video_timestamps(path)
    np.save(path, ns // 10**6)  # milliseconds
    with pytest.raises(QEVDFormatError, match="frames are 33 units apart"):
        read_video_timestamps(path)


def test_clip_values_are_checked(tmp_path: Path) -> None:
    import json

    base = tmp_path / "QEVD-FIT-300K" / "train"
    (base / "videos").mkdir(parents=True)
    labels = {"exercises": ["squats"], "fine_grained": ["squats - good form"], "mistakes": []}
    (tmp_path / "QEVD-FIT-300K" / "labels.json").write_text(json.dumps(labels))
    record = {
        "clip_id": "a",
        "video_file": "videos/a.mp4",
        "video_timestamps": "videos/a_ts.npy",
        "participant": "p1",
        "exercise": "squats",
        "fine_grained": ["squats - good form"],
        "frame_labels": ["squats - good form"] * 3,
        "attributes": {},
        "qa": [],
        "feedbacks": [],
    }
    (base / "clips.json").write_text(json.dumps([record]))
    (base / "videos" / "a.mp4").write_bytes(b"")
    np.save(base / "videos" / "a_ts.npy", 1.7e9 + np.arange(3) / 30)  # float seconds
    with pytest.raises(ClipFormatError, match=r"record 0 \(a\).*must be int64 UNIX nanoseconds"):
        load_clips(tmp_path, "train", check_files=True)
    (clip,) = load_clips(tmp_path, "train")
    with pytest.raises(ClipFormatError, match=r"a_ts\.npy \(clip a\)"):
        clip.frame_times()
    feats = base / "efficientnet_features" / "videos"
    feats.mkdir(parents=True)
    values = np.zeros((2, 4, 1, 1), np.float32)
    values[1, 0] = np.nan
    np.save(feats / "a_features.npy", values)
    np.save(feats / "a_timestamps.npy", np.array([1.7e9 + 28800.0, 1.7e9 + 28800.25]))
    with pytest.raises(ClipFormatError, match=r"a_features\.npy \(clip a\): feature step 1"):
        clip.load_features()
