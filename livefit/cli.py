"""The one ``livefit`` command line: subcommands map to typed functions in each stage.

Each stage owns a ``cli.py`` with a ``register(groups)`` function that adds its commands to the
groups below; this file only wires them together, so stage modules stay independent and heavy
imports (torch, transformers) happen inside the command bodies, not at start-up. As the
composition root it also imports ``livefit.baselines``, which registers the built-in
coaches (``silent``, ``periodic``, ...) in ``livefit.stream.coaches``.

It is also the one error path. An expected failure (bad input: a format error naming the file
and record, a bad option, an unreadable file) prints one ``error: ...`` line and exits 2; an
interrupt prints one line and exits 130; anything else is a bug: a short message that says how to
report it, exit 1, and the traceback only with ``livefit --debug`` (or ``LIVEFIT_DEBUG=1``).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

# The composition root registers the built-in coaches (silent, periodic, ...) that `predict` and
# `benchmark` look up in livefit.stream.coaches; light: no torch or transformers at import.
import livefit.baselines  # noqa: F401

# Re-exported for older imports: the option checks live in livefit.options, which the stage
# CLIs import (a stage CLI never imports this module, which imports every stage CLI).
from livefit.options import OptionError, check_count, check_seed, error_line  # noqa: F401

EXIT_INPUT = 2  # bad input or option: one "error:" line
EXIT_BUG = 1  # an unexpected exception
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT

# Errors whose message names the file, record or option at fault: "module:Class". They are
# looked up only in modules already imported (an error cannot come from a module never loaded).
EXPECTED_ERRORS = (
    "livefit.options:OptionError",
    "livefit.config:ConfigError",
    "livefit.io:OutputPathError",
    "livefit.io:JSONInputError",
    "livefit.model.hf_folder:ModelFolderError",
    "livefit.data.qevd:QEVDFormatError",
    "livefit.data.clips:ClipFormatError",
    "livefit.eval.predictions:PredictionsError",
    "livefit.eval.judge:JudgeError",
    "livefit.eval.bertscore:BERTScoreError",
    "livefit.eval.wordnet:WordNetMissingError",
    "livefit.synth.generate:SynthError",
    "livefit.synth.contact_sheet:ContactSheetError",
    "livefit.vision.errors:WeightsError",
    "livefit.vision.errors:DeviceError",
    "livefit.vision.preprocess:VideoError",
    "livefit.vision.extract:ExtractionError",
    "livefit.vision.pose_estimator:PoseEstimatorError",
    "livefit.data.landmarks:LandmarkError",
    "livefit.stream.coaches:PredictError",
    "livefit.eval.benchmark:BenchmarkError",
    "livefit.train.benchmark_preset:BenchmarkPresetError",
    "livefit.stream.live:LiveInputError",
    "livefit.app.camera:CameraError",
    "livefit.app.speech:SpeechError",
    "livefit.app.history:HistoryError",
    "livefit.app.plans:PlanError",
)
REPORT_HINT = (
    "Please report it with the command line and the traceback that `livefit --debug ...` prints."
)


def _expected_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [OSError]
    for entry in EXPECTED_ERRORS:
        module, name = entry.split(":")
        kind = getattr(sys.modules.get(module), name, None)
        if isinstance(kind, type) and issubclass(kind, BaseException):
            found.append(kind)
    return tuple(found)


def debug_enabled(ctx: Any = None) -> bool:
    if os.environ.get("LIVEFIT_DEBUG", "").strip() not in ("", "0"):
        return True
    return bool(ctx is not None and ctx.params.get("debug"))


class LivefitGroup(TyperGroup):
    """The root group: every command runs inside its ``invoke``, so every exception that a
    command lets through ends here, under ``main`` and under typer's test runner alike."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
            raise  # exits, aborts and usage errors keep typer's own behaviour
        except KeyboardInterrupt:
            typer.echo("livefit: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as err:
            if isinstance(err, _expected_types()) and not debug_enabled(ctx):
                typer.echo(error_line(err), err=True)
                raise typer.Exit(EXIT_INPUT) from None
            if debug_enabled(ctx):
                raise
            first = (str(err).splitlines() or [""])[0][:300]
            typer.echo(f"livefit crashed: {type(err).__name__}: {first}. {REPORT_HINT}", err=True)
            raise typer.Exit(EXIT_BUG) from None


app = typer.Typer(
    name="livefit",
    help="Live fitness coaching: QEVD data, Stream-VLM, streaming engine, paper-exact evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LivefitGroup,
)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="On an unexpected error, show the full traceback (also: LIVEFIT_DEBUG=1).",
        ),
    ] = False,
) -> None:
    """Live fitness coaching: QEVD data, Stream-VLM, streaming engine, paper-exact evaluation."""


groups: dict[str, typer.Typer] = {"root": app}
for _name, _help in {
    "data": "Read QEVD-format data and generate synthetic QEVD-SIM data.",
    "features": "Extract causal 3D-CNN features in the official QEVD layout.",
    "train": "Training stages (one loop, one config per stage), or all of them with --preset.",
}.items():
    groups[_name] = typer.Typer(help=_help, no_args_is_help=_name != "train")
    app.add_typer(groups[_name], name=_name)

# Stage modules that add commands; each exposes register(groups).
SUBCOMMAND_MODULES = (
    "livefit.data.cli",
    "livefit.synth.cli",
    "livefit.eval.cli",
    "livefit.vision.cli",
    "livefit.train.cli",
    "livefit.stream.cli",
    "livefit.app.cli",
    "livefit.app.serve_cli",
    "livefit.app.coach_cli",
    "livefit.app.history_cli",
)

for _module in SUBCOMMAND_MODULES:
    importlib.import_module(_module).register(groups)


def main() -> None:
    app(prog_name="livefit")
