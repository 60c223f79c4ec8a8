"""End to end: ``evaluate`` / ``livefit evaluate`` on QEVD-format data it has never seen, against
the spec's reference semantics and direct calls of NLTK and rouge_score."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from qevd_fixture import benchmark_workouts, write_quirk_tree, write_split
from reference import reference_f, reference_match
from rouge_score.rouge_scorer import RougeScorer
from typer.testing import CliRunner

from livefit.cli import app
from livefit.data.qevd import load_segments
from livefit.eval.evaluate import EvalConfig, evaluate
from livefit.eval.predictions import PredictionsError, load_predictions
from livefit.eval.text_metrics import get_tokenizer


def _tricky_predictions(segments, rng: random.Random) -> list[dict]:
    """Predictions full of edge cases: |dt| exactly 1.5, ties, equal times, empty texts,
    extra and missed feedbacks, missing segments, shuffled lines."""
    lines = []
    for seg in segments:
        if rng.random() < 0.1:
            continue  # missing: silent
        feedbacks = []
        for t, text in zip(seg.response_times, seg.responses, strict=True):
            r = rng.random()
            if r < 0.15:
                continue
            dt = rng.choice([-1.5, 1.5, 0.0, 0.5, -0.75, 1.49, -2.0, 3.0, 0.25])
            words = text.split()
            pred = " ".join(rng.sample(words, k=max(1, len(words) - 2)))
            feedbacks.append({"time": t + dt, "text": pred if r < 0.9 else ""})
            if rng.random() < 0.2:  # a duplicate at the same time
                feedbacks.append({"time": t + dt, "text": "Keep going!"})
        feedbacks.sort(key=lambda fb: fb["time"])
        lines.append({"segment_id": seg.segment_id, "feedbacks": feedbacks})
    rng.shuffle(lines)
    return lines


def _write_jsonl(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def random_benchmark(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    write_split(root, "test", benchmark_workouts(n_workouts=6, seed=321))
    segments = load_segments(root, "test")
    preds = _write_jsonl(root / "pred.jsonl", _tricky_predictions(segments, random.Random(5)))
    return root, segments, preds


def test_evaluate_equals_reference_semantics(random_benchmark, wordnet):
    from nltk.translate.meteor_score import single_meteor_score

    root, segments, pred_path = random_benchmark
    ev = evaluate(root, pred_path)
    # The reference reads the raw predictions itself: empty texts dropped, missing = silent.
    raw = {}
    for line in pred_path.read_text().splitlines():
        rec = json.loads(line)
        raw[rec["segment_id"]] = [fb for fb in rec["feedbacks"] if fb["text"] != ""]
    ref_segments, pairs = [], []
    for seg in segments:
        fbs = raw.get(seg.segment_id, [])
        pt, px = [fb["time"] for fb in fbs], [fb["text"] for fb in fbs]
        gt_t, gt_x = list(seg.response_times), list(seg.responses)
        ref_segments.append((gt_t, gt_x, pt, px))
        pairs += [(gt_x[i], px[j]) for i, j in reference_match(gt_t, pt, px)]
    p, r, f = reference_f(ref_segments)
    assert abs(ev.metrics["precision"] - p) < 1e-9
    assert abs(ev.metrics["recall"] - r) < 1e-9
    assert abs(ev.metrics["t_f_score"] - f) < 1e-9
    assert 0.2 < f < 0.95  # a non-trivial case
    assert ev.counts["pairs"] == len(pairs) > 50
    tok = get_tokenizer().tokenize
    scorer = RougeScorer(["rougeL"], use_stemmer=False)
    meteors = [
        single_meteor_score(tok(g), tok(q), alpha=0.9, beta=3, gamma=0.5, wordnet=wordnet)
        for g, q in pairs
    ]
    rouges = [scorer.score(g, q)["rougeL"].fmeasure for g, q in pairs]
    # the reference evaluator's running mean: sum(x) / (len(x) + 1e-12)
    assert ev.metrics["meteor"] == pytest.approx(sum(meteors) / (len(pairs) + 1e-12), abs=1e-12)
    assert ev.metrics["rouge_l"] == pytest.approx(sum(rouges) / (len(pairs) + 1e-12), abs=1e-12)
    # per pair, exactly the libraries' values
    scored = [s for _, s in sorted(ev.pair_scores.items())]
    assert sorted(s["meteor"] for s in scored) == sorted(meteors)
    assert sorted(s["rouge_l"] for s in scored) == sorted(rouges)
    missing = [seg.segment_id for seg in segments if seg.segment_id not in raw]
    assert ev.counts["segments_missing"] == len(missing) > 0


def test_optimal_mode_adds_named_metrics_and_keeps_paper_ones(random_benchmark, wordnet):
    root, _, pred_path = random_benchmark
    paper = evaluate(root, pred_path)
    both = evaluate(root, pred_path, EvalConfig(matching="optimal"))
    for name in ("t_f_score", "precision", "recall", "meteor", "rouge_l"):
        assert both.metrics[name] == paper.metrics[name]
        assert f"{name}_optimal" in both.metrics
    assert both.metrics["t_f_score_optimal"] >= both.metrics["t_f_score"]
    assert both.counts["matched_gt_optimal"] == both.counts["matched_predictions_optimal"]


def test_cli_writes_results_and_samples(tmp_path, wordnet):
    root = write_quirk_tree(tmp_path / "data", feature_shape=None)
    preds = _write_jsonl(
        tmp_path / "pred.jsonl",
        [
            {"segment_id": "0001:3", "feedbacks": [{"time": 2.0, "text": "Nice rhythm!"}]},
            {
                "segment_id": "0001:0",
                "feedbacks": [
                    {"time": 3.0, "text": "Go lower, knees over toes."},
                    {"time": 4.0, "text": ""},
                    {"time": 9.0, "text": "Keep going."},
                ],
            },
        ],
    )
    out = tmp_path / "out"
    args = ["evaluate", "--data", str(root), "--predictions", str(preds), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for column in ("METEOR", "ROUGE-L", "BERT", "LLM-Acc", "T-F"):
        assert column in result.output
    [results_path] = out.glob("results_*.json")
    [samples_path] = out.glob("samples_*.jsonl")
    assert results_path.name.removeprefix("results_").removesuffix(".json") == (
        samples_path.name.removeprefix("samples_").removesuffix(".jsonl")
    )
    res = json.loads(results_path.read_text())
    # GT: 0001:0 has 3, 0001:1 1, 0001:3 1, 0002:0 1 = 6. Predictions (non-empty): 3.
    # Recall: 0001:0 GT 3.25 -> 3.0 ok, 4.753 -> nearest 3.0 taken, 7.25 -> 9.0 (|1.75|) no;
    # 0001:3 GT 2.25 -> 2.0 ok. Precision: 3.0 -> 3.25 ok, 9.0 -> 7.25 no; 2.0 -> 2.25 ok.
    assert res["counts"]["matched_gt"] == 2 and res["counts"]["matched_predictions"] == 2
    assert res["counts"]["gt_feedbacks"] == 6 and res["counts"]["predicted_feedbacks"] == 3
    assert res["counts"]["empty_predictions_dropped"] == 1
    assert res["metrics"]["recall"] == pytest.approx(2 / 6, abs=1e-9)
    assert res["metrics"]["precision"] == pytest.approx(2 / 3, abs=1e-9)
    assert res["metrics"]["t_f_score"] == pytest.approx(4 / 9, abs=1e-9)
    assert set(res["metrics"]) == {"t_f_score", "precision", "recall", "meteor", "rouge_l"}
    assert all(res["higher_is_better"].values())
    assert res["missing_segments"] == ["0001:1", "0002:0"]
    prov = res["provenance"]
    assert len(prov["data"]["annotation_sha256"]) == 64 and len(prov["predictions"]["sha256"]) == 64
    assert prov["settings"]["matching"] == "paper" and prov["settings"]["tolerance"] == 3.0
    assert prov["settings"]["judge"]["temperature"] == 0.6
    assert prov["wordnet"]["version"] == "3.0" and prov["tokenizer"]
    assert {"nltk", "rouge-score", "bert-score", "torch", "transformers", "livefit"} <= set(
        prov["libraries"]
    )
    assert "commit" in prov["git"]
    assert prov[
        "command"
    ] == f"livefit evaluate --data {root} --predictions {preds} --out {out} " + (
        "--split test --mode single_exercise --matching paper --tolerance 3.0 "
        "--bertscore-batch-size 64 --judge-temperature 0.6 --judge-top-p 0.9 "
        "--judge-top-k 50 --judge-max-new-tokens 64 --judge-seed 0 --judge-concurrency 4 "
        "--judge-timeout 120.0 --judge-retries 4 --judge-backoff 1.0"
    )
    samples = [json.loads(line) for line in samples_path.read_text().splitlines()]
    assert [s["segment_id"] for s in samples] == ["0001:0", "0001:1", "0001:3", "0002:0"]
    s0 = samples[0]
    assert s0["recall_matches"] == [[0, 0]] and s0["precision_matches"] == [[0, 0]]
    assert s0["pairs"][0]["gt"] == "Go lower, knees over toes." and s0["pairs"][0]["meteor"] > 0.9
    assert samples[1]["missing_prediction"] and samples[1]["predictions"] == []


def _cli_error(tmp_path, lines) -> str:
    root = write_quirk_tree(tmp_path / "data", feature_shape=None)
    preds = tmp_path / "pred.jsonl"
    preds.write_text(lines)
    args = ["evaluate", "--data", str(root), "--predictions", str(preds), "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
    return result.output


def test_unknown_segment_ids_are_listed(tmp_path):
    line = json.dumps({"segment_id": "0001:2", "feedbacks": []}) + "\n"
    line += json.dumps({"segment_id": "9999:0", "feedbacks": []}) + "\n"
    out = _cli_error(tmp_path, line)
    assert "'0001:2'" in out and "'9999:0'" in out and "'0001:0'" in out  # and a valid one


def test_malformed_line_names_file_and_line(tmp_path):
    good = json.dumps({"segment_id": "0001:0", "feedbacks": []})
    out = _cli_error(tmp_path, good + "\n\n{not json\n")
    assert "pred.jsonl:3: not valid JSON" in out


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"segment_id": 3, "feedbacks": []}, "'segment_id' must be a string"),
        ({"segment_id": "0001:0"}, "'feedbacks' must be a list"),
        ({"segment_id": "0001:0", "feedbacks": [{"time": "1"}]}, "must be an object with time"),
        ({"segment_id": "0001:0", "feedbacks": [{"time": "1", "text": ""}]}, "must be a number"),
        ({"segment_id": "0001:0", "feedbacks": [{"time": 1, "text": 2}]}, "must be a string"),
        (
            {
                "segment_id": "0001:0",
                "feedbacks": [{"time": 2, "text": "a"}, {"time": 1, "text": "b"}],
            },  # noqa: E501
            "go backwards at feedback 1",
        ),
    ],
)
def test_bad_prediction_records(tmp_path, line, message):
    path = _write_jsonl(tmp_path / "p.jsonl", [line])
    with pytest.raises(PredictionsError, match=message) as info:
        load_predictions(path)
    assert str(path) + ":1" in str(info.value)


def test_duplicate_segment_ids(tmp_path):
    line = {"segment_id": "0001:0", "feedbacks": []}
    path = _write_jsonl(tmp_path / "p.jsonl", [line, line])
    with pytest.raises(PredictionsError, match=r"p\.jsonl:2: duplicate segment_id '0001:0'"):
        load_predictions(path)


def test_non_finite_time(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"segment_id": "a", "feedbacks": [{"time": NaN, "text": "x"}]}\n')
    with pytest.raises(PredictionsError, match="time is nan"):
        load_predictions(path)


def test_bundled_example_shows_the_nearest_only_quirk(wordnet):
    root = Path(__file__).resolve().parents[2] / "examples" / "qevd-mini"
    ev = evaluate(root, root / "predictions.jsonl", EvalConfig(matching="optimal"))
    [hk] = [r for r in ev.results if r.segment.segment_id == "demo01:1"]
    # GT 4.5, 7.0, 13.0, 19.0; predictions 5.6, 8.45, 14.0, 19.5 (a late model): GT 7.0's
    # nearest is 5.6 (taken by GT 4.5), so the paper rule never tries 8.45 (|dt| = 1.45).
    assert hk.matches["paper"].recall == ((0, 0), (2, 2), (3, 3))
    assert hk.matches["optimal"].recall == ((0, 0), (1, 1), (2, 2), (3, 3))
    assert ev.counts["matched_gt_optimal"] - ev.counts["matched_gt"] == 1
    assert [r.segment.segment_id for r in ev.results if r.missing] == ["demo03:1"]


def test_no_match_at_all_gives_zeros(tmp_path, wordnet):
    root = write_quirk_tree(tmp_path / "data", feature_shape=None)
    fbs = [{"time": 40.0, "text": "Way too late."}]
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"segment_id": "0001:0", "feedbacks": fbs}])
    ev = evaluate(root, preds)
    assert ev.metrics["t_f_score"] == 0.0 and ev.metrics["precision"] == 0.0
    assert ev.metrics["meteor"] == 0.0 and ev.metrics["rouge_l"] == 0.0  # as the reference
    assert ev.counts["pairs"] == 0 and ev.counts["segments_missing"] == 3
