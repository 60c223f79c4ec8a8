"""The paper's ablations of Stream-VLM (Table 4) and our own Socratic LM, trained from a finished
training run (``livefit train --preset``) so that each differs from the full coach in one thing.

    no-stage2         stage 3 alone, from a fresh model: no short-clip pre-training
    no-action-tokens  stage 3 from the same stage-2 model, as a turn-based model that answers
                      every 5 s and never decides when to speak (``StreamVLMConfig.turn_every_s``)
    no-3d-cnn         a per-frame 2D encoder of the same blocks and channels instead of the causal
                      3D CNN (``per_frame_config``: no temporal taps; each step sees only its last
                      frame), with its own stage 1, features, stage 2 and stage 3
    socratic-lm       a language-only LM trained on the CNN's activity descriptions, prompted every
                      5 s with the paper's E.2 prompt (``livefit.train.socratic_stage``)

Every variant reuses what the run already made: its data, its stage-1 CNN and features (except
no-3d-cnn, which needs its own), its stage configs (``RUN/<stage>/config.json``: the same
recipe, seed and length as the full coach). The variants go to ``OUT/<name>/``; the run is only
read. ``OUT/steps.json`` records each finished variant and a rerun skips it; an interrupted one
resumes from its latest checkpoint (extraction skips finished videos).

``model_specs`` says what ``livefit benchmark`` streams for each (a model folder, a built-in
coach spec) and the data root whose features it reads (no-3d-cnn: ``OUT/no_3d_cnn/data``, a
mirror of the run's data with the 2D encoder's features).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from livefit.config import load_config
from livefit.io import atomic_write_json
from livefit.train.checkpoint import MODEL_FILE, latest_checkpoint
from livefit.train.coach_stage import MODEL_DIR, CoachStageConfig, CoachTask, ValidationConfig
from livefit.train.pipeline import CONFIGS_DIR, PresetConfig
from livefit.train.socratic_stage import SocraticLMConfig, train_socratic_lm
from livefit.train.stage import run_stage, with_seed
from livefit.train.vision_stage import VisionStageConfig, VisionTask
from livefit.vision.activity import HEAD_FILE, ActivityHead
from livefit.vision.extract import run_extraction_parallel

VARIANTS = ("no-3d-cnn", "no-stage2", "no-action-tokens", "socratic-lm")
FEATURES_DIR = "efficientnet_features"


@dataclass(frozen=True)
class VariantSettings:
    """How the variants differ from the full coach (the paper's choices)."""

    turn_every_s: float = 5.0
    """no-action-tokens and socratic-lm: the turn interval (paper: 5 s, the mean silence)."""
    frame_stride: int = 4
    """no-3d-cnn: the 2D encoder encodes one frame in this many (the last of each step)."""
    socratic: str = "socratic/embedded.json"
    """socratic-lm: its training config, relative to ``configs/``."""
    validate: bool = True
    """The variants' coach stages hold out and score workouts and calibrate their speak
    threshold as the run's own stages did; false: they train on every workout, score nothing
    and keep the threshold (the tiny preset, whose tests check the plumbing, not the scores)."""


def per_frame_config(cnn: Any, frame_stride: int = 4) -> Any:
    """A ``CNNConfig`` -> the per-frame 2D encoder of the same blocks and channels: every shift
    block's temporal conv becomes a 1x1 conv of the frame itself, the t-strides become one
    ``frame_stride`` at the input (so the feature rate stays 4 per second)."""
    blocks = tuple(replace(b, shift=False, t_stride=False) for b in cnn.blocks)
    stride = cnn.frames_per_step  # 4 in the paper: keep the step rate
    if frame_stride != stride:
        raise ValueError(
            f"the per-frame encoder must keep the CNN's step rate: frame_stride {frame_stride} "
            f"!= {stride} frames per step"
        )
    return replace(cnn, blocks=blocks, frame_stride=stride)


def mirror_data(source: Path, target: Path) -> Path:
    """A data root that shares ``source``'s videos and annotations (symbolic links) but has its
    own, empty ``efficientnet_features`` folders: another CNN's features of the same data."""

    def walk(src: Path, dst: Path) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        for entry in sorted(src.iterdir()):
            out = dst / entry.name
            if entry.name == FEATURES_DIR:
                continue
            if entry.is_dir() and any(p.name == FEATURES_DIR for p in entry.rglob(FEATURES_DIR)):
                walk(entry, out)
            elif not out.exists() and not out.is_symlink():
                out.symlink_to(entry.resolve(), target_is_directory=entry.is_dir())

    walk(Path(source), Path(target))
    return Path(target)


def _share_decoded_clips(source: Path, target: Path) -> None:
    """Stage 1 caches the clips decoded at the model's input size (``<run>/cache/``, named by
    split, count, size and rate); the per-frame encoder reads the same frames, so it starts
    from the run's cache (hard links, else copies) instead of decoding every clip again."""
    if not source.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for f in source.glob("*.npz"):
        if not (target / f.name).exists():
            try:
                os.link(f, target / f.name)
            except OSError:
                shutil.copy2(f, target / f.name)


class Variants:
    """The variants of one finished run, trained into ``out``."""

    def __init__(
        self,
        run: str | Path,
        out: str | Path,
        settings: VariantSettings | None = None,
        progress: bool = True,
    ) -> None:
        self.run, self.out = Path(run), Path(out)
        self.settings = settings or VariantSettings()
        self.progress = progress
        for need in (
            "preset.json",
            "vision/cnn",
            "clips/config.json",
            "long_range/config.json",
            "long_range/model",
        ):
            if not (self.run / need).exists():
                raise FileNotFoundError(
                    f"{self.run / need}: missing; the variants need a finished training run "
                    "(livefit train --preset NAME --out RUN)"
                )
        self.preset = load_config(PresetConfig, self.run / "preset.json")
        self.data = self.run / "data"
        self.cnn = self.run / "vision" / "cnn"
        self.steps_file = self.out / "steps.json"

    # -- bookkeeping --------------------------------------------------------------------------
    def done(self) -> dict[str, Any]:
        return json.loads(self.steps_file.read_text()) if self.steps_file.is_file() else {}

    def train(self, names: tuple[str, ...] | list[str] = VARIANTS) -> dict[str, Any]:
        """Train every variant of ``names`` not done yet; returns ``steps.json``."""
        unknown = sorted(set(names) - set(VARIANTS))
        if unknown:
            raise ValueError(f"unknown variant {unknown}: expected some of {list(VARIANTS)}")
        torch.set_num_threads(self.preset.threads)
        self.out.mkdir(parents=True, exist_ok=True)
        for name in names:
            record = self.done()
            if name in record:
                print(f"[{name}] done in {record[name]['seconds']:.0f} s (skipped)", flush=True)
                continue
            print(f"[{name}] ...", flush=True)
            start = time.time()
            info = getattr(self, name.replace("-", "_"))() or {}
            record = self.done()
            record[name] = {"seconds": round(time.time() - start, 1), **info}
            atomic_write_json(self.steps_file, record)
            print(f"[{name}] done in {record[name]['seconds']:.0f} s", flush=True)
        return self.done()

    def folder(self, name: str) -> Path:
        return self.out / name.replace("-", "_")

    def model_specs(
        self, names: tuple[str, ...] | list[str] = VARIANTS
    ) -> dict[str, tuple[str, Path]]:
        """``{variant: (what predict takes, the data root whose features it reads)}``."""
        specs = {}
        for name in names:
            f = self.folder(name)
            if name == "socratic-lm":
                specs[name] = (f"socratic:{f / 'model'}", self.data)  # its socratic.json
            elif name == "no-3d-cnn":
                specs[name] = (str(f / "long_range" / "model"), f / "data")
            else:
                specs[name] = (str(f / "long_range" / "model"), self.data)
        return specs

    # -- stages -------------------------------------------------------------------------------
    def _coach_stage(self, stage: str, data: Path, folder: Path, **changes: Any) -> dict[str, Any]:
        """The run's stage-2 or stage-3 config (its recipe, seed and length) with ``changes``."""
        cfg = load_config(CoachStageConfig, self.run / stage / "config.json")
        cfg = replace(cfg, **changes)
        if not self.settings.validate:
            no_bias = replace(cfg.calibration, answer_bias=())
            cfg = replace(cfg, validation=ValidationConfig(), calibration=no_bias)
        resume = latest_checkpoint(folder) is not None
        task = CoachTask(cfg, data, folder, self.progress)
        summary = run_stage(task, cfg, folder, resume, self.progress)
        return {"metrics": summary["metrics"], "steps": summary["steps"]}

    def _extract(self, data: Path, cnn: Path) -> dict[str, int]:
        counts = {}
        for split, clips in (("train", False), ("test", False), ("train", True)):
            summary = run_extraction_parallel(
                data, split, cnn, clips, workers=self.preset.workers, progress=self.progress
            )
            if summary.failed:
                raise ValueError(f"feature extraction failed: {summary.failed[0]['error']}")
            counts[f"{split}{'_clips' if clips else ''}"] = summary.done + summary.skipped
        return counts

    # -- the variants -------------------------------------------------------------------------
    def no_stage2(self) -> dict[str, Any]:
        folder = self.folder("no-stage2") / "long_range"
        return {"long_range": self._coach_stage("long_range", self.data, folder, init_from=None)}

    def no_action_tokens(self) -> dict[str, Any]:
        cfg = load_config(CoachStageConfig, self.run / "long_range" / "config.json")
        model = replace(cfg.model, turn_every_s=self.settings.turn_every_s)
        folder = self.folder("no-action-tokens") / "long_range"
        init = str(self.run / "clips" / MODEL_DIR)
        return {
            "long_range": self._coach_stage(
                "long_range", self.data, folder, model=model, init_from=init
            )
        }

    def no_3d_cnn(self) -> dict[str, Any]:
        root = self.folder("no-3d-cnn")
        info: dict[str, Any] = {}
        vision = load_config(VisionStageConfig, self.run / "vision" / "config.json")
        vision = replace(vision, model=per_frame_config(vision.model, self.settings.frame_stride))
        folder = root / "vision"
        if not (folder / "cnn").is_dir():
            _share_decoded_clips(self.run / "vision" / "cache", folder / "cache")
            resume = latest_checkpoint(folder) is not None
            task = VisionTask(vision, self.data, folder, self.progress)
            summary = run_stage(task, vision, folder, resume, self.progress)
            info["vision"] = {"metrics": summary["metrics"], "steps": summary["steps"]}
        data = mirror_data(self.data, root / "data")
        info["features"] = self._extract(data, folder / "cnn")
        if not (root / "clips" / MODEL_DIR).is_dir():
            info["clips"] = self._coach_stage("clips", data, root / "clips")
        info["long_range"] = self._coach_stage(
            "long_range", data, root / "long_range", init_from=str(root / "clips" / MODEL_DIR)
        )
        return info

    def socratic_lm(self) -> dict[str, Any]:
        cfg = load_config(SocraticLMConfig, CONFIGS_DIR / self.settings.socratic)
        cfg = with_seed(cfg, self.preset.seed)
        folder = self.folder("socratic-lm")
        summary = train_socratic_lm(
            self.data,
            self.activity_cnn(),
            folder,
            cfg,
            resume=latest_checkpoint(folder) is not None,
            progress=self.progress,
        )
        return {"metrics": summary.get("metrics", {}), "steps": summary.get("steps")}

    def activity_cnn(self) -> Path:
        """The run's CNN folder with its activity head (what the Socratic coaches describe the
        features with). A run made before stage 1 exported the head gets it from its final
        stage-1 checkpoint, checked to hold the same backbone, in ``OUT/cnn/`` beside links to
        the CNN's files."""
        if (self.cnn / HEAD_FILE).is_file():
            return self.cnn
        target = self.out / "cnn"
        if (target / HEAD_FILE).is_file():
            return target
        checkpoint = latest_checkpoint(self.run / "vision")
        if checkpoint is None:
            raise FileNotFoundError(
                f"{self.cnn}: no activity head, and no stage-1 checkpoint in "
                f"{self.run / 'vision'} to take it from"
            )
        state = load_file(str(checkpoint / MODEL_FILE))
        backbone = load_file(str(self.cnn / "model.safetensors"))
        same = all(
            torch.equal(v, state.get(f"backbone.{k}", torch.empty(0))) for k, v in backbone.items()
        )
        if not same:
            raise ValueError(
                f"{checkpoint}: its backbone is not {self.cnn}'s; cannot take the "
                "activity head from it"
            )
        labels = json.loads((self.run / "vision" / "labels.json").read_text())["fine_grained"]
        head = ActivityHead(state["head.1.weight"].shape[1], labels)
        head.linear.load_state_dict(
            {"weight": state["head.1.weight"], "bias": state["head.1.bias"]}
        )
        target.mkdir(parents=True, exist_ok=True)
        for f in self.cnn.iterdir():
            if f.is_file() and not (target / f.name).exists():
                try:
                    os.link(f, target / f.name)
                except OSError:
                    shutil.copy2(f, target / f.name)
        head.save_pretrained(target)
        return target

    def features_for(self, name: str, data: Path) -> Path:
        """The data root (for a variant that needs its own features: a mirror of ``data``
        extracted with its CNN) on which ``name`` is evaluated."""
        if name != "no-3d-cnn":
            return data
        if data.resolve() == self.data.resolve():
            return self.folder(name) / "data"
        target = self.folder(name) / "eval" / data.parent.name / "data"
        mirror_data(data, target)

        summary = run_extraction_parallel(
            target,
            "test",
            self.folder(name) / "vision" / "cnn",
            workers=self.preset.workers,
            progress=self.progress,
        )
        if summary.failed:
            raise ValueError(f"feature extraction failed: {summary.failed[0]['error']}")
        return target


__all__ = ["VARIANTS", "VariantSettings", "Variants", "mirror_data", "per_frame_config"]
