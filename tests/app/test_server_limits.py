"""``livefit serve`` under floods, full slots, unusable videos, stuck workers and shutdown (issue
20): each case against the real app (FastAPI's TestClient on ``create_app``, or httpx's ASGI
transport where the request body must be streamed) or a real ``livefit serve`` process on
127.0.0.1, and each leaving the other sessions working."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from test_server import UNPACED, assert_healthy, end_stats, ready, receive_until, serve
from videos import write_video

from livefit.app.server import encode_jpeg, frame_message
from livefit.stream.live import LivePipeline

FRAME_MS = 1000.0 / 16
STOP = json.dumps({"type": "stop"})


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    """24 small frame messages at 16 fps (what a page sends, smaller)."""
    return [
        frame_message(encode_jpeg(np.full((96, 128, 3), 40 + k, np.uint8)), k * FRAME_MS)
        for k in range(24)
    ]


def until_closed(ws) -> tuple[list[dict], int | None]:
    """Every message until the server closes the socket -> (messages, close code): no message
    has the type "closed", so ``receive_until`` reads to the close."""
    return receive_until(ws, "closed")


def session_works(client, frames: list[bytes]) -> None:
    """A fresh session is coached in full (the server survived what came before)."""
    with client.websocket_connect("/ws") as ws:
        ready(ws)
        ws.send_text(json.dumps({"type": "start", "exercise": "squats"}))
        for m in frames:
            ws.send_bytes(m)
        ws.send_text(STOP)
        sent, code = receive_until(ws, "end")
    assert code == 1000 and end_stats(sent)["frames_in"] == len(frames), sent[-1]


# -- hostile capture times ---------------------------------------------------------------------
def test_hostile_capture_times_are_bad_frames_and_a_long_gap_costs_nothing(bundled_coach, frames):
    """A frame stamped 1e300 ms (before the fix: a worker spinning for good), one 10^10 ms later
    (the same) and one half an hour later (28,800 CNN frames under the shared lock): the first
    two are non-fatal errors naming the problem, the gap is a gap, and the server stays well."""
    jpeg = frames[0][8:]
    gap_ms = 1_800_000.0
    hostile = [1e300, 23 * FRAME_MS + 1e10] + [gap_ms + k * FRAME_MS for k in range(24)]
    with serve(bundled_coach, **UNPACED) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            ws.send_text(json.dumps({"type": "start", "exercise": "squats"}))
            for m in frames:
                ws.send_bytes(m)
            for capture_ms in hostile:
                ws.send_bytes(frame_message(jpeg, capture_ms))
            ws.send_text(STOP)
            sent, code = receive_until(ws, "end")
        assert code == 1000
        errors = [m["message"] for m in sent if m["type"] == "error"]
        assert len(errors) == 2 and not any(m["fatal"] for m in sent if m["type"] == "error")
        assert "capture time must be a finite number of seconds within +-1e+11" in errors[0]
        assert "capture time jumps 1e+07 s past the previous frame's" in errors[1]
        end = end_stats(sent)
        assert end["frames_bad"] == 2 and end["gaps"] == 1 and end["gap_seconds"] > 1790
        assert end["frames_in"] == 48 and end["cnn_frames"] == 48  # nothing filled in the gap
        assert_healthy(client)
        session_works(client, frames)


# -- floods -----------------------------------------------------------------------------------
def test_a_text_message_flood_closes_that_socket_only(bundled_coach, frames):
    with serve(bundled_coach, **UNPACED) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            for _ in range(50):
                ws.send_text("not json")
            ws.send_text(STOP)  # what ends the session when nothing closes it
            sent, code = until_closed(ws)
        errors = [m for m in sent if m["type"] == "error"]
        assert code == 1008 and errors[-1]["fatal"], (code, errors[-1:])
        assert "more than 8 text messages at once or 2 per second" in errors[-1]["message"]
        assert len(errors) <= 8 + 1  # one reply per message of the burst at most, the fatal one
        assert_healthy(client)
        session_works(client, frames)


def test_error_replies_are_bounded_and_echoes_cut_short(bundled_coach, monkeypatch):
    from starlette.websockets import WebSocket

    send_text = WebSocket.send_text

    async def slow_send(self, data: str) -> None:  # a client that reads its replies slowly
        await asyncio.sleep(0.01)
        await send_text(self, data)

    monkeypatch.setattr(WebSocket, "send_text", slow_send)
    many = dict(max_texts_per_second=1e6, text_burst=1000, max_pending_errors=2)
    with serve(bundled_coach, **UNPACED, **many) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            ws.send_text(json.dumps({"type": "x" * 3000}))
            for _ in range(299):
                ws.send_text(json.dumps({"type": "dance"}))
            ws.send_text(STOP)
            sent, code = receive_until(ws, "end")
        errors = [m["message"] for m in sent if m["type"] == "error"]
        assert code == 1000 and errors[0].startswith("unknown message type 'xxx")
        assert len(errors[0]) < 200, errors[0]
        stats = end_stats(sent)
        assert stats["errors_dropped"] > 0 and len(errors) + stats["errors_dropped"] == 300


def test_a_big_text_message_ends_the_session_and_deep_nesting_is_an_error(bundled_coach):
    with serve(bundled_coach, **UNPACED) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            ws.send_text("[" * 4000)  # within 4 KiB, nested deeper than the parser goes
            ws.send_text(STOP)
            sent, code = receive_until(ws, "end")
        (error,) = [m for m in sent if m["type"] == "error"]
        assert code == 1000 and not error["fatal"], (code, error)
        assert "nested too deeply" in error["message"]
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            ws.send_text("[" * 100_000)
            ws.send_text(STOP)
            sent, code = until_closed(ws)
        assert code == 1009, (code, sent[-1:])
        assert "100,000 bytes is larger than the limit (4,096 bytes)" in sent[-1]["message"]
        assert_healthy(client)


def test_a_frame_flood_closes_that_socket_only(bundled_coach, frames):
    with serve(bundled_coach, max_fps=10, max_queue_frames=1000) as client:
        with client.websocket_connect("/ws") as other:  # a session that must not notice
            ready(other)
            other.send_text(json.dumps({"type": "start", "exercise": "squats"}))
            for m in frames[:8]:
                other.send_bytes(m)
            with client.websocket_connect("/ws") as ws:
                ready(ws)
                for k in range(60):  # 4 x 10 fps allows a burst of 40
                    ws.send_bytes(frame_message(frames[0][8:], k * 1.0))
                ws.send_text(STOP)
                sent, code = until_closed(ws)
            assert code == 1008, (code, sent[-1:])
            assert "more than 4 times the limit of 10 per second" in sent[-1]["message"]
            other.send_text(STOP)
            sent, code = receive_until(other, "end")
        assert code == 1000 and end_stats(sent)["frames_in"] == 8
        assert_healthy(client)


# -- uploads ----------------------------------------------------------------------------------
def test_an_upload_when_full_is_refused_before_its_body_is_read(bundled_coach):
    import httpx

    chunks_read = 0

    async def body():
        nonlocal chunks_read
        yield b'--B\r\nContent-Disposition: form-data; name="video"; filename="big.mp4"\r\n\r\n'
        for _ in range(64):  # 4 MB, sent chunked (no Content-Length)
            chunks_read += 1
            yield b"\x00" * 65536
        yield b"\r\n--B--\r\n"

    async def post(app) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # streams the body as the app reads it
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = {"content-type": "multipart/form-data; boundary=B"}
            return await http.post("/upload", content=body(), headers=headers)

    with serve(bundled_coach, max_sessions=1) as client:
        with client.websocket_connect("/ws") as ws:  # takes the only slot
            ready(ws)
            answer = asyncio.run(post(client.app))
            ws.send_text(STOP)
            receive_until(ws, "end")
        assert answer.status_code == 503, answer.text
        assert "1 of 1 sessions in use" in answer.json()["message"]
        assert chunks_read <= 1, f"{chunks_read} of 64 chunks read before the refusal"
        assert_healthy(client)


def test_a_refused_upload_closes_its_connection_instead_of_reading_the_rest(bundled_coach):
    """Over real HTTP (uvicorn on 127.0.0.1), with every slot taken: the server answers 503
    and closes the connection, so a 150 MB upload cannot be pushed into it (kept alive, uvicorn
    read and threw away all 150 MB before the next request could come). The client sees the
    503, or a reset if it was still sending: either way the rest is never read."""
    import uvicorn

    from livefit.app.access import AccessPolicy
    from livefit.app.server import ServerLimits, create_app

    app = create_app(bundled_coach, ServerLimits(max_sessions=1), access=AccessPolicy())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    sent, answer = 0, b""
    try:
        while not server.started:
            time.sleep(0.02)
        assert app.state.server.acquire()  # the only slot is taken
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            head = (
                b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 157286400\r\n"
                b"Content-Type: multipart/form-data; boundary=B\r\n\r\n"
            )
            try:
                conn.sendall(head)
                while sent < 150 * 2**20:
                    conn.sendall(b"\0" * 2**20)
                    sent += 2**20
                answer = conn.recv(65536)
            except OSError:  # reset or broken pipe: the server closed the connection
                try:
                    answer = conn.recv(65536)
                except OSError:
                    pass
        app.state.server.release()
    finally:
        server.should_exit = True
        thread.join(10)
    assert sent < 32 * 2**20, f"{sent / 2**20:.0f} MB of 150 taken in"  # socket buffers only
    assert answer == b"" or answer.startswith(b"HTTP/1.1 503"), answer[:80]


def test_an_unusable_video_upload_is_refused_by_name(bundled_coach, tmp_path):
    videos = {
        "one.mkv": (write_video(tmp_path / "1.mkv", [0, 33, 66], (1, 1)), "frame 1: a frame"),
        "two.mkv": (write_video(tmp_path / "2.mkv", [0, 33, 66], (2, 2)), "frame 1: a frame"),
        # a 10^10 ms jump in the timestamps: once a worker spun on it for ever
        "jump.mkv": (
            write_video(tmp_path / "j.mkv", [0, 33, 66, 10**10 + 99], (32, 32)),
            "frame 4: capture time jumps",
        ),
    }
    with serve(bundled_coach) as client:
        for name, (path, problem) in videos.items():
            answer = client.post("/upload", files={"video": (name, path.read_bytes())})
            assert answer.status_code == 422, (name, answer.status_code, answer.text)
            assert answer.json()["message"].startswith(f"{name}: {problem}"), answer.json()
        assert_healthy(client)


# -- stuck workers ----------------------------------------------------------------------------
def test_health_reports_a_stuck_worker(bundled_coach, frames, monkeypatch):
    release = threading.Event()
    push = LivePipeline.push

    def stuck(self, frame, t, lag=0.0):
        release.wait(30)  # a frame the coach does not come back from (until released)
        return push(self, frame, t, lag)

    monkeypatch.setattr(LivePipeline, "push", stuck)
    with serve(bundled_coach, stuck_seconds=0.2, **UNPACED) as client:
        assert client.get("/health").json()["workers"]["stuck"] == 0
        with client.websocket_connect("/ws") as ws:
            session = ready(ws)["session"]
            ws.send_text(json.dumps({"type": "start", "exercise": "squats"}))
            ws.send_bytes(frames[0])
            for _ in range(100):
                health = client.get("/health")
                if health.status_code == 503:
                    break
                time.sleep(0.05)
            release.set()
            assert health.status_code == 503, health.json()
            workers = health.json()["workers"]
            assert health.json()["status"] == "degraded" and workers["stuck"] == 1
            assert workers["stuck_jobs"] == [{"kind": "frame", "session": session}]
            ws.send_text(STOP)
            receive_until(ws, "end")
        assert_healthy(client)  # released: ok again
        assert client.get("/health").status_code == 200


# -- shutdown ---------------------------------------------------------------------------------
# ``python -m livefit serve`` (the same ``livefit.cli.main``) with a coach whose first frame
# never comes back: a worker thread that no shutdown can join.
STUCK_SERVER = """
import pathlib, sys, threading
from livefit.stream.live import LivePipeline
marker = pathlib.Path(sys.argv[2])
def stuck(self, frame, t, lag=0.0):
    marker.touch()  # a worker thread is in, and stays
    threading.Event().wait()
