"""Workout plans: the shipped ones, every malformed entry named, and the coach following a plan
in ``livefit coach --plan`` and in a page's session (``start`` with ``plan``)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from livefit.app.access import AccessPolicy
from livefit.app.plans import PlanError, check_exercises, load_plan, parse_plan, shipped_plans
from livefit.app.server import ServerLimits, create_app, encode_jpeg, frame_message
from livefit.cli import app
from livefit.synth.exercises import EXERCISES

KNOWN = [e.name for e in EXERCISES]


def test_the_shipped_plans_name_only_exercises_the_coaches_know():
    plans = shipped_plans()
    assert sorted(plans) == ["full-body", "legs", "warm-up"]
    for plan in plans.values():
        check_exercises(plan, KNOWN)
        assert 3 * 60 < plan.seconds < 10 * 60 and len(plan.exercises) >= 5
    legs = plans["legs"]
    assert legs.schedule()[:2] == ((0.0, 30.0, "jumping jacks"), (45.0, 90.0, "squats"))
    assert legs.schedule(start=10.0)[0] == (10.0, 40.0, "jumping jacks")
    as_json = legs.to_json()  # round trip: what /api/plans sends
    assert parse_plan({"title": as_json["title"], "steps": as_json["steps"]}, "legs", "x") == legs
    assert load_plan("legs") == legs


BAD = [
    ([], "a plan is a JSON object"),
    ({"steps": []}, "'steps' must be a non-empty list"),
    ({"steps": [{"rest": 10}]}, "every step is a rest"),
    (
        {"steps": [{"exercise": "squats", "seconds": 30}, {"exercise": "squats"}]},
        "step 2: expected",
    ),
    ({"steps": [{"exercise": "squats", "seconds": -5}]}, "step 1: 'seconds' must be"),
    ({"steps": [{"exercise": "squats", "seconds": 1e9}]}, "step 1: 'seconds' must be"),
    ({"steps": [{"rest": "long"}]}, "step 1: 'rest' must be"),
    ({"steps": ["squats"]}, "step 1: expected an object"),
    ({"steps": [{"exercise": "", "seconds": 3}]}, "step 1: 'exercise' must be"),
    ({"steps": [{"exercise": "squats", "seconds": 3}], "music": "loud"}, "unknown key 'music'"),
]


@pytest.mark.parametrize("plan, problem", BAD, ids=[b for _, b in BAD])
def test_a_malformed_plan_is_one_error_line_naming_the_entry(plan, problem, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    with pytest.raises(PlanError, match=problem):
        load_plan(path)
    result = CliRunner().invoke(app, ["coach", "--video", str(path), "--plan", str(path)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"error: {path}") and problem.split(": ")[-1] in result.output


def test_plan_files_that_are_not_plans(tmp_path):
    (tmp_path / "broken.json").write_text('{"steps": [')
    with pytest.raises(PlanError, match="broken.json: not valid JSON"):
        load_plan(tmp_path / "broken.json")
    with pytest.raises(PlanError, match="no such plan file, nor a shipped plan .*legs"):
        load_plan("marathon")
    plan = parse_plan(
        {
            "steps": [
                {"exercise": "squats", "seconds": 9},
                {"rest": 5},
                {"exercise": "burpees", "seconds": 9},
            ]
        },
        "mine",
        "mine.json",
    )
    with pytest.raises(PlanError, match="mine.json: step 3: unknown exercise 'burpees'"):
        check_exercises(plan, KNOWN, "mine.json")
    result = CliRunner().invoke(
        app, ["coach", "--camera", "0", "--plan", "legs", "--exercise", "squats"]
    )
    assert result.exit_code == 2 and "at most one of --exercise and --plan" in result.output


PLAN = {
    "title": "two exercises",
    "steps": [
        {"exercise": "squats", "seconds": 6},
        {"rest": 4},
        {"exercise": "push-ups", "seconds": 6},
    ],
}


def test_coach_follows_a_plan_from_the_first_frame(workout_video, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    out = tmp_path / "out"
    args = ["coach", "--video", str(workout_video), "--plan", str(plan), "--out", str(out)]
    result = CliRunner().invoke(
        app, [*args, "--fast", "--no-progress", "--no-display", "--seconds", "17"]
    )
    assert result.exit_code == 0, result.output
    assert "the plan 'plan' (2 exercises, 0.3 min)" in " ".join(result.output.split())
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    sessions = [(e["time"], e["text"], e["exercise"]) for e in events if e["kind"] == "session"]
    # each exercise begins and ends on the plan's clock (routed at the next feature step)
    assert [(x, y) for _, x, y in sessions] == [
        ("squats", "squats"),
        ("", "squats"),
        ("push-ups", "push-ups"),
        ("", "push-ups"),
    ]
    times = [t for t, _, _ in sessions]
    assert times[0] < 0.5 and 6.0 <= times[1] < 6.5 and 10.0 <= times[2] < 10.5 and times[3] < 17
    summary = json.loads((out / "summary.json").read_text())["session"]
    assert [e["exercise"] for e in summary["exercises"]] == ["squats", "push-ups"]
    assert [round(e["seconds"]) for e in summary["exercises"]] == [6, 6]


def test_a_page_session_follows_a_shipped_plan_or_is_told_why_not(bundled_coach, workout_frames):
    frames = [
        frame_message(encode_jpeg(f), k * 1000 / 16) for k, f in enumerate(workout_frames[:32])
    ]
    web = create_app(bundled_coach, ServerLimits(), access=AccessPolicy(("testserver",)))
    with TestClient(web) as client:
        listed = client.get("/api/plans").json()["plans"]
        assert [p["name"] for p in listed] == ["full-body", "legs", "warm-up"]
        with client.websocket_connect("/ws") as ws:
            ws.receive_json()
            ws.send_text(json.dumps({"type": "start", "plan": "warm-up"}))
            for m in frames:
                ws.send_bytes(m)
            ws.send_text(json.dumps({"type": "stop"}))
            sent = []
            while (m := ws.receive_json())["type"] != "end":
                sent.append(m)
        first = next(m for m in sent if m["type"] == "event" and m["kind"] == "session")
        assert first["text"] == "jumping jacks" and first["time"] < 2.0  # at a feature step
        bad_plan = {"steps": [{"exercise": "burpees", "seconds": 30}]}
        for start, problem in (
            ({"plan": "marathon"}, "unknown plan 'marathon'; shipped plans: full-body, legs"),
            ({"plan": bad_plan}, "'plan': step 1: unknown exercise 'burpees'"),
            ({"plan": {"steps": 3}}, "'plan': 'steps' must be a non-empty list"),
            ({"plan": "legs", "exercise": "squats"}, "give 'exercise' or 'plan'"),
        ):
            with client.websocket_connect("/ws") as ws:
                ws.receive_json()
                ws.send_text(json.dumps({"type": "start", **start}))
                error = ws.receive_json()
                closing = ws.receive()
            assert error["type"] == "error" and error["fatal"] and problem in error["message"]
            assert closing["type"] == "websocket.close" and closing["code"] == 1008
