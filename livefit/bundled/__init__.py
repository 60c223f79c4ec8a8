"""The coach that ships inside the package: the result of ``livefit train --preset embedded``
(``coach/cnn``: the stage-1 causal CNN; ``coach/stream_vlm``: the Stream-VLM with its tokenizer;
``coach/MODEL_CARD.md``; ``coach/configs``). It is the default model wherever a command takes
``--model`` (``livefit features extract`` its CNN, ``livefit predict`` its language model), so
every command works offline the moment the package is installed.

Beside it, ``coach_pose``: the coach that sees body landmarks (``livefit train --preset embedded
--vision pose``; ``coach_pose/pose``: the causal pose encoder), the default of ``--vision pose``
in ``livefit demo``, ``coach`` and ``serve``. Its weights are stored in bfloat16
(``livefit.train.bundle``) to fit the package's size budget; they run in float32.
"""

from __future__ import annotations

from pathlib import Path

COACH_DIR = Path(__file__).resolve().parent / "coach"
POSE_COACH_DIR = Path(__file__).resolve().parent / "coach_pose"


def _path(part: str, root: Path = COACH_DIR) -> Path:
    path = root / part
    if not (path / "config.json").is_file():
        flag = " --vision pose" if root == POSE_COACH_DIR else ""
        raise FileNotFoundError(
            f"{path}: the bundled {'pose ' if flag else ''}coach is missing from this "
            f"installation; pass --model, or train one with `livefit train --preset embedded"
            f"{flag} --out RUN` and bundle it: `python -m livefit.train.bundle RUN/coach {root}`"
        )
    return path


def bundled_cnn() -> Path:
    """The bundled stage-1 CNN directory (``livefit.vision.weights.load_model`` reads it)."""
    return _path("cnn")


def bundled_model() -> Path:
    """The bundled Stream-VLM directory (``StreamVLM.from_pretrained`` reads it)."""
    return _path("stream_vlm")


def bundled_pose_encoder() -> Path:
    """The bundled pose coach's causal pose encoder (``livefit.vision.pose``)."""
    return _path("pose", POSE_COACH_DIR)


def bundled_pose_model() -> Path:
    """The bundled pose coach's Stream-VLM directory."""
    return _path("stream_vlm", POSE_COACH_DIR)


__all__ = [
    "COACH_DIR",
    "POSE_COACH_DIR",
    "bundled_cnn",
    "bundled_model",
    "bundled_pose_encoder",
    "bundled_pose_model",
]
