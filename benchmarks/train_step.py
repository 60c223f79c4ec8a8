"""Stage-1 training step on the CPU: the kept-memory allocator (our way) vs glibc's default.

Times the body of ``livefit.train.loop.fit`` (a batch from the loader: random crops, colour
jitter, flips; the loss with the stream warm-up; backward; AdamW; zero_grad) for the small CNN
(configs/vision/small.json) on synthetic ``tiny`` clips (repeated to fill one epoch of
``steps``), in two fresh processes, one per allocator setting
(``livefit.allocator.keep_freed_memory`` is process-wide), and prints one JSON line: ms per step
for each and ``ratio_default_vs_kept`` (> 1: ours is faster).

    .venv/bin/python benchmarks/train_step.py [--steps 60] [--threads 2] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(data: Path, steps: int, threads: int, keep: bool) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from livefit.allocator import keep_freed_memory
    from livefit.config import load_config
    from livefit.train.loop import EpochSampler, _optimizer
    from livefit.train.vision_stage import VisionStageConfig, VisionTask

    applied = keep_freed_memory() if keep else False
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = load_config(VisionStageConfig, ROOT / "configs/vision/small.json")
    with tempfile.TemporaryDirectory() as run:
        task = VisionTask(config, data, Path(run), progress=False)
        dataset = task.train_dataset()
        # A full epoch of batches, as in a real run (tiny has 24 train clips: one batch).
        dataset.clips = dataset.clips * max(
            1, -(-(steps + 5) * config.loop.batch_size // len(dataset.clips))
        )
        loader = DataLoader(
            dataset,
            batch_size=config.loop.batch_size,
            sampler=EpochSampler(len(dataset), 0),
            collate_fn=task.collate,
            drop_last=True,
        )
        model = task.build_model().train()
        optimizer = _optimizer(list(model.parameters()), config.optim)
        times: list[float] = []
        epoch = 0
        while len(times) < steps + 5:  # the first 5 steps warm up and are not counted
            dataset.start_epoch(epoch)
            start = time.perf_counter()
            for batch in loader:
                loss, _ = task.loss(model, batch)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                loss.item()
                now = time.perf_counter()
                times.append(now - start)
                start = now
                if len(times) >= steps + 5:
                    break
            epoch += 1
    kept = sorted(times[5:])
    return {
        "allocator": "kept" if keep else "default",
        "applied": applied,
        "ms_per_step_mean": round(1000 * sum(kept) / len(kept), 1),
        "ms_per_step_median": round(1000 * kept[len(kept) // 2], 1),
    }


def synth_tiny(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "livefit", "data", "synth", "--preset", "tiny", "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per allocator")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, help="a QEVD-SIM root (default: tiny, generated)")
    parser.add_argument("--worker", choices=["default", "kept"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        keep = args.worker == "kept"
        print(json.dumps(worker(args.data, args.steps, args.threads, keep)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or synth_tiny(Path(tmp) / "tiny")
        runs = {}
        for mode in ("default", "kept"):
            cmd = [sys.executable, __file__, "--worker", mode, "--data", str(data)]
            cmd += ["--steps", str(args.steps), "--threads", str(args.threads)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
            runs[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    result = {
        "benchmark": "train_step",
        "config": "configs/vision/small.json",
        "steps": args.steps,
        "threads": args.threads,
        "default_ms_per_step": runs["default"]["ms_per_step_mean"],
        "kept_ms_per_step": runs["kept"]["ms_per_step_mean"],
        "kept_applied": runs["kept"]["applied"],
        "ratio_default_vs_kept": round(
            runs["default"]["ms_per_step_mean"] / runs["kept"]["ms_per_step_mean"], 2
        ),
        "medians_ms": [runs["default"]["ms_per_step_median"], runs["kept"]["ms_per_step_median"]],
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "torch": __import__("torch").__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
