"""``livefit coach`` end to end on the bundled coach and the session's tiny synthetic workout: the
annotated mp4, the timed events, speech WAVs that do not slow the stream, the camera loop (on a
scripted capture), the window, and the one-line errors."""

from __future__ import annotations

import json
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from feedback_lines import assert_said_as_decoded, record_lines
from run_once import built_once
from typer.testing import CliRunner

from livefit.app.camera import Camera, CameraError
from livefit.app.cli import choose_vision
from livefit.app.history import History
from livefit.app.overlay import PANEL, VIDEO_HEIGHT
from livefit.app.speech import Speaker, SpeechError
from livefit.cli import app

FAST = ["--fast", "--no-progress", "--no-display"]


def coach(*args: str, env: dict[str, str] | None = None):
    """``livefit coach ARGS`` -> (result, wall seconds)."""
    tic = time.perf_counter()
    result = CliRunner().invoke(app, ["coach", *args], env={"COLUMNS": "160", **(env or {})})
    return result, time.perf_counter() - tic


def one_error(result) -> str:
    """The run failed with status 2 and exactly one ``error:`` line (no traceback)."""
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


@pytest.fixture(autouse=True, scope="module")
def _keep_torch_threads():
    """``livefit coach`` sets torch's thread count (``--threads``, default 1) for the process:
    give the rest of the test session its own back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def workout(sim_workout_head_root) -> tuple[Path, Path]:
    """(mp4, _timestamps.npy) of the session's tiny synthetic workout cut to its first 20 s (at
    30 fps: its first exercise, with its start and summary; tests/conftest.py), read-only."""
    from livefit.vision.extract import list_jobs

    _, (job,) = list_jobs(sim_workout_head_root, "test")
    return job.video, job.timestamps


@pytest.fixture(scope="module")
def silent(workout, tmp_path_factory):
    """The whole workout, coached as fast as possible, silent, once per pytest run (read-only):
    (the console's output, the out folder, wall seconds)."""

    def build(folder: Path) -> None:
        result, wall = coach("--video", str(workout[0]), "--out", str(folder / "out"), *FAST)
        assert result.exit_code == 0, result.output
        (folder / "output.txt").write_text(result.output)
        (folder / "wall.txt").write_text(repr(wall))

    folder = built_once(tmp_path_factory, "coach_silent", build)
    output, wall = (folder / "output.txt").read_text(), float((folder / "wall.txt").read_text())
    return output, folder / "out", wall


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_coach_writes_the_annotated_video_and_timed_events(silent, workout):
    import av

    output, out, _ = silent
    with av.open(str(workout[0])) as c:
        source = c.streams.video[0]
        src_frames, (w, h) = source.frames, (source.width, source.height)
    with av.open(str(out / "annotated.mp4")) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    with av.open(str(out / "annotated.mp4")) as c:  # count every frame's packet
        frames = sum(1 for p in c.demux(video=0) if p.size)
    # every source frame, drawn at VIDEO_HEIGHT beside the panel
    assert frames == src_frames > 0
    assert first.shape == (VIDEO_HEIGHT, round(w * VIDEO_HEIGHT / h) // 2 * 2 + PANEL, 3)
    assert not list(out.glob(".annotated.mp4.*"))  # no temporary file left
    events = read_jsonl(out / "events.jsonl")
    times = [e["time"] for e in events]
    assert times == sorted(times), "events out of time order"
    feedbacks = [e for e in events if e["kind"] == "feedback"]
    sessions = [e for e in events if e["kind"] == "session"]
    assert feedbacks, "the coach said nothing about a whole workout"
    assert all(e["text"] and e["exercise"] and e["session"] >= 0 for e in feedbacks)
    assert len(sessions) >= 2 and sessions[0]["text"]  # started (and ended) on its own
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stopped"] == "end of video" and summary["run"]["error"] is None
    assert [f["text"] for f in summary["feedbacks"]] == [e["text"] for e in feedbacks]
    assert summary["stats"]["frames_in"] == src_frames and summary["speech"] is None
    assert summary["files"] == {"video": "annotated.mp4", "events": "events.jsonl"}
    # the console showed each feedback as it came, then the stats and the files
    for e in feedbacks:
        assert e["text"] in output
    assert "real-time factor" in output and "frames dropped 0" in output
    assert "annotated.mp4, events.jsonl, summary.json" in output
    # the run's summary per exercise, printed, written and stored in the workout history
    # (LIVEFIT_HISTORY: a test database, tests/conftest.py)
    kept = summary["history"]
    stored, stored_events = History(kept["database"]).session(kept["id"])
    assert stored.source == "coach" and stored.summary.to_json() == summary["session"]
    said = [e.text for e in stored_events if e.kind == "feedback"]
    assert said == [e["text"] for e in feedbacks]
    exercises = summary["session"]["exercises"]
    assert exercises and sum(e["corrections"] + e["other_lines"] for e in exercises) == len(said)
    assert f"stored as session {kept['id']} (livefit history show {kept['id']})" in output
    assert f"{exercises[0]['exercise']}: {exercises[0]['seconds']:.0f} s" in output


@pytest.mark.slow(30)
def test_speak_writes_a_wav_per_feedback_and_does_not_slow_the_stream(
    silent, workout, tmp_path, monkeypatch
):
    lines = record_lines(monkeypatch)
    out = tmp_path / "speak"
    result, wall = coach(
        "--video", str(workout[0]), "--out", str(out), "--speak", "--speech", "wav", *FAST
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    speech, stats = summary["speech"], summary["stats"]
    assert speech["mode"] == "wav" and speech["failed"] == 0
    assert speech["said"] + speech["dropped"] == stats["feedbacks"] > 0
    assert len(speech["files"]) == speech["said"]
    index = read_jsonl(out / "speech" / "speech.jsonl")
    assert [r["file"] for r in index] == speech["files"]
    texts = {f["text"] for f in summary["feedbacks"]}
    assert_said_as_decoded([f["text"] for f in summary["feedbacks"]], lines)
    for record in index:
        path = out / record["file"]
        assert path.read_bytes()[:4] == b"RIFF" and path.read_bytes()[8:12] == b"WAVE"
        with wave.open(str(path)) as w:
            assert w.getnframes() > w.getframerate() * 0.3  # at least 0.3 s of speech
        assert record["text"] in texts
        assert path.name.startswith(f"{record['index']:04d}_{record['time']:.2f}s")
    # not slower: the loop's wall time and the coach's real-time factor
    silent_summary = json.loads((silent[1] / "summary.json").read_text())
    quiet, loud = silent_summary["run"]["wall_seconds"], summary["run"]["wall_seconds"]
    assert loud < 1.5 * quiet + 2.0, (loud, quiet)
    assert stats["real_time_factor"] < 1.5 * silent_summary["stats"]["real_time_factor"] + 0.05
    assert stats["frames_dropped"] == 0
    print(
        f"run s silent {quiet:.2f} speak {loud:.2f}; wall s {silent[2]:.2f} {wall:.2f}; RTF "
        f"{silent_summary['stats']['real_time_factor']} {stats['real_time_factor']}"
    )


def test_say_returns_at_once_while_espeak_is_busy_and_stale_lines_are_dropped(tmp_path):
    speaker = Speaker(tmp_path, mode="wav")
    speaker.say(" ".join(["Keep your back straight and push through your heels."] * 60), 0.0)
    deadline = time.monotonic() + 5.0
    while not speaker._busy and time.monotonic() < deadline:  # espeak-ng got the long line
        time.sleep(0.001)
    latencies = []
    for i in range(4):
        tic = time.perf_counter()
        speaker.say(f"Line {i}.", 1.0 + i)
        latencies.append(time.perf_counter() - tic)
    assert speaker._busy, "espeak-ng finished the long line before the test could measure"
    assert max(latencies) < 0.010, latencies
    summary = speaker.close()
    # the long line and the newest one are said; the three stale ones between were dropped
    assert (summary["said"], summary["dropped"], summary["failed"]) == (2, 3, 0)
    assert summary["files"] == ["speech/0000_0.00s.wav", "speech/0004_4.00s.wav"]
    with pytest.raises(RuntimeError):
        speaker.say("too late", 9.0)
    print(f"say() latency max {max(latencies) * 1e6:.0f} us")


def test_speech_falls_back_to_wavs_when_playback_fails(tmp_path):
    # espeak-ng exits 0 when it cannot open the audio device and says "error" on stderr: a
    # wrapper that behaves so for playback (and writes WAVs for real) stands in for it
    fake = tmp_path / "espeak-no-device"
    fake.write_text(
        '#!/bin/sh\ncase " $* " in *" -w "*) exec espeak-ng "$@";; esac\n'
        'echo "ALSA lib pcm.c: Unknown PCM default" >&2\n'
        'echo "error: No such file or directory" >&2\n'
    )
    fake.chmod(0o755)
    speaker = Speaker(tmp_path / "out", mode="audio", binary=str(fake))
    speaker.say("Keep going!", 2.5)
    summary = speaker.close()
    assert summary["mode"] == "wav" and summary["said"] == 1
    assert summary["files"] == ["speech/0000_2.50s.wav"] and "no audio output" in summary["note"]


def test_audio_output_rule(tmp_path, monkeypatch):
    from livefit.app.speech import audio_output_exists

    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert audio_output_exists() == bool(list(Path("/dev/snd").glob("pcmC*D*p")))
    (tmp_path / "pipewire-0").touch()  # a PipeWire (or PulseAudio) socket: a sound server
    assert audio_output_exists()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("PULSE_SERVER", "tcp:localhost")
    assert audio_output_exists()


def test_a_missing_espeak_names_the_debian_package(tmp_path, workout):
    with pytest.raises(SpeechError, match="apt-get install espeak-ng"):
        Speaker(tmp_path, binary="espeak-ng-not-installed")
    result, _ = coach(
        "--video",
        str(workout[0]),
        "--out",
        str(tmp_path),
        "--speak",
        *FAST,
        env={"PATH": str(tmp_path)},
    )
    assert "Debian package espeak-ng" in one_error(result)


@pytest.mark.parametrize(
    "case", ["neither", "both", "missing", "not a video", "truncated", "exercise", "camera"]
)
def test_bad_input_is_one_error_line(case, workout, tmp_path):
    video = str(workout[0])
    bad = tmp_path / "x.mp4"
    if case == "not a video":
        bad.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, np.uint8).tobytes())
    if case == "truncated":
        data = workout[0].read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    args, named = {
        "neither": ([], "exactly one of --video"),
        "both": (["--video", video, "--camera", "0"], "exactly one of --video"),
        "missing": (["--video", str(tmp_path / "nope.mp4")], "nope.mp4: video file is missing"),
        "not a video": (["--video", str(bad)], "x.mp4: cannot open video"),
        "truncated": (["--video", str(bad)], "x.mp4"),
        "exercise": (["--video", video, "--exercise", "yoga"], "unknown exercise 'yoga'"),
        "camera": (["--camera", "99"], "camera 99 cannot be opened"),
    }[case]
    out = tmp_path / "out"
    result, _ = coach(*args, "--out", str(out), *FAST)
    line = one_error(result)
    assert named in line, line
    if case == "exercise":  # the error lists the names the activity head knows
        assert "squats" in line and "general" not in line
    assert not (out / "annotated.mp4").exists()


def test_a_video_that_breaks_midway_leaves_consistent_files(workout, tmp_path, monkeypatch):
    import av

    import livefit.app.coach as coach_module  # video_items calls the play_video it imported
    from livefit.vision.preprocess import VideoError

    play = coach_module.play_video

    def breaks_after_100_frames(pipe, video, *args, **kwargs):
        for i, item in enumerate(play(pipe, video, *args, **kwargs)):
            if i == 100:
                raise VideoError(f"{video}: corrupt video after 100 frames (test)")
            yield item

    monkeypatch.setattr(coach_module, "play_video", breaks_after_100_frames)
    out = tmp_path / "out"
    (out / "speech").mkdir(parents=True)
    (out / "annotated.mp4").write_bytes(b"a previous run's video")
    result, _ = coach(
        "--video",
        str(workout[0]),
        "--out",
        str(out),
        "--exercise",
        "squats",
        "--speak",
        "--speech",
        "wav",
        *FAST,
    )
    assert "corrupt video after 100 frames" in one_error(result)
    with av.open(str(out / "annotated.mp4")) as c:  # finished: the 100 frames coached
        assert sum(1 for p in c.demux(video=0) if p.size) == 100
    assert not list(out.glob(".annotated*"))  # no half-written file
    events = read_jsonl(out / "events.jsonl")  # every line complete
    assert events[0]["kind"] == "session" and events[0]["exercise"] == "squats"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stopped"] == "error" and "corrupt video" in summary["run"]["error"]
    assert summary["stats"]["frames_in"] == 101
    assert "history" not in summary  # a run that failed is not a workout to remember


def test_realtime_playback_keeps_the_capture_clock(workout, tmp_path):
    out = tmp_path / "out"
    video, stamps = str(workout[0]), str(workout[1])
    result, _ = coach(
        "--video",
        video,
        "--timestamps",
        stamps,
        "--realtime",
        "--seconds",
        "2",
        "--out",
        str(out),
        "--no-progress",
        "--no-display",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stopped"] == "--seconds 2"
    assert 1.9 < summary["run"]["loop_seconds"] < 4.0  # paced, not as fast as possible
    assert summary["stats"]["frames_late"] == 0
    assert 59 <= summary["stats"]["frames_in"] <= 62  # 30 fps capture times from the .npy
    assert summary["settings"]["timestamps"] == str(workout[1])


class ScriptedCapture:
    """A ``cv2.VideoCapture`` stand-in: BGR frames from a list at ``fps`` (sleeping like a
    camera), then no more."""

    def __init__(self, frames: list[np.ndarray], fps: float = 30.0, pace: bool = True) -> None:
        self.frames, self.fps, self.pace = frames, fps, pace
        self.i, self.released = -1, False
        self.next_due = time.monotonic()

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def set(self, prop: int, value: float) -> bool:
        return True

    def get(self, prop: int) -> float:
        import cv2

        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def grab(self) -> bool:
        if self.pace:
            time.sleep(max(0.0, self.next_due - time.monotonic()))
            self.next_due += 1.0 / self.fps
        self.i += 1
        return self.i < len(self.frames)

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, self.frames[self.i]

    def release(self) -> None:
        self.released = True


@pytest.fixture(scope="module")
def bgr_frames(workout) -> list[np.ndarray]:
    """The workout's first 4 s as BGR frames (what OpenCV delivers)."""
    from livefit.vision.preprocess import decode_frames

    frames = []
    for rgb, _ in decode_frames(workout[0]):
        frames.append(np.ascontiguousarray(rgb[..., ::-1]))
        if len(frames) == 120:
            break
    return frames


def test_camera_keeps_only_the_newest_frame(bgr_frames):
    capture = ScriptedCapture(bgr_frames, pace=False)  # a camera much faster than its reader
    with Camera(0, capture=capture) as camera:
        first, t_first = camera.read()
        time.sleep(0.05)
        got = [item for item in camera.frames()]
    assert capture.released
    assert any(np.array_equal(first, f[..., ::-1]) for f in bgr_frames)  # RGB out
    assert not any(np.array_equal(first, f) for f in bgr_frames)
    assert camera.grabbed == len(bgr_frames) and camera.skipped > 0
    assert camera.skipped + 1 + len(got) == len(bgr_frames)
    times = [t_first] + [t for _, t in got]
    assert times == sorted(times)
    with pytest.raises(CameraError, match="opened but sent no frame"):
        with Camera(3, capture=ScriptedCapture([])) as silent_camera:
            silent_camera.read()


def test_coach_camera_runs_live_and_stops_after_seconds(bgr_frames, tmp_path, monkeypatch):
    import av

    import livefit.app.camera as camera_module

    # 12 s of frames: the camera runs from before the coach loads (a cold load in a fresh
    # process takes seconds, and a camera keeps only its newest frame meanwhile).
    frames = bgr_frames * 3
    monkeypatch.setattr(camera_module, "open_capture", lambda index: ScriptedCapture(frames))
    out = tmp_path / "out"
    result, _ = coach(
        "--camera",
        "0",
        "--seconds",
        "2",
        "--exercise",
        "squats",
        "--vision",
        "cnn",
        "--out",
        str(out),
        "--no-progress",
        "--no-display",
    )
    assert result.exit_code == 0, result.output
    assert "camera 0 (30 fps)" in result.output and "the cnn coach (--vision)" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stopped"] == "--seconds 2"
    assert summary["stats"]["frames_late"] == 0 and summary["stats"]["frames_in"] >= 50
    with av.open(str(out / "annotated.mp4")) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert 55 <= n <= 63  # 2 s at the camera's 30 fps
    events = read_jsonl(out / "events.jsonl")
    assert events[0]["kind"] == "session" and events[0]["text"] == "squats"


def test_window_updates_at_most_max_fps_and_closing_it_stops(monkeypatch):
    from livefit.app.window import Window, open_window

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    window, why = open_window()
    assert window is None and "no display" in why
    window = Window(max_fps=15.0, backend="agg")  # the TkAgg code path, drawn off screen
    frame = np.zeros((48, 64, 3), np.uint8)
    assert all(window.show(frame) for _ in range(20))
    assert window.shown == 1  # the other 19 came within 1/15 s
    time.sleep(1 / 15)
    assert window.show(frame) and window.shown == 2
    window.fig.canvas.callbacks.process("close_event", None)  # the viewer closes it
    assert window.show(frame) is False
    window.close()


def test_ctrl_c_ends_the_run_cleanly(workout, tmp_path):
    import signal
    import threading

    import av

    out = tmp_path / "out"
    default = signal.getsignal(signal.SIGINT)

    def press_ctrl_c_once_the_run_listens() -> None:
        deadline = time.monotonic() + 20.0
        while signal.getsignal(signal.SIGINT) is default and time.monotonic() < deadline:
            time.sleep(0.01)
        if signal.getsignal(signal.SIGINT) is not default:  # never hit pytest's own handler
            time.sleep(0.5)
            signal.raise_signal(signal.SIGINT)  # handled on the main thread

    presser = threading.Thread(target=press_ctrl_c_once_the_run_listens)
    presser.start()
    result, _ = coach(
        "--video", str(workout[0]), "--realtime", "--out", str(out), "--no-progress", "--no-display"
    )
    presser.join()
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stopped"] == "Ctrl-C" and summary["run"]["loop_seconds"] < 5.0
    assert signal.getsignal(signal.SIGINT) is default  # handler restored
    with av.open(str(out / "annotated.mp4")) as c:
        assert sum(1 for p in c.demux(video=0) if p.size) > 0
    read_jsonl(out / "events.jsonl")


def test_a_camera_gets_the_pose_coach_when_it_can_run(monkeypatch):
    from livefit.vision.pose_estimator import PoseEstimator, PoseEstimatorError

    def missing(*args, **kwargs):
        raise PoseEstimatorError(
            "ai_edge_litert is not installed; run `pip install ai-edge-litert`"
        )

    assert choose_vision("cnn", camera=True) == ("cnn", "--vision")
    assert choose_vision(None, camera=False)[0] == "cnn"  # a video file: QEVD-SIM's coach
    assert choose_vision(None, camera=True, custom=True)[0] == "cnn"  # --model/--cnn given
    monkeypatch.setattr(PoseEstimator, "load", classmethod(lambda cls, *a, **k: None))
    assert choose_vision(None, camera=True)[0] == "pose"
    monkeypatch.setattr(PoseEstimator, "load", classmethod(missing))
    vision, why = choose_vision(None, camera=True)
    assert vision == "cnn" and "ai_edge_litert is not installed" in why and "real people" in why


def test_coach_camera_says_which_coach_runs_and_why(bgr_frames, tmp_path, monkeypatch):
    import livefit.app.camera as camera_module

    frames = bgr_frames[:30]
    monkeypatch.setattr(camera_module, "open_capture", lambda index: ScriptedCapture(frames))
    args = ["--camera", "0", "--exercise", "squats", "--out", str(tmp_path / "out")]
    result, _ = coach(*args, "--no-progress", "--no-display", "--no-history")
    assert result.exit_code == 0, result.output
    vision, why = choose_vision(None, camera=True)  # pose where `make test` runs
    line = " ".join(result.output.split())
    assert f"camera 0 (30 fps) -> {tmp_path / 'out'}; the {vision} coach ({why})" in line
    assert "stored as session" not in result.output  # --no-history
