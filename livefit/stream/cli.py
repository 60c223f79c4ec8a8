"""``livefit predict``: stream a trained Stream-VLM over a QEVD split, write predictions JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from livefit.bundled import bundled_model
from livefit.data.qevd import QEVDFormatError
from livefit.options import finite
from livefit.stream.coaches import PredictError
from livefit.vision.errors import DeviceError


def predict_command(
    data: Annotated[Path, typer.Option(help="Folder holding QEVD-FIT-COACH[-Benchmark]/.")],
    out: Annotated[Path, typer.Option(help="Predictions JSONL to write (resumed if present).")],
    model: Annotated[
        str | None,  # not a Path: "socratic:http://..." must keep its "//"
        typer.Option(
            help="A Stream-VLM directory (save_pretrained), or a built-in coach: "
            "silent, periodic, oracle-coach (QEVD-SIM only), socratic:URL|PATH, "
            "turn:URL|PATH; default: the bundled coach."
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="test (the benchmark) or train.")] = "test",
    clock: Annotated[str, typer.Option(help="paper (parity clock) or wall (real time).")] = "paper",
    mode: Annotated[str, typer.Option(help="single_exercise or full_workout.")] = "single_exercise",
    device: Annotated[str, typer.Option(help="torch device, e.g. cpu or cuda.")] = "cpu",
    sample: Annotated[bool, typer.Option(help="Sample instead of greedy decoding.")] = False,
    temperature: Annotated[
        float, typer.Option(help="Sampling temperature.", callback=finite(above=0, at_most=1e6))
    ] = 1.0,
    window: Annotated[
        int | None, typer.Option(help="Bounded memory: keep the prompt + this many recent tokens.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N segments.")] = None,
    compile: Annotated[
        bool,
        typer.Option(
            help="Static KV cache + torch.compile'd one-token step (CUDA graphs on a GPU)."
        ),
    ] = False,
    cache_capacity: Annotated[
        int, typer.Option(help="--compile: KV slots per session (must hold a whole segment).")
    ] = 4096,
    watch_after_empty: Annotated[
        bool,
        typer.Option(
            "--watch-after-empty",
            help="After an empty feedback the next token is <vision> (an extra guard for "
            "degenerate models; the paper's loop lets the model choose again).",
        ),
    ] = False,
    sentence_start: Annotated[
        bool,
        typer.Option(
            "--sentence-start",
            help="A feedback's first token must begin a sentence (an extra, on in the live "
            "coach; the paper's loop takes any text token).",
        ),
    ] = False,
) -> None:
    """Run the streaming engine over every segment and write {"segment_id", "feedbacks"} lines."""
    from livefit.stream.predict import (  # lazy: torch, transformers off --help
        engine_config,
        predict,
    )
    from livefit.vision.weights import resolve_device  # lazy: torch off --help

    problem = _bad_option(clock, limit, window, cache_capacity)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    try:
        resolve_device(device)
        if model is None:
            model = bundled_model()
        config = engine_config(
            clock,
            do_sample=sample,
            temperature=temperature,
            window_tokens=window,
            cache="static" if compile else "growing",
            compile=compile,
            cache_capacity=cache_capacity,
            watch_after_empty=watch_after_empty,
            sentence_start=sentence_start,
        )
        summary = predict(data, model, out, split, mode, config, device, limit)
    except (QEVDFormatError, PredictError, DeviceError, FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"{summary['segments']} segments ({summary['skipped']} already done), "
        f"{summary['new_feedbacks']} new feedbacks -> {out}"
    )
    d = summary["decoding"]
    if d["tokens_per_step"] > 0:  # a language model (rule-based coaches decode nothing)
        typer.echo(
            f"decoding: {d['tokens_per_step']:.2f} tokens per feature step (1.00 = "
            f"only watching), worst step {d['max_step_tokens']}"
        )
    for warning in d["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    if d["budget_hits"]:
        typer.echo(
            f"warning: {d['budget_hits']} steps hit the per-step token budget (a model stuck "
            "talking, e.g. emitting empty feedbacks); --watch-after-empty makes an empty "
            "feedback a decision to watch",
            err=True,
        )


def _bad_option(clock: str, limit: int | None, window: int | None, capacity: int) -> str | None:
    """The first option value that cannot work, described for an ``error:`` line (floats:
    ``livefit.options.finite``, as they are parsed)."""
    if clock not in ("paper", "wall"):
        return f"--clock must be paper or wall, not {clock!r}"
    for name, value in (("--limit", limit), ("--window", window), ("--cache-capacity", capacity)):
        if value is not None and value < 1:
            return f"{name} must be a positive count, not {value}"
    return None


def register(groups: dict[str, typer.Typer]) -> None:
    groups["root"].command("predict")(predict_command)
