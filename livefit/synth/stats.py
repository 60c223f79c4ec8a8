"""Statistics of a generated dataset, set beside the paper's Table 2 (``synth_stats.json``).

Last step of ``livefit data synth``; computed from the files on disk through the same QEVD reader
the trainer and evaluator use, so they describe exactly what a consumer sees. "Silence between
feedbacks" is reported two ways because the paper does not define it: start-to-start spacing of
consecutive feedbacks in an exercise (``silence_start_to_start_s``, the primary number, as the
release only stores feedback start times) and the gap from the end of one line to the start of
the next (``silence_end_to_start_s``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from livefit.data.qevd import SPLIT_DIRS, load_workouts

# Table 2 of the paper (QEVD-FIT-COACH train / test and QEVD-FIT-300K train / test).
PAPER_TABLE2 = {
    "coach_train": {
        "workouts": 149,
        "participants": 21,
        "duration_s": [213.4, 3.1],
        "feedbacks": 5403,
        "feedbacks_per_exercise": [5.0, 1.3],
        "silence_s": [5.2, 1.4],
        "words_per_feedback": [6.3, 3.8],
        "exercises_per_workout": "5-6",
    },
    "coach_test": {
        "workouts": 74,
        "participants": 7,
        "duration_s": [213.7, 3.3],
        "feedbacks": 2484,
        "feedbacks_per_exercise": [5.0, 1.2],
        "silence_s": [5.3, 1.2],
        "words_per_feedback": [6.6, 4.0],
        "exercises_per_workout": "5-6",
    },
    "clips_train": {
        "videos": 281660,
        "duration_s": [5.6, 1.1],
        "classes": 1842,
        "words_per_feedback": [8.9, 5.1],
    },
    "clips_test": {
        "videos": 16429,
        "duration_s": [5.6, 1.2],
        "classes": 1558,
        "words_per_feedback": [9.2, 5.1],
    },
}


def _ms(values: list[float]) -> list[float] | None:
    """[mean, std] rounded, or None when empty."""
    if not values:
        return None
    arr = np.asarray(values, dtype=np.float64)
    return [round(float(arr.mean()), 3), round(float(arr.std()), 3)]


def coach_stats(data_root: Path, split: str) -> dict:
    """Per-split statistics of the long-range workouts as the QEVD reader sees them."""
    workouts = load_workouts(data_root, split)  # type: ignore[arg-type]
    per_ex, s2s, e2s, words, n_ex, durations = [], [], [], [], [], []
    total = 0
    for w in workouts:
        times = w.frame_times
        durations.append(float(times[-1] - times[0]))
        step = float(np.median(np.diff(times)))
        trans = [i for i, s in enumerate(w.spans) if s.is_transition]
        n_ex.append(len(trans) - 1)
        for a, b in zip(trans, trans[1:], strict=False):
            inside = w.spans[a + 1 : b]
            per_ex.append(len(inside))
            total += len(inside)
            for s in inside:
                words.append(len(s.text.split()))
            for p, q in zip(inside, inside[1:], strict=False):
                s2s.append(q.time - p.time)
                e2s.append(q.time - (float(times[p.last_frame]) + step))
    return {
        "workouts": len(workouts),
        "duration_s": _ms(durations),
        "feedbacks": total,
        "feedbacks_per_exercise": _ms(per_ex),
        "silence_start_to_start_s": _ms(s2s),
        "silence_end_to_start_s": _ms(e2s),
        "words_per_feedback": _ms(words),
        "exercises_per_workout": _ms(n_ex),
    }


def clip_stats(split_dir: Path) -> dict:
    records = json.loads((split_dir / "clips.json").read_text())
    durations, words, classes = [], [], set()
    for r in records:
        durations.append(len(r["frame_labels"]) / r.get("fps", 30))
        words += [len(f.split()) for f in r["feedbacks"]]
        classes.update(r["frame_labels"])
    return {
        "videos": len(records),
        "participants": len({r["participant"] for r in records}),
        "duration_s": _ms(durations),
        "classes": len(classes),
        "feedbacks": sum(len(r["feedbacks"]) for r in records),
        "words_per_feedback": _ms(words),
        "high_level_questions": sum(q["kind"] == "high_level" for r in records for q in r["qa"]),
        "fine_grained_questions": sum(
            q["kind"] == "fine_grained" for r in records for q in r["qa"]
        ),
    }


def dataset_stats(data_root: Path) -> dict:
    """All statistics of a generated dataset, with the paper's numbers beside them."""
    out: dict = {"paper_table2": PAPER_TABLE2}
    for split, key in (("train", "coach_train"), ("test", "coach_test")):
        if (data_root / SPLIT_DIRS[split]).is_dir():
            out[key] = coach_stats(data_root, split)
    clips = data_root / "QEVD-FIT-300K"
    for split in ("train", "test"):
        if (clips / split / "clips.json").is_file():
            out[f"clips_{split}"] = clip_stats(clips / split)
    return out


__all__ = ["PAPER_TABLE2", "clip_stats", "coach_stats", "dataset_stats"]
