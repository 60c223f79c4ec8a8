"""``livefit serve`` through FastAPI's TestClient: the WebSocket protocol on a synthetic workout
(checked against the live pipeline run directly on the same frames), the upload endpoint, and
every kind of bad input, each leaving the server and the other sessions working."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from contextlib import contextmanager

import numpy as np
import pytest
from fastapi.testclient import TestClient
from feedback_lines import assert_said_as_decoded, record_lines
from typer.testing import CliRunner

from livefit.app.access import AccessPolicy
from livefit.app.history import History
from livefit.app.server import (
    FrameError,
    JsonLogFormatter,
    ServerLimits,
    create_app,
    decode_jpeg,
    encode_jpeg,
    frame_message,
    jpeg_size,
    parse_frame,
)
from livefit.app.summary import summarize
from livefit.stream.live import LiveConfig

FRAME_MS = 1000.0 / 16
# Frames go in as fast as the test can send them: no rate limit, no queue or lag drops.
UNPACED = dict(max_fps=1e6, max_queue_frames=100_000, max_lag_seconds=1e9)


@pytest.fixture(scope="module")
def jpegs(workout_frames) -> list[bytes]:
    """The workout's first 20 s (its first exercise; tests/app/conftest.py) as JPEGs."""
    return [encode_jpeg(f) for f in workout_frames]


@pytest.fixture(scope="module")
def messages(jpegs) -> list[bytes]:
    """The workout's first 20 s as frame messages, frame k captured at k / 16 s."""
    return [frame_message(j, k * FRAME_MS) for k, j in enumerate(jpegs)]


@contextmanager
def serve(bundled_coach, history=None, **limits):
    # The app answers only the host names it serves: here TestClient's (its WebSocket
    # requests always go to ws://testserver).
    access = AccessPolicy(("testserver",))
    app = create_app(bundled_coach, ServerLimits(**limits), access=access, history=history)
    with TestClient(app) as client:
        yield client


def receive_until(ws, kind: str = "end") -> tuple[list[dict], int | None]:
    """Messages until one of type ``kind`` (then also the server's close, if any) -> (messages,
    close code or None)."""
    out: list[dict] = []
    while True:
        raw = ws.receive()
        if raw["type"] == "websocket.close":
            return out, raw["code"]
        out.append(json.loads(raw["text"]))
        if out[-1]["type"] == kind:
            if kind in ("end", "error") and out[-1].get("fatal", True):
                closing = ws.receive()
                assert closing["type"] == "websocket.close", closing
                return out, closing["code"]
            return out, None


def ready(ws) -> dict:
    message = ws.receive_json()
    assert message["type"] == "ready", message
    return message


def stream(ws, messages, exercise=None) -> tuple[list[dict], int | None]:
    """A whole session: start, every frame, stop -> everything the server sent (from 'ready'
    on), close code."""
    hello = ready(ws)
    ws.send_text(json.dumps({"type": "start", "exercise": exercise}))
    for m in messages:
        ws.send_bytes(m)
    ws.send_text(json.dumps({"type": "stop"}))
    sent, code = receive_until(ws, "end")
    return [hello, *sent], code


def events(sent: list[dict], *kinds: str) -> list[dict]:
    return [m for m in sent if m["type"] == "event" and (not kinds or m["kind"] in kinds)]


def end_stats(sent: list[dict]) -> dict:
    (end,) = [m for m in sent if m["type"] == "end"]
    return end


def assert_healthy(client, active: int = 0) -> None:
    """The server answers and, once sessions have wound down, has ``active`` of them. (A test
    that drops a socket waits for this before leaving the socket's ``with``: TestClient cancels
    the app's handler on exit, which a real server does not do.)"""
    for _ in range(100):
        health = client.get("/health").json()
        if health["sessions"]["active"] == active:
            break
        time.sleep(0.02)
    assert health["status"] == "ok" and health["sessions"]["active"] == active, health


def small_session_works(client, messages) -> None:
    """A fresh session still gets coached (the server survived what came before)."""
    with client.websocket_connect("/ws") as ws:
        sent, code = stream(ws, messages[:40])
    assert code == 1000 and end_stats(sent)["frames_in"] == 40


