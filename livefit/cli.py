"""The one ``livefit`` command line: subcommands map to typed functions in each stage.

Each stage owns a ``cli.py`` with a ``register(groups)`` function that adds its commands to the
groups below; this file only wires them together, so stage modules stay independent and heavy
imports (torch, transformers) happen inside the command bodies, not at start-up.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="livefit",
    help="Live fitness coaching: QEVD data, Stream-VLM, streaming engine, paper-exact evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
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
)

for _module in SUBCOMMAND_MODULES:
    importlib.import_module(_module).register(groups)


def main() -> None:
    app()
