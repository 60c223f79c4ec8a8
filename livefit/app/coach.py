"""``livefit coach``: the live coach on a video file or a camera, as it happens.

Flow: a video file (``play_video``, paced in real time unless ``realtime=False``) or a camera
(``Camera``, newest frame only, ``lag`` = processing delay) -> ``LivePipeline.push`` -> events
-> ``LiveRun``: the console (each feedback, session start and end, exercise change, printed as it
happens), the voice (``Speaker``), a window (``Window``, when a display exists) and ``--out``:
``annotated.mp4``, ``events.jsonl``, ``summary.json`` (+ ``speech/`` WAVs). A run that ends
without an error is stored in the workout history (``livefit.app.history``) unless
``history=False``.

A run ends at the end of the video, after ``seconds``, when the viewer closes the window or on
Ctrl-C; each way finishes every file and writes the summary with the reason. A source that fails
half-way (a corrupt video, a camera that stops answering) raises its error after the run is
wound up the same way: the mp4 holds the frames coached until then (``LiveRun`` renames it into
place only once finished, so no half-written file is ever left), ``events.jsonl`` their events,
and ``summary.json`` records the error.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from livefit.app.camera import Camera
from livefit.app.history import History, HistoryError
from livefit.app.plans import Plan, check_exercises
from livefit.app.runner import EVENTS_FILE, SUMMARY_FILE, VIDEO_FILE, LiveRun
from livefit.app.speech import INDEX_FILE, SPEECH_DIR, Speaker, find_espeak
from livefit.app.window import open_window
from livefit.io import atomic_write_json
from livefit.stream.live import (
    MIN_FRAME_SIDE,
    LiveCoach,
    LiveConfig,
    LiveEvent,
    LivePipeline,
    play_video,
)
from livefit.vision.preprocess import FrameResampler, VideoError, decode_frames, load_timestamps

# (frame, stream time, events, copies: how many frames of the constant-rate mp4 it fills)
Item = tuple[np.ndarray, float, list[LiveEvent], int]


@dataclass(frozen=True)
class CoachSettings:
    """One ``livefit coach`` run."""

    video: Path | None = None
    """The video file to coach (exactly one of ``video`` and ``camera``)."""
    camera: int | None = None
    """The camera index to coach (``cv2.VideoCapture(index)``)."""
    out: Path = Path("out/coach")
    """Folder for annotated.mp4, events.jsonl, summary.json and speech/."""
    model: Path | None = None
    """Stream-VLM folder; None: the bundled coach."""
    cnn: Path | None = None
    """Front end folder, a CNN or a pose encoder (with its activity head, if any); None: the
    bundled coach's."""
    vision: str = "cnn"
    """cnn or pose: which bundled coach supplies the defaults of ``model`` and ``cnn``."""
    vision_why: str = ""
    """Why this ``vision`` (``livefit.app.cli.choose_vision``), for the start-up line."""
    exercise: str | None = None
    """Coach this exercise throughout; None: the plan's, or the exercise the activity head
    recognises."""
    plan: Plan | None = None
    """Follow this workout plan from the first frame (``livefit.app.plans``)."""
    speak: bool = False
    """Say each feedback aloud (espeak-ng)."""
    speech: Literal["auto", "audio", "wav"] = "auto"
    """With ``speak``: play on the audio device when one exists, else WAVs (auto), or force one."""
    realtime: bool = True
    """Video file: pace frames on their capture clock, as a camera would; False: full speed."""
    seconds: float | None = None
    """Stop after this many seconds of stream time."""
    timestamps: Path | None = None
    """Video file: a QEVD ``_timestamps.npy`` with its frames' capture times."""
    display: bool = True
    """Show the overlay in a window when a display exists."""
    progress: bool = True
    """Show a progress bar."""
    history: bool = True
    """Store the finished run in the workout history (``livefit history``)."""

    def to_json(self) -> dict[str, Any]:
        out = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        out["plan"] = self.plan.to_json() if self.plan is not None else None
        return out


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frames: int  # 0 when the container does not say


