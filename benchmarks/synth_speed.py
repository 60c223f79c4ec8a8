"""QEVD-SIM generation speed on one core: how many times faster than real time?

Generates one full-length long-range workout (about 3.5 min of 30 fps video at 224x160, the
``small``/``full`` presets' settings) with one thread and times each stage: the behaviour and
coach simulation, animation + forward kinematics, rendering, H.264 encoding, and the whole job
(``make_workout``: also timestamps, sidecar and record). The ratio printed is video seconds per
wall-clock second (target: >= 20x). For reference it also renders the same frames with the naive
drawing path (each body-part layer drawn as a polygon plus two circles, one OpenCV call each)
and prints our speed-up over it.

    .venv/bin/python benchmarks/synth_speed.py [--out benchmarks/results/synth_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from livefit.synth.generate import make_workout, participant
from livefit.synth.motion import animate
from livefit.synth.presets import preset
from livefit.synth.render import _LIMBS, ONE, Renderer, _capsule, _point, sample_scene
from livefit.synth.workout import choose_exercises, plan_workout
from livefit.synth.writer import write_video


def naive_frames(r: Renderer, joints: np.ndarray):
    """Reference renderer: same parts and layers, three OpenCV calls per layer."""
    uv = r.project(joints) * ONE
    s = r.scene.px_per_m * r.shape.height * r.shape.build * ONE
    light = np.array(r.scene.light)
    for t in range(len(joints)):
        img = r.background.copy()
        for _, a, b, r0, r1, mat in _LIMBS:
            p0, p1 = _point(uv[t : t + 1], a)[0], _point(uv[t : t + 1], b)[0]
            dark, base, high = r.tones[mat]
            _capsule(img, p0, p1, r0 * s + ONE, r1 * s + ONE, dark)
            _capsule(img, p0, p1, r0 * s, r1 * s, base)
            off = light * 0.35 * r0 * s
            _capsule(img, p0 + off, p1 + off, 0.55 * r0 * s, 0.55 * r1 * s, high)
        yield img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    cfg = preset("small")
    who = participant(args.seed, "test", "workout", 0)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    plan = plan_workout(rng, choose_exercises(rng, 2), cfg.exercise_s, who.speed)
    t_plan = time.perf_counter() - t0
    times = np.arange(int(round(plan.duration * cfg.fps))) / cfg.fps
    t0 = time.perf_counter()
    motion = animate(plan.intervals, times, who.shape, who.view_sign, who.yaw)
    t_anim = time.perf_counter() - t0
    scene = sample_scene(rng, cfg.width, cfg.height, who.shape.height, False)
    t0 = time.perf_counter()
    renderer = Renderer(who.shape, who.look, scene)
    frames = list(renderer.frames(motion.joints))
    t_render = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_video(Path(tmp) / "v.mp4", iter(frames), cfg.fps, cfg.width, cfg.height)
        t_encode = time.perf_counter() - t0
        t0 = time.perf_counter()
        make_workout(cfg, args.seed, "test", 0, Path(tmp))
        t_job = time.perf_counter() - t0
    n = len(frames)
    k = min(n, 900)  # the naive path is slow: time a prefix and scale
    t0 = time.perf_counter()
    for _ in naive_frames(renderer, motion.joints[:k]):
        pass
    t_naive = (time.perf_counter() - t0) * n / k
    video_s = n / cfg.fps
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with 3 other engineers' "
        "jobs, one thread used",
        "video_seconds": round(video_s, 1),
        "frames": n,
        "resolution": f"{cfg.width}x{cfg.height} @ {cfg.fps} fps",
        "seconds": {
            "plan (user + coach simulation)": round(t_plan, 3),
            "animate (kinematics)": round(t_anim, 3),
            "render": round(t_render, 3),
            "encode (libx264)": round(t_encode, 3),
            "whole job (make_workout)": round(t_job, 3),
            "naive render (reference)": round(t_naive, 3),
        },
        "x_real_time_whole_job": round(video_s / t_job, 1),
        "x_real_time_render_only": round(video_s / t_render, 1),
        "render_speedup_vs_naive": round(t_naive / t_render, 2),
    }
    print(json.dumps(result, indent=1))
    print(
        f"generation runs {result['x_real_time_whole_job']}x faster than real time on one core "
        f"(target >= 20x); rendering is {result['render_speedup_vs_naive']}x the naive path"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
