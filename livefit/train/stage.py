"""What every training stage shares around ``livefit.train.loop.fit``: the run folder's config
(written once; a resume with another config is refused, naming the fields that differ), timing,
``summary.json``, and the command-line options of ``livefit train <stage>``.

Stage modules (``vision_stage`` for stage 1, ``coach_stage`` for stages 2 and 3) only define
their config and their ``Task``; ``run_stage`` does the rest the same way for all of them.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from livefit.config import config_to_dict, save_config
from livefit.io import atomic_write_json
from livefit.provenance import changed_settings, describe_changes, flatten_settings
from livefit.train.checkpoint import CONFIG_FILE, latest_checkpoint
from livefit.train.loop import Task, fit

SUMMARY_FILE = "summary.json"
# Fields a resume may change: how long to train and how often to report or save, and how many
# loader workers fetch the items (every random draw is a function of (seed, epoch, index), so
# the result does not depend on them); not what is trained or how (a cosine schedule follows the
# new length from where it stands). Progress bars and thread counts are options, not config.
RESUMABLE_CHANGES = (
    "loop.epochs",
    "loop.max_steps",
    "loop.eval_every",
    "loop.save_every",
    "loop.save_every_steps",
    "loop.keep_checkpoints",
    "loop.log_every",
    "loop.num_workers",
)


def config_differences(before: dict, after: dict) -> list[str]:
    """Dotted names of the fields whose values differ between two config dicts."""
    return changed_settings(before, after)


def with_seed(config: Any, seed: int | None) -> Any:
    """The config with ``loop.seed`` replaced (when ``seed`` is given)."""
    if seed is None:
        return config
    return replace(config, loop=replace(config.loop, seed=seed))


def _defaults(config: Any) -> dict[str, Any]:
    """The config class's defaults (what a field added since a run started counts as), or
    nothing when the class has required fields."""
    try:
        return config_to_dict(type(config)())
    except TypeError:
        return {}


def check_resume_config(config: Any, saved: Path) -> None:
    """Refuse to resume the run whose config is ``saved`` with another ``config``, naming every
    field that differs and its two values (``RESUMABLE_CHANGES`` may differ)."""
    try:
        stored = json.loads(Path(saved).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{saved}: cannot be read to check the resume ({err})") from None
    if not isinstance(stored, dict):
        raise ValueError(f"{saved}: is not a config (a JSON object); use a new --out")
    now = config_to_dict(config)
    names = changed_settings(stored, now, _defaults(config))
    names = [name for name in names if name not in RESUMABLE_CHANGES]
    if names:
        defaults = flatten_settings(_defaults(config))
        before = {**defaults, **flatten_settings(stored)}
        raise ValueError(
            f"{saved}: the run was started with other settings "
            f"({describe_changes(before, flatten_settings(now), names)}); "
            "use a new --out or the same config"
        )


def prepare_run(config: Any, out: Path, resume: bool) -> None:
    """Write ``out/config.json``; on resume, refuse a config other than the one saved there
    (except ``RESUMABLE_CHANGES``: a longer run, other reporting)."""
    out = Path(out)
    saved = out / CONFIG_FILE
    if resume:
        ckpt = latest_checkpoint(out)
        stored = saved if saved.is_file() else ckpt / CONFIG_FILE if ckpt is not None else None
        if stored is not None:
            check_resume_config(config, stored)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, saved)


def run_stage(task: Task, config: Any, out: Path, resume: bool, progress: bool) -> dict[str, Any]:
    """Train ``task`` with ``config.loop`` / ``config.optim`` into ``out``; write and return the
    summary (steps, epochs, wall and CPU seconds, the final validation metrics)."""
    prepare_run(config, out, resume)
    start, cpu_start = time.time(), time.process_time()
    result = fit(task, config.loop, config.optim, out, config, resume=resume, progress=progress)
    summary = {
        "steps": result.step,
        "epochs": result.epoch,
        "wall_seconds": round(time.time() - start, 1),
        # CPU time of this process (all its threads): what the run costs on a box it shares.
        "cpu_seconds": round(time.process_time() - cpu_start, 1),
        "train_seconds": round(result.seconds, 1),
        "metrics": result.metrics,
    }
    atomic_write_json(Path(out) / SUMMARY_FILE, summary)
    return summary


__all__ = [
    "CONFIG_FILE",
    "RESUMABLE_CHANGES",
    "SUMMARY_FILE",
    "check_resume_config",
    "config_differences",
    "prepare_run",
    "run_stage",
    "with_seed",
]
