"""A tiny QEVD-FIT-300K-layout clip set: two exercises, a mistake and a left/right pair."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "vision"))
from vision_helpers import tiny_config, write_video  # noqa: E402

FINE = ["squats - good form", "squats - shallow", "lunges - left leg", "lunges - right leg"]
LABELS = {
    "exercises": ["squats", "lunges"],
    "fine_grained": FINE,
    "flip": {"lunges - left leg": "lunges - right leg", "lunges - right leg": "lunges - left leg"},
    "mistakes": ["shallow"],
}
# Each class is a colour in one half of the frame, so a flip turns "left" into "right".
COLOURS = {0: (0, 200, 0), 1: (200, 0, 0), 2: (0, 0, 200), 3: (0, 0, 200)}


def make_clips(root: Path, per_class: int = 2, frames: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    base = root / "QEVD-FIT-300K"
    base.mkdir(parents=True)
    (base / "labels.json").write_text(json.dumps(LABELS))
    for split in ("train", "test"):
        records = []
        for cls in range(len(FINE)):
            for k in range(per_class):
                clip_id = f"{split}-{cls}-{k}"
                video = np.full((frames, 42, 30, 3), 40, np.uint8)
                video += rng.integers(0, 20, video.shape, dtype=np.uint8)
                half = slice(0, 15) if cls != 3 else slice(15, 30)
                video[:, :, half] = COLOURS[cls]
                write_video(base / split / "videos" / f"{clip_id}.mp4", video, fps=30)
                ns = 1_700_000_000 * 10**9 + np.arange(frames) * (10**9 // 30)
                np.save(base / split / "videos" / f"{clip_id}_timestamps.npy", ns)
                records.append(
                    {
                        "clip_id": clip_id,
                        "video_file": f"videos/{clip_id}.mp4",
                        "video_timestamps": f"videos/{clip_id}_timestamps.npy",
                        "participant": f"{split}-p{k}",
                        "exercise": FINE[cls].split(" - ")[0],
                        "fine_grained": [FINE[cls]],
                        "frame_labels": [FINE[cls]] * frames,
                        "attributes": {"mistakes": ["shallow"] if cls == 1 else []},
                        "qa": [],
                        "feedbacks": [],
                        "extra_key": "tolerated",
                    }
                )
        (base / split / "clips.json").write_text(json.dumps(records))
    return root


__all__ = ["FINE", "LABELS", "make_clips", "tiny_config"]
