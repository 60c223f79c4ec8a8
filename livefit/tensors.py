"""Model weights on disk: the one writer and reader of safetensors files and model folders.

Every artefact livefit writes with weights (a front end, an activity head, a Stream-VLM, a
training checkpoint, a bundled coach) goes through ``save_tensors``: CPU, contiguous, written
atomically (a crash leaves the old file or none, never half of one). ``save_model_folder`` is
``save_tensors`` plus the folder's ``config.json`` beside it, the ``save_pretrained`` layout.
``load_tensors`` reads one back with an error that names the file; safetensors holds tensors
only, so reading runs no code from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from livefit.io import atomic_write, atomic_write_text

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def save_tensors(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Write ``tensors`` (any device, any layout) to the safetensors file ``path``, atomically."""
    cpu = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    blob = save(cpu, metadata=metadata)
    atomic_write(path, lambda f: f.write(blob))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; ``ValueError`` naming it when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file is missing")
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"{path}: unreadable safetensors file ({err})") from None


def save_model_folder(
    folder: str | Path,
    tensors: dict[str, torch.Tensor],
    config: dict[str, Any],
    metadata: dict[str, str] | None = None,
) -> Path:
    """A ``save_pretrained`` folder: ``model.safetensors`` and ``config.json`` (indented JSON),
    each written atomically. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(folder / WEIGHTS_FILE, tensors, metadata)
    atomic_write_text(folder / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return folder


__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "load_tensors", "save_model_folder", "save_tensors"]