def probe_video(path: Path) -> VideoInfo:
    """Check that ``path`` is a decodable video (``VideoError`` naming it if not) and read its
    frame rate, before the model is loaded."""
    import av

    frames = decode_frames(path)
    first, _ = next(frames)  # missing, not a video, no stream or no decodable frame: VideoError
    frames.close()
    height, width = first.shape[:2]
    if min(height, width) < MIN_FRAME_SIDE:
        raise VideoError(
            f"{path}: frames of {width}x{height} pixels are too small to coach (the live "
            f"pipeline needs at least {MIN_FRAME_SIDE}x{MIN_FRAME_SIDE})"
        )
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        return VideoInfo(rate if 1.0 <= rate <= 240.0 else 30.0, int(stream.frames or 0))


def check_exercise(coach: LiveCoach, exercise: str | None, rest: tuple[str, ...]) -> None:
    """A fixed exercise must be one the activity head knows (any name when there is no head)."""
    if exercise is None or coach.head is None:
        return
    names = [e for e in coach.head.exercises if e not in rest]
    if exercise not in names:
        raise ValueError(f"unknown exercise {exercise!r}: expected one of {', '.join(names)}")


def clear_outputs(out: Path) -> None:
    """Remove a previous run's files from ``out`` so that none outlives this run's."""
    for name in (VIDEO_FILE, SUMMARY_FILE):
        (out / name).unlink(missing_ok=True)
    speech = out / SPEECH_DIR
    if speech.is_dir():
        for f in [*speech.glob("[0-9][0-9][0-9][0-9]_*s.wav"), speech / INDEX_FILE]:
            f.unlink(missing_ok=True)


class EventPrinter:
    """Prints the events a viewer cares about as they happen (rich markup)."""

    def __init__(self, console: Any) -> None:
        self.console = console

    def __call__(self, e: LiveEvent) -> None:
        from rich.markup import escape

        when = f"[dim]{e.time:7.1f} s[/dim]"
        if e.kind == "feedback":
            self.console.print(
                f"{when}  [cyan]{escape(e.exercise or '-'):<16}[/cyan] "
                f"[bold]{escape(e.text)}[/bold]"
            )
        elif e.kind == "session" and e.text:
            self.console.print(
                f"{when}  [green]> coaching {escape(e.text)}[/green] "
                f"[dim](session {e.session})[/dim]"
            )
        elif e.kind == "session":
            self.console.print(f"{when}  [green]| end of {escape(e.exercise)}[/green]")
        elif e.kind == "exercise":
            self.console.print(
                f"{when}  [dim]recognised {escape(e.text)} ({e.confidence:.2f})[/dim]"
            )
        elif e.kind == "rule":
            self.console.print(
                f"{when}  [yellow]{'(rule)':<16}[/yellow] [bold]{escape(e.text)}[/bold]"
            )
        elif e.kind == "rep":
            self.console.print(f"{when}  [dim]{escape(e.exercise):<16} rep {escape(e.text)}[/dim]")


@contextmanager
def ctrl_c_stops() -> Iterator[threading.Event]:
    """Ctrl-C sets the yielded event (the loop finishes the run); a second one interrupts."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def video_items(pipe: LivePipeline, s: CoachSettings, times: np.ndarray | None) -> Iterator[Item]:
    """A video file's frames through ``pipe``; every frame is one mp4 frame."""
    assert s.video is not None
    for frame, t, events in play_video(pipe, s.video, times, realtime=s.realtime):
        yield frame, t, events, 1


def camera_items(pipe: LivePipeline, camera: Camera) -> Iterator[Item]:
    """A camera's frames through ``pipe`` with their lag; the mp4 keeps the camera's nominal
    rate on the capture clock (a frame fills the slots since the previous one, or none)."""
    slots = FrameResampler(camera.fps, pipe.config.max_fill_seconds)  # a gap is not recorded
    for frame, t in camera.frames():
        events = pipe.push(frame, t, lag=time.monotonic() - t)
        t0 = pipe.t0 if pipe.t0 is not None else t
        yield frame, t - t0, events, slots.push(t).fill


