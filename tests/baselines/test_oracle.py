"""oracle-coach: the QEVD-SIM coach as a second annotator. It reproduces the data run, replays
the same user with another coach, never copies the ground truth, scores far above the periodic
floor, is deterministic per seed, and refuses data that is not QEVD-SIM."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from livefit.baselines.coaches import builtin_coach
from livefit.baselines.oracle import OracleCoach, workout_plans, workout_ref
from livefit.cli import app
from livefit.data.qevd import load_segments
from livefit.eval.benchmark import parse_models
from livefit.eval.evaluate import evaluate
from livefit.stream.predict import PredictError, predict

# One worker runs this module: its rendered and extracted workout is built once (conftest.py).
pytestmark = pytest.mark.xdist_group("test_oracle")


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory):
    from livefit.bundled import bundled_cnn
    from livefit.synth.generate import generate
    from livefit.synth.presets import preset
    from livefit.vision.extract import run_extraction
    from livefit.vision.weights import load_model

    root = tmp_path_factory.mktemp("oracle_sim")
    cfg = preset("tiny", train_workouts=0, test_workouts=1, train_clips=0, test_clips=0)
    generate(cfg, root, seed=5, workers=1, progress=False)
    run_extraction(root, "test", load_model(bundled_cnn()), progress=False)
    return root


def _predict(root, out, model="oracle-coach"):
    predict(root, model, out, progress=False)
    return [json.loads(line) for line in out.read_text().splitlines()]


def _decisions(plan):
    """What the user does, per exercise, without the times."""
    out: dict[int, list] = {}
    for iv in plan.intervals:
        key = (iv.activity, iv.tempo, iv.mistakes, iv.side)
        if not out.get(iv.bout) or out[iv.bout][-1] != key:
            out.setdefault(iv.bout, []).append(key)
    return out


def test_reproduces_the_data_and_replays_the_same_user(sim_root):
    segments = load_segments(sim_root, "test")
    ref = workout_ref(segments[0].video)
    data, other, replayed = workout_plans(ref, oracle_seed=1)
    sidecar = json.loads(ref.sidecar.read_text())
    assert [(round(ln.t0, 4), ln.text) for ln in data.lines] == [
        (r["t0"], r["text"]) for r in sidecar["lines"]
    ]  # the record run is the data, byte for byte
    assert replayed == 1.0 and _decisions(other) == _decisions(data)  # same user decisions
    assert [ln.text for ln in other.lines] != [ln.text for ln in data.lines]  # another coach


def test_second_annotator_scores_high_but_is_no_copy(sim_root, tmp_path):
    oracle = _predict(sim_root, tmp_path / "oracle.jsonl")
    _predict(sim_root, tmp_path / "periodic.jsonl", "periodic")
    segments = {s.segment_id: s for s in load_segments(sim_root, "test")}
    assert [r["segment_id"] for r in oracle] == list(segments)
    for r in oracle:  # no segment is the ground truth
        seg = segments[r["segment_id"]]
        truth = list(zip(seg.response_times, seg.responses, strict=True))
        assert [(f["time"], f["text"]) for f in r["feedbacks"]] != truth
    texts = {f["text"] for r in oracle for f in r["feedbacks"]}
    truth = {t for s in segments.values() for t in s.responses}
    assert texts and texts != truth
    t_f = evaluate(sim_root, tmp_path / "oracle.jsonl").metrics["t_f_score"]
    floor = evaluate(sim_root, tmp_path / "periodic.jsonl").metrics["t_f_score"]
    print(f"oracle T-F {t_f:.3f}, periodic T-F {floor:.3f}")
    assert t_f >= 0.6 and t_f >= floor + 0.2


def test_deterministic_per_seed(sim_root, tmp_path):
    first = _predict(sim_root, tmp_path / "a.jsonl")
    assert _predict(sim_root, tmp_path / "b.jsonl") == first
    seg = load_segments(sim_root, "test")[0]
    lines = {}
    for seed in (1, 2):
        with OracleCoach(seed).start(seg.system, segment=seg) as session:
            for _ in range(int(4 * (seg.end - seg.start))):
                list(session.push(None))
        lines[seed] = session.feedbacks
    assert lines[1] == [(f["time"], f["text"]) for f in first[0]["feedbacks"]]
    assert lines[1] != lines[2]


def test_registered_for_predict_and_benchmark():
    assert isinstance(builtin_coach("oracle-coach"), OracleCoach)
    assert [m.target for m in parse_models(["oracle-coach"])] == ["oracle-coach"]


def test_refuses_data_that_is_not_qevd_sim(sim_root, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(sim_root, plain)
    (plain / "synth_run.json").unlink()
    with pytest.raises(PredictError, match="only coaches QEVD-SIM"):
        predict(plain, "oracle-coach", tmp_path / "p.jsonl", progress=False)
    result = CliRunner().invoke(
        app,
        [
            "predict",
            "--data",
            str(plain),
            "--model",
            "oracle-coach",
            "--out",
            str(tmp_path / "q.jsonl"),
        ],
    )
    assert result.exit_code == 2 and "only coaches QEVD-SIM" in result.output
    seg = load_segments(plain, "test")[0]
    with pytest.raises(PredictError, match="needs the segment"):
        OracleCoach().start(seg.system)
