"""One live WebSocket session of ``livefit serve`` (``LiveSession``, one per socket of the
``WS /ws`` route): frame messages in (``livefit.app.frames``), coached by the session's own
``LivePipeline`` in the worker threads of ``livefit.app.serve_state`` (all sessions share one
``LiveCoach``), every ``LiveEvent`` back to the page as JSON, stamped with the server-side
latency from the arrival of the frame that caused it.

WebSocket protocol (version 1; docs/serve.md has examples):

client -> server
- text ``{"type": "start", "exercise": null | "squats", "plan": null | "legs" | {...}}``:
  optional, before the first frame; ``exercise`` fixes the exercise, ``plan`` follows a shipped
  plan (by name) or a plan object (``livefit.app.plans``) from the first frame, neither (default)
  lets the coach recognise it;
- binary: one frame = 8 bytes little-endian float64 capture time in milliseconds (any origin,
  non-decreasing; the page uses ``performance.now()``) followed by the JPEG bytes;
- text ``{"type": "stop"}``: the remaining frames are coached, the closing events, a final
  ``end`` message follow, then the server closes with code 1000.
Text messages: at most ``max_text_bytes``, a few a second; frames faster than ``flood_factor``
x ``max_fps``, sustained, close the socket.

server -> client (text JSON, each with a ``type``)
- ``ready``: ``session`` id, ``protocol``, ``exercises``, ``frame_rows`` (how tall), ``skeleton``
  (the bones between ``pose`` points, or null: this coach sees no landmarks), ``limits``;
- ``pose`` (pose coach, per coached frame, before its events): ``points``, the landmarks as
  ``[x, y, visibility]`` in fractions of the frame, and the frame's ``capture_ms``;
- ``event``: ``LiveEvent.to_json`` plus ``capture_ms`` (capture time of the frame that caused
  it, as sent) and ``latency_ms`` (that frame's arrival at the server -> this message sent);
- ``stats`` (every ``stats_seconds``): ``LiveStats.to_json``, the server's frame counters and
  ``step_latency_ms`` (each feature step since the last ``stats``: its frame's arrival -> its
  events sent);
- ``error``: ``message`` and ``fatal`` (then a close, its code in docs/serve.md); at most
  ``max_pending_errors`` non-fatal ones wait to be sent, more are counted and dropped;
- ``summary`` (after ``stop``, if frames were coached): ``SessionSummary.to_json`` and
  ``history_id`` (null: not stored). Sessions that coached frames go to the workout history;
- ``end``: the final ``stats`` after ``stop``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from livefit.app.frames import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_UNSUPPORTED,
    PROTOCOL_VERSION,
    FrameError,
    decode_jpeg,
    parse_frame,
    parse_text,
    pose_message,
    short_repr,
)
from livefit.app.limits import RateLimiter
from livefit.app.plans import Plan
from livefit.app.serve_log import client_address, log_event
from livefit.app.serve_state import Job, ServerState
from livefit.stream.live import LiveConfig, LiveEvent, LiveInputError, LivePipeline, LiveStats


@dataclass
class _Frame:
    index: int  # 1-based, among the session's frame messages
    arrival: float  # perf_counter when the message was received
    capture_ms: float
    jpeg: memoryview


@dataclass
class _Counters:
    """The server's per-session counters (the pipeline keeps its own)."""

    frames_received: int = 0
    frames_queue_dropped: int = 0  # oldest dropped: the coach was behind
    frames_over_rate: int = 0
    frames_expired: int = 0  # waited longer than max_lag_seconds: dropped before decoding
    frames_bad: int = 0
    bad_in_a_row: int = 0
    errors_dropped: int = 0  # non-fatal error replies over max_pending_errors: not sent
    step_latency_ms: list[float] = field(default_factory=list)  # since the last stats message

    def to_json(self) -> dict[str, Any]:
        return {
            "frames_received": self.frames_received,
            "frames_queue_dropped": self.frames_queue_dropped,
            "frames_over_rate": self.frames_over_rate,
            "frames_expired": self.frames_expired,
            "frames_bad": self.frames_bad,
            "errors_dropped": self.errors_dropped,
        }


class _Closed(Exception):
    """The socket is gone; the session ends."""


