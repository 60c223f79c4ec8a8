"""The QEVD-FIT-COACH reader against a fixture written with every quirk of the release; the
expected values are worked out by hand from tests/qevd_fixture.py's tables (frame f of workout
0001 is at 1650028800 + 0.1 f s, plus 3 ms on odd frames; feedback times are 0.25 s after their
first frame)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from qevd_fixture import (  # noqa: E402
    FSpan,
    WorkoutSpec,
    write_quirk_tree,
    write_split,
)

from livefit.cli import app  # noqa: E402
from livefit.data.qevd import (  # noqa: E402
    QEVDFormatError,
    check_features,
    data_fingerprint,
    load_segments,
    load_workouts,
)

T = 1650028800.0  # frame 0 of workout 0001 on the shifted clock


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_quirk_tree(tmp_path_factory.mktemp("qevd"))


def test_single_exercise_segments(tree):
    segs = load_segments(tree, "test")
    # exercise 2 (high knees) has no feedback: dropped, and k=2 is not reused
    assert [s.segment_id for s in segs] == ["0001:0", "0001:1", "0001:3", "0002:0"]
    assert [s.exercise for s in segs] == ["squats", "deltoid stretch", "jumping jacks", "lunges"]
    s0, s1, s3, lunges = segs
    assert s0.responses == (
        "Go lower, knees over toes.",
        "Good, 5 more reps!",  # adjacent to the span before, still its own span
        "Go lower, knees over toes.",  # same text again after silence: a new span
    )
    assert s0.start == pytest.approx(T, abs=1e-6)
    # ends halfway through the next transition (frames 100-119 -> frame 109, odd: +3 ms)
    assert s0.end == pytest.approx(T + 10.903, abs=1e-6)
    assert s0.response_times == pytest.approx((3.25, 4.753, 7.25), abs=1e-6)
    assert s1.responses == ("Hold the deltoid stretch, switch sides soon.",)  # renamed
    assert (s1.start, s1.end) == pytest.approx((T + 10.0, T + 14.903), abs=1e-6)
    assert s1.response_times == pytest.approx((2.25,), abs=1e-6)
    # the last transition ends the session: segment 3 ends halfway through it (frame 230)
    assert (s3.start, s3.end) == pytest.approx((T + 17.0, T + 23.0), abs=1e-6)
    assert s3.responses == ("Nice rhythm, keep it up!",)
    assert lunges.start == pytest.approx(T + 3600.0, abs=1e-6)
    assert lunges.end == pytest.approx(T + 3604.4, abs=1e-6)
    assert lunges.response_times == pytest.approx((1.753,), abs=1e-6)
    assert s0.system.endswith("The user should be doing squats.")
    assert s1.system.endswith("The user should be doing deltoid stretch.")
    assert (
        s0.features
        == tree
        / "QEVD-FIT-COACH-Benchmark/efficientnet_features/long_range_videos/0001_features.npy"
    )  # noqa: E501
    assert s0.video == tree / "QEVD-FIT-COACH-Benchmark/long_range_videos/0001.mp4"


def test_features_are_selected_by_start_lt_t_le_end(tree):
    s0, s1, s3, _ = load_segments(tree, "test")
    feats, times = s0.load_features(expected_shape=(1280, 7, 5))
    assert feats.shape == (44, 1280, 7, 5) and feats.dtype == np.float32
    # step 0 sits exactly on the start: excluded; step 44 sits exactly on the end: included
    assert feats[:, 0, 0, 0].tolist() == list(range(1, 45))
    assert times[0] == pytest.approx(0.25, abs=1e-6) and times[-1] == pytest.approx(10.903, 1e-6)
    feats3, times3 = s3.load_features()
    assert feats3[:, 0, 0, 0].tolist() == list(range(69, 93))  # 17.0 excluded, 23.0 included
    # segments overlap: step 44 (segment 0's end) is also inside segment 1
    assert 44 in s1.load_features()[0][:, 0, 0, 0].tolist()
    check_features(load_segments(tree, "test"), (1280, 7, 5))


def test_full_workout_mode(tree):
    segs = load_segments(tree, "test", "full_workout")
    assert [s.segment_id for s in segs] == ["0001", "0002"]
    w = segs[0]
    assert w.exercise is None
    assert len(w.responses) == 10 and w.responses[4] == "Moving on to deltoid stretch!"
    assert w.response_is_transition == (
        True,
        False,
        False,
        False,
        True,
        False,
        True,
        True,
        False,
        True,
    )  # noqa: E501
    assert "1) squats; 2) deltoid stretch; 3) high knees; 4) jumping jacks." in w.system
    assert w.response_times[1] == pytest.approx(3.25, abs=1e-6)


def test_train_split(tree):
    segs = load_segments(tree, "train")
    assert [(s.segment_id, s.exercise, s.responses) for s in segs] == [
        ("1001:0", "push ups", ("Keep your core tight.",)),
        ("1001:1", "deltoid stretch", ("Switch arms.",)),
    ]


def test_cli_segments_json(tree):
    result = CliRunner().invoke(app, ["data", "segments", str(tree), "--split", "test", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["segment_id"] for r in rows] == ["0001:0", "0001:1", "0001:3", "0002:0"]
    assert set(rows[0]) == {
        "segment_id",
        "video",
        "exercise",
        "start",
        "end",
        "responses",
        "response_times",
        "system",
        "features",
    }
    assert rows[1]["response_times"] == pytest.approx([2.25], abs=1e-6)


def test_fingerprint_is_the_annotation_sha256(tree):
    import hashlib

    ann = tree / "QEVD-FIT-COACH-Benchmark" / "feedbacks_long_range.json"
    assert data_fingerprint(tree, "test") == hashlib.sha256(ann.read_bytes()).hexdigest()


# ---- bad input: one clear error naming the file and the record -----------------------------------


def _small(tmp_path: Path, features: bool = False) -> Path:
    spec = WorkoutSpec(
        "long_range_videos/0007.mp4",
        [
            FSpan("First up are squats!", 0, 9, True, 0.0),
            FSpan("Go lower.", 12, 20),
            FSpan("Done!", 25, 29, True, 0.0),
        ],
        30,
    )
    write_split(tmp_path, "test", [spec], (1280, 7, 5) if features else None)
    return tmp_path / "QEVD-FIT-COACH-Benchmark"


def _edit(split: Path, change) -> None:
    path = split / "feedbacks_long_range.json"
    records = json.loads(path.read_text())
    change(records)
    path.write_text(json.dumps(records))


def _error(tmp_path: Path, *args) -> str:
    with pytest.raises(QEVDFormatError) as info:
        load_segments(tmp_path, *args)
    return str(info.value)


def test_missing_annotation_file(tmp_path):
    msg = _error(tmp_path)
    assert "feedbacks_long_range.json" in msg and "missing" in msg


def test_unknown_split(tmp_path):
    assert "unknown split" in _error(tmp_path, "dev")


def test_not_json(tmp_path):
    split = _small(tmp_path)
    (split / "feedbacks_long_range.json").write_text("[{")
    assert "not valid JSON" in _error(tmp_path)


def test_missing_key(tmp_path):
    split = _small(tmp_path)
    _edit(split, lambda r: r[0].pop("is_transition"))
    msg = _error(tmp_path)
    assert "record 0 (long_range_videos/0007.mp4)" in msg and "'is_transition'" in msg


def test_span_and_timestamp_counts_must_agree(tmp_path):
    split = _small(tmp_path)
    _edit(split, lambda r: r[0]["feedback_timestamps"].pop())
    msg = _error(tmp_path)
    assert str(split / "feedbacks_long_range.json") in msg
    assert "long_range_videos/0007.mp4" in msg
    assert "3 feedback spans" in msg and "2 'feedback_timestamps'" in msg


def test_transition_flags_must_agree(tmp_path):
    split = _small(tmp_path)
    _edit(split, lambda r: r[0]["is_transition"].append(False))
    assert "4 'is_transition'" in _error(tmp_path)


def test_feedback_timestamps_must_not_go_backwards(tmp_path):
    split = _small(tmp_path)
    _edit(split, lambda r: r[0]["feedback_timestamps"].__setitem__(1, 0.0))
    msg = _error(tmp_path)
    assert "go backwards at span 1" in msg and "0007.mp4" in msg


def test_video_timestamps_missing(tmp_path):
    split = _small(tmp_path)
    (split / "long_range_videos/0007_timestamps.npy").unlink()
    msg = _error(tmp_path)
    assert "0007_timestamps.npy" in msg and "missing" in msg and "record 0" in msg


def test_video_timestamps_must_increase(tmp_path):
    split = _small(tmp_path)
    ts = split / "long_range_videos/0007_timestamps.npy"
    ns = np.load(ts)
    ns[5] = ns[4]
    np.save(ts, ns)
    msg = _error(tmp_path)
    assert "not strictly increasing (frame 5)" in msg and str(ts) in msg


def test_feedback_past_the_last_frame(tmp_path):
    split = _small(tmp_path)
    ts = split / "long_range_videos/0007_timestamps.npy"
    np.save(ts, np.load(ts)[:20])  # segment 0 ends on frame 25 + (29 - 25) // 2 = 27
    assert "feedback frame 27 is past the last video timestamp (20 frames)" in _error(tmp_path)


def test_duplicate_video(tmp_path):
    split = _small(tmp_path)
    _edit(split, lambda r: r.append(dict(r[0])))
    msg = _error(tmp_path)
    assert "record 1" in msg and "already appears in record 0" in msg


def test_feature_file_of_the_wrong_shape(tmp_path):
    split = _small(tmp_path, features=True)
    feats = split / "efficientnet_features/long_range_videos/0007_features.npy"
    np.save(feats, np.zeros((12, 1280, 35), np.float32))
    seg = load_segments(tmp_path)[0]
    with pytest.raises(QEVDFormatError, match=r"0007_features\.npy.*\[N, 1280, 7, 5\]"):
        seg.load_features()
    np.save(feats, np.zeros((12, 1280, 5, 7), np.float32))
    with pytest.raises(QEVDFormatError, match=r"expected per-step shape \[1280, 7, 5\]"):
        check_features([seg], (1280, 7, 5))


def test_feature_timestamps_must_match_and_increase(tmp_path):
    split = _small(tmp_path, features=True)
    stamps = split / "efficientnet_features/long_range_videos/0007_timestamps.npy"
    good = np.load(stamps)
    np.save(stamps, good[:-1])
    seg = load_segments(tmp_path)[0]
    with pytest.raises(QEVDFormatError, match=r"0007_timestamps\.npy.*11 timestamps for 12"):
        seg.load_features()
    bad = good.copy()
    bad[3] = bad[2]
    np.save(stamps, bad)
    with pytest.raises(QEVDFormatError, match="not strictly increasing"):
        seg.load_features()


def test_cli_reports_errors_in_one_line(tmp_path):
    split = _small(tmp_path)
    _edit(split, lambda r: r[0]["feedback_timestamps"].pop())
    result = CliRunner().invoke(app, ["data", "segments", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "0007.mp4" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.__setitem__(0, ["not", "an", "object"]), "record 0 is not an object"),
        (lambda r: r[0].__setitem__("feedbacks", "go"), "'feedbacks' should be a list"),
        (lambda r: r[0]["feedbacks"].__setitem__(3, None), "one string per frame"),
        (lambda r: r[0]["feedback_timestamps"].__setitem__(0, "1.0"), "must be numbers"),
        (lambda r: r[0]["is_transition"].__setitem__(0, 1), "must be booleans"),
        (lambda r: r[0].__setitem__("video_timestamps", 7), "'video_timestamps' should be a str"),
    ],
)
def test_record_types(tmp_path, change, message):
    split = _small(tmp_path)
    _edit(split, change)
    msg = _error(tmp_path)
    assert message in msg and str(split / "feedbacks_long_range.json") in msg


def test_annotation_must_be_a_list(tmp_path):
    split = _small(tmp_path)
    (split / "feedbacks_long_range.json").write_text('{"records": []}')
    assert "expected a list of workout records" in _error(tmp_path)


def test_bad_video_timestamp_arrays(tmp_path):
    split = _small(tmp_path)
    ts = split / "long_range_videos/0007_timestamps.npy"
    np.save(ts, np.zeros((30, 2), np.int64))
    assert "expected a non-empty 1-D array of nanoseconds" in _error(tmp_path)
    ts.write_bytes(b"not an npy file")
    assert "unreadable .npy" in _error(tmp_path)


def test_unknown_mode(tmp_path):
    _small(tmp_path)
    assert "unknown mode 'whole'" in _error(tmp_path, "test", "whole")


def test_cli_checks_the_feature_shape(tree):
    args = ["data", "segments", str(tree), "--check-features"]
    assert CliRunner().invoke(app, [*args, "--feature-shape", "1280,7,5"]).exit_code == 0
    bad = CliRunner().invoke(app, [*args, "--feature-shape", "1280,5,7"])
    assert bad.exit_code == 2 and "expected per-step shape [1280, 5, 7]" in bad.output


def test_a_span_running_to_the_last_frame(tmp_path):
    # The reference loader drops a span that runs to the last frame (it never closes it), so a
    # record may carry no timestamp for it: read as the reference. With a timestamp, keep it.
    spec = WorkoutSpec(
        "long_range_videos/0008.mp4",
        [
            FSpan("First up are squats!", 0, 9, True, 0.0),
            FSpan("Go lower.", 12, 20),
            FSpan("Done!", 25, 29, True, 0.0),  # frame 29 is the last frame
        ],
        30,
    )
    split = write_split(tmp_path, "test", [spec])
    full = load_workouts(tmp_path, "test")[0]
    assert [s.text for s in full.spans] == ["First up are squats!", "Go lower.", "Done!"]
    _edit(split, lambda r: (r[0]["feedback_timestamps"].pop(), r[0]["is_transition"].pop()))
    short = load_workouts(tmp_path, "test")[0]
    assert [s.text for s in short.spans] == ["First up are squats!", "Go lower."]
    assert load_segments(tmp_path) == []  # no closing transition: no segment, as the reference
