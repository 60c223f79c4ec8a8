"""The bundled pose coach in the apps (``--vision pose``): ``livefit coach --video`` and the web
app ``livefit serve`` builds, each on the first 20 s of a rendered workout (its first exercise),
through MediaPipe Pose (LiteRT), the causal pose encoder and its Stream-VLM. Needs the pose
estimator (``make test`` installs it and sets LIVEFIT_REQUIRE_POSE=1, which turns a skip into a
failure)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from livefit.app.access import AccessPolicy
from livefit.app.server import ServerLimits, encode_jpeg, frame_message
from livefit.cli import app

FRAME_MS = 1000.0 / 16


@pytest.fixture(scope="module", autouse=True)
def _estimator(pose_estimator_available):
    """Every test here runs the estimator."""


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow(17)
def test_coach_video_with_the_pose_coach(workout_video, tmp_path):
    out = tmp_path / "coach"
    args = [
        "coach",
        "--video",
        str(workout_video),
        "--vision",
        "pose",
        "--out",
        str(out),
        "--fast",
        "--no-progress",
        "--no-display",
    ]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    kinds = {e["kind"] for e in events}
    assert "feedback" in kinds, kinds
    recognised = {e["text"] for e in events if e["kind"] == "exercise"} - {"general"}
    assert recognised, "the pose coach recognised no exercise"
    assert (out / "annotated.mp4").stat().st_size > 0


@pytest.mark.slow(7)
def test_serve_with_the_pose_coach_coaches_a_streamed_workout(workout_frames):
    from livefit.app.serve_cli import serve_app

    limits = ServerLimits(max_fps=1e6, max_queue_frames=100_000, max_lag_seconds=1e9)
    web = serve_app(None, None, "pose", limits, AccessPolicy(("testserver",)))  # TestClient's
    messages = [frame_message(encode_jpeg(f), k * FRAME_MS) for k, f in enumerate(workout_frames)]
    with TestClient(web) as client:
        health = client.get("/health").json()
        assert health["model"]["name"] == "bundled pose coach"
        with client.websocket_connect("/ws") as ws:
            ready = ws.receive_json()
            # the page sends a pose coach a camera's full 480 rows: the estimator needs pixels
            assert ready["type"] == "ready" and ready["frame_rows"] == 480
            ws.send_text(json.dumps({"type": "start", "exercise": None}))
            for m in messages:
                ws.send_bytes(m)
            ws.send_text(json.dumps({"type": "stop"}))
            sent = []
            while not sent or sent[-1]["type"] != "end":
                sent.append(ws.receive_json())
    feedback = [m for m in sent if m["type"] == "event" and m["kind"] == "feedback"]
    assert feedback and all(f["text"] for f in feedback)
    exercises = {m["text"] for m in sent if m["type"] == "event" and m["kind"] == "exercise"}
    assert exercises - {"general"}, "no exercise recognised"
    assert sent[-1]["frames_in"] == len(messages) and sent[-1]["frames_dropped_total"] == 0
    # The skeleton the coach saw, frame by frame, in fractions of the frame, and its bones.
    assert ready["skeleton"] and all(len(bone) == 2 for bone in ready["skeleton"])
    poses = [m for m in sent if m["type"] == "pose"]
    assert [p["capture_ms"] for p in poses] == [k * FRAME_MS for k in range(len(messages))]
    seen = [pt for p in poses for pt in p["points"] if pt[2] >= 0.5]
    assert all(len(p["points"]) == 33 for p in poses) and len(seen) > 33 * len(poses) / 2
    assert all(-0.5 < x < 1.5 and -0.5 < y < 1.5 for x, y, _ in seen)
    # Reps, per coaching session, count up from one.
    reps: dict[int, list[int]] = {}
    for m in sent:
        if m["type"] == "event" and m["kind"] == "rep":
            reps.setdefault(m["session"], []).append(int(m["text"]))
    assert all(r == list(range(1, len(r) + 1)) for r in reps.values()), reps


def test_serve_vision_pose_refuses_a_bad_encoder_with_one_error_line(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--vision", "pose", "--cnn", str(tmp_path)])
    assert result.exit_code == 2 and result.output.startswith("error: "), result.output
    assert str(tmp_path) in result.output and "Traceback" not in result.output
