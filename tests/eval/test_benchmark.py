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
    args = [
        "benchmark",
        "--data",
        str(root),
        "--out",
        str(out),
        "--no-progress",
        "--models",
        f"silent,periodic,{model_dir}",
    ]
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
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            "--data",
            str(root),
            "--out",
            str(tmp_path / "b"),
            "--models",
            "silent",
            "--figure-segments",
            "nope:9",
        ],
    )
    assert result.exit_code == 2 and "unknown segment id" in result.output


def test_benchmark_fills_llm_acc_from_a_judge(setup, tmp_path, monkeypatch):
    """With a judge server, the LLM-Acc column is measured (here a stand-in judge that gives
    every pair 4); the judge cache is shared by the models."""
    from chat_stand_in import StandInChat

    root, _ = setup
    out = tmp_path / "bench"
    with StandInChat(lambda body: "{'score': 4}") as judge:
        args = [
            "benchmark",
            "--data",
            str(root),
            "--out",
            str(out),
            "--no-progress",
            "--models",
            "silent,periodic",
            "--judge-url",
            judge.url,
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    rows = json.loads((out / "table.json").read_text())["rows"]
    assert rows[1]["model"] == "periodic" and rows[1]["LLM-Acc"] == pytest.approx(4.0)
    assert (out / "judge_cache.jsonl").is_file()
    assert "LLM-Acc by the judge http://127.0.0.1" in (out / "table.md").read_text()


def test_model_entries_take_a_row_label_and_another_features_root(setup, tmp_path):
    root, model_dir = setup
    specs = parse_models([f"Our coach={model_dir}@{root}", "periodic", "Floor=periodic"])
    assert [(m.row, m.name, m.target, m.data) for m in specs] == [
        ("Our coach", "Our_coach", str(model_dir), str(root)),
        ("periodic", "periodic", "periodic", None),
        ("Floor", "Floor", "periodic", None),
    ]
    # A model reading another root's features is predicted there and scored on the benchmark's
    # ground truth; its row carries the label.
    out = tmp_path / "bench"
    args = [
        "benchmark",
        "--data",
        str(root),
        "--out",
        str(out),
        "--no-progress",
        "--models",
        f"Ours={model_dir}@{root},periodic",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "table.json").read_text())["rows"]
    assert [r["model"] for r in rows[:2]] == ["Ours", "periodic"]
    settings = json.loads((out / "predictions" / "Ours.jsonl.config.json").read_text())
    assert settings["data_root"] == str(root.resolve())
    assert "| here | Ours |" in (out / "table.md").read_text()


def test_findings_check_the_papers_claims_on_measured_rows():
    from livefit.train.benchmark_preset import ROW_LABELS, findings

    def row(model, tf, meteor):
        return {"source": "measured here", "model": model, "T-F": tf, "METEOR": meteor}

    rows = [
        row("silent", 0.0, 0.0),
        row("periodic", 0.5, 0.2),
        row(ROW_LABELS["stream-vlm"], 0.6, 0.35),
        row(ROW_LABELS["no-action-tokens"], 0.5, 0.3),
        row(ROW_LABELS["no-stage2"], 0.65, 0.3),
        {"source": "paper", "model": "Stream-VLM", "T-F": 0.56, "METEOR": 0.127},
    ]
    got = {f["claim"]: f["holds"] for f in findings(rows)}
    assert got["the streaming model beats its own 5 s turn-based version on T-F"] is True
    assert got[f"{ROW_LABELS['no-stage2']} is below the full model on T-F"] is False
    assert got[f"{ROW_LABELS['no-stage2']} is below the full model on METEOR"] is True
    # T-F of a turn-based model equals the periodic floor's when both speak every 5 s.
    assert (
        got[f"{ROW_LABELS['no-action-tokens']} beats the floors (silent, periodic) on T-F"] is False
    )
    assert got[f"{ROW_LABELS['stream-vlm']} beats the floors (silent, periodic) on METEOR"] is True
    assert findings([row("periodic", 0.5, 0.2)]) == []  # no full model, nothing to check
