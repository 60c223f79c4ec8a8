"""The state that the endpoints of ``livefit serve`` share (``ServerState``): the coach and the
limits, the session slots and the live sessions, the worker threads and the jobs they run
(``Job``: ``/health`` counts those without progress as stuck), shutdown (every live socket told
and closed, 1001; worker threads still stuck are left behind) and the ``/health`` answer.

Where it sits: ``livefit.app.server.create_app`` makes one per app; ``livefit.app.session`` and
``livefit.app.upload`` take their slots and run their jobs through it. It knows a live session
only as something to close on shutdown (``_Session``), so it imports neither of them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from livefit.app.frames import PROTOCOL_VERSION, SKELETON_EDGES, FrameError, short_repr
from livefit.app.history import History, HistoryError, Source
from livefit.app.limits import ServerLimits
from livefit.app.plans import Plan, PlanError, check_exercises, parse_plan, shipped_plans
from livefit.app.serve_log import log_event
from livefit.app.summary import SessionSummary, summarize
from livefit.provenance import library_versions
from livefit.stream.live import LiveCoach, LiveConfig, LiveEvent, LiveStats

CNN_FRAME_ROWS = 240  # rows of the frames the page sends to a CNN coach
POSE_FRAME_ROWS = 480  # ... and to a pose coach


class _Session(Protocol):
    """A live session as the server state sees it (``livefit.app.session.LiveSession``)."""

    async def going_away(self) -> None: ...


@dataclass(eq=False)
class Job:
    """One call in a worker thread: a frame, a session's close or an upload (``session``: the
    session id or the uploaded file's name). ``beat`` is its last sign of progress (its start,
    or an upload's last frame); None while it waits for a thread."""

    kind: str
    session: str
    beat: float | None = None

    def touch(self) -> None:
        self.beat = time.perf_counter()


