"""Front ends as a type: what turns 16 fps frames into the feature steps the language model reads.

A front end is a model (an ``nn.Module`` with a frozen-dataclass ``config``) plus what the rest
of livefit asks of it, behind one base class:

- its step shape and rate (``feature_shape`` ``[C, h, w]``, ``steps_per_second``, ``fps``), which
  the coach's adapters must match;
- ``producer()``: the offline feature producer of ``livefit features extract`` (the settings that
  decide its bytes, and one video's features and step times);
- ``stream(bgr)``: one live stream's ``FrontStream`` (a captured frame -> the front end's input;
  each 16 fps frame -> a feature step when one ends; ``restart()`` after a gap);
- ``save_pretrained(folder)`` / ``load_front_end(folder)``: one folder layout for every type,
  ``model.safetensors`` + ``config.json``, the config holding ``"type"`` beside the fields of the
  type's config class.

The types are registered by name with ``register_front_end`` (the built-in ones, ``cnn``,
``per_frame`` and ``pose``, in ``livefit.vision.front_ends``); a folder's ``type`` picks its class,
so no code tells front ends apart by their config keys, and a new front end is one class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from torch import Tensor, nn

from livefit.config import MAX_CONFIG_BYTES, ConfigError, config_from_dict, config_to_dict
from livefit.io import JSONInputError, parse_json
from livefit.tensors import CONFIG_FILE, WEIGHTS_FILE, load_tensors, save_model_folder
from livefit.vision.errors import WeightsError

TYPE_KEY = "type"


@dataclass(frozen=True)
class FrontEndOptions:
    """How a loaded front end is run (not part of its folder)."""

    landmarks: str = "sidecar"
    """Pose: the landmarks of offline extraction, QEVD-SIM's sidecar or the pose estimator's."""
    noise: str | Path | None = None
    """Pose: a residual bank whose recorded estimator errors are added (training features)."""
    pose_models: str | Path | None = None
    """Pose: the pose estimator's models folder (live streams, ``landmarks="estimator"``)."""
    device: Any = "cpu"
    """torch device of offline extraction (a name or a ``torch.device``)."""


class Producer(Protocol):
    """What ``run_extraction`` asks of a front end."""

    def settings(self) -> dict[str, Any]:
        """Everything that decides the feature bytes (recorded in ``extraction.json``)."""
        ...

    def extract(self, job: Any) -> tuple[np.ndarray, np.ndarray]:
        """One video's features ``[N, C, h, w]`` and the capture time of each step's last frame."""
        ...


class FrontStream(Protocol):
    """One live stream through a front end."""

    def prepare(self, frame: np.ndarray, t: float) -> Tensor:
        """A captured uint8 ``[H, W, 3]`` frame at capture time ``t`` -> the front end's input."""
        ...

    def push(self, x: Tensor) -> Tensor | None:
        """One 16 fps frame's input -> a feature step ``[C, h, w]`` when one ends, else None."""
        ...

    def restart(self) -> None:
        """Start afresh (after a gap): the next frame warms the stream up as the first did."""
        ...


