"""QEVD-SIM driver: participants, per-video jobs, parallel and resumable generation.

Top of ``livefit.synth``: ``generate(config, out, seed, workers)`` writes

- ``QEVD-FIT-COACH-Benchmark/`` (test) and ``QEVD-FIT-COACH/`` (train) in the exact release
  layout (``feedbacks_long_range.json``, ``long_range_videos/<id>.mp4`` and
  ``<id>_timestamps.npy``) plus a ground-truth sidecar ``<id>_groundtruth.{npz,json}`` that the
  reader ignores;
- ``QEVD-FIT-300K/`` short clips (docs/qevd-fit-300k.md) with the same sidecars;
- ``synth_config.json`` and ``synth_stats.json``.

Every video is an independent job seeded by ``(seed, split, kind, index)``, so results do not
depend on ``workers`` or on the order jobs finish; a finished video (its sidecar JSON exists) is
skipped on a rerun, and all files are written atomically (a rerun removes the temporary files
of a run killed mid-write, so a resumed dataset is byte for byte an uninterrupted one). A rerun
resumes only what ``synth_run.json`` says this seed and these settings started: another seed is
refused, and so is a folder with files in it but no run record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from livefit.config import config_to_dict, save_config
from livefit.data.qevd import ANNOTATION_FILE, SPLIT_DIRS
from livefit.io import JSONInputError, atomic_write_json, parse_json
from livefit.synth.body import BodyShape, sample_shape, world_landmarks
from livefit.synth.clips import describe_clip, flip_side, frame_labels, plan_clip
from livefit.synth.exercises import (
    BY_NAME,
    all_mistakes,
    coarse_classes,
    fine_grained_classes,
    flip_map,
)
from livefit.synth.motion import Interval, Motion, animate
from livefit.synth.presets import SynthConfig
from livefit.synth.render import Appearance, Renderer, Scene, sample_appearance, sample_scene
from livefit.synth.stats import dataset_stats
from livefit.synth.workout import choose_exercises, plan_workout
from livefit.synth.writer import (
    frame_timestamps_ns,
    qevd_record,
    save_sidecar,
    save_timestamps,
    write_video,
)

CLIPS_DIR = "QEVD-FIT-300K"
SPLIT_CODE = {"train": 1, "test": 2}
KIND_CODE = {"workout": 1, "clip": 2}
EPOCH_NS = 1_700_000_000 * 10**9  # synthetic capture dates start in November 2023


@dataclass(frozen=True)
class Participant:
    """A synthetic participant: identity, body, looks and habits."""

    pid: str
    shape: BodyShape
    look: Appearance
    speed: float  # personal tempo factor
    view_sign: float  # which way they face in side views
    yaw: float  # how they stand relative to the camera, degrees


def participant(seed: int, split: str, kind: str, index: int) -> Participant:
    rng = np.random.default_rng([seed, SPLIT_CODE[split], KIND_CODE[kind], 7, index])
    prefix = "w" if kind == "workout" else "c"
    return Participant(
        pid=f"{split}-{prefix}{index:03d}",
        shape=sample_shape(rng),
        look=sample_appearance(rng),
        speed=float(rng.uniform(0.9, 1.1)),
        view_sign=float(rng.choice([-1.0, 1.0])),
        yaw=float(rng.uniform(-15, 15)),
    )


def render_video(
    intervals: list[Interval],
    duration: float,
    who: Participant,
    cfg: SynthConfig,
    rng: np.random.Generator,
    video: Path,
    start_ns: int,
) -> tuple[Motion, Scene, np.ndarray, np.ndarray, np.ndarray]:
    """Animate, render and encode one video; write its timestamps.

    Returns ``(motion, scene, times_s [T], stamps_ns [T], landmarks_2d [T, 33, 2])``.
    """
    n = max(2, int(round(duration * cfg.fps)))
    times = np.arange(n) / cfg.fps
    motion = animate(intervals, times, who.shape, who.view_sign, who.yaw)
    mirrored = bool(rng.random() < cfg.mirror_prob)
    scene = sample_scene(rng, cfg.width, cfg.height, who.shape.height, mirrored)
    renderer = Renderer(who.shape, who.look, scene)
    write_video(video, renderer.frames(motion.joints), cfg.fps, cfg.width, cfg.height)
    stamps = frame_timestamps_ns(n, cfg.fps, start_ns)
    save_timestamps(video.with_name(f"{video.stem}_timestamps.npy"), stamps)
    return motion, scene, times, stamps, renderer.landmarks_2d(motion.joints)


def _sidecar_arrays(motion: Motion, labels: list[str], lm2d: np.ndarray, stamps: np.ndarray):
    classes = {c: i for i, c in enumerate(fine_grained_classes())}
    mistakes = all_mistakes()
    acts = sorted(set(motion.activity))
    multi = np.zeros((len(labels), len(mistakes)), dtype=bool)
    for t, mk in enumerate(motion.mistakes):
        for m in mk:
            multi[t, mistakes.index(m)] = True
    arrays = {
        "timestamps_ns": stamps.astype(np.int64),
        "activity": np.array([acts.index(a) for a in motion.activity], dtype=np.int16),
        "fine_label": np.array([classes[c] for c in labels], dtype=np.int16),
        "phase": motion.phase.astype(np.float32),
        "reps": motion.reps.astype(np.int16),
        "mistakes": multi,
        "landmarks_2d": lm2d.astype(np.float32),  # pixels of the final frame, MediaPipe order
        "landmarks_3d": world_landmarks(motion.joints).astype(np.float32),
    }
    return arrays, acts


def make_workout(cfg: SynthConfig, seed: int, split: str, index: int, root: Path) -> dict:
    """Generate (or reuse) one long-range workout; returns its sidecar meta."""
    stem = f"{index + 1:04d}"
    vid_dir = root / SPLIT_DIRS[split] / "long_range_videos"
    meta_path = vid_dir / f"{stem}_groundtruth.json"
    if meta_path.is_file() and (vid_dir / f"{stem}.mp4").is_file():
        return json.loads(meta_path.read_text())
    n_part = cfg.train_participants if split == "train" else cfg.test_participants
    who = participant(seed, split, "workout", index % n_part)
    rng = np.random.default_rng([seed, SPLIT_CODE[split], KIND_CODE["workout"], index])
    exercises = choose_exercises(rng, cfg.exercises_per_section)
    plan = plan_workout(rng, exercises, cfg.exercise_s, who.speed)
    start_ns = EPOCH_NS + (SPLIT_CODE[split] * 10**6 + index * 3600) * 10**9
    motion, scene, times, stamps, lm2d = render_video(
        plan.intervals, plan.duration, who, cfg, rng, vid_dir / f"{stem}.mp4", start_ns
    )
    record = qevd_record(
        f"long_range_videos/{stem}.mp4",
        f"long_range_videos/{stem}_timestamps.npy",
        plan.lines,
        times,
        stamps,
    )
    labels = frame_labels(motion, scene.mirrored)
    arrays, acts = _sidecar_arrays(motion, labels, lm2d, stamps)
    meta = {
        "record": record,
        "participant": who.pid,
        "mirrored": scene.mirrored,
        "exercises": plan.exercises,
        "activities": acts,
        "lines": [
            {"t0": round(ln.t0, 4), "t1": round(ln.t1, 4), "text": ln.text, "kind": ln.kind}
            for ln in plan.lines
        ],
    }
    save_sidecar(vid_dir / f"{stem}_groundtruth", arrays, meta)
    return meta


def make_clip(cfg: SynthConfig, seed: int, split: str, index: int, root: Path) -> dict:
    """Generate (or reuse) one short clip; returns its clips.json record."""
    clip_id = f"{split}_{index:06d}"
    vid_dir = root / CLIPS_DIR / split / "videos"
    meta_path = vid_dir / f"{clip_id}_groundtruth.json"
    if meta_path.is_file() and (vid_dir / f"{clip_id}.mp4").is_file():
        return json.loads(meta_path.read_text())["record"]
    who = participant(seed, split, "clip", index % cfg.clip_participants)
    rng = np.random.default_rng([seed, SPLIT_CODE[split], KIND_CODE["clip"], index])
    plan = plan_clip(rng, cfg.clip_min_s, cfg.clip_max_s, cfg.clip_mean_s, who.speed)
    start_ns = EPOCH_NS + (SPLIT_CODE[split] * 10**6 + 5 * 10**5 + index * 60) * 10**9
    motion, scene, _, stamps, lm2d = render_video(
        plan.intervals, plan.duration, who, cfg, rng, vid_dir / f"{clip_id}.mp4", start_ns
    )
    desc = describe_clip(plan, motion, scene.mirrored, rng)
    record = {
        "clip_id": clip_id,
        "video_file": f"videos/{clip_id}.mp4",
        "video_timestamps": f"videos/{clip_id}_timestamps.npy",
        "participant": who.pid,
        "fps": cfg.fps,
        **desc,
    }
    arrays, acts = _sidecar_arrays(motion, desc["frame_labels"], lm2d, stamps)
    side = flip_side(plan.intervals[-1].side, scene.mirrored)
    save_sidecar(
        vid_dir / f"{clip_id}_groundtruth",
        arrays,
        {"record": record, "activities": acts, "side": side},
    )
    return record


def _job(args: tuple) -> tuple[str, str, int, dict]:
    cv2.setNumThreads(1)
    kind, cfg, seed, split, index, root = args
    fn = make_workout if kind == "workout" else make_clip
    return kind, split, index, fn(cfg, seed, split, index, root)


def labels_json() -> dict:
    """``QEVD-FIT-300K/labels.json``: the label vocabulary (docs/qevd-fit-300k.md)."""
    return {
        "exercises": coarse_classes(),
        "fine_grained": fine_grained_classes(),
        "flip": flip_map(),
        "mistakes": all_mistakes(),
        "sections": {name: ex.section for name, ex in BY_NAME.items()},
    }


class SynthError(ValueError):
    """A generation request that cannot be honoured (the message names the file)."""


COUNT_FIELDS = ("train_workouts", "test_workouts", "train_clips", "test_clips")


def _check_same_run(cfg: SynthConfig, seed: int, out: Path) -> None:
    """Resuming into ``out`` is only safe with the same seed and settings (counts may change:
    every video is seeded by its index, so growing or shrinking a split stays consistent). A
    folder with files but no run record was not started by this command, or lost its record: its
    seed is unknown, so it is refused rather than mixed with this run's videos."""
    run_path = out / "synth_run.json"
    run = {"seed": seed, "config": config_to_dict(cfg)}
    if run_path.is_file():
        try:
            prev = parse_json(run_path.read_bytes(), str(run_path), max_bytes=1 << 20)
        except JSONInputError as err:
            raise SynthError(f"{err}; is {out} QEVD-SIM data?") from None
        except OSError as err:
            raise SynthError(f"{run_path}: unreadable ({err}); is {out} QEVD-SIM data?") from None
        if not isinstance(prev, dict) or not isinstance(prev.get("config", {}), dict):
            raise SynthError(f"{run_path}: expected an object; is {out} QEVD-SIM data?")
        keep = {k: v for k, v in prev.get("config", {}).items() if k not in COUNT_FIELDS}
        want = {k: v for k, v in run["config"].items() if k not in COUNT_FIELDS}
        if prev.get("seed") != seed or keep != want:
            changed = sorted(k for k in want if keep.get(k) != want[k])
            if prev.get("seed") != seed:
                changed.insert(0, f"seed {prev.get('seed')} -> {seed}")
            raise SynthError(
                f"{run_path}: {out} holds QEVD-SIM data made with other settings "
                f"({', '.join(changed)}); resuming would mix them: use a new --out, or the same "
                "--preset and --seed"
            )
    else:
        _check_started_here(out, run_path)
    atomic_write_json(run_path, run)


