"""QEVD-FIT-300K reader: a hand-written fixture, every validation error names file and record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from livefit.data.clips import ClipFormatError, load_clips, load_labels

LABELS = {
    "exercises": ["squats", "deltoid stretch", "general"],
    "fine_grained": [
        "squats - good form",
        "squats - shallow",
        "deltoid stretch - left arm",
        "deltoid stretch - right arm",
        "general - standing idle",
    ],
    "flip": {
        "deltoid stretch - left arm": "deltoid stretch - right arm",
        "deltoid stretch - right arm": "deltoid stretch - left arm",
    },
    "mistakes": ["shallow"],
    "extra_key": "ignored",
}


def _record(clip_id: str, labels: list[str], exercise: str = "squats") -> dict:
    return {
        "clip_id": clip_id,
        "video_file": f"videos/{clip_id}.mp4",
        "video_timestamps": f"videos/{clip_id}_timestamps.npy",
        "participant": "p1",
        "exercise": exercise,
        "fine_grained": sorted(set(labels)),
        "frame_labels": labels,
        "attributes": {"tempo": "normal", "mirrored": False},
        "qa": [
            {
                "question": "What exercise is the user doing?",
                "answer": "Squats.",
                "kind": "high_level",
            }
        ],
        "feedbacks": ["Go lower!"],
        "unknown_extra": 1,
    }


def _write(root: Path, records: list[dict], labels: dict = LABELS, split: str = "train") -> Path:
    base = root / "QEVD-FIT-300K"
    (base / split / "videos").mkdir(parents=True, exist_ok=True)
    (base / "labels.json").write_text(json.dumps(labels))
    (base / split / "clips.json").write_text(json.dumps(records))
    for r in records:
        n = len(r["frame_labels"])
        stamps = 1_700_000_000 * 10**9 + np.arange(n, dtype=np.int64) * 33_333_333
        np.save(base / split / r["video_timestamps"], stamps)
        (base / split / r["video_file"]).write_bytes(b"")
    return root


def test_reads_records_labels_and_flip(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        [
            _record("a", ["squats - good form"] * 3 + ["squats - shallow"] * 2),
            _record("b", ["deltoid stretch - left arm"] * 4, "deltoid stretch"),
        ],
    )
    labels = load_labels(root)
    clips = load_clips(root, "train", check_files=True)
    assert [c.clip_id for c in clips] == ["a", "b"]
    np.testing.assert_array_equal(clips[0].frame_label_ids(labels), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(labels.flip_ids(), [0, 1, 3, 2, 4])
    assert clips[1].video == root / "QEVD-FIT-300K/train/videos/b.mp4"
    assert clips[1].features.name == "b_features.npy"
    assert clips[1].features.parent == root / "QEVD-FIT-300K/train/efficientnet_features/videos"
    times = clips[0].frame_times()
    assert times[0] == pytest.approx(1_700_000_000 + 28800.0)
    assert clips[0].qa[0].kind == "high_level"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("frame_labels"), "record 0 \\(a\\): missing key 'frame_labels'"),
        (lambda r: r.update(exercise="yoga"), "exercise 'yoga' not in labels.json"),
        (lambda r: r.update(frame_labels=["squats - deep"]), "class 'squats - deep' not in"),
        (lambda r: r.update(qa=[{"question": "q", "answer": "a", "kind": "x"}]), "'kind' in"),
        (lambda r: r.update(feedbacks="Go!"), "'feedbacks' should be a list"),
        (lambda r: r.update(frame_labels=[]), "'frame_labels' is empty"),
    ],
)
def test_bad_records_are_named(tmp_path: Path, mutate, message: str) -> None:
    rec = _record("a", ["squats - good form"] * 2)
    root = _write(tmp_path, [rec])
    mutate(rec)
    (root / "QEVD-FIT-300K/train/clips.json").write_text(json.dumps([rec]))
    with pytest.raises(
        ClipFormatError, match=f"clips.json: {message}" if "record" in message else message
    ):
        load_clips(root, "train")


def test_timestamps_must_match_frame_labels(tmp_path: Path) -> None:
    rec = _record("a", ["squats - good form"] * 3)
    root = _write(tmp_path, [rec])
    rec["frame_labels"] = rec["frame_labels"] * 2
    (root / "QEVD-FIT-300K/train/clips.json").write_text(json.dumps([rec]))
    assert len(load_clips(root, "train")[0].frame_labels) == 6  # lazy by default
    with pytest.raises(ClipFormatError, match=r"\(3,\) timestamps but 6 frame labels"):
        load_clips(root, "train", check_files=True)


def test_bad_files_and_labels(tmp_path: Path) -> None:
    with pytest.raises(ClipFormatError, match="labels.json: file is missing"):
        load_labels(tmp_path)
    root = _write(tmp_path, [_record("a", ["squats - good form"])])
    (root / "QEVD-FIT-300K/train/clips.json").write_text("{not json")
    with pytest.raises(ClipFormatError, match="clips.json: not valid JSON"):
        load_clips(root, "train")
    bad = dict(LABELS, flip={"deltoid stretch - left arm": "deltoid stretch - right arm"})
    _write(tmp_path, [_record("a", ["squats - good form"])], labels=bad)
    with pytest.raises(ClipFormatError, match="'flip' is not symmetric"):
        load_labels(tmp_path)
    _write(tmp_path, [_record("a", ["squats - good form"])] * 2)
    with pytest.raises(ClipFormatError, match="duplicate clip_id 'a'"):
        load_clips(tmp_path, "train")
    with pytest.raises(ClipFormatError, match="unknown split 'val'"):
        load_clips(tmp_path, "val")  # type: ignore[arg-type]