# -- the happy path ---------------------------------------------------------------------------
def test_health_names_the_model_sessions_and_versions(bundled_coach):
    with serve(bundled_coach, max_sessions=3) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok"
        assert health["sessions"] == {"active": 0, "max": 3, "served": 0}
        assert health["model"]["name"] == "bundled coach"
        assert "squats" in health["model"]["exercises"]
        assert health["versions"]["torch"] and health["versions"]["fastapi"]
        assert health["uptime_s"] >= 0
        page = client.get("/")
        assert page.status_code == 200 and "livefit" in page.text and "app.js" in page.text
        for name in ("app.js", "style.css"):
            assert client.get(f"/static/{name}").status_code == 200, name


@pytest.mark.slow(3)
def test_a_session_coaches_a_workout_like_the_pipeline_does(
    bundled_coach, jpegs, messages, monkeypatch, tmp_path
):
    # Decoding takes no time on a frozen wall clock: the steps dropped while the coach talks
    # depend on its words alone, not on how loaded the machine is (the server and the
    # reference share this engine: it is cached per engine config).
    engine = bundled_coach.engine(LiveConfig(bgr=True))
    monkeypatch.setattr(engine, "clock", lambda: 0.0)
    lines = record_lines(monkeypatch)
    history = History(tmp_path / "history.sqlite3")
    with serve(bundled_coach, history, **UNPACED) as client:
        with client.websocket_connect("/ws") as ws:
            sent, code = stream(ws, messages)
        listed = client.get("/api/history").json()
        (summary,) = [m for m in sent if m["type"] == "summary"]
        stored = client.get(f"/api/history/{summary['history_id']}").json()
        assert "/static/history.js" in client.get("/history").text
    assert sent[0]["protocol"] == 1 and sent[0]["limits"]["max_sessions"] == 8
    assert sent[0]["frame_rows"] == 240  # the CNN coach: small frames suffice
    assert sent[0]["skeleton"] is None and not [m for m in sent if m["type"] == "pose"]
    # the reference: the same JPEGs straight through a live pipeline
    pipe = bundled_coach.pipeline(LiveConfig(bgr=True))
    reference = []
    for k, jpeg in enumerate(jpegs):
        reference += pipe.push(decode_jpeg(jpeg), k * FRAME_MS / 1000)
    reference += pipe.close()

    assert code == 1000
    got = events(sent)
    assert [(e["kind"], e["text"]) for e in got if e["kind"] != "text"] == [
        (e.kind, e.text) for e in reference if e.kind != "text"
    ]
    feedbacks = events(sent, "feedback")
    assert feedbacks and all(f["text"] for f in feedbacks)
    # the page gets whole lines, each its tokens' decoding (the reference's come after them)
    assert_said_as_decoded([f["text"] for f in feedbacks], lines[: len(feedbacks)])
    assert {e["text"] for e in events(sent, "exercise")} - {"general"}, "no exercise recognised"
    for e in got[:-1]:  # all but the closing event come from a frame: its latency is stamped
        assert e["latency_ms"] >= 0 and e["capture_ms"] == pytest.approx(e["time"] * 1000, abs=200)
    stats = end_stats(sent)
    assert stats["frames_received"] == stats["frames_in"] == len(messages)
    assert stats["frames_dropped_total"] == 0 and stats["steps"] == len(messages) // 4
    assert 0 < stats["real_time_factor"] < 1
    # After 'stop': the session's summary, before 'end'; and the session is in the history.
    assert [m["type"] for m in sent[-2:]] == ["summary", "end"]
    expected = summarize(reference, pipe.stats.media_seconds)
    assert {
        k: v for k, v in summary.items() if k not in ("type", "history_id")
    } == expected.to_json()
    assert [s["id"] for s in listed["sessions"]] == [summary["history_id"]]
    assert (
        listed["sessions"][0]["source"] == "page"
        and listed["sessions"][0]["summary"] == stored["summary"]
    )
    said = [e["text"] for e in stored["events"] if e["kind"] == "feedback"]
    assert said == [f["text"] for f in feedbacks]
    assert set(listed["progress"]) == {e["exercise"] for e in expected.to_json()["exercises"]}