def _check_started_here(out: Path, run_path: Path) -> None:
    """``out`` has no run record: it must be empty (the temporary file of a run record whose
    writer was killed aside), since any file in it came from an unknown run or elsewhere."""
    found = sorted(
        p.name + ("/" if p.is_dir() else "")
        for p in out.iterdir()
        if not (STALE_TEMP.match(p.name) and p.is_file())
    )
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise SynthError(
            f"{out}: not empty ({shown}) but has no {run_path.name}: livefit data synth did not "
            "start this folder, or its run record was deleted, so the seed and settings of what "
            "is there are unknown and adding to it would mix two runs; use a new or empty --out"
        )


# The temporary names of livefit.io.atomic_write and writer.write_video (mkstemp: 8 random
# characters): a run killed with -9 leaves them behind, and only this exact pattern is removed.
STALE_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.mp4)?$")


def remove_stale_temps(out: Path) -> int:
    """Delete the temporary files a killed run left under ``out``; returns how many."""
    stale = [p for p in out.rglob(".*.tmp*") if p.is_file() and STALE_TEMP.match(p.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def generate(
    cfg: SynthConfig, out: Path, seed: int = 0, workers: int = 1, progress: bool = True
) -> dict:
    """Write a whole QEVD-SIM dataset under ``out``; returns its statistics."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_run(cfg, seed, out)
    remove_stale_temps(out)
    save_config(cfg, out / "synth_config.json")
    atomic_write_json(out / CLIPS_DIR / "labels.json", labels_json())
    jobs = []
    for split, n in (("test", cfg.test_workouts), ("train", cfg.train_workouts)):
        jobs += [("workout", cfg, seed, split, i, out) for i in range(n)]
    for split, n in (("train", cfg.train_clips), ("test", cfg.test_clips)):
        jobs += [("clip", cfg, seed, split, i, out) for i in range(n)]
    results: dict[tuple[str, str], dict[int, dict]] = {}
    bar = tqdm(total=len(jobs), desc=f"synth {cfg.name}", unit="video", disable=not progress)
    if workers > 1:
        with get_context("spawn").Pool(workers) as pool:
            for kind, split, index, res in pool.imap_unordered(_job, jobs, chunksize=1):
                results.setdefault((kind, split), {})[index] = res
                bar.update()
    else:
        for job in jobs:
            kind, split, index, res = _job(job)
            results.setdefault((kind, split), {})[index] = res
            bar.update()
    bar.close()
    for split in ("test", "train"):
        recs = results.get(("workout", split), {})
        atomic_write_json(
            out / SPLIT_DIRS[split] / ANNOTATION_FILE, [recs[i]["record"] for i in sorted(recs)]
        )
        clips = results.get(("clip", split), {})
        atomic_write_json(out / CLIPS_DIR / split / "clips.json", [clips[i] for i in sorted(clips)])
    stats = dataset_stats(out)
    atomic_write_json(out / "synth_stats.json", stats, indent=1)
    return stats


__all__ = [
    "CLIPS_DIR",
    "Participant",
    "SynthError",
    "generate",
    "labels_json",
    "make_clip",
    "make_workout",
]
