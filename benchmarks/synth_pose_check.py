"""Does an off-the-shelf pose detector see QEVD-SIM bodies? MediaPipe Pose 0.10.14 on our videos.

Runs in a throwaway virtualenv, because mediapipe pins protobuf<5 and pulls jax and
opencv-contrib, which must not enter livefit's environment:

    python3.11 -m venv /tmp/mpvenv
    /tmp/mpvenv/bin/pip install mediapipe==0.10.14 av
    .venv/bin/livefit data synth --preset tiny --out /tmp/sim          # any QEVD-SIM root
    /tmp/mpvenv/bin/python benchmarks/synth_pose_check.py /tmp/sim [--max-frames 600]

It imports nothing from livefit: it decodes the mp4s with PyAV and reads the ground-truth
sidecars (``*_groundtruth.npz``, 2D landmarks in MediaPipe's order, pixels of the final frame).
Per frame it reports whether MediaPipe found a body (tracking mode, as on a live stream, and
static mode, every frame on its own) and, where it did, the PCK@0.2 of its 2D landmarks against
ours (share of the 12 limb landmarks within 0.2 torso heights), which checks that it found the
body where we drew it, with the right left/right assignment.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import av
import mediapipe as mp
import numpy as np

LIMBS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # shoulders .. ankles


def videos(root: Path) -> list[Path]:
    out = sorted(root.glob("QEVD-FIT-COACH*/long_range_videos/*.mp4"))
    out += sorted(root.glob("QEVD-FIT-300K/*/videos/*.mp4"))
    return out


def check(video: Path, static: bool, max_frames: int) -> tuple[int, int, list[float]]:
    gt = np.load(video.with_name(f"{video.stem}_groundtruth.npz"))["landmarks_2d"]
    found, total, pck = 0, 0, []
    with mp.solutions.pose.Pose(static_image_mode=static, model_complexity=1) as pose:
        with av.open(str(video)) as src:
            for i, frame in enumerate(src.decode(video=0)):
                if i >= max_frames:
                    break
                rgb = frame.to_ndarray(format="rgb24")
                h, w = rgb.shape[:2]
                res = pose.process(rgb)
                total += 1
                if res.pose_landmarks is None:
                    continue
                found += 1
                lm = np.array([[p.x * w, p.y * h] for p in res.pose_landmarks.landmark])
                g = gt[i]
                torso = np.linalg.norm(0.5 * (g[11] + g[12]) - 0.5 * (g[23] + g[24]))
                d = np.linalg.norm(lm[LIMBS] - g[LIMBS], axis=1)
                pck.append(float(np.mean(d < 0.2 * max(torso, 1.0))))
    return found, total, pck


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--max-frames", type=int, default=300, help="per video")
    ap.add_argument("--max-videos", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    args = ap.parse_args()
    vids = videos(args.root)[: args.max_videos]
    result: dict = {
        "mediapipe": mp.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "data": str(args.root),
        "videos": len(vids),
    }
    for static in (False, True):
        t0 = time.time()
        found = total = 0
        pcks: list[float] = []
        per_video = []
        for v in vids:
            f, n, p = check(v, static, args.max_frames)
            found, total, pcks = found + f, total + n, pcks + p
            per_video.append((f / max(n, 1), v.relative_to(args.root).as_posix()))
        key = "static" if static else "tracking"
        result[key] = {
            "frames": total,
            "detection_rate": round(found / max(total, 1), 4),
            "worst_videos": [(round(r, 3), name) for r, name in sorted(per_video)[:5]],
            "pck@0.2_when_detected": round(float(np.mean(pcks)), 4) if pcks else None,
            "seconds": round(time.time() - t0, 1),
        }
        print(key, json.dumps(result[key]))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
