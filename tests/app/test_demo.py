"""``livefit demo`` (the README's main command) end to end on the bundled coach."""

from __future__ import annotations

import html
import json

import av
import pytest
from feedback_lines import assert_said_as_decoded, record_lines
from typer.testing import CliRunner

from livefit.cli import app


@pytest.mark.slow(40)
def test_demo_coaches_a_fresh_workout_live_and_reports_it(tmp_path, monkeypatch):
    lines = record_lines(monkeypatch)
    out = tmp_path / "demo"
    args = [
        "demo",
        "--out",
        str(out),
        "--synth",
        "tiny",
        "--fast",
        "--no-progress",
        "--threads",
        "1",  # the other pytest worker has the other core
    ]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for shown in (
        "ground truth (QEVD-SIM coach)",
        "livefit coach",
        "periodic floor (every 5 s)",
        "metrics on this workout (paper-exact)",
        "coach  ",
        "truth  ",
        "real-time factor",
    ):
        assert shown in result.output, shown
    summary = json.loads((out / "summary.json").read_text())
    said = summary["feedbacks"]
    assert said, "the bundled coach said nothing"
    times = [f["time"] for f in said]
    assert times == sorted(times) and times[0] > 0
    assert summary["stats"]["frames_dropped"] == 0 and summary["stats"]["real_time_factor"] < 1
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    assert [e["text"] for e in events if e["kind"] == "feedback"] == [f["text"] for f in said]
    assert_said_as_decoded([f["text"] for f in said], lines)  # whole lines, as decoded
    # Printed as it happened: each coach line appears in the log in time order.
    log = result.output
    positions = [log.index(f["text"]) for f in said[:3]]
    assert positions == sorted(positions)
    with av.open(str(out / "annotated.mp4")) as video:
        frames = sum(1 for _ in video.decode(video=0))
        assert frames == summary["stats"]["frames_in"]
        assert video.streams.video[0].codec_context.name == "h264"
    page = (out / "report.html").read_text()
    assert "data:video/mp4;base64," in page and "<svg" in page
    assert html.escape(said[0]["text"]) in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_demo_refuses_zero_workouts(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--workouts", "0"])
    assert result.exit_code == 2 and "--workouts must be at least 1" in result.output


def test_demo_names_an_unknown_synth_preset(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--synth", "huge"])
    assert result.exit_code == 2 and "unknown preset 'huge'" in result.output