LivePipeline.push = stuck
from livefit.cli import main
sys.argv = ["livefit", "serve", "--host", "127.0.0.1", "--port", sys.argv[1]]
main()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return json.loads(err.read())
    except OSError:
        return None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.slow(10)
def test_a_signal_stops_the_server_within_5_s_whatever_its_workers_do(frames, sig, tmp_path):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", STUCK_SERVER, str(port), str(tmp_path / "stuck")],
            env=env,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 90
        while _health(port) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            ws.send(json.dumps({"type": "start", "exercise": "squats"}))
            for m in frames[:3]:
                ws.send(m)
            while not (tmp_path / "stuck").exists():
                assert time.monotonic() < deadline, "no frame reached a worker"
                time.sleep(0.05)
            tic = time.monotonic()
            proc.send_signal(sig)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=10)
            proc.wait(timeout=10)
            elapsed = time.monotonic() - tic
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001, closed.value
        assert elapsed < 5.0, f"stopped after {elapsed:.1f} s"
        if sig == signal.SIGINT:  # uvicorn returns: the process leaves its stuck thread
            assert proc.returncode == 0 and "still busy after shutdown" in log.read_text()
        else:  # uvicorn raises SIGTERM again once stopped: the process ends by it
            assert proc.returncode == -signal.SIGTERM, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
