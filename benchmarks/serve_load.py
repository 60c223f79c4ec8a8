"""Load on ``livefit serve``: N concurrent browser-like sessions, each sending a synthetic workout
as JPEG frames at 16 fps in real time, for N = 1, 4, 8 (``--sessions``), ``--seconds`` each.

The server runs as its own process (``python -m livefit serve``, as a user starts it); the
clients are asyncio ``websockets`` connections in this process, speaking the page's protocol
(``livefit/app/session.py``): ``start``, frames (8-byte capture time + JPEG, pre-encoded once, the
size the page sends for a 640x480 camera: 320x240), ``stop``. Each client starts at its own point
of the workout so sessions are not in step. Per N it reports:

- real-time factor per session (the server's compute seconds per second of video; < 1 keeps up)
  and the worst one;
- frames dropped (queue, late, over the rate limit, bad) against frames sent;
- latency p50 / p95 / p99, server-side, from the arrival of the frame that completes a feature
  step to the events it causes being sent (``step_latency_ms`` of the ``stats`` messages: every
  step) and for the feedback events only (their ``latency_ms``); and the client-side round
  trip of the feedback events (capture -> event received), for comparison;
- the server process's CPU use (cores busy, from /proc).

Target: at N = 8 every session keeps real time (worst real-time factor < 1, no frame dropped) and
p95 latency <= 500 ms, on 2 cores. Results go to ``benchmarks/results/serve_load.{md,json}``.

    .venv/bin/python benchmarks/serve_load.py [--sessions 1 4 8] [--seconds 30] [--vision pose]

``--vision pose`` serves the bundled pose coach (MediaPipe Pose per frame) and sends the 640x480
frames the page sends a pose coach (``frame_rows`` 480).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from livefit.app.server import encode_jpeg, frame_message
from livefit.provenance import git_state, library_versions, machine_info

ROOT = Path(__file__).resolve().parents[1]
FPS = 16.0
TARGET_P95_MS = 500.0


# -- the workout ------------------------------------------------------------------------------
def workout_jpegs(seed: int, width: int, height: int, quality: int) -> list[bytes]:
    """A fresh tiny QEVD-SIM workout at 16 fps, each frame letterboxed to ``width`` x ``height``
    (the render scaled to the height, centred: the server's centre crop sees the render) and
    encoded as the page's ``toBlob`` would."""
    import cv2

    from livefit.synth.generate import generate
    from livefit.synth.presets import preset
    from livefit.vision.extract import list_jobs
    from livefit.vision.preprocess import decode_frames, resample_indices

    with tempfile.TemporaryDirectory(prefix="serve-load-") as root:
        config = preset("tiny", train_workouts=0, test_workouts=1, train_clips=0, test_clips=0)
        generate(config, Path(root), seed, workers=1, progress=False)
        _, (job,) = list_jobs(root, "test")
        decoded = list(decode_frames(job.video))
    times = np.array([t for _, t in decoded], dtype=np.float64)
    out = []
    for i in resample_indices(times, FPS):
        frame = decoded[i][0]
        w = round(frame.shape[1] * height / frame.shape[0])
        scaled = cv2.resize(frame, (w, height), interpolation=cv2.INTER_AREA)
        canvas = np.full((height, width, 3), scaled[:, :1].mean(axis=(0, 1)), np.uint8)
        left = (width - w) // 2
        canvas[:, left : left + w] = scaled[:, : min(w, width)]
        out.append(encode_jpeg(canvas, quality))
    return out


# -- the server -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, args: argparse.Namespace) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "livefit",
        "serve",
        "--port",
        str(port),
        "--max-sessions",
        str(max(args.sessions)),
        "--threads",
        str(args.threads),
        "--workers",
        str(args.workers),
        "--log-level",
        "warning",
        "--vision",
        args.vision,
    ]
    server = subprocess.Popen(command, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if json.load(r)["status"] == "ok":
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not answer /health within 120 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- one client -------------------------------------------------------------------------------
@dataclass
class ClientResult:
    frames_sent: int = 0
    step_latency_ms: list[float] = field(default_factory=list)
    feedback_latency_ms: list[float] = field(default_factory=list)
    feedback_round_trip_ms: list[float] = field(default_factory=list)
    feedbacks: list[str] = field(default_factory=list)
    end: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


async def client(
    url: str, jpegs: list[bytes], start: int, seconds: float, delay: float
) -> ClientResult:
    """One browser-like session: frames at 16 fps on this process's clock from frame ``start``
    of the workout, then ``stop``; collects what the server sends."""
    import websockets

    result = ClientResult()
    await asyncio.sleep(delay)
    async with websockets.connect(url, max_size=None) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "ready", hello
        await ws.send(json.dumps({"type": "start", "exercise": None}))
        receiver = asyncio.create_task(_receive(ws, result))
        t0 = time.perf_counter()
        for k in range(int(seconds * FPS)):
            wait = t0 + k / FPS - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            capture_ms = time.perf_counter() * 1000.0
            await ws.send(frame_message(jpegs[(start + k) % len(jpegs)], capture_ms))
            result.frames_sent += 1
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(receiver, timeout=60)
    return result


async def _receive(ws: Any, result: ClientResult) -> None:
    async for raw in ws:
        now_ms = time.perf_counter() * 1000.0
        m = json.loads(raw)
        if m["type"] == "event" and m["kind"] == "feedback":
            result.feedbacks.append(m["text"])
            if "latency_ms" in m:
                result.feedback_latency_ms.append(m["latency_ms"])
                result.feedback_round_trip_ms.append(now_ms - m["capture_ms"])
        elif m["type"] in ("stats", "end"):
            result.step_latency_ms += m["step_latency_ms"]
            if m["type"] == "end":
                result.end = m
                return
        elif m["type"] == "error":
            result.errors.append(m["message"])


# -- aggregation ------------------------------------------------------------------------------
def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    a = np.asarray(values)
    out: dict[str, float | int | None] = {"n": len(values)}
    for q in (50, 95, 99):
        out[f"p{q}"] = round(float(np.percentile(a, q)), 1)
    out["max"] = round(float(a.max()), 1)
    return out


def summarise(n: int, results: list[ClientResult], wall: float, cpu: float) -> dict[str, Any]:
    ends = [r.end for r in results]
    rtf = [e.get("real_time_factor", float("nan")) for e in ends]
    dropped = sum(e.get("frames_dropped_total", 0) for e in ends)
    sent = sum(r.frames_sent for r in results)
    steps = percentiles([x for r in results for x in r.step_latency_ms])
    out = {
        "sessions": n,
        "frames_sent": sent,
        "frames_coached": sum(e.get("frames_in", 0) - e.get("frames_dropped", 0) for e in ends),
        "frames_dropped": dropped,
        "drops": {
            k: sum(e.get(k, 0) for e in ends)
            for k in (
                "frames_queue_dropped",
                "frames_expired",
                "frames_late",
                "frames_over_rate",
                "frames_bad",
            )
        },
        "real_time_factor": [round(x, 4) for x in rtf],
        "worst_real_time_factor": round(max(rtf), 4),
        "feedbacks": sum(len(r.feedbacks) for r in results),
        "step_latency_ms": steps,
        "feedback_latency_ms": percentiles([x for r in results for x in r.feedback_latency_ms]),
        "feedback_round_trip_ms": percentiles(
            [x for r in results for x in r.feedback_round_trip_ms]
        ),
        "server_cores_busy": round(cpu / wall, 3),
        "errors": sorted({e for r in results for e in r.errors}),
    }
    p95 = steps["p95"] if steps["p95"] is not None else float("inf")
    out["keeps_real_time"] = bool(max(rtf) < 1 and dropped == 0)
    out["meets_target"] = bool(out["keeps_real_time"] and p95 <= TARGET_P95_MS)
    return out


async def run_load(
    url: str, jpegs: list[bytes], n: int, seconds: float, seed: int
) -> list[ClientResult]:
    rng = random.Random(seed + n)
    starts = [i * len(jpegs) // n for i in range(n)]  # spread over the workout
    delays = [rng.uniform(0, 1 / FPS) for _ in range(n)]  # browsers are not in phase
    return await asyncio.gather(
        *(client(url, jpegs, s, seconds, d) for s, d in zip(starts, delays, strict=True))
    )


# -- report -----------------------------------------------------------------------------------
def line(r: dict[str, Any]) -> str:
    s, f, rt = r["step_latency_ms"], r["feedback_latency_ms"], r["feedback_round_trip_ms"]
    return (
        f"N={r['sessions']}: real-time factor worst {r['worst_real_time_factor']:.4f} "
        f"(sessions {', '.join(f'{x:.4f}' for x in r['real_time_factor'])}); dropped "
        f"{r['frames_dropped']} of {r['frames_sent']} frames; step latency p50/p95/p99 "
        f"{s['p50']}/{s['p95']}/{s['p99']} ms (n={s['n']}); feedback latency "
        f"{f['p50']}/{f['p95']}/{f['p99']} ms (n={f['n']}), round trip "
        f"{rt['p50']}/{rt['p95']}/{rt['p99']} ms; server {r['server_cores_busy']:.2f} cores busy"
    )


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    rows = []
    for r in report["results"]:
        s, f, rt = r["step_latency_ms"], r["feedback_latency_ms"], r["feedback_round_trip_ms"]
        rows.append(
            f"| {r['sessions']} | {r['worst_real_time_factor']:.4f} | "
            f"{r['frames_dropped']} / {r['frames_sent']} | {s['p50']} / {s['p95']} / {s['p99']} "
            f"(n={s['n']}) | {f['p50']} / {f['p95']} / {f['p99']} (n={f['n']}) | "
            f"{rt['p50']} / {rt['p95']} / {rt['p99']} | {r['server_cores_busy']:.2f} | "
            f"{'yes' if r['meets_target'] else 'NO'} |"
        )
    a = report["args"]
    sessions = " ".join(map(str, a["sessions"]))
    vision = a.get("vision", "cnn")
    return "\n".join(
        [
            "# serve_load: concurrent live sessions on `livefit serve`",
            "",
            f"`.venv/bin/python benchmarks/serve_load.py --sessions {sessions}"
            f" --seconds {a['seconds']:g} --vision {vision}` on {report['date']} (commit "
            f"{report['git']['commit']}{', dirty tree' if report['git']['dirty'] else ''}). "
            f"Server: `livefit serve --threads {a['threads']} --workers {a['workers']} --vision "
            f"{vision}` in its own process, the bundled {vision} coach; clients: asyncio "
            "`websockets` in the benchmark "
            f"process, each sending the JPEG frames ({a['width']}x{a['height']}, quality "
            f"{a['quality']}, {report['jpeg_bytes_mean']:,} bytes on average) of a fresh tiny "
            "QEVD-SIM workout at 16 fps in real time, from its own point in the workout.",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB ({m['platform']}); "
            f"load average before the run {report['load_before']}.",
            "",
            "Latencies in ms, p50 / p95 / p99. Step: server-side, arrival of the frame that "
            "completes a feature step -> that step's events sent (every step). Feedback: the "
            "same for the steps that produced a feedback. Round trip: the client's capture time "
            "-> feedback received. Real-time factor: each session's compute seconds in the "
            "pipeline (waits for the shared model included) per second of video; time in the "
            "server's queue shows in the drops and latencies instead.",
            "",
            "| sessions | worst real-time factor | dropped / sent frames | step latency | "
            "feedback latency | feedback round trip | server cores busy | target met |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "Target: every session keeps real time (real-time factor < 1, nothing dropped) and "
            f"p95 step latency <= {TARGET_P95_MS:g} ms at 8 sessions.",
            "",
            f"Summary: {report['summary']}",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--seconds", type=float, default=30.0, help="duration per N")
    parser.add_argument("--threads", type=int, default=1, help="server torch threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker threads")
    parser.add_argument(
        "--vision",
        choices=["cnn", "pose"],
        default="cnn",
        help="the server's coach (pose: frames as the page sends them, 640x480)",
    )
    parser.add_argument("--width", type=int, default=None, help="default 320 (pose: 640)")
    parser.add_argument("--height", type=int, default=None, help="default 240 (pose: 480)")
    parser.add_argument("--quality", type=int, default=70, help="JPEG quality (toBlob's 0.7)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="default results/serve_load[_pose]")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="drive a server already running on this port (no CPU figures)",
    )
    args = parser.parse_args()
    pose = args.vision == "pose"
    args.out = args.out or ROOT / f"benchmarks/results/serve_load{'_pose' if pose else ''}"
    args.width = args.width or (640 if pose else 320)
    args.height = args.height or (480 if pose else 240)

    jpegs = workout_jpegs(args.seed, args.width, args.height, args.quality)
    load_before = [round(x, 2) for x in os.getloadavg()]
    port = args.port or free_port()
    server = start_server(port, args) if args.port is None else None
    pid = server.pid if server is not None else None
    results = []
    try:
        for n in args.sessions:
            cpu0, tic = cpu_seconds(pid) if pid else 0.0, time.perf_counter()
            clients = asyncio.run(
                run_load(f"ws://127.0.0.1:{port}/ws", jpegs, n, args.seconds, args.seed)
            )
            wall, cpu = time.perf_counter() - tic, cpu_seconds(pid) - cpu0 if pid else float("nan")
            results.append(summarise(n, clients, wall, cpu))
            print(line(results[-1]), flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    last = results[-1]
    p95 = last["step_latency_ms"]["p95"]
    summary = (
        f"N={last['sessions']}: worst real-time factor {last['worst_real_time_factor']:.4f} "
        f"(target < 1: {1 / max(last['worst_real_time_factor'], 1e-9):.0f}x headroom), "
        f"p95 step latency {p95} ms / {TARGET_P95_MS:g} ms = {p95 / TARGET_P95_MS:.3f}, "
        f"dropped {last['frames_dropped']} of {last['frames_sent']} frames; "
        f"target {'met' if last['meets_target'] else 'NOT met'}"
    )
    print("summary:", summary)
    report = {
        "benchmark": "serve_load",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git_state(),
        "machine": machine_info(),
        "versions": library_versions(("livefit", "torch", "fastapi", "uvicorn", "websockets")),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "load_before": load_before,
        "jpeg_bytes_mean": int(np.mean([len(j) for j in jpegs])),
        "results": results,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(
        json.dumps(
            {
                "summary": summary,
                "results": [
                    {
                        k: r[k]
                        for k in (
                            "sessions",
                            "worst_real_time_factor",
                            "frames_dropped",
                            "step_latency_ms",
                            "meets_target",
                        )
                    }
                    for r in results
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
