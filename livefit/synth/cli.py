"""``livefit data synth`` and ``livefit data contact-sheet``: the QEVD-SIM command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from livefit.io import check_output_dir, check_output_file
from livefit.options import check_count, check_seed
from livefit.synth.presets import preset as get_preset

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"  # an existing --out is only replaced if it is a PNG


def synth(
    out: Annotated[Path, typer.Option(help="Data root to write (QEVD layout).")],
    preset: Annotated[
        str, typer.Option(help="tiny (tests), small (CPU training) or full.")
    ] = "tiny",
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 0,
    workers: Annotated[int, typer.Option(help="Parallel processes.")] = 1,
    train_workouts: Annotated[int | None, typer.Option(help="Override the preset.")] = None,
    test_workouts: Annotated[int | None, typer.Option(help="Override the preset.")] = None,
    train_clips: Annotated[int | None, typer.Option(help="Override the preset.")] = None,
    test_clips: Annotated[int | None, typer.Option(help="Override the preset.")] = None,
) -> None:
    """Generate synthetic QEVD-format workouts and short clips (resumable: reruns skip videos)."""
    from livefit.synth.generate import SynthError, generate  # lazy: cv2 off --help

    check_seed(seed)
    check_count(workers, "--workers")
    check_count(train_workouts, "--train-workouts", minimum=0)
    check_count(test_workouts, "--test-workouts", minimum=0)
    check_count(train_clips, "--train-clips", minimum=0)
    check_count(test_clips, "--test-clips", minimum=0)
    check_output_dir(out)

    overrides = {
        k: v
        for k, v in dict(
            train_workouts=train_workouts,
            test_workouts=test_workouts,
            train_clips=train_clips,
            test_clips=test_clips,
        ).items()
        if v is not None
    }
    try:
        cfg = get_preset(preset, **overrides)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    try:
        stats = generate(cfg, out, seed=seed, workers=workers)
    except SynthError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    for key in ("coach_test", "coach_train"):
        if key in stats:
            s = stats[key]
            typer.echo(
                f"{key}: {s['workouts']} workouts, {s['feedbacks']} feedbacks, "
                f"{s['feedbacks_per_exercise']} per exercise, "
                f"silence {s['silence_start_to_start_s']} s, {s['words_per_feedback']} words"
            )
    for key in ("clips_train", "clips_test"):
        if key in stats:
            s = stats[key]
            typer.echo(f"{key}: {s['videos']} clips, {s['classes']} fine-grained classes seen")
    typer.echo(f"wrote {out} (statistics: {out / 'synth_stats.json'})")


def contact_sheet(
    data_root: Annotated[Path, typer.Argument(help="A QEVD-SIM data root.")],
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("contact_sheet.png"),
    split: Annotated[str, typer.Option(help="test or train.")] = "test",
    workout: Annotated[int, typer.Option(help="Which workout (0-based).")] = 0,
    columns: Annotated[int, typer.Option(help="Frames per row.")] = 6,
    rows: Annotated[int, typer.Option(help="Rows of workout frames.")] = 4,
    clips: Annotated[int, typer.Option(help="Short clips to show below the workout.")] = 12,
) -> None:
    """A PNG grid of frames with their labels and the coach's lines."""
    from livefit.synth.contact_sheet import (  # lazy: cv2 off --help
        ContactSheetError,
        make_contact_sheet,
    )

    check_count(columns, "--columns")
    check_count(rows, "--rows")
    check_count(clips, "--clips", minimum=0)
    check_count(workout, "--workout", minimum=0)
    check_output_file(out, magic=PNG_MAGIC, kind="PNG image")
    try:
        make_contact_sheet(data_root, out, split, workout, columns, rows, clips)
    except ContactSheetError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {out}")


def register(groups: dict[str, typer.Typer]) -> None:
    groups["data"].command("synth")(synth)
    groups["data"].command("contact-sheet")(contact_sheet)
