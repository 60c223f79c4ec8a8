"""The rules beside the model (``livefit.stream.rules``) and a live pose stream that runs them:
the out-of-view hint said once per time the body leaves, reps counted per session of a countable
exercise only, ``rep`` and ``rule`` events in the stream."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from livefit.stream.live import LiveConfig, LiveStats
from livefit.stream.rules import NOT_SURE, STEP_BACK, STEP_INTO_VIEW, BodyRules, countable
from livefit.vision.reps import KEY_POINTS

sys.path.insert(0, str(Path(__file__).parents[1] / "vision"))
from body_motion import arm_raises, standing  # noqa: E402

FPS = 16


def hints(frames: np.ndarray) -> list[tuple[float, str]]:
    rules = BodyRules()
    said = []
    for i, points in enumerate(frames):
        line = rules.view(points, i / FPS)
        if line is not None:
            said.append((i / FPS, line))
    return said


def test_the_out_of_view_hint_is_said_once_after_two_seconds_and_again_after_a_return():
    body, nobody = standing(), standing()
    nobody[:, 3] = 0.0
    legs_cut = standing()
    legs_cut[[i for i in KEY_POINTS if i >= 25], 3] = 0.0  # knees and ankles out of the frame
    frames = [body] * 32 + [nobody] * 64 + [body] * 16 + [nobody] * 40 + [body] * 40
    frames += [legs_cut] * 48
    said = hints(np.stack(frames))
    assert said == [
        ((32 + 32) / FPS, STEP_INTO_VIEW),  # 2 s after the person left; once
        # back for 1 s only: not re-armed, so the second absence says nothing
        ((32 + 64 + 16 + 40 + 40 + 32) / FPS, STEP_BACK),  # part of the body seen
    ]


def test_reps_are_counted_per_session_for_countable_exercises_only():
    assert countable("squats") and not countable("deltoid stretch")
    assert not countable("standing idle") and not countable("no such exercise")
    rules = BodyRules()
    counts = {0: [], 1: []}
    for i, points in enumerate(arm_raises(8.0, 1.0)):
        counts[0] += rules.count(0, "jumping jacks", points, i / FPS)
        counts[1] += rules.count(1, "deltoid stretch", points, i / FPS)
    assert counts == {0: [1, 2, 3, 4, 5, 6, 7, 8], 1: []}
    # The count at a moment: the reps counted by then (one a second here, each near its end).
    times = rules.rep_times[0]
    assert len(times) == 8 and all(k + 0.5 < t <= k + 1 for k, t in enumerate(times))
    assert [rules.counted(0, t) for t in (0.5, times[2], 8.0)] == [0, 3, 8]
    assert rules.counted(1, 8.0) is None  # nothing counts a stretch
    assert rules.end(0) == 8 and rules.end(1) is None and rules.counters == rules.rep_times == {}
    # A session that began after its exercise did counts the frames it missed at once.
    frames = arm_raises(8.0, 1.0)
    assert list(rules.start(2, "squats", 4.0, frames[:64])) == [1, 2, 3, 4]
    assert rules.rep_times[2] == [4.0] * 4
    later = [n for i, p in enumerate(frames[64:]) for n in rules.count(2, "squats", p, 4 + i / FPS)]
    assert later == [5, 6, 7, 8]
    assert list(rules.start(3, "quad stretch", 0.0, frames)) == [] and 3 not in rules.counters


class _ScriptedEstimator:
    """Stands in for MediaPipe: the next scripted landmarks per frame."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames, self.i = frames.astype(np.float32), 0

    def estimate(self, rgb: np.ndarray, t: float, bgr: bool = False) -> np.ndarray:
        points = self.frames[min(self.i, len(self.frames) - 1)]
        self.i += 1
        return points


class _Head:
    """Stands in for the activity head: always sure it sees jumping jacks."""

    exercises = ["general", "jumping jacks"]

    def exercise_distribution(self, feature: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.0, 1.0])


def _scripted_coach(frames: np.ndarray, head=None):
    """A live coach whose pose estimator replays ``frames`` (a tiny random encoder and model)."""
    from dataclasses import replace

    from livefit.model.config import tiny_config
    from livefit.model.stream_vlm import StreamVLM
    from livefit.stream.live import LiveCoach
    from livefit.vision.front_ends import PoseFrontEnd, PoseFrontStream
    from livefit.vision.pose import PoseEncoder, PoseEncoderConfig

    class Scripted(PoseFrontEnd):
        def stream(self, bgr: bool = False) -> PoseFrontStream:
            return PoseFrontStream(self.model, _ScriptedEstimator(frames), bgr)

    torch.manual_seed(0)
    encoder = PoseEncoder(PoseEncoderConfig(hidden=16, layers=1, channels=64, tokens=4))
    cfg = tiny_config()
    adapter = replace(cfg.adapter, feature_dim=64, feature_tokens=4)
    return LiveCoach(Scripted(encoder), StreamVLM.from_config(replace(cfg, adapter=adapter)), head)


