"""``livefit demo`` (the README's main command) end to end on the bundled coach."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from livefit.cli import app


def test_demo_coaches_a_fresh_workout_and_scores_it(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--synth", "tiny", "--no-progress", "--threads", "2"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for shown in ("ground truth (QEVD-SIM coach)", "livefit coach", "periodic floor (every 5 s)",
                  "metrics on this workout (paper-exact)"):  # fmt: skip
        assert shown in result.output, shown
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    said = [f for line in lines for f in line["feedbacks"]]
    assert said, "the bundled coach said nothing"
    # Timed: every feedback falls inside its exercise, in order.
    for line in lines:
        times = [f["time"] for f in line["feedbacks"]]
        assert times == sorted(times) and all(t >= 0 for t in times)


def test_demo_refuses_zero_workouts(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--workouts", "0"])
    assert result.exit_code == 2 and "--workouts must be at least 1" in result.output


def test_demo_names_an_unknown_synth_preset(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--synth", "huge"])
    assert result.exit_code == 2 and "unknown preset 'huge'" in result.output
