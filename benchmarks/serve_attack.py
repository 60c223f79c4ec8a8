"""``livefit serve`` under attack while 4 normal sessions stream: do they keep real time?

The server runs as its own process on 127.0.0.1 (``python -m livefit serve``, as a user starts
it; nothing else is ever a target). Four browser-like sessions (``serve_load.client``: a
synthetic workout as JPEG frames at 16 fps in real time) stream for the whole run while these
attacks come, one after another, each bounded in time:

1. hanging frames: two sockets send a good frame, then frames captured at 1e300 ms, 10^10 ms
   later, and half an hour later (before the fix: a worker spinning for good, or 28,800 CNN
   frames under the shared lock), then keep their slots with good frames;
2. the upload flood: with every session slot taken (4 normal + 2 hanging), three 150 MB
   uploads pushed as fast as the server takes them (before the fix: read and spooled in full
   before the 503; then read and thrown away by a kept-alive connection);
3. the text flood: two sockets send bad text messages as fast as they can, one small ones
   (malformed, unknown types), one big ones (100k-deep JSON, 64 KB) (before the fix: the server
   grew by 0.9 GB and a normal session dropped 43 of 48 frames); the server must close them;
4. hostile files: an upload of a 2 KB mkv whose pts jump by 10^10 ms, and of a 2x2 video;
5. cross-site: a WebSocket handshake and a multipart upload with ``Origin: https://evil.example``
   and a request with a foreign ``Host`` (DNS rebinding): all must be refused.

It reports the normal sessions' dropped frames and p95 step latency (server-side, frame arrival
-> its events sent) over the whole run, the server's memory growth (peak RSS over the RSS once
the normal sessions run), what each attack got, and the time the server takes to exit after
SIGTERM while the sessions are still open. Targets: <= 1% of frames dropped, p95 <= 500 ms,
memory growth <= 100 MB, SIGTERM -> exit <= 5 s. Results: ``benchmarks/results/serve_attack.*``.

    .venv/bin/python benchmarks/serve_attack.py [--seconds 45]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serve_load import (  # noqa: E402
    FPS,
    client,
    free_port,
    percentiles,
    start_server,
    workout_jpegs,
)
from videos import write_video  # noqa: E402

from livefit.app.server import frame_message  # noqa: E402
from livefit.provenance import git_state, library_versions, machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NORMAL = 4
TARGETS = {"dropped_share": 0.01, "p95_ms": 500.0, "memory_mb": 100.0, "sigterm_s": 5.0}
EVIL = "https://evil.example"


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def sample_memory(pid: int, samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(rss_mb(pid))
        await asyncio.sleep(0.25)


# -- the attacks ------------------------------------------------------------------------------
async def hanging_frames(url: str, jpeg: bytes, hold: float) -> dict[str, Any]:
    """A good frame, the three hostile capture times, then good frames for ``hold`` seconds."""
    import websockets

    got: dict[str, Any] = {"errors": [], "closed": None}
    async with websockets.connect(url, max_size=None) as ws:
        json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "start", "exercise": "squats"}))
        t0 = time.perf_counter() * 1000
        for capture in (t0, 1e300, t0 + 1e10, t0 + 1_800_000.0):
            await ws.send(frame_message(jpeg, capture))
        end = time.perf_counter() + hold
        k = 1
        while time.perf_counter() < end:
            await ws.send(frame_message(jpeg, t0 + 1_800_000.0 + k * 62.5))
            k += 1
            await asyncio.sleep(1 / FPS)
            while True:
                try:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 0.001))
                except TimeoutError:
                    break
                if m["type"] == "error":
                    got["errors"].append(m["message"][:120])
        await ws.send(json.dumps({"type": "stop"}))
        try:
            async for raw in ws:
                m = json.loads(raw)
                if m["type"] == "end":
                    got["end"] = {
                        k: m.get(k) for k in ("frames_in", "cnn_frames", "gaps", "frames_bad")
                    }
        except websockets.ConnectionClosed:
            pass
    return got


async def upload_flood(port: int, megabytes: int, count: int) -> list[dict[str, Any]]:
    """``count`` uploads of ``megabytes`` MB at once, each pushed as fast as the server takes
    it until the server answers or closes: (answer, seconds, MB it took in)."""

    async def one() -> dict[str, Any]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: "
            f"{megabytes * 2**20}\r\nContent-Type: multipart/form-data; boundary=B\r\n"
            "\r\n"
        ).encode()
        tic, sent, answer = time.perf_counter(), 0, ""
        reply = asyncio.create_task(reader.read(200))
        try:
            writer.write(head)
            while sent < megabytes * 2**20 and not reply.done():
                writer.write(b"\0" * 2**20)
                await writer.drain()
                sent += 2**20
            first = await asyncio.wait_for(reply, 30)
            answer = first.split(b"\r\n", 1)[0].decode() or "closed"
        except (ConnectionError, TimeoutError) as err:
            answer = type(err).__name__
        finally:
            reply.cancel()
            writer.close()
        return {
            "answer": answer,
            "seconds": round(time.perf_counter() - tic, 2),
            "mb_taken_in": round(sent / 2**20, 1),
        }

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def text_flood(url: str, seconds: float, big: bool) -> dict[str, Any]:
    """Bad text messages as fast as the socket takes them, until closed or ``seconds``: small
    ones (malformed, unknown type), or ``big`` ones (100k-deep JSON, 64 KB)."""
    import websockets

    if big:
        bad = ["[" * 100_000 + "]" * 100_000, json.dumps({"type": "x" * 65_536})]
    else:
        bad = ["{oops", json.dumps({"type": "dance"}), "[[[[1]]]]", "null"]
    sent, tic, code = 0, time.perf_counter(), None
    try:
        async with websockets.connect(url, max_size=None) as ws:
            await ws.recv()
            while time.perf_counter() - tic < seconds:
                await ws.send(bad[sent % len(bad)])
                sent += 1
                if sent % 50 == 0:
                    await asyncio.sleep(0)
            code = "still open"
    except websockets.ConnectionClosed as err:
        code = err.rcvd.code if err.rcvd else "closed"
    return {
        "kind": "big" if big else "small",
        "messages_sent": sent,
        "closed_with": code,
        "seconds": round(time.perf_counter() - tic, 2),
    }


async def hostile_files(base: str, folder: Path) -> dict[str, Any]:
    import httpx

    jump = write_video(folder / "jump.mkv", [0, 33, 66, 10**10, 10**10 + 33])
    tiny = write_video(folder / "tiny.mkv", [0, 33, 66], size=(2, 2))
    out = {}
    async with httpx.AsyncClient(timeout=60) as http:
        for video in (jump, tiny):
            tic = time.perf_counter()
            r = await http.post(f"{base}/upload", files={"video": (video.name, video.read_bytes())})
            out[video.name] = {
                "bytes": video.stat().st_size,
                "status": r.status_code,
                "seconds": round(time.perf_counter() - tic, 2),
                "message": r.json().get("message", "")[:160],
            }
    return out


async def cross_site(base: str, url: str, port: int) -> dict[str, Any]:
    import httpx
    import websockets

    out: dict[str, Any] = {}
    try:
        async with websockets.connect(url, origin=EVIL) as ws:  # type: ignore[arg-type]
            out["ws_foreign_origin"] = f"accepted: {(await ws.recv())[:60]}"
    except websockets.InvalidStatus as err:
        out["ws_foreign_origin"] = err.response.status_code
    except websockets.ConnectionClosed as err:
        out["ws_foreign_origin"] = f"closed {err.rcvd.code if err.rcvd else ''}"
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(
            f"{base}/upload", headers={"origin": EVIL}, files={"video": ("x.mp4", b"\0" * 1024)}
        )
        out["upload_foreign_origin"] = r.status_code
        r = await http.get(f"{base}/health", headers={"host": f"rebind.example:{port}"})
        out["health_foreign_host"] = r.status_code
        r = await http.get(f"{base}/docs")
        out["docs"] = r.status_code
    return out


# -- the run ----------------------------------------------------------------------------------
async def attack_run(
    port: int, pid: int, jpegs: list[bytes], seconds: float, folder: Path
) -> dict[str, Any]:
    base, url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"
    samples: list[float] = []
    stop = asyncio.Event()
    memory = asyncio.create_task(sample_memory(pid, samples, stop))
    normal = [
        asyncio.create_task(client(url, jpegs, i * len(jpegs) // NORMAL, seconds, i / 64))
        for i in range(NORMAL)
    ]
    await asyncio.sleep(3.0)
    baseline = rss_mb(pid)
    attacks: dict[str, Any] = {}
    hang = [asyncio.create_task(hanging_frames(url, jpegs[0], 10.0)) for _ in range(2)]
    await asyncio.sleep(2.0)  # every slot is taken now
    attacks["upload_flood_while_full"] = await upload_flood(port, 150, 3)
    attacks["hanging_frames"] = await asyncio.gather(*hang)
    attacks["text_flood"] = await asyncio.gather(
        text_flood(url, 5.0, False), text_flood(url, 5.0, True)
    )
    attacks["hostile_files"] = await hostile_files(base, folder)
    attacks["cross_site"] = await cross_site(base, url, port)
    results = await asyncio.gather(*normal)
    stop.set()
    await memory
    return {
        "normal": results,
        "attacks": attacks,
        "rss_baseline_mb": round(baseline, 1),
        "rss_peak_mb": round(max(samples), 1),
    }


async def sigterm_time(port: int, server: Any, jpegs: list[bytes]) -> float:
    """Seconds from SIGTERM to the server's exit while two sessions are still streaming."""
    url = f"ws://127.0.0.1:{port}/ws"
    streams = [asyncio.create_task(client(url, jpegs, 0, 30.0, 0)) for _ in range(2)]
    await asyncio.sleep(3.0)
    tic = time.perf_counter()
    server.send_signal(signal.SIGTERM)
    while server.poll() is None and time.perf_counter() - tic < 30:
        await asyncio.sleep(0.05)
    took = time.perf_counter() - tic
    if server.poll() is None:
        server.kill()
    for task in streams:
        task.cancel()
    await asyncio.gather(*streams, return_exceptions=True)
    return took


