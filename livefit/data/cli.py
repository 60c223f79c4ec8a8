"""``livefit data segments``: list the segments of a QEVD-format split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from livefit.data.qevd import QEVDFormatError, check_features, load_segments


def segments(
    data_root: Annotated[Path, typer.Argument(help="Folder holding QEVD-FIT-COACH[-Benchmark]/.")],
    split: Annotated[str, typer.Option(help="test (the benchmark) or train.")] = "test",
    mode: Annotated[
        str, typer.Option(help="single_exercise (benchmark default) or full_workout.")
    ] = "single_exercise",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    features: Annotated[
        bool, typer.Option("--check-features", help="Also validate every feature file.")
    ] = False,
    feature_shape: Annotated[
        str | None,
        typer.Option(help="With --check-features: the per-step shape, e.g. 1280,7,5 (release)."),
    ] = None,
) -> None:
    """List the segments of a split: id, exercise, time span, responses and their times."""
    try:
        segs = load_segments(data_root, split, mode)  # type: ignore[arg-type]
        if features or feature_shape:
            shape = None
            if feature_shape:
                try:
                    shape = tuple(int(x) for x in feature_shape.split(","))
                except ValueError:
                    raise QEVDFormatError(
                        f"--feature-shape {feature_shape!r}: expected integers like 1280,7,5"
                    ) from None
            check_features(segs, shape)
    except QEVDFormatError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps([seg.to_json() for seg in segs], indent=1))
        return
    for seg in segs:
        typer.echo(
            f"{seg.segment_id:<24} {seg.exercise or 'full workout':<24} "
            f"{seg.end - seg.start:6.1f} s  {len(seg.responses):3d} feedbacks"
        )
    typer.echo(f"{len(segs)} segments, {sum(len(s.responses) for s in segs)} feedbacks")


def register(groups: dict[str, typer.Typer]) -> None:
    groups["data"].command("segments")(segments)
