"""``livefit evaluate``: score a predictions file on QEVD-FIT-COACH, paper-exact by default."""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from livefit.data.qevd import QEVDFormatError
from livefit.eval.bertscore import BERTScoreConfig, BERTScoreError
from livefit.eval.evaluate import EvalConfig
from livefit.eval.evaluate import evaluate as run
from livefit.eval.judge import JudgeConfig, JudgeError, valid_url
from livefit.eval.predictions import PredictionsError
from livefit.eval.report import render_table, summary_lines, write_results
from livefit.eval.wordnet import WordNetMissingError
from livefit.io import check_output_dir
from livefit.options import OptionError, finite

_JUDGE = "LLM-Acc judge"
_BERT = "BERTScore"


def evaluate(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="Data root holding QEVD-FIT-COACH[-Benchmark]/.")],
    predictions: Annotated[
        Path, typer.Option(help='JSONL: {"segment_id", "feedbacks": [{"time", "text"}]} per line.')
    ],
    out: Annotated[Path, typer.Option(help="Folder for results_<time>.json, samples_*.jsonl.")],
    split: Annotated[str, typer.Option(help="test (the benchmark) or train.")] = "test",
    mode: Annotated[str, typer.Option(help="single_exercise (benchmark) or full_workout.")] = (
        "single_exercise"
    ),
    matching: Annotated[
        str,
        typer.Option(
            help="paper (default, the reference rule) or optimal (extra; adds *_optimal)."
        ),
    ] = "paper",
    tolerance: Annotated[
        float,
        typer.Option(
            help="Window in s; a match needs |dt| < tolerance/2 (paper: 3.0).",
            callback=finite(above=0, at_most=1e6),
        ),
    ] = 3.0,
    bertscore: Annotated[
        bool,
        typer.Option(
            "--bertscore", help="BERTScore with the default model.", rich_help_panel=_BERT
        ),
    ] = False,
    bertscore_model: Annotated[
        str | None,
        typer.Option(help="Local model dir, 'default' or 'none'.", rich_help_panel=_BERT),
    ] = None,
    bertscore_layer: Annotated[
        int | None, typer.Option(help="Hidden layer (default model: 6).", rich_help_panel=_BERT)
    ] = None,
    bertscore_batch_size: Annotated[int, typer.Option(rich_help_panel=_BERT)] = 64,
    judge_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible server (vLLM, llama.cpp).", rich_help_panel=_JUDGE),
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="Model name sent to the server.", rich_help_panel=_JUDGE)
    ] = None,
    judge_model_path: Annotated[
        str | None, typer.Option(help="Or: a local transformers model dir.", rich_help_panel=_JUDGE)
    ] = None,
    judge_temperature: Annotated[
        float,
        typer.Option(
            help="Paper: 0.6.", rich_help_panel=_JUDGE, callback=finite(at_least=0, at_most=1e6)
        ),
    ] = 0.6,
    judge_top_p: Annotated[
        float,
        typer.Option(
            help="Paper: 0.9.", rich_help_panel=_JUDGE, callback=finite(above=0, at_most=1)
        ),
    ] = 0.9,
    judge_top_k: Annotated[
        int,
        typer.Option(help="Reference: 50 (transformers' default); 0: off.", rich_help_panel=_JUDGE),
    ] = 50,
    judge_max_new_tokens: Annotated[
        int, typer.Option(help="Paper: 64.", rich_help_panel=_JUDGE)
    ] = 64,
    judge_seed: Annotated[
        int | None,
        typer.Option(help="Base seed; per pair seeds derive from it.", rich_help_panel=_JUDGE),
    ] = 0,
    judge_concurrency: Annotated[
        int, typer.Option(help="Parallel HTTP requests.", rich_help_panel=_JUDGE)
    ] = 4,
    judge_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds per HTTP request.",
            rich_help_panel=_JUDGE,
            callback=finite(above=0, at_most=1e6),
        ),
    ] = 120.0,
    judge_retries: Annotated[
        int, typer.Option(help="Retries per pair (408/429/5xx, network).", rich_help_panel=_JUDGE)
    ] = 4,
    judge_backoff: Annotated[
        float,
        typer.Option(
            help="First retry wait in s, doubling.",
            rich_help_panel=_JUDGE,
            callback=finite(at_least=0, at_most=1e6),
        ),
    ] = 1.0,
) -> None:
    """Score PREDICTIONS on a split: temporal F-score, METEOR, ROUGE-L (+ BERTScore, LLM-Acc)."""
    from rich.console import Console

    check_options(ctx.params)
    started = datetime.now(UTC)
    command = command_line(ctx.params)
    model = bertscore_model
    if model is not None and model.lower() == "none":
        model = None
    elif model is None and bertscore:
        model = "default"
    try:
        config = EvalConfig(
            split=split,
            mode=mode,
            matching=matching,
            tolerance=tolerance,
            bertscore=BERTScoreConfig(model, bertscore_layer, bertscore_batch_size),
            judge=judge_config(ctx.params),  # the --judge-* options, one per field
        )
        evaluation = run(
            data, predictions, config, judge_cache=out / "judge_cache.jsonl", show_progress=True
        )
        results_path, samples_path = write_results(
            evaluation, out, data, predictions, command, started
        )
    except (
        QEVDFormatError,
        PredictionsError,
        BERTScoreError,
        JudgeError,
        WordNetMissingError,
        ValueError,
    ) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    console = Console()
    if not console.is_terminal:  # a log file or pipe: do not squeeze the table into 80 columns
        console = Console(width=120)
    title = f"QEVD-FIT-COACH {split} ({mode}), paper protocol"
    console.print(render_table(evaluation, predictions.stem, title))
    for line in summary_lines(evaluation):
        console.print(line, highlight=False, markup=False)
    console.print(f"results: {results_path}\nsamples: {samples_path}", highlight=False)