def summarise(run: dict[str, Any], sigterm_s: float) -> dict[str, Any]:
    ends = [r.end for r in run["normal"]]
    sent = sum(r.frames_sent for r in run["normal"])
    dropped = sum(e.get("frames_dropped_total", 0) for e in ends)
    steps = percentiles([x for r in run["normal"] for x in r.step_latency_ms])
    growth = run["rss_peak_mb"] - run["rss_baseline_mb"]
    measured = {
        "normal_sessions": NORMAL,
        "frames_sent": sent,
        "frames_dropped": dropped,
        "dropped_share": round(dropped / max(sent, 1), 4),
        "sessions_ended_cleanly": sum(bool(e) for e in ends),
        "step_latency_ms": steps,
        "memory_growth_mb": round(growth, 1),
        "sigterm_exit_s": round(sigterm_s, 2),
    }
    p95 = steps["p95"] if steps["p95"] is not None else float("inf")
    measured["meets"] = {
        "dropped": measured["dropped_share"] <= TARGETS["dropped_share"] and all(ends),
        "p95": p95 <= TARGETS["p95_ms"],
        "memory": growth <= TARGETS["memory_mb"],
        "sigterm": sigterm_s <= TARGETS["sigterm_s"],
    }
    return measured


def markdown(report: dict[str, Any]) -> str:
    m, r = report["machine"], report["measured"]
    s = r["step_latency_ms"]
    ok = {True: "met", False: "**NOT met**"}
    lines = [
        "# `livefit serve` under attack (`benchmarks/serve_attack.py`)",
        "",
        f"{report['date']}, git {report['git'].get('commit', '?')[:10]}, "
        f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores; {report['args']['seconds']:g} s of "
        f"{r['normal_sessions']} normal sessions at 16 fps while the attacks ran.",
        "",
        "| what | measured | target | |",
        "| --- | --- | --- | --- |",
        f"| normal sessions: frames dropped | {r['frames_dropped']} of {r['frames_sent']} "
        f"({100 * r['dropped_share']:.2f}%) | <= 1% | {ok[r['meets']['dropped']]} |",
        f"| normal sessions: step latency p50 / p95 / p99 | {s['p50']} / {s['p95']} / {s['p99']}"
        f" ms (n={s['n']}) | p95 <= 500 ms | {ok[r['meets']['p95']]} |",
        f"| server memory growth (peak RSS - RSS with the sessions running) | "
        f"{r['memory_growth_mb']} MB | <= 100 MB | {ok[r['meets']['memory']]} |",
        f"| SIGTERM -> exit, 2 sessions open | {r['sigterm_exit_s']} s | <= 5 s | "
        f"{ok[r['meets']['sigterm']]} |",
        "",
        "## What each attack got",
        "",
        "```json",
        json.dumps(report["attacks"], indent=1),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=45.0, help="normal sessions' length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve_attack")
    args = parser.parse_args()
    if args.seconds < 30:
        parser.error("--seconds must be >= 30 (the attacks take about 25 s)")

    jpegs = workout_jpegs(args.seed, 320, 240, 70)
    port = free_port()
    server_args = argparse.Namespace(sessions=[NORMAL + 2], threads=1, workers=2)
    server = start_server(port, server_args)
    try:
        with tempfile.TemporaryDirectory(prefix="serve-attack-") as folder:
            run = asyncio.run(attack_run(port, server.pid, jpegs, args.seconds, Path(folder)))
        took = asyncio.run(sigterm_time(port, server, jpegs))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    measured = summarise(run, took)
    report = {
        "benchmark": "serve_attack",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git_state(),
        "machine": machine_info(),
        "versions": library_versions(("livefit", "torch", "fastapi", "uvicorn", "websockets")),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "measured": measured,
        "attacks": run["attacks"],
        "normal_errors": sorted({e[:120] for c in run["normal"] for e in c.errors}),
        "rss_mb": {"baseline": run["rss_baseline_mb"], "peak": run["rss_peak_mb"]},
        "jpeg_bytes_mean": int(np.mean([len(j) for j in jpegs])),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    met = all(measured["meets"].values())
    print(json.dumps({"measured": measured, "attacks": run["attacks"]}, indent=1))
    print(
        f"summary: dropped {measured['frames_dropped']}/{measured['frames_sent']}, p95 "
        f"{measured['step_latency_ms']['p95']} ms, memory +{measured['memory_growth_mb']} MB, "
        f"SIGTERM {measured['sigterm_exit_s']} s: targets {'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
