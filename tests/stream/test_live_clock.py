"""Hostile and broken capture clocks on the live path: the work per frame stays bounded
whatever the timestamps say. A gap longer than ``max_fill_seconds`` is a gap (its steps are not
seen, the sessions restart after it); a jump beyond ``max_jump_seconds`` or a capture time beyond
``MAX_CAPTURE_SECONDS`` is an error for that frame only. Through the pipeline and the real
``livefit coach --video`` on tiny mkvs with those clocks (before the fix: 28,801 CNN frames for a
30-minute gap, and a spin that never ends for a 10^10 ms jump)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from videos import write_video  # noqa: E402

from livefit.cli import app  # noqa: E402
from livefit.stream.live import LiveCoach, LiveConfig, LiveInputError  # noqa: E402

FRAME = np.full((96, 72, 3), 128, np.uint8)


@pytest.fixture(scope="module")
def coach() -> LiveCoach:
    return LiveCoach.load()


def stream(pipe, times) -> list:
    return [e for t in times for e in pipe.push(FRAME, float(t))]


def test_a_half_hour_gap_is_a_gap_not_28800_cnn_frames(coach):
    pipe = coach.pipeline(LiveConfig(exercise="squats"))
    before = np.arange(48) / 16  # 3 s
    after = 1800.0 + np.arange(32) / 16  # 2 s, half an hour later
    tic = time.perf_counter()
    events = stream(pipe, np.concatenate([before, after]))
    events += pipe.close()
    assert time.perf_counter() - tic < 10
    s = pipe.stats
    assert s.cnn_frames == 80 and s.frames_in == 80  # one CNN frame per 16 fps frame, no fill
    assert s.gaps == 1 and s.gap_seconds == pytest.approx(1800 - 47 / 16)
    assert s.steps_in_gaps == pytest.approx((1800 - 47 / 16) * 4, abs=1)
    assert s.media_seconds == pytest.approx(47 / 16 + 31 / 16)  # frames, not the gap
    sessions = [(round(e.time, 3), e.text) for e in events if e.kind == "session"]
    # the session ends at the last frame before the gap and a new one starts after it
    assert sessions[0][1] == "squats" and sessions[1] == (round(47 / 16, 3), "")
    assert sessions[2][1] == "squats" and sessions[2][0] >= 1800.0 - 1e-6
    assert sessions[-1][1] == ""


def test_short_gaps_are_filled_as_the_offline_rule_does(coach):
    pipe = coach.pipeline(LiveConfig(exercise="squats"))
    stream(pipe, [0.0, 0.5, 1.0])  # a camera that skipped frames: 8 slots filled per frame
    assert pipe.stats.gaps == 0 and pipe.stats.cnn_frames == 1 + 8 + 8


@pytest.mark.parametrize("jump", [3600.5, 1e7, 1e300])
def test_a_jump_beyond_the_bound_is_refused_and_the_stream_goes_on(coach, jump):
    pipe = coach.pipeline(LiveConfig(exercise="squats"))
    stream(pipe, np.arange(16) / 16)
    with pytest.raises(LiveInputError, match="capture time"):
        pipe.push(FRAME, 15 / 16 + jump)
    stream(pipe, 1 + np.arange(16) / 16)  # the clock comes back: the stream goes on
    assert pipe.stats.frames_in == 32 and pipe.stats.gaps == 0 and pipe.stats.cnn_frames == 32


@pytest.mark.parametrize("t", [1e300, -1e300, 2e11])
def test_a_first_capture_time_beyond_the_bound_is_refused(coach, t):
    with pytest.raises(LiveInputError, match=r"within \+-1e\+11"):
        coach.pipeline(LiveConfig(exercise="squats")).push(FRAME, t)


def test_gap_bounds_are_checked():
    with pytest.raises(ValueError, match="max_jump_seconds"):
        LiveCoach.load().pipeline(LiveConfig(exercise="squats", max_jump_seconds=float("nan")))


def coach_cli(video: Path, out: Path):
    args = [
        "coach",
        "--video",
        str(video),
        "--exercise",
        "squats",
        "--out",
        str(out),
        "--fast",
        "--no-progress",
        "--no-display",
    ]
    return CliRunner().invoke(app, args, env={"COLUMNS": "200"})


def test_coach_on_a_jump_of_ten_billion_ms_is_one_error_line(tmp_path):
    video = write_video(tmp_path / "jump.mkv", [0, 33, 66, 10**10, 10**10 + 33])
    tic = time.perf_counter()
    result = coach_cli(video, tmp_path / "out")
    assert time.perf_counter() - tic < 60
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert "jump.mkv: frame 4: capture time jumps 1e+07 s" in errors[0]


def test_coach_on_a_half_hour_gap_reports_the_gap_not_the_half_hour(tmp_path):
    video = write_video(tmp_path / "gap.mkv", [0, 33, 66, 1_800_000, 1_800_033, 1_800_066])
    result = coach_cli(video, tmp_path / "out")
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "out" / "summary.json").read_text())["stats"]
    # 30 fps frames on the 16 fps grid: 2 slots filled before the gap, 2 after, none in it
    assert stats["frames_in"] == 6 and stats["cnn_frames"] == 4 and stats["gaps"] == 1
    assert stats["media_seconds"] < 0.2 and stats["gap_seconds"] > 1799
    assert "1 gap(s): 1799.9 s without frames" in " ".join(result.output.split())