def judge_option(field: str) -> str:
    """The ``evaluate`` parameter of a ``JudgeConfig`` field: ``judge_`` and the field's name
    without its unit (``top_p`` -> ``--judge-top-p``, ``timeout_s`` -> ``--judge-timeout``)."""
    return "judge_" + field.removesuffix("_s")


def judge_config(params: dict) -> JudgeConfig:
    """The ``JudgeConfig`` of the ``--judge-*`` options, one per field (``judge_option``)."""
    return JudgeConfig(**{f.name: params[judge_option(f.name)] for f in fields(JudgeConfig)})


def _check_number(
    params: dict, name: str, low: float, high: float = math.inf, low_open: bool = False
) -> None:
    value = params.get(name)
    if value is None:
        return
    option = "--" + name.replace("_", "-")
    above = value > low if low_open else value >= low
    if not (math.isfinite(value) and above and value <= high):
        bound = f"{'above' if low_open else 'at least'} {low:g}"
        upper = f" and at most {high:g}" if high != math.inf else ""
        raise OptionError(f"{option} must be {bound}{upper}, got {value}")


def check_options(params: dict) -> None:
    """Values the evaluator cannot use are refused before anything is read or written (the
    float options already were, as they were parsed: ``livefit.options.finite``)."""
    _check_number(params, "bertscore_batch_size", 1)
    _check_number(params, "judge_top_k", 0)
    _check_number(params, "judge_max_new_tokens", 1)
    _check_number(params, "judge_seed", 0)
    _check_number(params, "judge_concurrency", 1)
    _check_number(params, "judge_retries", 0)
    url = params.get("judge_url")
    if url is not None:
        if not valid_url(url):
            raise OptionError(f"--judge-url {url!r}: expected http://HOST[:PORT][/v1]")
    check_output_dir(params["out"])


def command_line(params: dict) -> list[str]:
    """The equivalent ``livefit evaluate`` command with every option spelled out."""
    argv = ["livefit", "evaluate"]
    for name, value in params.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def register(groups: dict[str, typer.Typer]) -> None:
    groups["root"].command("evaluate")(evaluate)
