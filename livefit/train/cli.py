"""``livefit train``: the three stages (``vision``, ``clips``, ``long-range``), one loop and one
config file per stage, and ``livefit train --preset embedded``, every step from synthetic data
to an evaluated coach in one command.

``livefit benchmark`` lives here too: with ``--preset`` it trains the coaches it then benchmarks,
and ``eval`` sits below ``train`` (eval never imports train)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from livefit.bundled import bundled_cnn, bundled_model
from livefit.config import load_config
from livefit.data.clips import ClipFormatError
from livefit.data.qevd import QEVDFormatError
from livefit.eval.judge import valid_url
from livefit.eval.predictions import PredictionsError
from livefit.io import check_output_dir
from livefit.options import OptionError, check_count, check_seed, error_line
from livefit.stream.coaches import PredictError
from livefit.vision.errors import WeightsError
from livefit.vision.preprocess import VideoError

DataOpt = Annotated[Path, typer.Option(help="Data root (QEVD layout: QEVD-FIT-300K/, ...).")]
OutOpt = Annotated[Path, typer.Option(help="Run folder (checkpoints, eval reports, exports).")]
SeedOpt = Annotated[
    int | None, typer.Option(help="Override the config's loop.seed (shuffle, init, draws).")
]
ResumeOpt = Annotated[bool, typer.Option(help="Continue from the latest checkpoint.")]
ThreadsOpt = Annotated[int, typer.Option(help="torch CPU threads (0 = torch default).")]
ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars.")]


def _fail(err: Exception) -> None:
    typer.echo(error_line(err), err=True)  # one line, however the message was written
    raise typer.Exit(2) from None


def _check_options(out: Path | None, seed: int | None = None, threads: int = 0) -> None:
    """The options every training command shares (raises ValueErrors naming the option)."""
    if out is not None:
        check_output_dir(out)
    check_seed(seed)
    check_count(threads, "--threads", minimum=0)


def vision(
    data: DataOpt,
    out: OutOpt,
    config: Annotated[
        Path | None,
        typer.Option(
            help="A VisionStageConfig JSON (e.g. configs/vision/small.json); "
            "default: the paper-scale config."
        ),
    ] = None,
    seed: SeedOpt = None,
    resume: ResumeOpt = False,
    threads: ThreadsOpt = 0,
    progress: ProgressOpt = True,
) -> None:
    """Stage 1: train the CNN frame-wise on fine-grained labels; evaluate on held-out
    participants; export <out>/cnn/."""
    import torch

    from livefit.train.stage import run_stage, with_seed  # lazy: torch off --help
    from livefit.train.vision_stage import VisionStageConfig, VisionTask  # lazy: torch off --help

    try:
        _check_options(out, seed, threads)
        if threads:
            torch.set_num_threads(threads)
        cfg = load_config(VisionStageConfig, config) if config else VisionStageConfig()
        cfg = with_seed(cfg, seed)
        summary = run_stage(VisionTask(cfg, data, out, progress), cfg, out, resume, progress)
    except (FileNotFoundError, ValueError, VideoError) as err:
        _fail(err)
    typer.echo(json.dumps(summary))


def _coach(
    stage: str,
    data: Path,
    out: Path,
    config: Path | None,
    init_from: Path | None,
    seed: int | None,
    resume: bool,
    threads: int,
    progress: bool,
) -> None:
    import torch

    from livefit.train.coach_stage import (  # lazy: torch, transformers off --help
        CoachStageConfig,
        CoachTask,
        paper_stage_config,
    )
    from livefit.train.stage import run_stage, with_seed  # lazy: torch off --help

    try:
        _check_options(out, seed, threads)
        if threads:
            torch.set_num_threads(threads)
        cfg = load_config(CoachStageConfig, config) if config else paper_stage_config(stage)
        if cfg.stage != stage:
            raise ValueError(f"{config}: is a {cfg.stage!r} config, not {stage!r}")
        if init_from is not None:
            cfg = replace(cfg, init_from=str(init_from))
        cfg = with_seed(cfg, seed)
        summary = run_stage(CoachTask(cfg, data, out, progress), cfg, out, resume, progress)
    except (FileNotFoundError, ValueError, QEVDFormatError, ClipFormatError) as err:
        _fail(err)
    typer.echo(json.dumps(summary))


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        help="A CoachStageConfig JSON (configs/coach/...); default: the paper-scale config "
        "(LLaMA-2-7B from models/Llama-2-7b-hf)."
    ),
]
InitOpt = Annotated[
    Path | None,
    typer.Option(help="Start from this Stream-VLM directory (overrides the config's init_from)."),
]


def _coach_command(stage: str, doc: str) -> Callable[..., None]:
    """The ``train clips`` / ``train long-range`` command: the same options, another stage."""

    def command(
        data: DataOpt,
        out: OutOpt,
        config: ConfigOpt = None,
        init_from: InitOpt = None,
        seed: SeedOpt = None,
        resume: ResumeOpt = False,
        threads: ThreadsOpt = 0,
        progress: ProgressOpt = True,
    ) -> None:
        _coach(stage, data, out, config, init_from, seed, resume, threads, progress)

    command.__doc__ = doc
    return command


clips = _coach_command(
    "clips",
    """Stage 2: the language model on the short clips' questions and feedbacks (features from
    `livefit features extract --clips`); exports <out>/model/.""",
)
long_range = _coach_command(
    "long_range",
    """Stage 3: the language model on the long-range exercise segments, feedbacks placed at
    their times (features from `livefit features extract`); exports <out>/model/.""",
)


def evaluate(
    data: Annotated[Path, typer.Option(help="Data root with the split to score (QEVD layout).")],
    out: Annotated[Path, typer.Option(help="Folder for predictions, results.json, table.md.")],
    model: Annotated[
        Path | None, typer.Option(help="Stream-VLM directory; default: the bundled coach's.")
    ] = None,
    cnn: Annotated[
        Path | None,
        typer.Option(help="CNN that extracts missing features; default: the bundled coach's."),
    ] = None,
    split: Annotated[str, typer.Option(help="test (default) or train.")] = "test",
    bertscore: Annotated[bool, typer.Option(help="Also BERTScore (local default model).")] = True,
    threads: ThreadsOpt = 0,
    progress: ProgressOpt = True,
) -> None:
    """Score a coach on a split beside the periodic floor (encouragement every 5 s) and itself
    fed another workout's features; on QEVD-SIM also the share of mistake corrections matched."""
    import torch

    from livefit.train.coach_eval import evaluate_coach  # lazy: torch, transformers off --help

    try:
        _check_options(out, None, threads)
        if threads:
            torch.set_num_threads(threads)
        report = evaluate_coach(
            data,
            model or bundled_model(),
            out,
            cnn or bundled_cnn(),
            split,
            bertscore=bertscore,
            progress=progress,
        )
    except (
        QEVDFormatError,
        PredictError,
        PredictionsError,
        WeightsError,
        FileNotFoundError,
        ValueError,
    ) as err:
        _fail(err)
    typer.echo((out / "table.md").read_text().rstrip())
    typer.echo(f"-> {out / 'results.json'}")
    del report


