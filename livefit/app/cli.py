"""``livefit demo``: the bundled coach on a fresh synthetic workout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from livefit.data.qevd import QEVDFormatError
from livefit.io import check_output_dir
from livefit.options import check_count, check_seed
from livefit.vision.errors import WeightsError

# Options every live command shares (demo, coach, serve).
ModelOpt = Annotated[
    Path | None, typer.Option(help="Stream-VLM directory; default: the bundled coach.")
]
CnnOpt = Annotated[
    Path | None,
    typer.Option(
        help="Front end directory, a CNN or a pose encoder; default: the bundled coach's."
    ),
]
VisionOpt = Annotated[
    str,
    typer.Option(
        help="cnn: the coach that sees the frames (causal 3D CNN); pose: the coach that "
        "sees body landmarks (MediaPipe Pose -> causal pose encoder)."
    ),
]
CameraVisionOpt = Annotated[
    str | None,
    typer.Option(
        "--vision",
        help="cnn: the coach that sees the frames (causal 3D CNN, trained on QEVD-SIM renders); "
        "pose: the coach that sees body landmarks (MediaPipe Pose -> causal pose encoder). "
        "Default: pose for a camera when its estimator is installed (setup.sh --pose), else cnn.",
    ),
]


def choose_vision(vision: str | None, camera: bool, custom: bool = False) -> tuple[str, str]:
    """(front end, why) for a live command: ``vision`` when given; for a camera the pose coach
    when its estimator runs here (the CNN coach knows only QEVD-SIM's renders: it fails on real
    people, issue 22), else the CNN coach; for a video file, or a ``custom`` model or front end
    (``--model``, ``--cnn``), the CNN coach's defaults."""
    if vision is not None:
        return vision, "--vision"
    if custom:
        return "cnn", "--model/--cnn given: the CNN coach's parts fill in the rest"
    if not camera:
        return "cnn", "the default for a video file (QEVD-SIM videos); --vision pose for a person"
    from livefit.vision.pose_estimator import (  # lazy: cv2 off --help
        PoseEstimator,
        PoseEstimatorError,
    )

    try:
        PoseEstimator.load()
    except PoseEstimatorError as err:
        return "cnn", (
            f"the pose coach, a camera's default, cannot run here ({err}); the CNN coach "
            "knows only QEVD-SIM renders and is not to be trusted on real people"
        )
    return "pose", "the default for a camera: it sees body landmarks, not QEVD-SIM's renders"


ThreadsOpt = Annotated[
    int,
    typer.Option(
        help="torch CPU threads (1 is fastest for the small per-frame calls and leaves a core to "
        "video encoding and decoding; 0 = torch default)."
    ),
]


def demo(
    out: Annotated[
        Path, typer.Option(help="Folder for the workout, annotated.mp4, events, report.html.")
    ] = Path("out/demo"),
    seed: Annotated[int | None, typer.Option(help="Seed of the synthetic workout.")] = None,
    model: ModelOpt = None,
    cnn: CnnOpt = None,
    vision: VisionOpt = "cnn",
    workouts: Annotated[int, typer.Option(help="Synthetic workouts to coach.")] = 1,
    synth: Annotated[
        str,
        typer.Option(
            help="QEVD-SIM preset of the workout (small: like the coach's training "
            "data; tiny: shorter, for a quick look)."
        ),
    ] = "small",
    fast: Annotated[
        bool,
        typer.Option(
            "--fast", help="Coach as fast as the machine allows, not at the video's pace."
        ),
    ] = False,
    recognise: Annotated[
        bool,
        typer.Option(
            "--recognise",
            help="Let the CNN recognise the exercise instead of taking it from the workout's plan.",
        ),
    ] = False,
    threads: ThreadsOpt = 1,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """The bundled coach coaches, live, a synthetic workout it has never seen.

    Prints its feedback as it happens beside the ground truth, then writes an annotated mp4,
    the events and a self-contained HTML report with the paper-exact metrics (offline).
    """
    check_seed(seed)  # options first: before torch is imported or anything is written
    check_count(workouts, "--workouts")
    check_count(threads, "--threads", minimum=0)
    check_output_dir(out)

    import torch

    from livefit.app.demo import DEMO_SEED, run_demo  # lazy: torch, cv2 off --help

    if threads:
        torch.set_num_threads(threads)
    try:
        seed = DEMO_SEED if seed is None else seed
        run_demo(out, seed, model, cnn, workouts, progress, synth, not fast, recognise, vision)
    except (FileNotFoundError, ValueError, QEVDFormatError, WeightsError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


def register(groups: dict[str, typer.Typer]) -> None:
    groups["root"].command("demo")(demo)