class LiveSession:
    """One WebSocket: receives frames, coaches them in the worker threads, sends events back.

    Three tasks: ``_receive`` (messages -> checks -> queue), ``_work`` (queue -> executor ->
    events sent) and ``_tick`` (stats, idle check); ``run`` ends when the client stops or goes
    away or a fatal error occurs, and always closes the pipeline."""

    def __init__(self, ws: WebSocket, server: ServerState) -> None:
        self.ws = ws
        self.server = server
        self.limits = server.limits
        self.id = uuid.uuid4().hex[:8]
        self.queue: deque[_Frame] = deque()
        self.wake = asyncio.Event()
        self.receiving = True
        self.pipe: LivePipeline | None = None
        self.exercise: str | None = None
        self.counters = _Counters()
        self.rate = RateLimiter(self.limits.max_fps)
        self.flood = RateLimiter(self.limits.max_fps * self.limits.flood_factor)
        self.text_rate = RateLimiter(self.limits.max_texts_per_second, self.limits.text_burst)
        self.pending_errors = 0  # non-fatal error replies not sent yet
        self.last_message = time.perf_counter()
        self.started = time.perf_counter()
        self.send_lock = asyncio.Lock()
        self.closed = False  # we closed the socket, or the client went away
        self.end_reason = "client disconnected"
        self.warned_rate = False
        self.events: list[LiveEvent] = []  # every event of the stream, for its summary

    async def run(self) -> None:
        self.server.sessions.add(self)  # so that a shutdown can close it (1001)
        try:
            await self._run()
        finally:
            self.server.sessions.discard(self)

    async def going_away(self) -> None:
        """Server shutdown: tell the client and close the socket (1001); the session then ends
        as if the client had gone."""
        await self._fatal("the server is shutting down: try again later", CLOSE_GOING_AWAY)

    async def _run(self) -> None:
        try:
            await self._send(
                {
                    "type": "ready",
                    "session": self.id,
                    "protocol": PROTOCOL_VERSION,
                    **self.server.ready_fields(),
                    "limits": asdict(self.limits),
                }
            )
        except _Closed:
            return
        log_event(logging.INFO, "session start", session=self.id, client=client_address(self.ws))
        worker = asyncio.create_task(self._work())
        ticker = asyncio.create_task(self._tick())
        receiver = asyncio.create_task(self._receive())
        try:
            done, _ = await asyncio.wait({receiver, worker}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                receiver.result()  # re-raise a bug in the receiver
                await worker  # drains the queue after stop; returns at once otherwise
            else:
                receiver.cancel()
                worker.result()
        except Exception as err:  # a bug: end this session only
            self.end_reason = "internal error"
            log_event(logging.ERROR, "session error", session=self.id, error=repr(err))
            await self._fatal(f"internal server error: {err}", CLOSE_INTERNAL)
        finally:
            for task in (receiver, worker, ticker):
                task.cancel()
            await asyncio.gather(receiver, worker, ticker, return_exceptions=True)
            await self._finish()

    # -- receiving ----------------------------------------------------------------------------
    async def _receive(self) -> None:
        """Messages -> the queue, until stop, a fatal error or the client going away."""
        try:
            while True:
                message = await self.ws.receive()
                self.last_message = time.perf_counter()
                if message["type"] == "websocket.disconnect":
                    self.closed = True
                    return
                if message.get("bytes") is not None:
                    self._on_frame(message["bytes"], self.last_message)
                elif message.get("text") is not None and not await self._on_text(message["text"]):
                    return
        except FrameError as err:
            await self._fatal(str(err), err.code)
        except (WebSocketDisconnect, _Closed):
            self.closed = True
        finally:
            self.receiving = False
            if self.closed:
                self.queue.clear()  # nobody to send the events to
            self.wake.set()

    def _on_frame(self, message: bytes, now: float) -> None:
        c = self.counters
        c.frames_received += 1
        if not self.flood.allow(now):  # checked first: the cheapest refusal
            raise FrameError(
                f"frames arrive at more than {self.limits.flood_factor:g} times the limit of "
                f"{self.limits.max_fps:g} per second: session closed (send at 16 fps)",
                fatal=True,
            )
        try:
            capture_ms, jpeg = parse_frame(message, self.limits)
        except FrameError as err:
            if err.fatal:
                raise
            self._bad_frame(str(err), c.frames_received)
            return
        if not self.rate.allow(now):
            c.frames_over_rate += 1
            if not self.warned_rate:
                self.warned_rate = True
                self._post_error(
                    f"frames arrive faster than the limit of {self.limits.max_fps:g} per second: "
                    "the extra frames are dropped (send at 16 fps)"
                )
            return
        if self.pipe is None:
            problem = self.server.check_exercise(None)
            if problem:
                raise FrameError(problem, fatal=True)
            self._start_pipeline(None)
        if len(self.queue) >= self.limits.max_queue_frames:
            self.queue.popleft()
            c.frames_queue_dropped += 1
        self.queue.append(_Frame(c.frames_received, now, capture_ms, jpeg))
        self.wake.set()

    async def _on_text(self, text: str) -> bool:
        """A control message; False when the session should stop receiving. Bounded before it
        is read: a socket sending more than a few, or a big one, is closed."""
        limits = self.limits
        if not self.text_rate.allow(self.last_message):
            raise FrameError(
                f"more than {limits.text_burst} text messages at once or "
                f"{limits.max_texts_per_second:g} per second: session closed (a session needs "
                "only 'start' and 'stop')",
                fatal=True,
            )
        message = parse_text(text, limits)
        if isinstance(message, str):
            self._post_error(message)
            return True
        kind = message["type"]
        if kind == "stop":
            self.end_reason = "stopped by the client"
            return False
        if kind == "start":
            if self.pipe is not None:
                self._post_error("'start' must come before the first frame; ignored")
                return True
            self._start_pipeline(*self.server.check_start(message))  # FrameError: bad start
            return True
        self._post_error(f"unknown message type {short_repr(kind)} (expected 'start' or 'stop')")
        return True

    def _start_pipeline(self, exercise: str | None, plan: Plan | None = None) -> None:
        self.exercise = exercise or (f"plan {plan.name}" if plan is not None else None)
        config = LiveConfig(
            exercise=exercise,
            schedule=plan.schedule() if plan is not None else None,
            bgr=True,  # cv2.imdecode gives BGR
            max_lag_seconds=self.limits.max_lag_seconds,
            max_frame_pixels=self.limits.max_frame_pixels,
        )
        self.pipe = self.server.coach.pipeline(config)

    def _bad_frame(self, message: str, index: int) -> None:
        c = self.counters
        c.frames_bad += 1
        c.bad_in_a_row += 1
        if c.bad_in_a_row >= self.limits.max_bad_frames:
            raise FrameError(
                f"{c.bad_in_a_row} unusable frames in a row (last: {message})",
                fatal=True,
                code=CLOSE_UNSUPPORTED,
            )
        self._post_error(f"frame {index} dropped: {message}")

    def _post_error(self, message: str) -> None:
        """A non-fatal error message, sent from a task so the receiver never waits on it; at
        most ``max_pending_errors`` wait at once (a client that does not read its replies, or
        sends nothing but bad messages, must not pile them up in the server)."""
        if self.pending_errors >= self.limits.max_pending_errors:
            self.counters.errors_dropped += 1
            return
        self.pending_errors += 1
        task = asyncio.create_task(
            self._send({"type": "error", "message": message, "fatal": False})
        )
        task.add_done_callback(self._error_sent)

    def _error_sent(self, task: asyncio.Task[None]) -> None:
        self.pending_errors -= 1
        # a socket closed meanwhile is not an error here: retrieve it so asyncio does not log it
        if not task.cancelled():
            task.exception()

    # -- working ------------------------------------------------------------------------------
    async def _work(self) -> None:
        """Queue -> executor -> events sent, oldest frame first; returns when the queue is empty
        and receiving has stopped."""
        while True:
            if not self.queue:
                if not self.receiving:
                    return
                self.wake.clear()
                await self.wake.wait()
                continue
            frame = self.queue.popleft()
            try:
                events, stepped, pose = await self.server.run_job(
                    Job("frame", self.id), self._process, frame
                )
            except (FrameError, LiveInputError) as err:
                try:
                    self._bad_frame(str(err), frame.index)
                except FrameError as fatal:
                    await self._fatal(str(fatal), fatal.code)
                    return
                continue
            self.counters.bad_in_a_row = 0
            self.events += events
            try:
                if pose is not None:
                    await self._send(pose)
                for event in events:
                    await self._send(self._event_message(event, frame))
            except _Closed:
                return
            if stepped:
                self.counters.step_latency_ms.append(_ms(time.perf_counter() - frame.arrival))

    def _process(self, frame: _Frame) -> tuple[list[LiveEvent], bool, dict[str, Any] | None]:
        """Worker thread: decode and push one frame -> (its events, did it complete a step, its
        ``pose`` message when the coach saw landmarks). A frame that waited too long is dropped
        before decoding: an overloaded server sheds load instead of spending it on frames it
        would drop anyway."""
        assert self.pipe is not None
        lag = time.perf_counter() - frame.arrival
        if lag > self.limits.max_lag_seconds:
            self.counters.frames_expired += 1
            return [], False, None
        image = decode_jpeg(frame.jpeg)
        steps, used = self.pipe.stats.steps, self.pipe.stats.frames_used
        events = self.pipe.push(image, frame.capture_ms / 1000.0, lag=lag)
        pose = None
        if self.pipe.points is not None and self.pipe.stats.frames_used > used:
            h, w = image.shape[:2]
            pose = pose_message(self.pipe.points, w, h, frame.capture_ms)
        return events, self.pipe.stats.steps > steps, pose

    def _event_message(self, event: LiveEvent, frame: _Frame | None) -> dict[str, Any]:
        out = {"type": "event", **event.to_json()}
        if frame is not None:
            out["capture_ms"] = frame.capture_ms
            out["latency_ms"] = _ms(time.perf_counter() - frame.arrival)
        return out

    async def _tick(self) -> None:
        """Stats every ``stats_seconds``; closes a session idle for ``idle_seconds``."""
        while True:
            await asyncio.sleep(self.limits.stats_seconds)
            if time.perf_counter() - self.last_message > self.limits.idle_seconds:
                self.end_reason = "idle"
                await self._fatal(
                    f"no message for {self.limits.idle_seconds:g} s: session closed", CLOSE_POLICY
                )
                return
            try:
                await self._send_stats()
            except _Closed:
                return

    def stats(self, kind: str = "stats") -> dict[str, Any]:
        """The ``stats`` message: pipeline and server counters, step latencies since the last."""
        out: dict[str, Any] = {"type": kind, "session": self.id}
        out.update(self.pipe.stats.to_json() if self.pipe is not None else {})
        out.update(self.counters.to_json())
        dropped = out.get("frames_dropped", 0)
        out["frames_dropped_total"] = dropped + sum(
            out[k]
            for k in ("frames_queue_dropped", "frames_over_rate", "frames_expired", "frames_bad")
        )
        out["queue"] = len(self.queue)
        out["step_latency_ms"] = list(self.counters.step_latency_ms)
        out["exercise"] = self.pipe.exercise if self.pipe is not None else ""
        return out

    async def _send_stats(self, kind: str = "stats") -> None:
        """Send ``stats(kind)``; its step latencies leave the counters only once it is sent: a
        tick cancelled mid-send at the session's end leaves them to the final message."""
        message = self.stats(kind)
        await self._send(message)
        del self.counters.step_latency_ms[: len(message["step_latency_ms"])]

    # -- sending and closing ------------------------------------------------------------------
    async def _send(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise _Closed
        async with self.send_lock:
            try:
                await self.ws.send_text(json.dumps(message))
            except (WebSocketDisconnect, RuntimeError, OSError) as err:
                self.closed = True
                raise _Closed from err
            except Exception as err:  # the server's websocket library closed underneath
                if type(err).__name__.startswith("ConnectionClosed"):
                    self.closed = True
                    raise _Closed from err
                raise

    async def _fatal(self, message: str, code: int) -> None:
        """Tell the client why, then close with ``code``; the session ends."""
        self.end_reason = message
        log_event(logging.WARNING, "session error", session=self.id, error=message, code=code)
        try:
            await self._send({"type": "error", "message": message, "fatal": True, "code": code})
        except _Closed:
            return
        await self._close(code, message)

    async def _close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            try:
                await self.ws.close(code, reason[:120])
            except Exception:  # already gone
                pass

    async def _finish(self) -> None:
        """Close the pipeline (after the worker's last push); on stop, send the closing events
        and the final stats; log the session's end."""
        closing: list[LiveEvent] = []
        summary, stored = None, None
        if self.pipe is not None:
            closing = await self.server.run_job(Job("close", self.id), self.pipe.close)
            self.events += closing
            summary, stored = await self.server.finish_stream(self.events, self.pipe.stats, self.id)
        if not self.closed:
            try:
                for event in closing:
                    await self._send(self._event_message(event, None))
                if summary is not None:
                    await self._send({"type": "summary", "history_id": stored, **summary.to_json()})
                await self._send_stats("end")
            except _Closed:
                pass
            await self._close(CLOSE_NORMAL, "session ended")
        s = self.pipe.stats if self.pipe is not None else LiveStats()
        c = self.counters
        log_event(
            logging.INFO,
            "session end",
            session=self.id,
            reason=self.end_reason,
            seconds=round(time.perf_counter() - self.started, 3),
            exercise=self.exercise,
            frames=c.frames_received,
            frames_in=s.frames_in,
            steps=s.steps,
            feedbacks=s.feedbacks,
            rtf=round(s.real_time_factor, 4),
            drops={
                "queue": c.frames_queue_dropped,
                "rate": c.frames_over_rate,
                "bad": c.frames_bad,
                "expired": c.frames_expired,
                "late": s.frames_late,
                "out_of_order": s.frames_out_of_order,
            },
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)
