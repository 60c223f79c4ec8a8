"""The built-in front ends, registered in one place (``livefit.vision.front_end`` has the base
class, the registry and the folder format):

- ``cnn``: the causal 3D CNN (``livefit.vision.cnn``) on the paper's preprocessed RGB frames;
- ``per_frame``: the "w/o 3D CNN" ablation's 2D encoder, the same network with no temporal taps
  that encodes one frame in ``frame_stride`` on its own (``livefit.train.variants``);
- ``pose``: the causal pose encoder (``livefit.vision.pose``) on 33 body landmarks per frame, the
  pose estimator's (``livefit.vision.pose_estimator``) live, the sidecar's or the estimator's
  offline (``FrontEndOptions.landmarks``).

Import this module (not only ``front_end``) before loading a folder, so that these types are
known; the registry's functions are re-exported here for that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from livefit.vision.cnn import CausalCNN, CNNConfig, CNNStream
from livefit.vision.cnn_extract import CNNProducer
from livefit.vision.front_end import (
    FRONT_ENDS,
    FrontEnd,
    FrontEndOptions,
    Producer,
    front_end_of,
    load_front_end,
    read_front_end_config,
    register_front_end,
)
from livefit.vision.pose import PoseEncoder, PoseEncoderConfig, PoseStream
from livefit.vision.pose_estimator import PoseEstimator
from livefit.vision.pose_extract import PoseProducer
from livefit.vision.pose_residuals import ResidualBank
from livefit.vision.preprocess import PreprocessConfig, crop_and_resize


def save_front_end(model: nn.Module, folder: str | Path) -> Path:
    """Save a front end's model as its registered type's folder (``FrontEnd.save_pretrained``)."""
    return front_end_of(model).save_pretrained(folder)


class CNNFrontStream:
    """A live stream through the CNN: frames cropped and resized as offline, then ``CNNStream``
    (the first frame warms it up)."""

    def __init__(self, model: CausalCNN, bgr: bool = False) -> None:
        c = model.config
        self.model, self.bgr = model, bgr
        self.preprocess = PreprocessConfig(height=c.input_height, width=c.input_width)
        self.restart()

    def prepare(self, frame: np.ndarray, t: float) -> Tensor:
        return torch.from_numpy(crop_and_resize(frame, self.preprocess, self.bgr))

    def push(self, x: Tensor) -> Tensor | None:
        return self.stream.push(x)

    def restart(self) -> None:
        self.stream = CNNStream(self.model)


class PoseFrontStream:
    """A live stream through the pose encoder: the frame's landmarks ``[33, 4]`` from this
    stream's own pose estimator (it tracks the person from frame to frame), then ``PoseStream``."""

    def __init__(self, encoder: PoseEncoder, estimator: Any, bgr: bool = False) -> None:
        self.encoder, self.estimator, self.bgr = encoder, estimator, bgr
        self.restart()

    def prepare(self, frame: np.ndarray, t: float) -> Tensor:
        points = self.estimator.estimate(np.ascontiguousarray(frame), t, bgr=self.bgr)
        return torch.from_numpy(points)

    def push(self, x: Tensor) -> Tensor | None:
        return self.stream.push(x)

    def restart(self) -> None:
        """A fresh encoder window; the estimator keeps tracking (as before the gap)."""
        self.stream = PoseStream(self.encoder)


@register_front_end
class CNNFrontEnd(FrontEnd):
    """The causal 3D CNN."""

    type = "cnn"
    config_class = CNNConfig
    per_frame: ClassVar[bool] = False

    @classmethod
    def build(cls, config: CNNConfig) -> nn.Module:
        return CausalCNN(config)

    @classmethod
    def refuses(cls, config: Any) -> str | None:
        problem = super().refuses(config)
        if problem is None and (config.frame_stride > 1) != cls.per_frame:
            kind = "encodes every frame (type cnn)" if cls.per_frame else "is a per_frame encoder"
            return f"with frame_stride {config.frame_stride} it {kind}"
        return problem

    def producer(self) -> Producer:
        if self.options.noise is not None:
            raise ValueError("landmark noise needs a pose encoder, not a CNN")
        return CNNProducer(self.model.to(self.options.device))

    def stream(self, bgr: bool = False) -> CNNFrontStream:
        return CNNFrontStream(self.model, bgr)

    @property
    def input_description(self) -> str:
        return f"{self.config.input_width}x{self.config.input_height} RGB"


@register_front_end
class PerFrameFrontEnd(CNNFrontEnd):
    """The ablation's per-frame 2D encoder: a ``CausalCNN`` without temporal taps that encodes
    one frame in ``frame_stride``."""

    type = "per_frame"
    per_frame = True


@register_front_end
class PoseFrontEnd(FrontEnd):
    """The causal pose encoder on body landmarks."""

    type = "pose"
    config_class = PoseEncoderConfig
    sees_body = True

    @classmethod
    def build(cls, config: PoseEncoderConfig) -> nn.Module:
        return PoseEncoder(config)

    def producer(self) -> Producer:
        o = self.options
        bank = ResidualBank.load(o.noise) if o.noise is not None else None
        estimator = PoseEstimator.load(o.pose_models) if o.landmarks == "estimator" else None
        return PoseProducer(self.model, o.landmarks, estimator, noise=bank)

    def ready_live(self) -> None:
        PoseEstimator.load(self.options.pose_models)  # fail now, naming what is missing

    @property
    def input_description(self) -> str:
        return "33 body landmarks (MediaPipe Pose)"

    def body_points(self, x: Tensor) -> np.ndarray:
        return x.numpy()

    def stream(self, bgr: bool = False) -> PoseFrontStream:
        return PoseFrontStream(self.model, PoseEstimator.load(self.options.pose_models), bgr)


__all__ = [
    "FRONT_ENDS",
    "CNNFrontEnd",
    "CNNFrontStream",
    "FrontEndOptions",
    "PerFrameFrontEnd",
    "PoseFrontEnd",
    "PoseFrontStream",
    "front_end_of",
    "load_front_end",
    "read_front_end_config",
    "save_front_end",
]
