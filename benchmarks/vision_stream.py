"""Streaming cost of the causal 3D CNN on ONE CPU core: frames/s and constant per-frame cost.

Pushes frames one at a time through ``CNNStream`` (the live path) and prints one JSON line:

- ``small_fps``: frames/s of the small variant (configs/vision/small.json; target >= 100);
- ``paper_fps``: frames/s of the paper network (224x160 -> 1280 x 7 x 5);
- ``cost_ratio_5000_vs_50``: per-frame time over frames [5000, 5256) / over frames [50, 306),
  small variant (target <= 1.1: the state is a fixed ring of two frames per temporal conv);
- ``naive_cost_ratio_500_vs_50``: the same ratio for the naive way (re-run the clip over the
  whole history at every step), which grows with the stream;
- ``state_bytes_*`` before and after the long stream (unchanged = O(1) state).

    .venv/bin/python benchmarks/vision_stream.py [--frames 5256] [--paper-frames 48]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from livefit.config import load_config
from livefit.train.vision_stage import VisionStageConfig
from livefit.vision.cnn import CausalCNN, CNNConfig, CNNStream

ROOT = Path(__file__).resolve().parents[1]


def stream_times(model: CausalCNN, frames: int, seed: int = 0) -> tuple[list[float], CNNStream]:
    """Seconds spent in ``push`` for each of ``frames`` random frames (warm-up included in #0)."""
    cfg = model.config
    gen = torch.Generator().manual_seed(seed)
    pool = torch.rand(64, 3, cfg.input_height, cfg.input_width, generator=gen)
    stream = CNNStream(model)
    times = []
    for i in range(frames):
        frame = pool[i % len(pool)]
        start = time.perf_counter()
        stream.push(frame)
        times.append(time.perf_counter() - start)
    return times, stream


@torch.no_grad()
def naive_step_time(model: CausalCNN, history: int, reps: int = 3) -> float:
    """Seconds per step for the stateless way: run all ``history`` frames again every step."""
    cfg = model.config
    x = torch.rand(1, history, 3, cfg.input_height, cfg.input_width)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        model(x)
        best = min(best, time.perf_counter() - start)
    return best / cfg.frames_per_step  # per frame: one re-run per 4-frame step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=5256)
    parser.add_argument("--paper-frames", type=int, default=48)
    parser.add_argument("--config", type=Path, default=ROOT / "configs/vision/small.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    small = CausalCNN(load_config(VisionStageConfig, args.config).model).eval()
    state_before = small.initial_state().nbytes()
    times, stream = stream_times(small, args.frames)
    state_after = stream.state.nbytes() if stream.state else 0
    early = sum(times[50:306]) / 256
    late = sum(times[5000:5256]) / 256 if args.frames >= 5256 else float("nan")
    small_fps = (len(times) - 1) / sum(times[1:])  # frame 0 also runs the 12-frame warm-up

    naive_50, naive_500 = naive_step_time(small, 52), naive_step_time(small, 500)

    paper = CausalCNN(CNNConfig()).eval()
    paper_times, _ = stream_times(paper, args.paper_frames)
    paper_fps = (len(paper_times) - 1) / sum(paper_times[1:])

    result = {
        "small_fps": round(small_fps, 1),
        "paper_fps": round(paper_fps, 2),
        "cost_ratio_5000_vs_50": round(late / early, 3),
        "small_ms_per_frame_at_50": round(early * 1e3, 3),
        "small_ms_per_frame_at_5000": round(late * 1e3, 3),
        "naive_cost_ratio_500_vs_50": round(naive_500 / naive_50, 2),
        "naive_ms_per_frame_at_500": round(naive_500 * 1e3, 2),
        "state_bytes_small": [state_before, state_after],
        "frames": args.frames,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
