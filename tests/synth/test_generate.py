"""End-to-end checks of the generator's output through the project's own readers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from livefit.data.clips import load_clips, load_labels
from livefit.data.qevd import (
    CLOCK_SHIFT_S,
    SPLIT_DIRS,
    collapse_spans,
    load_segments,
    load_workouts,
)
from livefit.synth.exercises import BY_NAME
from livefit.synth.generate import generate
from livefit.synth.presets import preset
from livefit.synth.writer import read_video

SPEC_KEYS = {
    "long_range_video_file",
    "video_timestamps",
    "feedbacks",
    "feedback_timestamps",
    "is_transition",
}


@pytest.mark.parametrize("split", ["test", "train"])
def test_reader_loads_both_modes(tiny_root: Path, split: str) -> None:
    cfg = preset("tiny")
    n_workouts = cfg.test_workouts if split == "test" else cfg.train_workouts
    single = load_segments(tiny_root, split, "single_exercise")
    full = load_segments(tiny_root, split, "full_workout")
    assert len(full) == n_workouts
    assert len(single) == n_workouts * 3 * cfg.exercises_per_section
    for seg in single:
        assert seg.exercise in BY_NAME and BY_NAME[seg.exercise].section != "general"
        assert seg.responses and not any(seg.response_is_transition)
        assert all(0 < t < seg.end - seg.start for t in seg.response_times)
    for seg in full:
        assert seg.response_is_transition[0] and seg.response_is_transition[-1]
        assert seg.responses[0].startswith("First up are ")
        assert sum(seg.response_is_transition) == 3 * cfg.exercises_per_section + 1


@pytest.mark.parametrize("split", ["test", "train"])
def test_records_follow_the_release_layout(tiny_root: Path, split: str) -> None:
    split_dir = tiny_root / SPLIT_DIRS[split]
    records = json.loads((split_dir / "feedbacks_long_range.json").read_text())
    for rec in records:
        assert set(rec) == SPEC_KEYS
        ns = np.load(split_dir / rec["video_timestamps"])
        assert ns.dtype == np.int64 and np.all(np.diff(ns) > 0)
        assert len(rec["feedbacks"]) == len(ns)  # dense: one entry per frame
        spans = collapse_spans(rec["feedbacks"])
        assert len(spans) == len(rec["feedback_timestamps"]) == len(rec["is_transition"])
        for (_, first, _), stamp in zip(spans, rec["feedback_timestamps"], strict=True):
            assert stamp == pytest.approx(ns[first] / 1e9 + CLOCK_SHIFT_S)
        assert rec["is_transition"][-1]  # the session-end transition
        stem = Path(rec["long_range_video_file"]).stem
        gt = np.load(split_dir / "long_range_videos" / f"{stem}_groundtruth.npz")
        assert gt["landmarks_2d"].shape == (len(ns), 33, 2)
        assert gt["landmarks_3d"].shape == (len(ns), 33, 3)
        assert np.array_equal(gt["timestamps_ns"], ns)
    video = split_dir / records[0]["long_range_video_file"]
    frames = read_video(video)
    assert frames.shape == (len(records[0]["feedbacks"]), 224, 160, 3)


def test_segments_end_halfway_through_the_next_transition(tiny_root: Path) -> None:
    workout = load_workouts(tiny_root, "test")[0]
    segs = [s for s in load_segments(tiny_root, "test") if s.segment_id.startswith("0001:")]
    trans = [s for s in workout.spans if s.is_transition]
    times = workout.frame_times
    for seg, nxt in zip(segs, trans[1:], strict=True):
        mid = nxt.first_frame + (nxt.last_frame - nxt.first_frame) // 2
        assert seg.end == times[mid]


def test_clips_are_read_and_match_their_videos(tiny_root: Path) -> None:
    labels = load_labels(tiny_root)
    cfg = preset("tiny")
    train = load_clips(tiny_root, "train", check_files=True)
    test = load_clips(tiny_root, "test", check_files=True)
    assert len(train) == cfg.train_clips and len(test) == cfg.test_clips
    assert not {c.participant for c in train} & {c.participant for c in test}
    clip = train[0]
    assert read_video(clip.video).shape[0] == len(clip.frame_labels)
    assert clip.frame_label_ids(labels).shape == (len(clip.frame_labels),)
    for c in train + test:
        assert 1 <= len(c.feedbacks) <= 2
        assert {q.kind for q in c.qa} <= {"high_level", "fine_grained"}
        assert c.exercise in labels.exercises


def test_stats_file_sets_data_beside_the_paper(tiny_root: Path) -> None:
    stats = json.loads((tiny_root / "synth_stats.json").read_text())
    assert stats["paper_table2"]["coach_test"]["feedbacks_per_exercise"] == [5.0, 1.2]
    ours = stats["coach_test"]
    segs = load_segments(tiny_root, "test")
    assert ours["feedbacks"] == sum(len(s.responses) for s in segs)
    assert ours["feedbacks_per_exercise"][0] == pytest.approx(
        np.mean([len(s.responses) for s in segs]), abs=1e-3
    )


@pytest.mark.slow(11)
def test_same_seed_same_bytes_and_pixels_and_resume(tmp_path: Path) -> None:
    cfg = preset(
        "tiny", test_workouts=1, train_workouts=0, train_clips=2, test_clips=0, exercise_s=3.0
    )
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(cfg, a, seed=3, progress=False)
    generate(cfg, b, seed=3, progress=False)
    generate(cfg, c, seed=4, progress=False)
    for rel in (
        "QEVD-FIT-COACH-Benchmark/feedbacks_long_range.json",
        "QEVD-FIT-300K/train/clips.json",
        "QEVD-FIT-300K/labels.json",
        "synth_stats.json",
    ):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    video = "QEVD-FIT-COACH-Benchmark/long_range_videos/0001.mp4"
    frames_a = read_video(a / video)
    assert np.array_equal(frames_a, read_video(b / video))
    assert not np.array_equal(frames_a[:10], read_video(c / video)[:10])
    # Resume: a finished video is skipped, a missing one is regenerated identically.
    clip_dir = a / "QEVD-FIT-300K/train/videos"
    kept = (clip_dir / "train_000000.mp4").stat().st_mtime_ns
    (clip_dir / "train_000001.mp4").unlink()
    (clip_dir / "train_000001_groundtruth.json").unlink()
    shutil.rmtree(a / "QEVD-FIT-COACH-Benchmark/long_range_videos", ignore_errors=False)
    generate(cfg, a, seed=3, progress=False)
    assert (clip_dir / "train_000000.mp4").stat().st_mtime_ns == kept
    assert np.array_equal(
        read_video(clip_dir / "train_000001.mp4"),
        read_video(b / "QEVD-FIT-300K/train/videos/train_000001.mp4"),
    )
    assert (a / video).read_bytes() == (b / video).read_bytes()


def test_workers_do_not_change_the_output(tmp_path: Path) -> None:
    cfg = preset("tiny", test_workouts=0, train_workouts=0, train_clips=3, test_clips=1)
    generate(cfg, tmp_path / "one", seed=5, workers=1, progress=False)
    generate(cfg, tmp_path / "two", seed=5, workers=2, progress=False)
    for split in ("train", "test"):
        rel = f"QEVD-FIT-300K/{split}/clips.json"
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()
    assert json.loads((tmp_path / "two/QEVD-FIT-COACH/feedbacks_long_range.json").read_text()) == []
