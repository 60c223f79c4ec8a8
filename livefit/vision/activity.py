"""What the person is doing, read off the causal CNN's feature steps by its stage-1 classifier.

Stage 1 trains ``FrameClassifier`` = backbone -> ReLU6 -> spatial mean -> Linear over the
fine-grained classes ("squats - good form", "squats - shallow", ...). The backbone is what the
language model reads; the Linear is the *activity head*, saved beside it in the CNN folder
(``activity_head.safetensors`` + ``activity_labels.json``). The live app uses it to name the
exercise on screen and, with no workout plan, to pick the exercise the coach's prompt names.

``head = ActivityHead.from_pretrained(cnn_dir)``; ``head.exercise_probs(feature)`` ->
``{exercise: probability}`` (an exercise's probability is the sum of its fine classes').
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livefit.data.labels import split_fine_label
from livefit.io import atomic_write_json, parse_json
from livefit.tensors import load_tensors, save_tensors

HEAD_FILE = "activity_head.safetensors"
LABELS_FILE = "activity_labels.json"


def exercise_of(fine: str) -> str:
    """``"squats - shallow"`` -> ``"squats"``."""
    return split_fine_label(fine)[0]


class ActivityHead(nn.Module):
    """The stage-1 Linear over the fine-grained classes, applied to one feature step."""

    def __init__(self, channels: int, fine_grained: list[str]) -> None:
        super().__init__()
        self.fine_grained = list(fine_grained)
        self.exercises = list(dict.fromkeys(exercise_of(f) for f in self.fine_grained))
        index = {name: i for i, name in enumerate(self.exercises)}
        groups = torch.zeros(len(self.exercises), len(self.fine_grained))
        for j, fine in enumerate(self.fine_grained):
            groups[index[exercise_of(fine)], j] = 1.0
        self.register_buffer("groups", groups, persistent=False)  # [E, K] fine -> exercise
        self.linear = nn.Linear(channels, len(self.fine_grained))

    @torch.no_grad()
    def forward(self, feature: Tensor) -> Tensor:
        """Feature steps ``[..., C, h, w]`` -> fine-grained class probabilities ``[..., K]``."""
        pooled = F.relu6(feature.float()).mean(dim=(-2, -1))  # as FrameClassifier
        return torch.softmax(self.linear(pooled), dim=-1)

    def exercise_distribution(self, feature: Tensor) -> Tensor:
        """``[..., C, h, w]`` -> exercise probabilities ``[..., E]`` (order: ``exercises``)."""
        return self(feature) @ self.groups.T

    def exercise_probs(self, feature: Tensor) -> dict[str, float]:
        """One step ``[C, h, w]`` -> ``{exercise: probability}``."""
        probs = self.exercise_distribution(feature).tolist()
        return dict(zip(self.exercises, probs, strict=True))

    # -- files ---------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> None:
        """Write the head and its labels into a CNN folder, atomically."""
        directory = Path(directory)
        save_tensors(directory / HEAD_FILE, self.linear.state_dict())
        atomic_write_json(directory / LABELS_FILE, {"fine_grained": self.fine_grained})

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ActivityHead:
        """The head saved in a CNN folder; ``FileNotFoundError`` names what is missing."""
        directory = Path(directory)
        for name in (HEAD_FILE, LABELS_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(
                    f"{directory / name}: this CNN has no activity head (stage 1 writes one; "
                    "without it the live coach needs a fixed --exercise)"
                )
        try:
            labels = directory / LABELS_FILE
            fine = parse_json(labels.read_bytes(), str(labels))["fine_grained"]
            state = load_tensors(directory / HEAD_FILE)
            head = cls(state["weight"].shape[1], fine)
            head.linear.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"{directory / HEAD_FILE}: not a valid activity head ({err})"
            ) from None
        return head.eval()

    @classmethod
    def from_classifier(cls, linear: nn.Linear, fine_grained: list[str]) -> ActivityHead:
        """The head of a trained ``FrameClassifier`` (its ``head[1]``)."""
        head = cls(linear.in_features, fine_grained)
        head.linear.load_state_dict(linear.state_dict())
        return head.eval()


__all__ = ["HEAD_FILE", "LABELS_FILE", "ActivityHead", "exercise_of"]
