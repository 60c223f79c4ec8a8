"""The coach that ships inside the package: the result of ``livefit train --preset embedded``
(``coach/cnn``: the stage-1 causal CNN; ``coach/stream_vlm``: the Stream-VLM with its tokenizer;
``coach/MODEL_CARD.md``; ``coach/configs``). It is the default model wherever a command takes
``--model`` (``livefit features extract`` its CNN, ``livefit predict`` its language model), so
every command works offline the moment the package is installed.
"""

from __future__ import annotations

from pathlib import Path

COACH_DIR = Path(__file__).resolve().parent / "coach"


def _path(part: str) -> Path:
    path = COACH_DIR / part
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path}: the bundled coach is missing from this installation; "
            "pass --model, or train one with `livefit train --preset embedded --out RUN` "
            "and copy RUN/coach to livefit/bundled/coach"
        )
    return path


def bundled_cnn() -> Path:
    """The bundled stage-1 CNN directory (``livefit.vision.weights.load_model`` reads it)."""
    return _path("cnn")


def bundled_model() -> Path:
    """The bundled Stream-VLM directory (``StreamVLM.from_pretrained`` reads it)."""
    return _path("stream_vlm")


__all__ = ["COACH_DIR", "bundled_cnn", "bundled_model"]
