"""Writes examples/qevd-mini: a tiny hand-made QEVD-FIT-COACH test split and a predictions file.

Three short workouts in the release's exact layout (feedbacks_long_range.json, per-frame UNIX
nanosecond timestamps), with its quirks: an ``armcrosschest`` label, an exercise without
feedback (dropped), a final session-end transition. Frames are at 2 fps to keep the files to a
few KB (the reader takes any frame rate). No videos or features: ``livefit evaluate`` needs
neither. Run from the repository root: ``.venv/bin/python examples/qevd-mini/make_example.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FPS = 2.0
SHIFT_S = 28800.0  # the release's clock shift: JSON times = ns / 1e9 + 28800

# (video stem, start UNIX s, [(seconds from video start, duration s, text, is_transition)])
WORKOUTS = [
    ("demo01", 1_700_000_000, [
        (0.0, 3.0, "First up are squats!", True),
        (5.0, 3.0, "Nice depth, keep your chest up.", False),
        (11.0, 2.5, "That's 5 reps, keep going!", False),
        (17.0, 3.0, "Push your knees out a little more.", False),
        (24.0, 2.0, "Great, 10 reps!", False),
        (32.0, 3.0, "Moving on to high knees!", True),
        (36.5, 2.0, "Lift your knees higher!", False),
        (39.0, 2.5, "Pump your arms too.", False),
        (45.0, 3.0, "Good pace, stay on the balls of your feet.", False),
        (51.0, 2.0, "Faster, you've got this!", False),
        (63.0, 3.0, "Moving on to armcrosschest!", True),
        (67.0, 3.5, "Pull your arm closer to your chest.", False),
        (78.0, 3.0, "Now switch to the other arm.", False),
        (93.0, 3.0, "That's the end of the workout, well done!", True),
    ]),
    ("demo02", 1_700_003_600, [
        (0.0, 3.0, "First up are push ups!", True),
        (6.0, 3.0, "Keep your body in a straight line.", False),
        (13.0, 2.0, "Don't let your hips sag.", False),
        (20.0, 2.5, "Lower your chest all the way down.", False),
        (31.0, 3.0, "Moving on to lunges!", True),  # nobody spoke: this segment is dropped
        (62.0, 3.0, "Moving on to jumping jacks!", True),
        (66.0, 2.0, "Arms all the way up!", False),
        (72.0, 2.5, "Nice rhythm, 15 jumps so far.", False),
        (80.0, 2.0, "Keep it up, almost there!", False),
        (93.0, 3.0, "Great job today, see you next time!", True),
    ]),
    ("demo03", 1_700_007_200, [
        (0.0, 3.0, "First up are mountain climbers!", True),
        (5.0, 2.5, "Keep your hips down.", False),
        (11.0, 3.0, "Drive your knees towards your chest.", False),
        (19.0, 2.0, "Good speed!", False),
        (31.0, 3.0, "Moving on to plank!", True),
        (36.0, 3.0, "Squeeze your glutes and hold.", False),
        (46.0, 2.5, "Don't hold your breath.", False),
        (55.0, 2.0, "Ten more seconds!", False),
        (63.0, 3.0, "That's it for today, well done!", True),
    ]),
]  # fmt: skip

# What a (made-up) streaming model said, in seconds from each segment's start. demo03:1 is
# absent (a silent model for that segment), one text is empty (dropped before matching).
PREDICTIONS = {
    "demo01:0": [
        (5.5, "Good depth, chest up."),
        (12.0, "Five reps, keep going!"),
        (21.0, "Knees out a bit more."),
        (24.5, "Ten reps, great!"),
    ],
    # A model that speaks ~1.1-1.5 s late: the paper's rule tries only GT 7.0's nearest
    # prediction (5.6, already taken), so it misses 8.45; --matching optimal finds it.
    "demo01:1": [
        (5.6, "Get those knees higher!"),
        (8.45, "Use your arms as well."),
        (14.0, "Nice pace, stay on your toes."),
        (19.5, "Faster, you've got this!"),
    ],
    "demo01:2": [(4.5, "Bring your arm closer to your chest."), (16.0, "Switch arms now.")],
    "demo02:0": [
        (6.0, "Keep a straight line from head to heels."),
        (9.0, ""),
        (13.5, "Your hips are sagging, lift them."),
        (23.5, "Go all the way down."),
    ],
    "demo02:2": [
        (3.0, "Arms up all the way!"),
        (10.5, "Nice rhythm!"),
        (17.0, "Keep it up, almost done!"),
        (25.0, "Great work."),
    ],
    "demo03:0": [(5.2, "Hips down, please."), (12.0, "Bring your knees to your chest.")],
}


def main() -> None:
    split = HERE / "QEVD-FIT-COACH-Benchmark"
    (split / "long_range_videos").mkdir(parents=True, exist_ok=True)
    records = []
    for stem, start_s, spans in WORKOUTS:
        end_s = spans[-1][0] + spans[-1][1] + 2.0
        n_frames = int(end_s * FPS)
        ns = start_s * 10**9 + (np.arange(n_frames) * (10**9 / FPS)).astype(np.int64)
        dense = [""] * n_frames
        for t, duration, text, _ in spans:
            first = round(t * FPS)
            for f in range(first, first + round(duration * FPS)):
                dense[f] = text
        records.append(
            {
                "long_range_video_file": f"long_range_videos/{stem}.mp4",
                "video_timestamps": f"long_range_videos/{stem}_timestamps.npy",
                "feedbacks": dense,
                "feedback_timestamps": [start_s + SHIFT_S + t for t, *_ in spans],
                "is_transition": [flag for *_, flag in spans],
            }
        )
        np.save(split / "long_range_videos" / f"{stem}_timestamps.npy", ns)
    (split / "feedbacks_long_range.json").write_text(json.dumps(records) + "\n")
    lines = [
        json.dumps({"segment_id": seg, "feedbacks": [{"time": t, "text": x} for t, x in fbs]})
        for seg, fbs in PREDICTIONS.items()
    ]
    (HERE / "predictions.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