def test_a_fixed_exercise_and_stats_while_streaming(bundled_coach, messages):
    with serve(bundled_coach, stats_seconds=0.05, **UNPACED) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            ws.send_text(json.dumps({"type": "start", "exercise": "squats"}))
            for m in messages[:64]:
                ws.send_bytes(m)
            time.sleep(0.3)  # let some stats messages go out
            ws.send_text(json.dumps({"type": "stop"}))
            sent, code = receive_until(ws, "end")
    assert code == 1000
    (start,) = [e for e in events(sent, "session") if e["text"]]
    assert start["exercise"] == "squats"
    stats = [m for m in sent if m["type"] == "stats"]
    assert stats and all("step_latency_ms" in s and "real_time_factor" in s for s in stats)
    latencies = [x for s in [*stats, end_stats(sent)] for x in s["step_latency_ms"]]
    assert len(latencies) == 16 and all(x >= 0 for x in latencies)


def test_upload_coaches_a_whole_video(bundled_coach, workout_video, tmp_path):
    import av

    with av.open(str(workout_video)) as c:
        frames = c.streams.video[0].frames
    history = History(tmp_path / "history.sqlite3")
    with serve(bundled_coach, history) as client:
        with open(workout_video, "rb") as f:
            answer = client.post("/upload", files={"video": ("workout.mp4", f, "video/mp4")})
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["video"] == "workout.mp4" and result["frames"] == frames > 500
        assert result["feedbacks"] and result["stats"]["feedbacks"] == len(result["feedbacks"])
        assert any(e["kind"] == "exercise" and e["text"] != "general" for e in result["events"])
        assert_healthy(client)
    (stored,) = history.sessions()
    assert (stored.id, stored.source) == (result["history_id"], "upload")
    assert stored.summary.to_json() == result["summary"] and stored.summary.lines == len(
        result["feedbacks"]
    )


def test_the_history_view_without_a_history_or_with_a_locked_one(bundled_coach, tmp_path):
    with serve(bundled_coach) as client:
        answer = client.get("/api/history")
        assert answer.status_code == 404 and "keeps no history" in answer.json()["message"]
    path = tmp_path / "history.sqlite3"
    History(path).sessions()
    with sqlite3.connect(path, isolation_level=None) as holder:
        holder.execute("CREATE TABLE t (x)")  # a file: then lock it
        holder.execute("BEGIN EXCLUSIVE")
        with serve(bundled_coach, History(path, timeout=0.1)) as client:
            answer = client.get("/api/history")
        holder.execute("ROLLBACK")
    assert answer.status_code == 409 and "locked by another process" in answer.json()["message"]
    with serve(bundled_coach, History(path)) as client:
        assert client.get("/api/history/5").status_code == 404


# -- bad input --------------------------------------------------------------------------------
def test_a_non_video_upload_is_refused_by_name(bundled_coach, messages):
    with serve(bundled_coach, **UNPACED) as client:
        bad = client.post("/upload", files={"video": ("notes.mp4", b"hello, not a video" * 50)})
        assert bad.status_code == 422
        message = bad.json()["message"]
        assert message.startswith("notes.mp4: cannot open video"), message
        assert "livefit-upload" not in message  # the server's temporary path is not leaked
        no_file = client.post("/upload", data={"exercise": "squats"})
        assert no_file.status_code == 400 and "field named 'video'" in no_file.json()["message"]
        assert_healthy(client)
        small_session_works(client, messages)