def preset_callback(
    ctx: typer.Context,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Run every step, synth -> stage 1 -> features -> stage 2 -> stage 3 -> "
            "evaluation -> report, of configs/presets/<NAME>.json (embedded, tiny) or a file."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder of --preset (resumable).")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the preset's seed.")] = None,
    vision: Annotated[
        str | None,
        typer.Option(
            help="--preset: what the coach sees, cnn (the causal 3D CNN) or pose (body "
            "landmarks -> the causal pose encoder); default: the preset's."
        ),
    ] = None,
    ablation: Annotated[
        list[str] | None,
        typer.Option(help="--preset: also run an ablation (no-stage2: stage 3 without stage 2)."),
    ] = None,
    progress: ProgressOpt = True,
) -> None:
    """Training stages (one loop, one config per stage), or every step at once with --preset."""
    if ctx.invoked_subcommand is not None:
        if preset is not None:
            _fail(ValueError("--preset runs every stage; give it without a subcommand"))
        return
    if preset is None or out is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0 if preset is None and out is None else 2)
    from livefit.train.pipeline import run_preset  # lazy: torch, transformers off --help

    try:
        _check_options(out, seed)
        steps = run_preset(preset, out, seed, progress, tuple(ablation or ()), vision)
    except (FileNotFoundError, ValueError, QEVDFormatError, ClipFormatError, VideoError) as err:
        _fail(err)
    total = sum(s["seconds"] for s in steps.values())
    typer.echo(f"done in {total / 60:.1f} min -> {out / 'report.md'}, coach in {out / 'coach'}")


