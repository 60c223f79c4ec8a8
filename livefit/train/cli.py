"""``livefit train vision``: stage 1 (the causal 3D CNN on the short clips' fine-grained labels)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def vision(
    data: Annotated[Path, typer.Option(help="Data root holding QEVD-FIT-300K/.")],
    out: Annotated[Path, typer.Option(help="Run folder (checkpoints, eval reports, cnn/).")],
    config: Annotated[
        Path | None,
        typer.Option(
            help="A VisionStageConfig JSON (e.g. configs/vision/small.json); "
            "default: the paper-scale config."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Override the config's loop.seed (shuffle, init, draws).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint.")] = False,
    threads: Annotated[int, typer.Option(help="torch CPU threads (0 = torch default).")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train the CNN frame-wise on fine-grained labels; evaluate on held-out participants."""
    import json
    import time
    from dataclasses import replace

    import torch

    from livefit.config import load_config, save_config
    from livefit.io import atomic_write_json
    from livefit.train.loop import fit
    from livefit.train.vision_stage import VisionStageConfig, VisionTask
    from livefit.vision.preprocess import VideoError

    if threads:
        torch.set_num_threads(threads)
    try:
        cfg = load_config(VisionStageConfig, config) if config else VisionStageConfig()
        if seed is not None:
            cfg = replace(cfg, loop=replace(cfg.loop, seed=seed))
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.json")
        start, cpu_start = time.time(), time.process_time()
        task = VisionTask(cfg, data, out, progress)
        result = fit(task, cfg.loop, cfg.optim, out, cfg, resume=resume, progress=progress)
    except (FileNotFoundError, ValueError, VideoError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    summary = {
        "steps": result.step,
        "epochs": result.epoch,
        "wall_seconds": round(time.time() - start, 1),
        # CPU time of this process (all its threads): what the run costs on a box it shares.
        "cpu_seconds": round(time.process_time() - cpu_start, 1),
        "train_seconds": round(result.seconds, 1),
        "metrics": result.metrics,
    }
    atomic_write_json(out / "summary.json", summary)
    typer.echo(json.dumps(summary))


def register(groups: dict[str, typer.Typer]) -> None:
    groups["train"].command("vision")(vision)
