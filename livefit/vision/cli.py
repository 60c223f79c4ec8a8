"""``livefit features extract``: causal 3D-CNN (or pose-encoder) features for a split, in the
official layout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from livefit.bundled import bundled_cnn, bundled_pose_encoder
from livefit.data.clips import ClipFormatError
from livefit.data.qevd import QEVDFormatError
from livefit.vision.errors import WeightsError


def extract(
    data_root: Annotated[Path, typer.Argument(help="Data root holding the QEVD split folders.")],
    model: Annotated[
        Path | None,
        typer.Option(
            help="A front-end folder (config.json with its type + model.safetensors, e.g. "
            "RUN/vision/cnn from `livefit train vision`) or a published CNN weights file "
            "(.ckpt/.pt); default: the bundled coach's CNN."
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="test (the benchmark) or train.")] = "test",
    clips: Annotated[
        bool, typer.Option("--clips", help="The short clips (QEVD-FIT-300K/<split>/) instead.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Redo every video with this model, also when the folder holds another CNN's "
            "features (a killed overwrite resumes with this model, with or without the flag)."
        ),
    ] = False,
    vision: Annotated[
        str | None,
        typer.Option(
            help="The front-end type --model must be: cnn (3D CNN), per_frame (the ablation's "
            "2D encoder) or pose (pose encoder; default --model: the bundled pose coach's "
            "encoder). Default: whatever --model holds."
        ),
    ] = None,
    landmarks: Annotated[
        str,
        typer.Option(
            help="Pose features: landmarks from QEVD-SIM's sidecar (sidecar) or the pose "
            "estimator on the frames (estimator)."
        ),
    ] = "sidecar",
    threads: Annotated[int, typer.Option(help="torch CPU threads (0 = torch default).")] = 0,
    device: Annotated[
        str,
        typer.Option(help="torch device (cpu, cuda, cuda:1); auto: cuda:LOCAL_RANK if any."),
    ] = "auto",
) -> None:
    """Extract features for every video of a split (resumable; shards by RANK/WORLD_SIZE, e.g.
    `accelerate launch --num_processes 2 -m livefit.cli features extract ...`). The folder's
    extraction.json records the CNN (config, weights hash) and preprocessing; a rerun with
    another model is refused unless --overwrite."""
    import torch

    from livefit.vision.extract import (  # lazy: torch, cv2 off --help
        dist_rank,
        load_producer,
        run_extraction,
    )
    from livefit.vision.front_ends import (  # lazy: torch off --help
        FRONT_ENDS,
        read_front_end_config,
    )
    from livefit.vision.weights import resolve_device  # lazy: torch off --help

    if threads < 0:
        typer.echo(
            f"error: --threads must be 0 (torch default) or positive, not {threads}", err=True
        )
        raise typer.Exit(2)
    if threads:
        torch.set_num_threads(threads)
    try:
        rank, world = dist_rank()
        if device == "auto":
            device = _auto_device()
        target = resolve_device(device)
        if vision is not None and vision not in FRONT_ENDS:
            raise ValueError(f"--vision must be one of {', '.join(FRONT_ENDS)}, got {vision!r}")
        if model is None:
            model = bundled_pose_encoder() if vision == "pose" else bundled_cnn()
        kind = read_front_end_config(model)[0].type if model.is_dir() else "cnn"
        if vision is not None and kind != vision:
            raise ValueError(f"--model {model} is a {kind} front end; pass --vision {kind} with it")
        net = load_producer(model, landmarks, device=target)
        summary = run_extraction(
            data_root, split, net, clips, rank, world, overwrite, model_path=model
        )
    except (QEVDFormatError, ClipFormatError, WeightsError, FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    failed = summary.failed or []
    typer.echo(
        f"rank {rank}/{world}: {summary.done} extracted, {summary.skipped} already done, "
        f"{len(failed)} failed"
    )
    if failed:
        for item in failed:
            typer.echo(f"error: {item['error']}", err=True)
        raise typer.Exit(2)


def _auto_device() -> str:
    """``cuda:LOCAL_RANK`` when torch sees a GPU (one per launched process), else ``cpu``."""
    import torch

    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"


def register(groups: dict[str, typer.Typer]) -> None:
    groups["features"].command("extract")(extract)