def benchmark(
    out: Annotated[
        Path, typer.Option(help="Folder for predictions/, results/, table.*, timeline.*.")
    ],
    data: Annotated[
        Path | None, typer.Option(help="Data root holding QEVD-FIT-COACH[-Benchmark]/.")
    ] = None,
    models: Annotated[
        str,
        typer.Option(
            help="Comma-separated: silent, periodic, oracle-coach (built-in coaches), stream-vlm "
            "(the bundled coach), socratic:URL|PATH, turn:URL|PATH, or Stream-VLM folders; "
            "LABEL=SPEC names a row, SPEC@ROOT reads features from another data root."
        ),
    ] = "silent,periodic,stream-vlm",
    preset: Annotated[
        str | None,
        typer.Option(
            help="Instead of --data/--models: a benchmark preset (configs/benchmarks/, e.g. "
            "embedded) that trains the full coach, the paper's ablations and our Socratic LM, "
            "then benchmarks them all on the run's unseen test splits."
        ),
    ] = None,
    train_run: Annotated[
        Path | None,
        typer.Option(
            help="With --preset: a finished `livefit train --preset` run to start from "
            "(only read) instead of training one in OUT/train."
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="test (the benchmark) or train.")] = "test",
    bertscore: Annotated[
        bool, typer.Option(help="Also BERTScore (the local default model).")
    ] = False,
    figure_segments: Annotated[
        str | None,
        typer.Option(help="Comma-separated segment ids for the timeline (default: the first 2)."),
    ] = None,
    judge_url: Annotated[
        str | None, typer.Option(help="LLM-Acc: an OpenAI-compatible judge server.")
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="LLM-Acc: the model name sent to the judge server.")
    ] = None,
    judge_model_path: Annotated[
        Path | None, typer.Option(help="LLM-Acc: a local transformers judge model folder.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Several coaches on one split: a table like the paper's Table 4 and a timeline figure.

    Resumable: a rerun reuses every finished prediction and result (and, with --preset, every
    finished training step).
    """
    check_output_dir(out)
    if preset is not None:
        if data is not None:
            raise OptionError("--preset trains and benchmarks on its own data: leave --data out")
        from livefit.train.benchmark_preset import (  # lazy: torch, transformers off --help
            run_benchmark_preset,
        )

        judge = {
            "judge_url": judge_url,
            "judge_model": judge_model,
            "judge_model_path": str(judge_model_path) if judge_model_path else None,
        }
        run_benchmark_preset(preset, out, train_run, progress, judge)
        typer.echo((out / "table.md").read_text().rstrip())
        typer.echo(
            f"-> {out / 'table.md'}, {out / 'summary.json'}, and per split "
            f"{out}/<split>/table.*, timeline.*"
        )
        return
    if train_run is not None:
        raise OptionError("--train-run goes with --preset")
    if data is None:
        raise OptionError("give --data ROOT (and --models), or --preset NAME")
    from livefit.eval.benchmark import (  # lazy: torch, transformers off --help
        BenchmarkSettings,
        run_benchmark,
    )

    if judge_url is not None:
        if not valid_url(judge_url):
            raise OptionError(f"--judge-url {judge_url!r}: expected http://HOST[:PORT][/v1]")
    figure = [s.strip() for s in figure_segments.split(",")] if figure_segments else None
    settings = BenchmarkSettings(
        split=split,
        bertscore=bertscore,
        judge_url=judge_url,
        judge_model=judge_model,
        judge_model_path=str(judge_model_path) if judge_model_path else None,
    )
    run_benchmark(data, models.split(","), out, settings, figure, progress)
    typer.echo((out / "table.md").read_text().rstrip())
    typer.echo(
        f"-> {out / 'table.md'}, {out / 'table.csv'}, {out / 'table.json'}, "
        f"{out / 'timeline.png'}, {out / 'timeline.html'}"
    )


def register(groups: dict[str, typer.Typer]) -> None:
    groups["train"].callback(invoke_without_command=True)(preset_callback)
    groups["train"].command("vision")(vision)
    groups["train"].command("clips")(clips)
    groups["train"].command("long-range")(long_range)
    groups["train"].command("evaluate")(evaluate)
    groups["root"].command("benchmark")(benchmark)