def run_coach(s: CoachSettings, console: Any) -> dict[str, Any]:
    """Run the coach (see the module docstring); returns the summary written to ``--out``.
    Raises ``VideoError``, ``CameraError``, ``SpeechError`` or ``ValueError`` (bad input,
    unknown exercise) and the model loaders' errors."""
    if (s.video is None) == (s.camera is None):
        raise ValueError("give exactly one of --video and --camera")
    if s.speak:
        find_espeak()  # fail before the model loads
    if s.plan is not None and s.exercise is not None:
        raise ValueError("give at most one of --exercise and --plan")
    schedule = s.plan.schedule() if s.plan is not None else None
    config = LiveConfig(exercise=s.exercise, schedule=schedule)
    with ExitStack() as stack:
        if s.video is not None:
            info = probe_video(s.video)
            fps, total = info.fps, info.frames or None
            times = load_timestamps(s.timestamps) if s.timestamps is not None else None
            source = f"video {s.video} ({'real time' if s.realtime else 'full speed'})"
        else:
            camera = stack.enter_context(Camera(s.camera))  # type: ignore[arg-type]
            fps, total = camera.fps, None
            source = f"camera {s.camera} ({camera.fps:.0f} fps)"
        coach = LiveCoach.load(s.model, s.cnn, vision=s.vision)
        check_exercise(coach, s.exercise, config.rest_labels)
        if s.plan is not None and coach.head is not None:
            known = [e for e in coach.head.exercises if e not in config.rest_labels]
            check_exercises(s.plan, known)
        pipe = coach.pipeline(config)
        window, why = open_window() if s.display else (None, "")
        if why:
            console.print(f"[dim]{why}: the overlay goes to {s.out / VIDEO_FILE} only[/dim]")
        clear_outputs(s.out)
        speaker = Speaker(s.out, s.speech) if s.speak else None
        run = LiveRun(
            pipe, s.out, fps, on_event=EventPrinter(console), speaker=speaker, display=window
        )
        what = s.exercise or "the exercise the activity head recognises"
        if s.plan is not None:
            p = s.plan
            what = f"the plan {p.name!r} ({len(p.exercises)} exercises, {p.seconds / 60:.1f} min)"
        console.print(
            f"livefit coach: {source} -> {s.out}; the {s.vision} coach"
            + (f" ({s.vision_why})" if s.vision_why else "")
            + f"; coaching {what}"
            + (f"; speech: {speaker.mode}" if speaker else "")
        )
        if s.video is not None:
            items = video_items(pipe, s, times)
        else:
            items = camera_items(pipe, camera)
        return _loop(run, items, s, total, console)