@pytest.mark.parametrize("recognised", [False, True])
def test_a_live_pose_stream_emits_reps_and_the_hint(recognised):
    frames = arm_raises(10.0, 1.25)  # 8 reps
    gone = frames[-1].copy()
    gone[:, 3] = 0.0
    frames = np.concatenate([frames, np.repeat(gone[None], 48, axis=0)])  # then 3 s of nobody

    coach = _scripted_coach(frames, _Head() if recognised else None)
    exercise = None if recognised else "jumping jacks"
    pipe = coach.pipeline(LiveConfig(exercise=exercise, clock="paper"))
    image = np.zeros((64, 48, 3), np.uint8)
    events = []
    for i in range(len(frames)):
        events += pipe.push(image, i / FPS)
        assert np.array_equal(pipe.points, frames[i].astype(np.float32))
    events += pipe.close()
    reps = [e for e in events if e.kind == "rep"]
    assert [e.text for e in reps] == [str(n) for n in range(1, 9)]
    assert all(e.session == 0 and e.exercise == "jumping jacks" for e in reps)
    (start,) = [e for e in events if e.kind == "session" and e.text]
    if recognised:  # the session began 1.5 s after the head was sure: the reps it missed
        assert start.time > 1.5 and [e.time for e in reps[:1]] == [start.time]
    assert all(b.time >= a.time for a, b in zip(reps, reps[1:], strict=False))
    (rule,) = [e for e in events if e.kind == "rule"]
    assert rule.text == STEP_INTO_VIEW and rule.time == (len(frames) - 48 + 32) / FPS


def test_a_line_with_a_count_the_counter_disagrees_with_is_withheld():
    from types import SimpleNamespace

    from livefit.stream.live import LivePipeline, _Active

    def said(text: str, t: float) -> str:
        engine_event = SimpleNamespace(kind="feedback", text=text, time=t)
        (event,) = pipe._engine_events(session, iter([engine_event]))
        return event.kind

    coach = SimpleNamespace(
        engine=lambda config: None, fps=16, steps_per_second=4, head=None, front=None
    )
    pipe = LivePipeline.__new__(LivePipeline)  # the parts the check reads, no models
    pipe.config, pipe.stats, pipe.feedbacks, pipe.confidence = LiveConfig(), LiveStats(), [], 0.0
    pipe.rules, pipe.coach = BodyRules(), coach
    session = _Active(None, 0, "squats", 0.0)
    assert said("That's nine, keep it up!", 5.0) == "feedback"  # no counter runs: as decoded
    pipe.rules.start(0, "squats", 0.0)
    pipe.rules.rep_times[0] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # reps counted at these times
    assert said("Good form, that's five now, keep going!", 5.2) == "feedback"
    assert said("That's four, keep it up!", 5.2) == "feedback"  # one off: the tolerance
    assert said("That's nine, keep it up, looking strong!", 5.2) == "withheld"
    assert said("Rep 2 of squats, looking good!", 6.5) == "withheld"
    assert said("Keep your back straight!", 6.5) == "feedback"  # no number in it
    assert pipe.stats.feedbacks == 4 and pipe.stats.feedbacks_withheld == 2
    assert [e.text for e in pipe.feedbacks][-1] == "Keep your back straight!"
    pipe.config = LiveConfig(check_counts=False)
    assert said("That's nine, keep it up, looking strong!", 5.2) == "feedback"
    # A line cut short is withheld, counter or not, unless whole_lines is off.
    assert said("Good form, that's", 5.2) == "withheld"
    pipe.config = LiveConfig(whole_lines=False)
    assert said("Good form, that's", 5.2) == "feedback"


class _PlayedHead:
    """Stands in for the activity head: ``script(t)`` names the exercise it is sure of at
    stream time t (None: unsure, nothing reaches min_confidence)."""

    exercises = ["general", "jumping jacks", "squats"]

    def __init__(self, script) -> None:
        self.script, self.step = script, 0

    def exercise_distribution(self, feature: torch.Tensor) -> torch.Tensor:
        name = self.script(self.step / 4)
        self.step += 1
        if name is None:
            return torch.tensor([0.4, 0.3, 0.3])
        return torch.tensor([float(e == name) for e in self.exercises])


def _recognised_stream(frames: np.ndarray, script) -> list:
    pipe = _scripted_coach(frames, _PlayedHead(script)).pipeline(LiveConfig(clock="paper"))
    image = np.zeros((64, 48, 3), np.uint8)
    events = [e for i in range(len(frames)) for e in pipe.push(image, i / FPS)]
    return events + pipe.close()


def test_an_unsure_coach_says_so_once_naming_no_exercise_and_counting_nothing():
    # unsure 0-6 s, sure of a rest 6-9 s, unsure 9-16 s, jumping jacks 16-20 s, unsure to 26 s
    def script(t: float) -> str | None:
        return "general" if 6 <= t < 9 else "jumping jacks" if 16 <= t < 20 else None

    events = _recognised_stream(arm_raises(26.0, 1.25), script)
    said = [e for e in events if e.kind == "rule"]
    assert {e.text for e in said} == {NOT_SURE} and all(e.exercise == "" for e in said)
    first, second = (e.time for e in said)  # re-armed by the rest, not while a session runs
    # 4 s unsure; after the rest, its smoothed probability (1 s time constant) falls below
    # min_confidence about 1.8 s after 9 s, then 4 s more
    assert 4.0 <= first < 4.5 and 14.0 <= second < 15.5, (first, second)
    assert not [e for e in events if e.kind == "rep" and e.time < 16]  # nothing counted unsure
    assert [e.text for e in events if e.kind == "session" and e.text] == ["jumping jacks"]


def test_an_unsure_coach_that_cannot_see_the_body_asks_for_it_instead():
    gone = standing()
    gone[:, 3] = 0.0
    events = _recognised_stream(np.repeat(gone[None], 8 * FPS, axis=0), lambda t: None)
    assert [(e.time, e.text) for e in events if e.kind == "rule"] == [(2.0, STEP_INTO_VIEW)]
