"""A local Hugging Face folder opened without ever running code from it.

Every folder livefit hands to ``transformers`` comes through here: the LM at a Stream-VLM's
``lm_path``, a saved Stream-VLM's ``lm/`` and tokenizer, and the chat, judge and turn-based
models. ``transformers`` alone would read the folder's JSON with no bound on its nesting, import
the folder's own Python for a model type it does not ship (``auto_map``; on a terminal it first
asks "Do you wish to run the custom code?"), and report failures in several lines or exception
types. Here a load:

- reads the folder's JSON files first with ``livefit.io.parse_json`` (size and nesting bounded);
- passes ``trust_remote_code=False`` (never the folder's code, no question asked) and
  ``local_files_only=True`` (nothing fetched);
- turns any failure into one ``ModelFolderError`` line naming the file: a folder that needs its
  own code, a pickled weights file holding more than tensors (``transformers`` reads pickles with
  ``torch.load(weights_only=True)``, which refuses them unrun), or anything else.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from livefit.io import JSONInputError, parse_json

T = TypeVar("T")

# The small JSON files of a model folder that transformers reads (tokenizer.json, the vocabulary,
# is parsed by the Rust ``tokenizers`` library, whose parser bounds nesting itself).
FOLDER_JSON = (
    "config.json",
    "generation_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "processor_config.json",
    "preprocessor_config.json",
)
MAX_JSON_BYTES = 16 * 2**20  # these files are KB; a tokenizer_config with its tokens, < 1 MB
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
SAFE_LOAD: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}


class ModelFolderError(ValueError):
    """A model folder that cannot be loaded; the one-line message names the folder or file."""


def read_folder_json(path: Path) -> Any:
    """One JSON file of a model folder, bounded; ``ModelFolderError`` naming it when unreadable."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
        return parse_json(raw, str(path), max_bytes=MAX_JSON_BYTES)
    except JSONInputError as err:
        raise ModelFolderError(str(err)) from None


def custom_code_files(folder: Path) -> list[Path]:
    """The folder's JSON files that name code of the folder's own (an ``auto_map``), after
    reading every one of them through ``read_folder_json``."""
    found = []
    for name in FOLDER_JSON:
        path = folder / name
        if path.is_file():
            data = read_folder_json(path)
            if isinstance(data, dict) and "auto_map" in data:
                found.append(path)
    return found


def _custom_code_error(path: Path) -> ModelFolderError:
    return ModelFolderError(
        f"{path}: asks to run Python code shipped in the model folder (auto_map); livefit never "
        "runs a folder's code: use a model whose architecture transformers ships"
    )


def _needs_custom_code(folder: Path) -> bool:
    """``config.json`` has an ``auto_map`` and a model type transformers does not ship."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    config = read_folder_json(folder / "config.json")
    return (
        isinstance(config, dict)
        and "auto_map" in config
        and config.get("model_type") not in CONFIG_MAPPING_NAMES
    )


def open_folder(folder: str | Path, what: str, load: Callable[[], T]) -> T:
    """``load()`` (a ``from_pretrained`` on ``folder`` given ``**SAFE_LOAD``), with the folder's
    JSON checked first and every failure one ``ModelFolderError`` line; ``what`` names the
    thing in messages ("language model", "tokenizer")."""
    folder = Path(folder)
    custom = custom_code_files(folder)
    if (folder / "config.json").is_file() and _needs_custom_code(folder):
        raise _custom_code_error(folder / "config.json")
    try:
        with warnings.catch_warnings():
            # torch warns about the protocol of a pickle it is about to refuse anyway
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return load()
    except Exception as err:  # transformers, torch and tokenizers raise many types; name the file
        if custom:
            raise _custom_code_error(custom[0]) from None
        if isinstance(err, pickle.UnpicklingError):
            pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
            raise ModelFolderError(
                f"{folder / (pickles[0] if pickles else '')}: a pickled weights file that holds "
                "more than tensors; refused without running it (use safetensors weights)"
            ) from None
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelFolderError(f"{folder}: cannot load the {what} ({first})") from None


__all__ = [
    "SAFE_LOAD",
    "ModelFolderError",
    "custom_code_files",
    "open_folder",
    "read_folder_json",
]
