"""Importer for the published causal 3D CNN weights (Sense's StridedInflatedEfficientNet).

Sits beside ``livefit.vision.cnn``: a foreign ``.ckpt``/``.pt`` state dict -> our ``CausalCNN`` (and
the stage-1 classifier head). The published file (shared/spec/stream-vlm.md) is a pickle of the
classifier net ``Sequential(cnn, spatial mean, Sequential(Dropout, Linear(1280, 3031)))``, keys
possibly prefixed ``module.``; inside the CNN, ``cnn.<block>.0.weight`` for the plain convs and
``cnn.<block>.conv.<i>[.0].weight|bias`` inside IR blocks. Our module tree uses those names, so
keys match by name; keys named otherwise fall back to position and shape (as the reference
does). Missing and unexpected keys are reported, never silently dropped. Loaded with
``torch.load(weights_only=True)``: no code in the file is run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from livefit.vision.cnn import CausalCNN, CNNConfig, FrameClassifier
from livefit.vision.errors import DeviceError, WeightsError  # raised here, defined torch-free
from livefit.vision.front_ends import CNNFrontEnd, load_front_end


@dataclass
class ImportReport:
    """What the importer did with each key."""

    by_name: list[str] = field(default_factory=list)  # target keys matched by name and shape
    by_position: list[tuple[str, str]] = field(default_factory=list)  # (source, target) pairs
    missing: list[str] = field(default_factory=list)  # target keys with no source (left as is)
    unexpected: list[str] = field(default_factory=list)  # source keys used nowhere
    head_classes: int | None = None  # rows of the classifier Linear found in the file

    def summary(self) -> str:
        lines = [
            f"{len(self.by_name)} tensors matched by name, {len(self.by_position)} by position",
            f"classifier head: {self.head_classes or 'none'} classes",
        ]
        if self.missing:
            lines.append(f"missing ({len(self.missing)}): {', '.join(self.missing[:10])}")
        if self.unexpected:
            lines.append(f"unexpected ({len(self.unexpected)}): {', '.join(self.unexpected[:10])}")
        return "\n".join(lines)


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a foreign checkpoint safely: ``weights_only=True``, unwrap ``state_dict``, drop
    ``module.`` prefixes."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file is missing")
    try:
        if path.suffix == ".safetensors":
            obj = load_file(path)
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and safetensors errors all mean "not a checkpoint"
        raise WeightsError(f"{path}: cannot read weights ({type(err).__name__}: {err})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state dict of tensors, got {type(obj).__name__}")
    return {re.sub(r"^(module\.)+", "", k): v for k, v in obj.items()}


def _match(
    target: dict[str, Tensor], source: dict[str, Tensor], report: ImportReport
) -> dict[str, Tensor]:
    """Pair target keys with source tensors: by name and shape first, then in order by shape."""
    out: dict[str, Tensor] = {}
    free_src = [k for k in source]
    for key, value in target.items():
        if key in source and source[key].shape == value.shape:
            out[key] = source[key]
            report.by_name.append(key)
            free_src.remove(key)
    pos = 0
    for key, value in target.items():
        if key in out:
            continue
        for j in range(pos, len(free_src)):
            if source[free_src[j]].shape == value.shape:
                out[key] = source[free_src[j]]
                report.by_position.append((free_src[j], key))
                del free_src[j]
                pos = j
                break
        else:
            report.missing.append(key)
    report.unexpected.extend(free_src)
    return out


def import_cnn(
    model: CausalCNN, state: dict[str, Tensor], report: ImportReport | None = None
) -> ImportReport:
    """Copy the CNN tensors of a published state dict into ``model`` (in place)."""
    report = report or ImportReport()
    source = {}
    for key, value in state.items():
        found = re.search(r"(?:^|\.)cnn\.(.+)$", key)
        if found:
            source[found.group(1)] = value
    target = model.cnn.state_dict()
    mapped = _match(target, source, report)
    report.unexpected = [f"cnn.{k}" for k in report.unexpected]
    report.missing = [f"cnn.{k}" for k in report.missing]
    report.by_position = [(f"cnn.{s}", f"cnn.{t}") for s, t in report.by_position]
    report.by_name = [f"cnn.{k}" for k in report.by_name]
    with torch.no_grad():
        for key, value in mapped.items():
            target[key].copy_(value)
    return report


def _find_head(state: dict[str, Tensor], features: int) -> tuple[str, str | None] | None:
    for key, value in state.items():
        if "cnn." in key or not key.endswith("weight") or value.ndim != 2:
            continue
        if value.shape[1] == features:
            bias = key[: -len("weight")] + "bias"
            return key, bias if bias in state else None
    return None


def load_published(
    path: str | Path, config: CNNConfig | None = None, with_head: bool = False
) -> tuple[CausalCNN | FrameClassifier, ImportReport]:
    """Build a paper-size CNN (or classifier, with the file's head) from published weights."""
    config = config or CNNConfig()
    state = load_state_dict(path)
    head = _find_head(state, config.feature_channels)
    report = ImportReport(head_classes=int(state[head[0]].shape[0]) if head else None)
    if with_head:
        if head is None:
            raise WeightsError(f"{path}: no classifier Linear(_, {config.feature_channels}) found")
        net = FrameClassifier(config, report.head_classes or 0)
        import_cnn(net.backbone, state, report)
        with torch.no_grad():
            net.head[1].weight.copy_(state[head[0]])
            if head[1]:
                net.head[1].bias.copy_(state[head[1]])
        return net, report
    model = CausalCNN(config)
    import_cnn(model, state, report)
    if head:  # the classifier is known, not unexpected
        report.unexpected = [k for k in report.unexpected if k not in head]
    return model, report


def load_model(path: str | Path) -> CausalCNN:
    """A CNN from a front-end folder of type ``cnn`` or ``per_frame`` (``config.json`` +
    ``model.safetensors``, ``livefit.vision.front_ends``) or from a published weights file
    (paper architecture; raises if any CNN tensor is missing). Anything else (a missing path, a
    Stream-VLM folder, another front end) raises ``WeightsError`` naming the path."""
    path = Path(path)
    if path.is_dir():
        front = load_front_end(path)
        if not isinstance(front, CNNFrontEnd):
            raise WeightsError(f"{path}: a {front.type} front end, not a CNN")
        return front.model  # type: ignore[return-value]
    if not path.exists():
        raise WeightsError(f"{path}: CNN checkpoint folder or weights file is missing")
    model, report = load_published(path)
    if report.missing:
        raise WeightsError(f"{path}: not a full CNN checkpoint\n{report.summary()}")
    return model.eval()  # type: ignore[return-value]


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` -> a ``torch.device`` this build and
    machine can use; anything else raises ``DeviceError`` saying why (unknown to torch, no CUDA
    in this build or machine, no such GPU)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(
            f"--device {name!r}: not a torch device (e.g. cpu, cuda, cuda:1)"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only torch build" if torch.version.cuda is None else "no visible GPU"
            raise DeviceError(f"--device {name!r}: CUDA is not available ({build}); use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"--device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"--device {name!r}: MPS is not available on this machine")
    elif device.type != "cpu":
        raise DeviceError(f"--device {name!r}: livefit runs on cpu, cuda or mps")
    return device