class FrontEnd:
    """A registered front end around its model (see the module docstring). Subclasses set
    ``type`` and ``config_class`` and implement ``build``, ``producer`` and ``stream``."""

    type: ClassVar[str]
    config_class: ClassVar[type]
    sees_body: ClassVar[bool] = False
    """Its streams find body landmarks (``body_points``): the live coach counts reps and checks
    the view, a viewer can draw the skeleton, and frames must show a person big enough."""

    def __init__(self, model: nn.Module, options: FrontEndOptions | None = None) -> None:
        problem = self.refuses(model.config)
        if problem:
            raise ValueError(f"not a {self.type} front end: {problem}")
        self.model = model.eval()
        self.options = options or FrontEndOptions()

    # -- what a type defines ------------------------------------------------------------------
    @classmethod
    def build(cls, config: Any) -> nn.Module:
        """The untrained model of ``config``."""
        raise NotImplementedError

    @classmethod
    def refuses(cls, config: Any) -> str | None:
        """Why ``config`` is not one of this type (None: it is)."""
        if not isinstance(config, cls.config_class):
            return f"its config is a {type(config).__name__}, not a {cls.config_class.__name__}"
        return None

    def producer(self) -> Producer:
        raise NotImplementedError

    def stream(self, bgr: bool = False) -> FrontStream:
        raise NotImplementedError

    def ready_live(self) -> None:
        """Load now what every live stream will need, so that a missing part fails at load."""

    @property
    def input_description(self) -> str:
        """What one frame becomes before the model (for a server's health report)."""
        return "frames"

    def body_points(self, x: Tensor) -> np.ndarray | None:
        """The body landmarks ``[33, 4]`` (pixels of the frame, visibility) in a stream's
        prepared input ``x`` (``FrontStream.prepare``), or None when this front end does not
        see them (the rep counter and the view check run on them)."""
        return None

    # -- shared --------------------------------------------------------------------------------
    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return tuple(self.config.feature_shape)  # type: ignore[return-value]

    @property
    def feature_dim(self) -> int:
        return self.feature_shape[0]

    @property
    def feature_tokens(self) -> int:
        return self.feature_shape[1] * self.feature_shape[2]

    @property
    def fps(self) -> int:
        return self.config.fps

    @property
    def steps_per_second(self) -> float:
        return self.config.steps_per_second

    def folder_config(self) -> dict[str, Any]:
        """The folder's ``config.json``: the type and the config's fields."""
        return {TYPE_KEY: self.type, **config_to_dict(self.config)}

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` + ``config.json`` (with ``type``), atomically."""
        return save_model_folder(folder, self.model.state_dict(), self.folder_config())


FRONT_ENDS: dict[str, type[FrontEnd]] = {}
"""The registered front-end types by name, in registration order."""


def register_front_end(cls: type[FrontEnd]) -> type[FrontEnd]:
    """Register a front-end class under its ``type`` (a class decorator). A name is one class."""
    name = getattr(cls, "type", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__name__}: a front end needs a non-empty `type` name")
    if not dataclasses.is_dataclass(getattr(cls, "config_class", None)):
        raise ValueError(f"{cls.__name__}: `config_class` must be a dataclass")
    taken = FRONT_ENDS.get(name)
    if taken is not None and taken is not cls:
        raise ValueError(f"front-end type {name!r} is already {taken.__name__}")
    FRONT_ENDS[name] = cls
    return cls


def front_end_class(name: str) -> type[FrontEnd]:
    """The class registered as ``name``; ``ValueError`` listing the known types."""
    if name not in FRONT_ENDS:
        known = ", ".join(sorted(FRONT_ENDS)) or "none"
        raise ValueError(f"unknown front-end type {name!r} (known: {known})")
    return FRONT_ENDS[name]


def front_end_of(model: nn.Module, options: FrontEndOptions | None = None) -> FrontEnd:
    """A model in memory -> its front end: the latest registered type that accepts its config."""
    for cls in reversed(FRONT_ENDS.values()):
        if cls.refuses(model.config) is None:
            return cls(model, options)
    raise ValueError(f"no registered front end takes a {type(model.config).__name__} model")


def _stream_vlm_hint(folder: Path) -> str:
    clues = [name for name in ("lm/", "tokenizer.json") if (folder / name.rstrip("/")).exists()]
    if not clues:
        return ""
    return (
        f"; this is a Stream-VLM (language model) folder ({', '.join(clues)} beside it), not a "
        "front end: pass the front end's folder (e.g. RUN/vision/cnn or the coach's cnn/)"
    )


def read_front_end_config(folder: str | Path) -> tuple[type[FrontEnd], Any]:
    """A front-end folder's class and config, from its ``config.json``; ``WeightsError``
    naming the file for anything wrong."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise WeightsError(f"{folder}: front-end folder is missing")
    if not path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise WeightsError(
            f"{folder}: expected {CONFIG_FILE} and {WEIGHTS_FILE} in this folder"
            + _stream_vlm_hint(folder)
        )
    try:
        with open(path, "rb") as f:
            data = parse_json(
                f.read(MAX_CONFIG_BYTES + 1),
                str(path),
                max_bytes=MAX_CONFIG_BYTES,
                unique_keys=True,
            )
    except JSONInputError as err:
        raise WeightsError(str(err)) from None
    if not isinstance(data, dict) or not isinstance(data.get(TYPE_KEY), str):
        known = " | ".join(f'"{name}"' for name in FRONT_ENDS)
        raise WeightsError(
            f'{path}: no front-end "type" ({known}); a folder written before front-end types '
            f'needs one added, e.g. "type": "cnn"' + _stream_vlm_hint(folder)
        )
    fields = dict(data)
    name = fields.pop(TYPE_KEY)
    try:
        cls = front_end_class(name)
    except ValueError as err:
        raise WeightsError(f"{path}: {err}") from None
    try:
        config = config_from_dict(cls.config_class, fields, str(path))
    except (ConfigError, ValueError) as err:  # the message names the file already
        raise WeightsError(str(err)) from None
    problem = cls.refuses(config)
    if problem:
        raise WeightsError(f"{path}: not a {name} front end: {problem}")
    return cls, config


def load_front_end(
    folder: str | Path, options: FrontEndOptions | None = None, expect: str | None = None
) -> FrontEnd:
    """The front end saved in ``folder`` (any registered type), in eval mode. ``expect``: the
    type it must be (``WeightsError`` otherwise)."""
    folder = Path(folder)
    cls, config = read_front_end_config(folder)
    if expect is not None and cls.type != expect:
        raise WeightsError(f"{folder}: a {cls.type} front end, not a {expect} one")
    model = cls.build(config)
    try:
        model.load_state_dict(load_tensors(folder / WEIGHTS_FILE))
    except (RuntimeError, ValueError) as err:  # shapes that do not fit, an unreadable file
        raise WeightsError(f"{folder / WEIGHTS_FILE}: does not fit its config ({err})") from None
    return cls(model, options)


__all__ = [
    "FRONT_ENDS",
    "FrontEnd",
    "FrontEndOptions",
    "FrontStream",
    "Producer",
    "front_end_class",
    "front_end_of",
    "load_front_end",
    "read_front_end_config",
    "register_front_end",
]
