"""How long ``livefit evaluate`` takes on a benchmark-sized set (target: 2,500 matched
feedbacks in under 20 s on 2 CPU cores, without BERTScore and the judge).

Writes a synthetic QEVD-format test split with the fixture writer (~76 workouts x 6 exercises x
5-6 feedbacks, about 2,500 ground-truth feedbacks) and predictions that match almost all of them,
then times the real command end to end in a fresh process (start-up, imports, WordNet load,
matching, METEOR, ROUGE-L, writing the files). For comparison it times the naive path of the
reference evaluator's style, where each pair loads its metrics anew (HF ``evaluate.load`` per
call: a new WordNet reader and a new ROUGE scorer per pair), on a few pairs, and extrapolates.

    .venv/bin/python benchmarks/eval_speed.py [--workouts 76] [--naive-pairs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from qevd_fixture import PARAPHRASE, benchmark_workouts, write_split  # noqa: E402

from livefit.data.qevd import load_segments  # noqa: E402

TARGET_S = 20.0


def near_perfect_predictions(segments, seed: int = 0) -> list[dict]:
    """Every GT feedback said again within +-1 s (paraphrased at random), plus a few extras."""
    rng = random.Random(seed)
    lines = []
    for seg in segments:
        feedbacks = []
        for t, text in zip(seg.response_times, seg.responses, strict=True):
            for old, new in PARAPHRASE.items():
                if rng.random() < 0.5:
                    text = text.replace(old, new)
            feedbacks.append({"time": t + rng.uniform(-1.0, 1.0), "text": text})
        if rng.random() < 0.3:
            feedbacks.append({"time": rng.uniform(0, 30), "text": "Keep going, nice work!"})
        feedbacks.sort(key=lambda fb: fb["time"])
        lines.append({"segment_id": seg.segment_id, "feedbacks": feedbacks})
    rng.shuffle(lines)
    return lines


def naive_seconds_per_pair(pairs: list[tuple[str, str]]) -> float:
    """Per pair: a fresh WordNet reader and a fresh ROUGE scorer (metrics loaded per call)."""
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.translate.meteor_score import single_meteor_score
    from rouge_score.rouge_scorer import RougeScorer

    from livefit.eval.text_metrics import get_tokenizer
    from livefit.eval.wordnet import load_wordnet

    corpus = load_wordnet().root.path  # the cache exists; the naive path re-reads it per pair
    tok = get_tokenizer().tokenize
    start = time.perf_counter()
    for gt, pred in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wn = WordNetCorpusReader(corpus, None)
        single_meteor_score(tok(gt), tok(pred), alpha=0.9, beta=3, gamma=0.5, wordnet=wn)
        RougeScorer(["rougeL"], use_stemmer=False).score(gt, pred)
    return (time.perf_counter() - start) / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workouts", type=int, default=76)
    parser.add_argument("--naive-pairs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_split(root, "test", benchmark_workouts(args.workouts, args.seed))
        segments = load_segments(root, "test")
        preds = root / "predictions.jsonl"
        lines = near_perfect_predictions(segments, args.seed)
        preds.write_text("".join(json.dumps(line) + "\n" for line in lines))
        livefit = Path(sys.executable).parent / "livefit"
        cmd = [str(livefit), "evaluate", "--data", str(root), "--predictions", str(preds)]
        cmd += ["--out", str(root / "out")]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        ours = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"livefit evaluate failed:\n{done.stderr}")
        # The same run in this process, split into its two phases.
        from livefit.eval.evaluate import evaluate
        from livefit.eval.wordnet import load_wordnet

        start = time.perf_counter()
        load_wordnet()
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        evaluate(root, preds)
        core_s = time.perf_counter() - start
        [results_path] = (root / "out").glob("results_*.json")
        results = json.loads(results_path.read_text())
        samples_path = root / "out" / results["samples_file"]
        pairs = [
            (p["gt"], p["pred"])
            for line in samples_path.read_text().splitlines()
            for p in json.loads(line)["pairs"]
        ]
    counts = results["counts"]
    naive = naive_seconds_per_pair(pairs[: args.naive_pairs]) * len(pairs)
    print(
        f"data: {len(segments)} segments, {counts['gt_feedbacks']} GT feedbacks, "
        f"{counts['predicted_feedbacks']} predicted, {counts['pairs']} matched pairs scored"
    )
    print(f"metrics: {json.dumps({k: round(v, 4) for k, v in results['metrics'].items()})}")
    print(f"livefit evaluate, end to end in a fresh process: {ours:.2f} s")
    print(
        f"  in-process phases: WordNet load {load_s:.2f} s, evaluate() (load data, match, "
        f"METEOR + ROUGE-L for {counts['pairs']} pairs) {core_s:.2f} s"
    )
    print(f"target {TARGET_S:.0f} s / ours: {TARGET_S / ours:.1f}x headroom")
    print(
        f"naive per-pair metric loading ({args.naive_pairs} pairs timed, extrapolated to "
        f"{len(pairs)}): {naive:.0f} s -> ours is {naive / ours:.0f}x faster"
    )


if __name__ == "__main__":
    main()
