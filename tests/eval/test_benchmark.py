"""``livefit benchmark`` and the rule-based coaches that ``livefit predict`` drives like models."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from qevd_fixture import write_quirk_tree
from typer.testing import CliRunner

from livefit.baselines.coaches import PeriodicCoach, SilentCoach
from livefit.baselines.periodic import PERIODIC_TEXT
from livefit.cli import app
from livefit.data.qevd import load_segments
from livefit.eval.benchmark import PAPER_ROWS, parse_models
from livefit.stream.predict import predict, run_segment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stream"))
from stream_helpers import talkative  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = write_quirk_tree(tmp_path_factory.mktemp("qevd"), feature_shape=(64, 7, 5))
    model_dir = tmp_path_factory.mktemp("model") / "talker"
    talkative(1).save_pretrained(model_dir)
    return root, model_dir


def test_rule_coaches_stream_like_the_engine(setup):
    root, _ = setup
    seg = load_segments(root, "test")[0]
    assert run_segment(SilentCoach(), seg) == []
    said = run_segment(PeriodicCoach(), seg)
    n_steps = len(seg.load_features()[0]) - 1  # the paper clock never feeds the last step
    reached = (n_steps - 1) / 4  # time of the last step fed
    assert [f["time"] for f in said] == [5.0 * k for k in range(1, int(reached // 5) + 1)]
    assert {f["text"] for f in said} <= {PERIODIC_TEXT}


def test_predict_takes_a_built_in_coach_by_name(setup, tmp_path):
    root, _ = setup
    out = tmp_path / "p.jsonl"
    summary = predict(root, "periodic", out, progress=False)
    settings = json.loads((tmp_path / "p.jsonl.config.json").read_text())
    assert settings["model"] == {"coach": "periodic", "every": 5.0, "text": PERIODIC_TEXT}
    assert summary["new_feedbacks"] > 0
    again = predict(root, "periodic", out, progress=False)  # resumes: nothing left to do
    assert again["skipped"] == summary["segments"] and again["new_feedbacks"] == 0


def test_benchmark_writes_the_table_and_the_figures_and_resumes(setup, tmp_path):
    root, model_dir = setup
    out = tmp_path / "bench"
    args = ["benchmark", "--data", str(root), "--out", str(out), "--no-progress",
            "--models", f"silent,periodic,{model_dir}"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = json.loads((out / "table.json").read_text())
    rows = table["rows"]
    assert [r["model"] for r in rows[:3]] == ["silent", "periodic", str(model_dir)]
    assert len(rows) == 3 + len(PAPER_ROWS)
    assert all(r["source"].startswith("paper") for r in rows[3:])
    assert rows[0]["T-F"] == 0.0 and rows[1]["T-F"] > 0
    assert table["versions"]["livefit"] and "commit" in table["git"]
    with open(out / "table.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    md = (out / "table.md").read_text()
    assert "other data" in md and "| here | periodic |" in md
    assert (out / "timeline.png").stat().st_size > 1000
    page = (out / "timeline.html").read_text()
    assert "<svg" in page and "ground truth" in page
    # A rerun reuses every prediction and result (nothing is rewritten).
    results = sorted((out / "results").glob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in results}
    assert CliRunner().invoke(app, args).exit_code == 0
    assert {p: p.stat().st_mtime_ns for p in results} == before


def test_unknown_models_and_segments_are_one_line_errors(setup, tmp_path):
    root, _ = setup
    with pytest.raises(ValueError, match="not a folder, a built-in"):
        parse_models(["silent", "nonsense"])
    names = [m.name for m in parse_models(["silent", "silent"])]
    assert names == ["silent", "silent_2"]
    result = CliRunner().invoke(app, ["benchmark", "--data", str(root), "--out",
                                      str(tmp_path / "b"), "--models", "silent",
                                      "--figure-segments", "nope:9"])  # fmt: skip
    assert result.exit_code == 2 and "unknown segment id" in result.output


def test_benchmark_fills_llm_acc_from_a_judge(setup, tmp_path, monkeypatch):
    """With a judge server, the LLM-Acc column is measured (here a stand-in judge that gives
    every pair 4); the judge cache is shared by the models."""
    from chat_stand_in import StandInChat

    root, _ = setup
    out = tmp_path / "bench"
    with StandInChat(lambda body: "{'score': 4}") as judge:
        args = ["benchmark", "--data", str(root), "--out", str(out), "--no-progress",
                "--models", "silent,periodic", "--judge-url", judge.url]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    rows = json.loads((out / "table.json").read_text())["rows"]
    assert rows[1]["model"] == "periodic" and rows[1]["LLM-Acc"] == pytest.approx(4.0)
    assert (out / "judge_cache.jsonl").is_file()
    assert "LLM-Acc by the judge http://127.0.0.1" in (out / "table.md").read_text()
