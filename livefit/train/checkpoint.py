"""Training checkpoints: safetensors weights + JSON config, saved atomically, found for resume.

Used by ``livefit.train.loop`` (every stage). A checkpoint is a folder

    <run>/checkpoints/step-000120/
        model.safetensors        what training changes: the (unwrapped) model's trainable
                                 parameters and its buffers (frozen weights are rebuilt)
        config.json              the stage's full run config (``livefit.config.save_config``)
        hyperparameters.json     the same config flattened + step, epoch, library versions
        trainer_state.pt         optimizer, scheduler, EMA, grad scaler, every RNG, step, epoch,
                                 position in the epoch, metrics lines (tensors and numbers only,
                                 so it loads with ``weights_only=True``)

written into a temporary folder and renamed into place, then ``<run>/checkpoints/latest.json``
is rewritten atomically to point at it: a crash never leaves a half checkpoint that resume picks.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from livefit.config import config_to_dict, save_config
from livefit.io import atomic_write_json, atomic_write_text
from livefit.provenance import flatten_settings, library_versions
from livefit.tensors import load_tensors, save_tensors

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
HPARAMS_FILE = "hyperparameters.json"
STATE_FILE = "trainer_state.pt"
LATEST_FILE = "latest.json"
TRAINING_LIBRARIES = ("livefit", "torch", "accelerate", "safetensors", "transformers", "peft")


def trainable_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """The part of ``state`` (default: ``model.state_dict()``) that training changes: trainable
    parameters and persistent buffers (batch-norm statistics, calibrations). Frozen weights are
    left out: the task rebuilds them (from its init or its base model) on resume."""
    state = model.state_dict() if state is None else state
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    return {k: v for k, v in state.items() if k not in frozen}


def save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    save_tensors(path, state)


def _log_records(path: Path) -> list[str]:
    """The complete lines of a ``metrics.jsonl`` (a torn last line, or any line that is not
    JSON, is left out), each ending in a newline."""
    kept = []
    for line in path.read_text().splitlines(keepends=True):
        try:
            json.loads(line)
        except ValueError:
            continue
        kept.append(line if line.endswith("\n") else line + "\n")
    return kept


def count_log_lines(path: Path) -> int:
    """How many complete records a ``metrics.jsonl`` holds (0 when there is none)."""
    return len(_log_records(path)) if path.is_file() else 0


def truncate_log(path: Path, step: int, lines: int | None = None) -> None:
    """Cut a ``metrics.jsonl`` back to what it held when the checkpoint of ``step`` was saved,
    so a resumed run does not log the killed run's later records twice: its first ``lines``
    records (the count the checkpoint recorded), or, for checkpoints that predate the count,
    the records of steps up to ``step``. Rewritten atomically (a crash leaves the old or the new
    log, never half of one)."""
    if not path.is_file():
        return

    records = _log_records(path)
    if lines is not None:
        kept = records[:lines]
    else:
        kept = [r for r in records if json.loads(r).get("step", 0) <= step]
    if "".join(kept) != path.read_text():
        atomic_write_text(path, "".join(kept))


def save_checkpoint(
    run_dir: Path,
    name: str,
    state: dict[str, torch.Tensor],
    run_config: Any,
    trainer_state: dict[str, Any],
) -> Path:
    """Write checkpoint ``name`` atomically and point ``latest.json`` at it."""
    root = Path(run_dir) / "checkpoints"
    final = root / name
    tmp = root / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_weights(state, tmp / MODEL_FILE)
    save_config(run_config, tmp / CONFIG_FILE)
    info = {k: v for k, v in trainer_state.items() if isinstance(v, (int, float, str))}
    versions = library_versions(TRAINING_LIBRARIES)
    hparams = {**flatten_settings(config_to_dict(run_config)), **info, "versions": versions}
    atomic_write_json(tmp / HPARAMS_FILE, hparams)
    torch.save(trainer_state, tmp / STATE_FILE)
    # Rewriting a name keeps the old folder whole until the new one is in place.
    old = root / f".{name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    atomic_write_json(root / LATEST_FILE, {"checkpoint": name, **info})
    if old.exists():
        shutil.rmtree(old)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The folder ``latest.json`` points at, or None for a fresh run."""
    pointer = Path(run_dir) / "checkpoints" / LATEST_FILE
    if not pointer.is_file():
        return None
    path = pointer.parent / json.loads(pointer.read_text())["checkpoint"]
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"{pointer}: points at {path}, which has no {STATE_FILE}")
    return path


def load_checkpoint(path: Path, model: nn.Module) -> dict[str, Any]:
    """Load weights into ``model``; return the trainer state (optimizer etc.). The file holds
    what ``trainable_state_dict`` wrote: every trainable tensor must be there."""
    result = model.load_state_dict(load_tensors(path / MODEL_FILE), strict=False)
    trainable = set(trainable_state_dict(model))
    missing = sorted(set(result.missing_keys) & trainable)
    if result.unexpected_keys or missing:
        raise ValueError(
            f"{path / MODEL_FILE}: does not fit the model (missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}); resume with the run's own config"
        )
    return torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints (``latest`` always survives)."""
    root = Path(run_dir) / "checkpoints"
    steps = sorted(p for p in root.glob("step-*") if p.is_dir())
    latest = latest_checkpoint(run_dir)
    for path in steps[: max(0, len(steps) - keep)]:
        if path != latest:
            shutil.rmtree(path)