def _loop(
    run: LiveRun, items: Iterator[Item], s: CoachSettings, total: int | None, console: Any
) -> dict[str, Any]:
    """Feed ``items`` to ``run`` until one of the stop conditions; finish and summarise."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    tic = time.perf_counter()
    stopped = "end of video" if s.video is not None else "camera stopped"
    bar = Progress(
        TextColumn("[cyan]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not s.progress,
    )
    try:
        with ctrl_c_stops() as ctrl_c, bar:
            task = bar.add_task("coaching", total=total)
            for frame, t, events, copies in items:
                if s.seconds is not None and t > s.seconds:
                    stopped = f"--seconds {s.seconds:g}"
                    break
                for _ in range(max(copies, 1 if events else 0)):
                    run.frame(frame, t, events)
                    events = []
                bar.update(task, advance=1, description=f"{t:6.1f} s")
                if run.stopped:
                    stopped = "window closed"
                    break
                if ctrl_c.is_set():
                    stopped = "Ctrl-C"
                    break
    except BaseException as err:  # wind up what was written, then let the caller report it
        try:
            _finish(run, s, "error", tic, str(err) or type(err).__name__)
        except Exception:  # the run's files failed too (it dropped its video): report the first
            pass
        raise
    finally:
        items.close()  # type: ignore[attr-defined]
    summary = _finish(run, s, stopped, tic)
    if s.history:
        summary["history"] = _remember(run, s)
        atomic_write_json(s.out / SUMMARY_FILE, summary)
    _report(summary, s.out, console)
    return summary


def _remember(run: LiveRun, s: CoachSettings) -> dict[str, Any]:
    """Store the run in the workout history: ``{"database", "id"}`` or ``{"database",
    "error"}`` (a history that cannot be written never fails a finished run)."""
    history = History()
    coach = str(s.model) if s.model is not None else f"bundled {s.vision} coach"
    try:
        session_id = history.add(
            source="coach", coach=coach, summary=run.session_summary(), events=run.events
        )
    except HistoryError as err:
        return {"database": str(history.path), "error": str(err)}
    out: dict[str, Any] = {"database": str(history.path), "id": session_id}
    if history.set_aside_warning is not None:
        out["warning"] = history.set_aside_warning
    return out


def _finish(
    run: LiveRun, s: CoachSettings, stopped: str, tic: float, error: str | None = None
) -> dict[str, Any]:
    """Close the run and add how it ended to its summary."""
    loop_seconds = time.perf_counter() - tic
    summary = run.finish(s.to_json())
    summary["run"] = {
        "stopped": stopped,
        "error": error,
        "loop_seconds": round(loop_seconds, 3),  # frames in, until the stop
        "wall_seconds": round(time.perf_counter() - tic, 3),  # + encoder flush, speech drain
    }
    atomic_write_json(s.out / SUMMARY_FILE, summary)
    return summary


def _report(summary: dict[str, Any], out: Path, console: Any) -> None:
    st, r, speech = summary["stats"], summary["run"], summary["speech"]
    media = st["media_seconds"]
    pace = media / r["loop_seconds"] if r["loop_seconds"] > 0 else 0.0
    console.print(
        f"done ({r['stopped']}): {media:.1f} s of video in {r['loop_seconds']:.1f} s "
        f"({pace:.1f}x real time)"
    )
    console.print(
        f"real-time factor {st['real_time_factor']:.3f} (coach compute per video second; < 1 "
        f"keeps up), frames dropped {st['frames_dropped']} of {st['frames_in']} (late "
        f"{st['frames_late']}), feature steps unseen {st['steps_unseen']} of {st['steps']}, "
        f"feedbacks {st['feedbacks']}"
    )
    if st["gaps"]:
        console.print(
            f"capture time has {st['gaps']} gap(s): {st['gap_seconds']:.1f} s without "
            f"frames ({st['steps_in_gaps']} feature steps not seen); coaching "
            "restarted after each"
        )
    if speech is not None:
        console.print(
            f"speech ({speech['mode']}): {speech['said']} said, {speech['dropped']} "
            f"dropped, {speech['failed']} failed"
            + (f" [dim]({speech['note']})[/dim]" if speech["note"] else "")
        )
    for e in summary["session"]["exercises"]:
        n = e["reps"]
        reps = f", {n} rep{'' if n == 1 else 's'}" if n is not None else ""
        console.print(
            f"  {e['exercise']}: {e['seconds']:.0f} s{reps}, {e['corrections']} correction(s), "
            f"{e['other_lines']} other line(s)"
        )
    kept = summary.get("history")
    if kept is not None and "error" in kept:
        console.print(f"[yellow]warning: not stored in the history: {kept['error']}[/yellow]")
    elif kept is not None:
        if "warning" in kept:
            console.print(kept["warning"], style="yellow", markup=False)
        console.print(f"stored as session {kept['id']} (livefit history show {kept['id']})")
    files = [summary["files"]["video"], EVENTS_FILE, SUMMARY_FILE]
    if speech is not None and speech["files"]:
        n = len(speech["files"])
        files.append(f"speech/ ({n} WAV{'s' if n != 1 else ''})")
    console.print(f"files in {out}: " + ", ".join(f for f in files if f))


__all__ = [
    "CoachSettings",
    "EventPrinter",
    "VideoInfo",
    "check_exercise",
    "probe_video",
    "run_coach",
]