class ServerState:
    """State shared by the endpoints: the coach, limits, worker threads and the jobs they run,
    session count and the live sessions."""

    def __init__(
        self,
        coach: LiveCoach,
        limits: ServerLimits,
        model_name: str,
        history: History | None = None,
    ) -> None:
        self.coach = coach
        self.limits = limits
        self.model_name = model_name
        self.history = history  # None: finished sessions are not stored
        self.executor = ThreadPoolExecutor(limits.worker_threads, thread_name_prefix="livefit")
        self.jobs: set[Job] = set()  # running in a worker thread now
        self.jobs_lock = threading.Lock()  # the threads add and remove them
        self.sessions: set[_Session] = set()
        self.closing = False  # shutting down: no new sessions
        self.active = 0
        self.served = 0
        self.started = time.time()
        head = coach.head
        self.exercises: list[str] = list(head.exercises) if head is not None else []
        self.rest_labels = set(LiveConfig().rest_labels)
        self.plans = shipped_plans()
        # How tall the page's frames should be: the CNN sees 16 fps frames at its own small
        # size, while the pose estimator needs the person's pixels (at 240 rows it found no one
        # small in frame, issue 22): a camera's full 480.
        self.frame_rows = POSE_FRAME_ROWS if coach.front.sees_body else CNN_FRAME_ROWS

    def check_exercise(self, exercise: Any) -> str | None:
        """None when ``exercise`` is usable in ``start``, else the reason."""
        if exercise is None:
            if self.coach.head is None:
                return "this coach cannot recognise the exercise: name one in 'start'"
            return None
        known = [e for e in self.exercises if e not in self.rest_labels]
        if not isinstance(exercise, str) or not exercise.strip() or len(exercise) > 64:
            return f"'exercise' must be null or an exercise name, got {short_repr(exercise)}"
        if known and exercise not in known:
            return f"unknown exercise {short_repr(exercise)}; this coach knows: {', '.join(known)}"
        return None

    def ready_fields(self) -> dict[str, Any]:
        """What every session's ``ready`` message says about this server's coach."""
        skeleton = SKELETON_EDGES if self.coach.front.sees_body else None
        return {"exercises": self.exercises, "frame_rows": self.frame_rows, "skeleton": skeleton}

    def check_start(self, message: dict[str, Any]) -> tuple[str | None, Plan | None]:
        """A ``start`` message's (exercise, plan), or a fatal ``FrameError`` saying why not."""
        exercise, plan = message.get("exercise"), message.get("plan")
        problem = self.check_exercise(exercise)
        if plan is not None and exercise is not None:
            problem = "give 'exercise' or 'plan' in 'start', not both"
        try:
            followed = self.plan(plan) if plan is not None and not problem else None
        except PlanError as err:
            problem = str(err)
        if problem:
            raise FrameError(problem, fatal=True)
        return exercise, followed

    def plan(self, value: Any) -> Plan:
        """The plan a client's ``start`` names: a shipped plan's name (never a path) or a plan
        object; ``PlanError`` names what is wrong (an unknown exercise: what the coach knows)."""
        if isinstance(value, str):
            plan = self.plans.get(value)
            if plan is None:
                raise PlanError(
                    f"unknown plan {short_repr(value)}; shipped plans: {', '.join(self.plans)}"
                )
        else:
            plan = parse_plan(value, "plan", "'plan'")
        check_exercises(plan, [e for e in self.exercises if e not in self.rest_labels], "'plan'")
        return plan

    def acquire(self) -> bool:
        if self.closing or self.active >= self.limits.max_sessions:
            return False
        self.active += 1
        self.served += 1
        return True

    def release(self) -> None:
        self.active -= 1

    def full_message(self) -> str:
        if self.closing:
            return "the server is shutting down: try again later"
        return (
            f"the server is busy: {self.active} of {self.limits.max_sessions} sessions in "
            "use; try again later"
        )

    async def finish_stream(
        self, events: list[LiveEvent], stats: LiveStats, session: str
    ) -> tuple[SessionSummary | None, int | None]:
        """A finished live session's summary (None when no frame was coached) and its id in the
        history (stored from a worker thread; None: not stored)."""
        if stats.frames_used == 0:
            return None, None
        summary = summarize(events, stats.media_seconds)
        job = Job("history", session)
        return summary, await self.run_job(job, self.remember, "page", summary, events, session)

    def remember(
        self, source: Source, summary: SessionSummary, events: list[LiveEvent], session: str
    ) -> int | None:
        """Worker thread: store a finished session in the history; its id, or None (no history,
        or it could not be written: logged, never raised; a session's end never fails on it)."""
        if self.history is None:
            return None
        try:
            session_id = self.history.add(
                source=source, coach=self.model_name, summary=summary, events=events
            )
        except HistoryError as err:
            log_event(logging.WARNING, "history not stored", session=session, error=str(err))
            return None
        return session_id  # a corrupt file set aside: the history logs it once, when it happens

    # -- worker jobs and shutdown -------------------------------------------------------------
    async def run_job(self, job: Job, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread, tracked as ``job`` while it runs (``/health``)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._tracked, job, fn, args)

    def _tracked(self, job: Job, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        # Registered by the thread itself: a job whose awaiting task was cancelled still counts
        # for as long as its thread is busy with it.
        job.touch()
        with self.jobs_lock:
            self.jobs.add(job)
        try:
            return fn(*args)
        finally:
            with self.jobs_lock:
                self.jobs.discard(job)

    def stuck_jobs(self) -> tuple[int, list[Job]]:
        """(jobs running now, those without progress for longer than ``stuck_seconds``)."""
        now = time.perf_counter()
        with self.jobs_lock:
            running = list(self.jobs)
        limit = self.limits.stuck_seconds
        return len(running), [j for j in running if j.beat is not None and now - j.beat > limit]

    async def shut_down(self, timeout: float) -> None:
        """Server shutdown, before uvicorn's own: no new sessions, and every live session is
        told and closed (1001) within ``timeout`` seconds (a client that reads nothing cannot
        hold it up)."""
        self.closing = True
        sessions = list(self.sessions)
        if sessions:
            log_event(logging.INFO, "shutting down", sessions=len(sessions))
            tasks = [asyncio.create_task(s.going_away()) for s in sessions]
            await asyncio.wait(tasks, timeout=timeout)

    def stop_workers(self, timeout: float) -> int:
        """After the server stopped: cancel the queued jobs, wait up to ``timeout`` seconds for
        the running ones -> how many are still running (stuck threads the process must not
        wait for at exit; logged)."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        while self.jobs and time.monotonic() < deadline:
            time.sleep(0.02)
        with self.jobs_lock:
            left = list(self.jobs)
        if left:
            jobs = [f"{j.kind} of {j.session}" for j in left]
            log_event(
                logging.ERROR, "worker threads still busy after shutdown: leaving them", jobs=jobs
            )
        return len(left)

    def health(self) -> dict[str, Any]:
        model = self.coach.model.config
        lm = model.lm_path or (
            f"tiny LM {model.tiny_lm.num_layers}x{model.tiny_lm.hidden_size}"
            if model.tiny_lm is not None
            else "unknown"
        )
        running, stuck = self.stuck_jobs()
        return {
            "status": "degraded" if stuck else "ok",
            "sessions": {
                "active": self.active,
                "max": self.limits.max_sessions,
                "served": self.served,
            },
            "workers": {
                "threads": self.limits.worker_threads,
                "busy": running,
                "stuck": len(stuck),
                "stuck_seconds": self.limits.stuck_seconds,
                "stuck_jobs": [{"kind": j.kind, "session": j.session} for j in stuck],
            },
            "model": {
                "name": self.model_name,
                "language_model": str(lm),
                "front_end": self.coach.front.type,
                "front_end_input": self.coach.front.input_description,
                "exercises": self.exercises,
            },
            "versions": library_versions(("livefit", "torch", "fastapi", "uvicorn")),
            "protocol": PROTOCOL_VERSION,
            "uptime_s": round(time.time() - self.started, 1),
        }
