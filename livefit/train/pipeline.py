"""``livefit train --preset NAME --out RUN``: from nothing to an evaluated, bundle-ready coach.

The steps, in order, each one a stage of the flow that the other commands also run:

    synth      QEVD-SIM data (``livefit data synth``)                    RUN/data/
    vision     stage 1, the causal CNN (``livefit train vision``)        RUN/vision/ (cnn/)
    features   features of every video (``livefit features extract``)    in RUN/data/
    clips      stage 2 (``livefit train clips``)                         RUN/clips/ (model/)
    long_range stage 3 (``livefit train long-range``)                    RUN/long_range/ (model/)
    evaluate   the coach on the unseen test split, beside its floor and
               control (``livefit train evaluate``)                       RUN/eval/
    report     RUN/coach/ (CNN + Stream-VLM + configs + MODEL_CARD.md), RUN/report.md,
               RUN/curves.png, RUN/report.json (metrics, timings, machine)

A preset (``configs/presets/<name>.json``, a ``PresetConfig``) names the data sizes and one
config file per stage. ``RUN/steps.json`` records each finished step and its time; a rerun skips
finished steps and resumes an interrupted one where it stopped (synthesis and extraction skip
finished videos, training stages continue from their latest checkpoint, prediction from its
last segment). A rerun with another preset config is refused.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from livefit.config import bounded, config_to_dict, load_config, save_config
from livefit.io import atomic_write_json
from livefit.synth.generate import generate
from livefit.synth.presets import preset
from livefit.train.checkpoint import latest_checkpoint
from livefit.train.coach_eval import evaluate_coach
from livefit.train.coach_stage import MODEL_DIR, CoachStageConfig, CoachTask
from livefit.train.pose_stage import PoseStageConfig, PoseTask
from livefit.train.run_report import write_report
from livefit.train.stage import config_differences, run_stage, with_seed
from livefit.train.vision_stage import VisionStageConfig, VisionTask
from livefit.vision.extract import run_extraction_parallel
from livefit.vision.pose_residuals import BANK_FILE

STEPS = ("synth", "vision", "features", "clips", "long_range", "evaluate", "report")
ABLATIONS = {"no-stage2": "ablation_no_stage2"}  # extra steps, run before the report
CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class PresetConfig:
    """Everything ``livefit train --preset`` runs; stage configs are files beside it."""

    name: str = "embedded"
    """Preset name (the file ``configs/presets/<name>.json``)."""
    synth: str = "small"
    """QEVD-SIM preset of the data (``livefit.synth.presets``)."""
    train_workouts: int = bounded(48, ge=0)
    """Long-range train workouts (stage 3 data and its validation workouts)."""
    test_workouts: int = bounded(6, ge=1)
    """Long-range test workouts: the unseen split the coach is evaluated on."""
    train_participants: int | None = bounded(None, ge=1)
    """Participants of the long-range train workouts (None: the synth preset's); more people
    than the preset's 8 make a coach that generalises to new people."""
    train_clips: int | None = bounded(None, ge=0)
    """Short train clips (None: the synth preset's)."""
    test_clips: int | None = bounded(None, ge=0)
    """Short test clips (None: the synth preset's)."""
    seed: int = bounded(0, ge=0)
    """Seed of the data and of every stage's training."""
    workers: int = bounded(2, ge=1)
    """Processes for synthesis and feature extraction."""
    threads: int = bounded(2, ge=1)
    """torch CPU threads for training and evaluation."""
    front_end: str = "cnn"
    """What the coach sees: cnn (the causal 3D CNN on the frames) or pose (body landmarks ->
    the causal pose encoder, ``livefit.vision.pose``; trained on QEVD-SIM's true landmarks plus
    the pose estimator's errors recorded on training workouts, ``vision.pose_residuals``)."""
    vision: str = "vision/small.json"
    """Stage-1 config of the CNN, relative to ``configs/``."""
    pose: str = "pose/small.json"
    """Stage-1 config of the pose encoder (front_end pose), relative to ``configs/``."""
    clips: str = "coach/embedded_clips.json"
    """Stage-2 config, relative to ``configs/``."""
    long_range: str = "coach/embedded_long_range.json"
    """Stage-3 config, relative to ``configs/`` (its ``init_from`` is set to stage 2's model)."""
    bertscore: bool = True
    """Score BERTScore (the default local model) in the final evaluation."""
    eval_seeds: tuple[int, ...] = ()
    """Also evaluate on fresh test splits of these seeds (``synth`` preset, ``eval_workouts``
    workouts each): participants, workouts and seed all unseen in training."""
    eval_workouts: int = bounded(3, ge=1)
    """Test workouts of each ``eval_seeds`` split."""

    def __post_init__(self) -> None:
        if self.front_end not in ("cnn", "pose"):
            raise ValueError(f"front_end must be cnn or pose, got {self.front_end!r}")


def load_preset(name_or_path: str) -> PresetConfig:
    """A preset by name (``configs/presets/<name>.json``) or by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIGS_DIR / "presets" / f"{name_or_path}.json"
    if not path.is_file():
        known = sorted(p.stem for p in (CONFIGS_DIR / "presets").glob("*.json"))
        raise FileNotFoundError(f"{path}: no such preset (known: {', '.join(known) or 'none'})")
    return load_config(PresetConfig, path)


class Pipeline:
    """One run folder and the steps that fill it."""

    def __init__(self, preset: PresetConfig, out: Path, progress: bool = True) -> None:
        self.preset, self.out, self.progress = preset, Path(out), progress
        self.data = self.out / "data"
        self.steps_file = self.out / "steps.json"

    # -- bookkeeping --------------------------------------------------------------------------
    def done(self) -> dict[str, Any]:
        return json.loads(self.steps_file.read_text()) if self.steps_file.is_file() else {}

    def stage_config(self, kind: type, relative: str):
        path = CONFIGS_DIR / relative
        return load_config(kind, path)

    def check_stage_configs(self) -> None:
        """Load every stage config the preset names, so that a bad one (a field out of range,
        a repeated key) is refused before the run folder is made, not hours later."""
        p = self.preset
        if p.front_end == "pose":
            self.stage_config(PoseStageConfig, p.pose)
        else:
            self.stage_config(VisionStageConfig, p.vision)
        self.stage_config(CoachStageConfig, p.clips)
        self.stage_config(CoachStageConfig, p.long_range)

    def check_preset(self) -> None:
        """Record the preset in the run folder; refuse to continue a run of another one."""
        saved = self.out / "preset.json"
        if saved.is_file():
            # A field added to PresetConfig since the run started counts as its default.
            before = {**config_to_dict(PresetConfig()), **json.loads(saved.read_text())}
            differ = config_differences(before, config_to_dict(self.preset))
            if differ:
                raise ValueError(
                    f"{self.out}: was started with another preset ({saved}: {', '.join(differ)});"
                    " use a new --out"
                )
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(self.preset, saved)

    def run(self, ablations: tuple[str, ...] = ()) -> dict[str, Any]:
        """Every step not done yet, then the requested ablations; the report is always
        rewritten (it is cheap and follows whatever ran)."""
        unknown = sorted(set(ablations) - set(ABLATIONS))
        if unknown:
            raise ValueError(f"unknown ablation {unknown}: expected some of {sorted(ABLATIONS)}")
        torch.set_num_threads(self.preset.threads)
        self.check_stage_configs()
        self.check_preset()
        names = [*STEPS[:-1], *(ABLATIONS[a] for a in ablations), STEPS[-1]]
        for name in names:
            record = self.done()
            if name in record and name != "report":
                print(f"[{name}] done in {record[name]['seconds']:.0f} s (skipped)", flush=True)
                continue
            print(f"[{name}] ...", flush=True)
            start = time.time()
            info = getattr(self, name)() or {}
            record = self.done()
            record[name] = {"seconds": round(time.time() - start, 1), **info}
            atomic_write_json(self.steps_file, record)
            print(f"[{name}] done in {record[name]['seconds']:.0f} s", flush=True)
        return self.done()

    # -- the steps ----------------------------------------------------------------------------
    def synth(self) -> dict[str, Any]:
        p = self.preset
        overrides: dict[str, Any] = {
            "train_workouts": p.train_workouts,
            "test_workouts": p.test_workouts,
        }
        if p.train_participants is not None:
            overrides["train_participants"] = p.train_participants
        if p.train_clips is not None:
            overrides["train_clips"] = p.train_clips
        if p.test_clips is not None:
            overrides["test_clips"] = p.test_clips
        generate(preset(p.synth, **overrides), self.data, p.seed, p.workers, self.progress)
        return {}

    def _stage(self, task, config, folder: Path) -> dict[str, Any]:
        resume = latest_checkpoint(folder) is not None
        summary = run_stage(task, config, folder, resume, self.progress)
        return {"metrics": summary["metrics"], "steps": summary["steps"]}

    @property
    def front_end_dir(self) -> Path:
        """Stage 1's export: ``RUN/vision/cnn`` or ``RUN/vision/pose``."""
        return self.out / "vision" / ("pose" if self.preset.front_end == "pose" else "cnn")

    def vision(self) -> dict[str, Any]:
        folder = self.out / "vision"
        if self.preset.front_end == "pose":
            cfg = with_seed(self.stage_config(PoseStageConfig, self.preset.pose), self.preset.seed)
            task = PoseTask(cfg, self.data, folder, self.progress, self.preset.workers)
            return self._stage(task, cfg, folder)

        cfg = with_seed(self.stage_config(VisionStageConfig, self.preset.vision), self.preset.seed)
        return self._stage(VisionTask(cfg, self.data, folder, self.progress), cfg, folder)

    def features(self) -> dict[str, Any]:
        counts = {}
        cnn, noise = self.front_end_dir, self.training_noise()
        for split, clips in (("train", False), ("test", False), ("train", True)):
            summary = run_extraction_parallel(
                self.data,
                split,
                cnn,
                clips,
                workers=self.preset.workers,
                progress=self.progress,
                noise=noise if split == "train" else None,
            )
            if summary.failed:
                raise ValueError(f"feature extraction failed: {summary.failed[0]['error']}")
            counts[f"{split}{'_clips' if clips else ''}"] = summary.done + summary.skipped
        return counts

    def training_noise(self) -> Path | None:
        """The pose encoder's recorded estimator errors, when its stage 1 used them and asks for
        them in the training features (``ResidualsConfig.features``); else None."""
        if self.preset.front_end != "pose":
            return None

        residuals = self.stage_config(PoseStageConfig, self.preset.pose).residuals
        if residuals.workouts <= 0 or not residuals.features:
            return None
        return self.out / "vision" / BANK_FILE

    def clips(self) -> dict[str, Any]:
        cfg = with_seed(self.stage_config(CoachStageConfig, self.preset.clips), self.preset.seed)
        folder = self.out / "clips"
        return self._stage(CoachTask(cfg, self.data, folder, self.progress), cfg, folder)

    def long_range(self) -> dict[str, Any]:
        cfg = self.stage_config(CoachStageConfig, self.preset.long_range)
        cfg = replace(cfg, init_from=str(self.out / "clips" / MODEL_DIR))
        cfg = with_seed(cfg, self.preset.seed)
        folder = self.out / "long_range"
        return self._stage(CoachTask(cfg, self.data, folder, self.progress), cfg, folder)

    def evaluate(self) -> dict[str, Any]:
        """The coach on the test split of the training seed (new participants and workouts)
        and on fresh splits of ``eval_seeds``; ``RUN/eval/`` and ``RUN/eval_seed<S>/``."""
        p = self.preset
        model, cnn = self.out / "long_range" / MODEL_DIR, self.front_end_dir
        roots = {"eval": self.data}
        for seed in p.eval_seeds:
            root = self.out / f"eval_seed{seed}" / "data"
            config = preset(
                p.synth,
                train_workouts=0,
                test_workouts=p.eval_workouts,
                train_clips=0,
                test_clips=0,
            )
            generate(config, root, seed, p.workers, self.progress)
            roots[f"eval_seed{seed}"] = root
        out = {}
        for name, root in roots.items():
            report = evaluate_coach(
                root,
                model,
                self.out / name,
                cnn_dir=cnn,
                bertscore=p.bertscore,
                progress=self.progress,
            )
            out[name] = {row: r["metrics"] for row, r in report["rows"].items()}
        return out

    def ablation_no_stage2(self) -> dict[str, Any]:
        """Stage 3 alone, from a fresh model (no stage 2), evaluated like the coach into
        ``RUN/extra/no_stage2/``: what stage 2 brings, measured."""
        cfg = self.stage_config(CoachStageConfig, self.preset.long_range)
        cfg = with_seed(replace(cfg, init_from=None), self.preset.seed)
        folder = self.out / "extra" / "no_stage2"
        info = self._stage(
            CoachTask(cfg, self.data, folder / "long_range", self.progress),
            cfg,
            folder / "long_range",
        )
        report = evaluate_coach(
            self.data,
            folder / "long_range" / MODEL_DIR,
            folder,
            cnn_dir=self.front_end_dir,
            bertscore=self.preset.bertscore,
            progress=self.progress,
        )
        report["note"] = (
            "The same stage-3 config trained from a fresh model (no stage 2), on the test split "
            "of the training seed; the 'Stream-VLM (ours)' row is that model."
        )
        atomic_write_json(folder / "results.json", report)
        return {"validation": info["metrics"]}

    def report(self) -> dict[str, Any]:
        coach = self.out / "coach"
        if coach.exists():
            shutil.rmtree(coach)
        shutil.copytree(self.front_end_dir, coach / self.front_end_dir.name)
        shutil.copytree(self.out / "long_range" / "model", coach / "stream_vlm")
        configs = coach / "configs"
        configs.mkdir()
        shutil.copy(self.out / "preset.json", configs / "preset.json")
        for stage in ("vision", "clips", "long_range"):
            shutil.copy(self.out / stage / "config.json", configs / f"{stage}.json")
        write_report(self)
        return {}


def run_preset(
    name_or_path: str,
    out: Path,
    seed: int | None = None,
    progress: bool = True,
    ablations: tuple[str, ...] = (),
    front_end: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) a preset into ``out``; returns ``steps.json``. ``front_end`` overrides
    the preset's (cnn or pose)."""
    preset = load_preset(name_or_path)
    if seed is not None:
        preset = replace(preset, seed=seed)
    if front_end is not None:
        preset = replace(preset, front_end=front_end)
    return Pipeline(preset, out, progress).run(ablations)


__all__ = [
    "ABLATIONS",
    "CONFIGS_DIR",
    "STEPS",
    "Pipeline",
    "PresetConfig",
    "load_preset",
    "run_preset",
]