def test_a_truncated_mp4_upload_is_refused_by_name(bundled_coach, workout_video):
    data = workout_video.read_bytes()
    with serve(bundled_coach) as client:
        for cut in (len(data) // 2, 4000):
            bad = client.post("/upload", files={"video": ("cut.mp4", data[:cut], "video/mp4")})
            assert bad.status_code == 422, bad.text
            message = bad.json()["message"]
            assert message.startswith("cut.mp4: ") and ("video" in message), message
        assert_healthy(client)


def test_an_upload_over_the_size_limit_is_refused_before_it_is_stored(bundled_coach, workout_video):
    with serve(bundled_coach, max_upload_bytes=10_000) as client:
        with open(workout_video, "rb") as f:
            big = client.post("/upload", files={"video": ("workout.mp4", f, "video/mp4")})
        assert big.status_code == 413
        assert "larger than the limit" in big.json()["message"]
        assert_healthy(client)


def test_a_socket_dropped_mid_stream_frees_its_session(bundled_coach, messages):
    with serve(bundled_coach, max_sessions=1, **UNPACED) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            for m in messages[:100]:
                ws.send_bytes(m)
            ws.receive_json()  # coached at least a bit
            ws.close()  # the client vanishes without 'stop': the one slot comes back
            assert_healthy(client, active=0)
        small_session_works(client, messages)


def test_malformed_frames_are_reported_and_the_session_goes_on(bundled_coach, messages):
    good = messages[:40]
    header = frame_message(b"", 0.0)
    bad = {
        "not a JPEG": header + b"this is not a jpeg at all",
        "corrupt JPEG": messages[41][: len(messages[41]) // 2],
        "too short": b"\x00\x01",
        "finite number": frame_message(messages[42][8:], float("nan")),
    }
    with serve(bundled_coach, **UNPACED) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            for m in good[:20]:
                ws.send_bytes(m)
            for m in bad.values():
                ws.send_bytes(m)
            for k, m in enumerate(good[20:]):  # capture times continue after the bad frames
                ws.send_bytes(frame_message(m[8:], (20 + k) * FRAME_MS))
            ws.send_text("not json")
            ws.send_text(json.dumps({"type": "dance"}))
            ws.send_text(json.dumps({"type": "stop"}))
            sent, code = receive_until(ws, "end")
        assert code == 1000
        errors = [m["message"] for m in sent if m["type"] == "error"]
        assert all(not m["fatal"] for m in sent if m["type"] == "error")
        for what in bad:
            assert any(what in e for e in errors), (what, errors)
        assert any("must be JSON" in e for e in errors) and any("'dance'" in e for e in errors)
        stats = end_stats(sent)
        assert stats["frames_bad"] == 4 and stats["frames_in"] == 40
        assert_healthy(client)


def test_too_many_bad_frames_in_a_row_end_the_session(bundled_coach, messages):
    with serve(bundled_coach, max_bad_frames=3, **UNPACED) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            for _ in range(3):
                ws.send_bytes(frame_message(b"GIF89a not a jpeg", 0.0))
            sent, code = receive_until(ws, "error")
            while not sent[-1].get("fatal"):
                more, code = receive_until(ws, "error")
                sent += more
        assert code == 1003 and "3 unusable frames in a row" in sent[-1]["message"]
        small_session_works(client, messages)


def test_oversized_frames_end_only_their_own_session(bundled_coach, messages):
    huge = np.zeros((1400, 2000, 3), np.uint8)
    with serve(bundled_coach, max_frame_bytes=200_000, **UNPACED) as client:
        with client.websocket_connect("/ws") as other:  # a session that must not notice
            ready(other)
            for m in messages[:20]:
                other.send_bytes(m)
            with client.websocket_connect("/ws") as ws:
                ready(ws)
                ws.send_bytes(frame_message(encode_jpeg(huge, 30), 0.0))
                sent, code = receive_until(ws, "error")
            assert (
                code == 1008 and "2000x1400 pixels is larger than the limit" in sent[-1]["message"]
            )
            with client.websocket_connect("/ws") as ws:
                ready(ws)
                ws.send_bytes(frame_message(b"\xff\xd8" + b"\x00" * 300_000, 0.0))
                sent, code = receive_until(ws, "error")
            assert code == 1009 and "300,010 bytes is larger than the limit" in sent[-1]["message"]
            for m in messages[20:40]:
                other.send_bytes(m)
            other.send_text(json.dumps({"type": "stop"}))
            sent, code = receive_until(other, "end")
        assert code == 1000 and end_stats(sent)["frames_in"] == 40
        assert not [m for m in sent if m["type"] == "error"]


def test_too_many_sessions_are_refused_with_a_message(bundled_coach, messages):
    with serve(bundled_coach, max_sessions=2, **UNPACED) as client:
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            ready(a), ready(b)
            with client.websocket_connect("/ws") as c:
                sent, code = receive_until(c, "error")
            assert code == 1013 and "2 of 2 sessions in use; try again later" in sent[-1]["message"]
            assert client.get("/health").json()["sessions"]["active"] == 2
            a.send_text(json.dumps({"type": "stop"}))
            _, code = receive_until(a, "end")
            assert code == 1000
            b.close()
            assert_healthy(client)
        small_session_works(client, messages)


def test_an_unknown_exercise_is_refused(bundled_coach):
    with serve(bundled_coach) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            ws.send_text(json.dumps({"type": "start", "exercise": "juggling"}))
            sent, code = receive_until(ws, "error")
        assert code == 1008 and "unknown exercise 'juggling'" in sent[-1]["message"]
        assert "squats" in sent[-1]["message"]


def test_frames_over_the_rate_limit_are_dropped_with_one_warning(bundled_coach, messages):
    with serve(bundled_coach, max_fps=30, max_queue_frames=1000) as client:
        with client.websocket_connect("/ws") as ws:
            tic = time.perf_counter()
            sent, code = stream(ws, messages[:100])  # 100 frames at once: 30 fit the burst
            elapsed = time.perf_counter() - tic  # ... plus 30 per second of sending
        warnings = [m for m in sent if m["type"] == "error"]
        assert (
            len(warnings) == 1
            and "faster than the limit of 30 per second" in warnings[0]["message"]
        )
        stats = end_stats(sent)
        assert 30 <= stats["frames_in"] <= 30 + 30 * elapsed + 1
        assert stats["frames_in"] + stats["frames_over_rate"] == 100


def test_a_slow_coach_drops_the_oldest_frames_not_the_latency(bundled_coach, messages):
    with serve(bundled_coach, max_fps=1e6, max_queue_frames=2, max_lag_seconds=1e9) as client:
        with client.websocket_connect("/ws") as ws:
            sent, code = stream(ws, messages[:300])
        stats = end_stats(sent)
        assert stats["frames_queue_dropped"] > 0
        assert stats["frames_in"] + stats["frames_queue_dropped"] == 300


def test_an_idle_session_is_closed(bundled_coach):
    with serve(bundled_coach, idle_seconds=0.2, stats_seconds=0.05) as client:
        with client.websocket_connect("/ws") as ws:
            ready(ws)
            sent, code = receive_until(ws, "error")
            while not sent[-1].get("fatal"):
                more, code = receive_until(ws, "error")
                sent += more
        assert code == 1008 and "no message for 0.2 s" in sent[-1]["message"]
        assert_healthy(client)


# -- pieces -----------------------------------------------------------------------------------
@pytest.mark.parametrize("width,height", [(160, 224), (1, 1), (2000, 1400), (641, 479)])
def test_jpeg_size_reads_the_header(width, height):
    jpeg = encode_jpeg(np.full((height, width, 3), 90, np.uint8))
    assert jpeg_size(jpeg) == (width, height)
    assert decode_jpeg(jpeg).shape == (height, width, 3)


def test_parse_frame_names_each_problem():
    limits = ServerLimits(max_frame_bytes=1000, max_frame_pixels=100)
    jpeg = encode_jpeg(np.zeros((8, 8, 3), np.uint8))
    assert parse_frame(frame_message(jpeg, 12.5), limits)[0] == 12.5
    cases = {
        b"\x00" * 5: ("too short", False),
        frame_message(b"\x89PNG\r\n\x1a\n", 0.0): ("not a JPEG", False),
        frame_message(b"\xff\xd8\xff\xe0\x00\x10", 0.0): ("truncated or malformed", False),
        frame_message(encode_jpeg(np.zeros((20, 20, 3), np.uint8)), 0.0): ("20x20", True),
        b"\x00" * 1001: ("1,001 bytes", True),
    }
    for message, (words, fatal) in cases.items():
        with pytest.raises(FrameError, match=words) as err:
            parse_frame(message, limits)
        assert err.value.fatal == fatal


def test_session_logs_are_json_lines(bundled_coach, messages, caplog):
    with caplog.at_level(logging.INFO, logger="livefit.serve"):
        with serve(bundled_coach, **UNPACED) as client:
            small_session_works(client, messages)
    lines = [json.loads(JsonLogFormatter().format(r)) for r in caplog.records]
    start = next(x for x in lines if x["message"] == "session start")
    end = next(x for x in lines if x["message"] == "session end")
    assert start["session"] == end["session"] and end["frames"] == 40
    assert end["reason"] == "stopped by the client" and end["rtf"] > 0
    assert set(end["drops"]) == {"queue", "rate", "bad", "expired", "late", "out_of_order"}


def test_serve_cli_refuses_bad_options():
    from livefit.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--max-sessions", "0"])
    assert result.exit_code == 2 and "--max-sessions" in result.output
    result = runner.invoke(app, ["serve", "--model", "/nonexistent/model"])
    assert result.exit_code == 2 and result.output.startswith("error: ")
