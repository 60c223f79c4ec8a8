"""``livefit coach``: the live coach on a video file or a camera (``livefit.app.coach``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from livefit.app.camera import CameraError
from livefit.app.cli import CameraVisionOpt, CnnOpt, ModelOpt, ThreadsOpt, choose_vision
from livefit.app.plans import PlanError, load_plan
from livefit.app.speech import SpeechError
from livefit.io import OutputPathError, check_output_dir
from livefit.options import error_line, finite
from livefit.vision.errors import WeightsError


def coach(
    video: Annotated[Path | None, typer.Option(help="Video file to coach.")] = None,
    camera: Annotated[int | None, typer.Option(help="Camera index to coach (0: the first).")] = (
        None
    ),
    out: Annotated[
        Path, typer.Option(help="Folder for annotated.mp4, events.jsonl, summary.json, speech/.")
    ] = Path("out/coach"),
    model: ModelOpt = None,
    cnn: CnnOpt = None,
    vision: CameraVisionOpt = None,
    exercise: Annotated[
        str | None,
        typer.Option(
            help="Coach this exercise throughout; default: the exercise the CNN's "
            "activity head recognises (sessions start and end as it changes)."
        ),
    ] = None,
    plan: Annotated[
        str | None,
        typer.Option(
            help="Follow a workout plan from the first frame: a shipped one (warm-up, legs, "
            "full-body) or a plan.json (exercises, seconds and rests in order)."
        ),
    ] = None,
    speak: Annotated[bool, typer.Option(help="Say each feedback aloud (espeak-ng).")] = False,
    speech: Annotated[
        str,
        typer.Option(
            help="With --speak: auto (play when an audio device exists, else WAVs in "
            "OUT/speech), audio or wav."
        ),
    ] = "auto",
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime/--fast",
            help="Video file: play it at its own pace, as a camera "
            "would (--fast: as fast as the machine allows).",
        ),
    ] = True,
    seconds: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds of video.", callback=finite(above=0)),
    ] = None,
    timestamps: Annotated[
        Path | None,
        typer.Option(help="Video file: its QEVD _timestamps.npy (frame capture times)."),
    ] = None,
    display: Annotated[
        bool, typer.Option(help="Show the overlay in a window when a display exists.")
    ] = True,
    threads: ThreadsOpt = 1,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    history: Annotated[
        bool,
        typer.Option(
            help="Store the finished run in the workout history (livefit history; "
            "LIVEFIT_HISTORY names another database)."
        ),
    ] = True,
) -> None:
    """Coach a video file or a camera live, with an optional voice.

    Feedback is printed (and spoken) as it happens; an annotated mp4, the events and a summary
    go to --out. Ctrl-C (or closing the window) stops.
    """
    if (video is None) == (camera is None):
        _fail("give exactly one of --video PATH and --camera N")
    if speech not in ("auto", "audio", "wav"):
        _fail(f"unknown --speech {speech!r}: expected auto, audio or wav")
    if threads < 0:
        _fail("--threads must be 0 or more")
    if timestamps is not None and video is None:
        _fail("--timestamps goes with --video")
    if plan is not None and exercise is not None:
        _fail("give at most one of --exercise and --plan")
    try:
        followed = load_plan(plan) if plan is not None else None
    except PlanError as err:
        _fail(str(err))

    try:
        check_output_dir(out)
    except OutputPathError as err:
        _fail(str(err))

    import torch
    from rich.console import Console

    from livefit.app.coach import CoachSettings, run_coach  # lazy: torch, cv2 off --help

    if threads:
        torch.set_num_threads(threads)
    vision, why = choose_vision(vision, camera is not None, model is not None or cnn is not None)
    settings = CoachSettings(
        video=video,
        camera=camera,
        out=out,
        model=model,
        cnn=cnn,
        vision=vision,
        vision_why=why,
        exercise=exercise,
        plan=followed,
        speak=speak,
        speech=speech,  # type: ignore[arg-type]  # checked above
        realtime=realtime,
        seconds=seconds,
        timestamps=timestamps,
        display=display,
        progress=progress,
        history=history,
    )
    try:
        run_coach(settings, Console(highlight=False))
    except (OSError, ValueError, CameraError, SpeechError, WeightsError) as err:
        # error_line: the one wording (a full disk names its file)
        _fail(error_line(err).removeprefix("error: "))


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["root"].command("coach")(coach)
