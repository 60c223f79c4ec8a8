"""``livefit serve``: the web app, a thin layer over the live pipeline (``livefit.stream.live``).

Flow: browser camera or video file -> page draws frames to a canvas at 16 fps -> JPEG + capture
time over a WebSocket -> per-session bounded queue (oldest dropped when the coach is behind) ->
worker thread: ``cv2.imdecode`` -> the session's own ``LivePipeline.push`` (all sessions share
one ``LiveCoach``) -> every ``LiveEvent`` back to the page as JSON, stamped with the server-side
latency from the arrival of the frame that caused it.

Endpoints: ``GET /`` the page (``static/``); ``GET /health`` status, sessions, worker jobs,
model, versions, uptime (``"status": "degraded"``, HTTP 503, while a job has run in a worker
thread longer than ``stuck_seconds``); ``WS /ws`` one live session per socket; ``POST /upload``
a whole video file coached server-side (multipart field ``video``, optional field
``exercise``), events returned as JSON.
Every request first passes ``livefit.app.access`` (Host, Origin and token checks).

WebSocket protocol (version 1; docs/serve.md has examples):

client -> server
- text ``{"type": "start", "exercise": null | "squats"}``: optional, before the first frame;
  ``exercise`` fixes the exercise, null (default) lets the coach recognise it;
- binary: one frame = 8 bytes little-endian float64 capture time in milliseconds (any origin,
  non-decreasing; the page uses ``performance.now()``) followed by the JPEG bytes;
- text ``{"type": "stop"}``: the remaining frames are coached, the closing events, a final
  ``end`` message follow, then the server closes with code 1000.
Text messages are at most ``max_text_bytes`` and a few per second (``max_texts_per_second``);
frames arriving faster than ``flood_factor`` x ``max_fps``, sustained, close the socket.

server -> client (text JSON, each with a ``type``)
- ``ready``: ``session`` id, ``protocol``, ``exercises`` the coach knows, ``limits``;
- ``event``: a ``LiveEvent`` (``time`` seconds from the first frame, ``kind`` session / exercise /
  answer / text / feedback / dropped, ``text``, ``exercise``, ``session``, ``confidence``) plus
  ``capture_ms`` (capture time of the frame that caused it, as sent) and ``latency_ms`` (that
  frame's arrival at the server -> this message sent);
- ``stats`` (every ``stats_seconds``): the pipeline's counters (``LiveStats.to_json``) plus the
  server's (frames received, dropped from the queue, over the rate limit, expired, bad) and
  ``step_latency_ms``: server-side latencies of the feature steps completed since the last
  ``stats`` (arrival of the frame that completed the step -> its events sent);
- ``error``: ``message`` and ``fatal``; a fatal error is followed by a close: 1008 (a limit or
  a bad ``start``: too many pixels, unknown exercise, idle, a flood of text messages or frames),
  1009 (frame or text message too big), 1003 (too many undecodable frames in a row), 1013
  (server full: try again later), 1001 (the server is shutting down), 1011 (internal); at most
  ``max_pending_errors`` non-fatal ones wait to be sent, more are counted and dropped;
- ``end``: the final ``stats`` after ``stop``.

Limits (``ServerLimits``) are answered with a clear message; one session's failure never touches
another's. An upload takes its session slot before its body is read (full: 503 at once). On
shutdown every live socket is closed (1001); ``livefit.app.serve_cli`` bounds the rest (uvicorn's
graceful timeout, then leaving worker threads that are still stuck behind). Logs are JSON
lines (``JsonLogFormatter``), one per session start, end and error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import struct
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.websockets import WebSocketDisconnect, WebSocketState

from livefit.app.access import AccessPolicy, protect
from livefit.io import JSONInputError, parse_json
from livefit.stream.live import LiveCoach, LiveConfig, LiveEvent, LiveInputError, LivePipeline

STATIC_DIR = Path(__file__).resolve().parent / "static"
PROTOCOL_VERSION = 1
HEADER = struct.Struct("<d")  # capture time in ms, little-endian float64, before the JPEG bytes
log = logging.getLogger("livefit.serve")

# WebSocket close codes (RFC 6455 section 7.4.1)
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_LATER = 1013


@dataclass(frozen=True)
class ServerLimits:
    """What one server accepts; each limit is answered with a message naming it."""

    max_sessions: int = 8
    """Live sessions (WebSockets and uploads being coached) at once; one more is refused (1013)."""
    max_frame_bytes: int = 2 * 1024 * 1024
    """Largest frame message (header + JPEG); a larger one ends the session (1009)."""
    max_frame_pixels: int = 1280 * 1280
    """Largest frame width x height; a larger one ends the session (1008)."""
    max_fps: float = 30.0
    """Sustained frames per second per session (1 s burst allowed); extra frames are dropped and
    counted, with one warning message."""
    max_upload_bytes: int = 200 * 1024 * 1024
    """Largest ``POST /upload`` body; a larger one is refused (413) before it is stored."""
    max_upload_pixels: int = 4096 * 4096
    """Largest frame of an uploaded video."""
    max_lag_seconds: float = 1.0
    """A frame that waited longer than this in the server is dropped (``LiveConfig``)."""
    max_queue_frames: int = 8
    """Frames waiting per session; when the coach is behind the oldest is dropped (counted)."""
    max_bad_frames: int = 8
    """Undecodable frames in a row that end the session (1003); fewer each get an error."""
    idle_seconds: float = 60.0
    """A session that sends nothing for this long is closed (1008)."""
    stats_seconds: float = 1.0
    """Interval of the ``stats`` messages."""
    worker_threads: int = 2
    """Threads that decode and coach frames; model calls are serialised by the coach's lock, so
    more threads only overlap JPEG decoding with the model."""
    flood_factor: float = 4.0
    """A socket whose frames arrive faster than this times ``max_fps``, sustained (one second's
    worth in a burst), is closed (1008): frames over ``max_fps`` are dropped cheaply, but
    receiving them still costs the event loop that every session shares."""
    max_text_bytes: int = 4096
    """Largest text (control) message; a larger one ends the session (1009). ``start`` and
    ``stop`` are a few dozen bytes."""
    max_texts_per_second: float = 2.0
    """Text messages per second per socket, sustained (bursts of ``text_burst``); one more
    closes the socket (1008). A session needs two: ``start`` and ``stop``."""
    text_burst: int = 8
    """Text messages a socket may send at once before ``max_texts_per_second`` applies."""
    max_pending_errors: int = 4
    """Non-fatal error replies waiting to be sent per socket; more are counted
    (``errors_dropped``) and dropped, so bad messages cannot queue replies without bound."""
    stuck_seconds: float = 10.0
    """A job in a worker thread (one frame, a session's close, an upload's next frame) running
    longer than this is stuck: ``/health`` answers ``degraded`` (503) and counts it."""


class FrameError(ValueError):
    """A frame message that cannot be used; ``fatal`` ones end the session with ``code``."""

    def __init__(self, message: str, fatal: bool = False, code: int = CLOSE_POLICY) -> None:
        super().__init__(message)
        self.fatal = fatal
        self.code = code


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "info") -> None:
    """JSON-lines logs on stderr for livefit and uvicorn (the CLI calls this)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    for name in ("livefit", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


def _log(level: int, message: str, **fields: Any) -> None:
    log.log(level, message, extra={"fields": fields})


# -- frames -----------------------------------------------------------------------------------
def jpeg_size(data: bytes | memoryview) -> tuple[int, int]:
    """``(width, height)`` from a JPEG's start-of-frame header, without decoding the image (so a
    small file that would decode to a huge image is refused first). Raises ``FrameError``."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        head = bytes(data[:4]).hex(" ")
        raise FrameError(f"frame is not a JPEG image (starts with bytes {head or 'nothing'})")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn
            if i + 9 > len(data):
                break
            height = (data[i + 5] << 8) | data[i + 6]
            width = (data[i + 7] << 8) | data[i + 8]
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        i += 2 + length
    raise FrameError("frame is a truncated or malformed JPEG (no frame header found)")


def parse_frame(message: bytes, limits: ServerLimits) -> tuple[float, memoryview]:
    """A binary frame message -> ``(capture time ms, JPEG bytes)``, checked against the limits
    (size and pixels before any decoding)."""
    if len(message) > limits.max_frame_bytes:
        raise FrameError(
            f"frame message of {len(message):,} bytes is larger than the limit "
            f"({limits.max_frame_bytes:,} bytes): send smaller JPEGs",
            fatal=True, code=CLOSE_TOO_BIG,
        )  # fmt: skip
    if len(message) < HEADER.size + 4:
        raise FrameError(
            f"frame message of {len(message)} bytes is too short: expected an 8-byte capture "
            "time (little-endian float64, ms) followed by a JPEG"
        )
    (capture_ms,) = HEADER.unpack_from(message)
    if not math.isfinite(capture_ms):
        raise FrameError(f"capture time must be a finite number of milliseconds, got {capture_ms}")
    jpeg = memoryview(message)[HEADER.size :]
    width, height = jpeg_size(jpeg)
    if width * height > limits.max_frame_pixels:
        raise FrameError(
            f"frame of {width}x{height} pixels is larger than the limit "
            f"({limits.max_frame_pixels:,} pixels): downscale before sending",
            fatal=True,
        )
    return capture_ms, jpeg


def encode_jpeg(rgb: np.ndarray, quality: int = 80) -> bytes:
    """Client side: RGB uint8 ``[H, W, 3]`` -> JPEG bytes (what the page's ``toBlob`` makes)."""
    import cv2

    ok, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a frame of shape {rgb.shape} as JPEG")
    return data.tobytes()


def frame_message(jpeg: bytes, capture_ms: float) -> bytes:
    """Client side: one binary frame message (capture time header + JPEG)."""
    return HEADER.pack(capture_ms) + jpeg


def decode_jpeg(jpeg: bytes | memoryview) -> np.ndarray:
    """JPEG bytes -> BGR uint8 ``[H, W, 3]`` (OpenCV); ``FrameError`` when it does not decode."""
    import cv2

    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError("frame is a corrupt JPEG (it does not decode)")
    return image


class RateLimiter:
    """Token bucket: ``rate`` messages per second sustained, bursts of up to ``burst`` messages
    (default: one second's worth)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = rate if burst is None else burst
        self.tokens = self.burst
        self.last: float | None = None

    def allow(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# -- sessions ---------------------------------------------------------------------------------
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

    def __init__(self, ws: WebSocket, server: _Server) -> None:
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
            await self._send({
                "type": "ready", "session": self.id, "protocol": PROTOCOL_VERSION,
                "exercises": self.server.exercises, "limits": asdict(self.limits),
            })  # fmt: skip
        except _Closed:
            return
        _log(logging.INFO, "session start", session=self.id, client=_client(self.ws))
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
            _log(logging.ERROR, "session error", session=self.id, error=repr(err))
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
        size = len(text.encode())
        if size > limits.max_text_bytes:
            raise FrameError(
                f"text message of {size:,} bytes is larger than the limit "
                f"({limits.max_text_bytes:,} bytes)",
                fatal=True,
                code=CLOSE_TOO_BIG,
            )
        try:
            message = parse_json(text, "text message")  # deep nesting: an error, not a crash
        except JSONInputError as err:
            self._post_error(f"text messages must be JSON objects with a 'type' ({err})")
            return True
        if not isinstance(message, dict) or "type" not in message:
            self._post_error(
                f"text messages must be JSON objects with a 'type', got {_short(text)}"
            )
            return True
        kind = message["type"]
        if kind == "stop":
            self.end_reason = "stopped by the client"
            return False
        if kind == "start":
            if self.pipe is not None:
                self._post_error("'start' must come before the first frame; ignored")
                return True
            exercise = message.get("exercise")
            problem = self.server.check_exercise(exercise)
            if problem:
                raise FrameError(problem, fatal=True)
            self._start_pipeline(exercise)
            return True
        self._post_error(f"unknown message type {_short(kind)} (expected 'start' or 'stop')")
        return True

    def _start_pipeline(self, exercise: str | None) -> None:
        self.exercise = exercise
        config = LiveConfig(
            exercise=exercise,
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
                fatal=True, code=CLOSE_UNSUPPORTED,
            )  # fmt: skip
        self._post_error(f"frame {index} dropped: {message}")

    def _post_error(self, message: str) -> None:
        """A non-fatal error message, sent from a task so the receiver never waits on it; at
        most ``max_pending_errors`` wait at once (a client that does not read its replies, or
        sends nothing but bad messages, must not pile them up in the server)."""
        if self.pending_errors >= self.limits.max_pending_errors:
            self.counters.errors_dropped += 1
            return
        self.pending_errors += 1
        task = asyncio.create_task(self._send({"type": "error", "message": message,
                                               "fatal": False}))  # fmt: skip
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
                events, stepped = await self.server.run_job(
                    _Job("frame", self.id), self._process, frame
                )
            except (FrameError, LiveInputError) as err:
                try:
                    self._bad_frame(str(err), frame.index)
                except FrameError as fatal:
                    await self._fatal(str(fatal), fatal.code)
                    return
                continue
            self.counters.bad_in_a_row = 0
            try:
                for event in events:
                    await self._send(self._event_message(event, frame))
            except _Closed:
                return
            if stepped:
                self.counters.step_latency_ms.append(_ms(time.perf_counter() - frame.arrival))

    def _process(self, frame: _Frame) -> tuple[list[LiveEvent], bool]:
        """Worker thread: decode and push one frame -> (its events, did it complete a step).
        A frame that waited too long is dropped before decoding: an overloaded server sheds
        load instead of spending it on frames it would drop anyway."""
        assert self.pipe is not None
        lag = time.perf_counter() - frame.arrival
        if lag > self.limits.max_lag_seconds:
            self.counters.frames_expired += 1
            return [], False
        image = decode_jpeg(frame.jpeg)
        steps = self.pipe.stats.steps
        events = self.pipe.push(image, frame.capture_ms / 1000.0, lag=lag)
        return events, self.pipe.stats.steps > steps

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
                await self._send(self.stats())
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
        out["step_latency_ms"], self.counters.step_latency_ms = self.counters.step_latency_ms, []
        out["exercise"] = self.pipe.exercise if self.pipe is not None else ""
        return out

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
        _log(logging.WARNING, "session error", session=self.id, error=message, code=code)
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
        if self.pipe is not None:
            closing = await self.server.run_job(_Job("close", self.id), self.pipe.close)
        if not self.closed:
            try:
                for event in closing:
                    await self._send(self._event_message(event, None))
                await self._send(self.stats("end"))
            except _Closed:
                pass
            await self._close(CLOSE_NORMAL, "session ended")
        s = self.pipe.stats if self.pipe is not None else None
        _log(
            logging.INFO, "session end", session=self.id, reason=self.end_reason,
            seconds=round(time.perf_counter() - self.started, 3), exercise=self.exercise,
            frames=self.counters.frames_received, frames_in=s.frames_in if s else 0,
            steps=s.steps if s else 0, feedbacks=s.feedbacks if s else 0,
            rtf=round(s.real_time_factor, 4) if s else 0.0,
            drops={"queue": self.counters.frames_queue_dropped,
                   "rate": self.counters.frames_over_rate, "bad": self.counters.frames_bad,
                   "expired": self.counters.frames_expired,
                   "late": s.frames_late if s else 0,
                   "out_of_order": s.frames_out_of_order if s else 0},
        )  # fmt: skip


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _short(value: Any, limit: int = 80) -> str:
    """``value`` echoed in a reply: a scalar's repr cut to ``limit`` characters, else its kind
    (a client's list or object may be deep enough to break ``repr``, and is not worth echoing)."""
    if value is None or isinstance(value, str | int | float | bool):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__, "a value")


def _client(ws: WebSocket | Request) -> str:
    return f"{ws.client.host}:{ws.client.port}" if ws.client else "unknown"


# -- uploads ----------------------------------------------------------------------------------
class UploadError(ValueError):
    """An upload that cannot be coached; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The request body, refused as soon as it passes ``limit`` bytes (nothing more is read)."""
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise UploadError(
                f"upload is larger than the limit ({limit / 2**20:g} MB): send a shorter video",
                413,
            )
        yield chunk


def coach_video(coach: LiveCoach, path: Path, config: LiveConfig, name: str, max_pixels: int,
                progress: Callable[[], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Worker thread: every frame of a video file through one pipeline at full speed (stream
    times from the video's timestamps) -> the ``POST /upload`` answer. ``progress`` is called
    after each frame (``/health`` tells a long upload from a stuck one by it). A video the
    pipeline cannot use (frames too small, a time jump) is an ``UploadError`` (422) naming it."""
    from livefit.vision.preprocess import VideoError, decode_frames

    pipe = coach.pipeline(config)
    events: list[LiveEvent] = []
    frames = 0
    try:
        for frame, pts in decode_frames(path):
            if frame.shape[0] * frame.shape[1] > max_pixels:
                raise UploadError(
                    f"{name}: frames of {frame.shape[1]}x{frame.shape[0]} pixels are larger "
                    f"than the limit ({max_pixels:,} pixels)", 422,
                )  # fmt: skip
            t = pts if pts is not None else frames / 30.0  # no timestamps: assume 30 fps
            try:
                events += pipe.push(frame, t)
            except LiveInputError as err:
                raise UploadError(f"{name}: frame {frames + 1}: {err}", 422) from None
            frames += 1
            if progress is not None:
                progress()
    except VideoError as err:
        raise UploadError(str(err).replace(str(path), name), 422) from None
    finally:
        events += pipe.close()
    return {
        "type": "upload",
        "video": name,
        "frames": frames,
        "seconds": round(pipe.stats.media_seconds, 3),
        "events": [e.to_json() for e in events],
        "feedbacks": [e.to_json() for e in events if e.kind == "feedback"],
        "stats": pipe.stats.to_json(),
    }


# -- the app ----------------------------------------------------------------------------------
@dataclass(eq=False)
class _Job:
    """One call in a worker thread: a frame, a session's close or an upload (``session``: the
    session id or the uploaded file's name). ``beat`` is its last sign of progress (its start,
    or an upload's last frame); None while it waits for a thread."""

    kind: str
    session: str
    beat: float | None = None

    def touch(self) -> None:
        self.beat = time.perf_counter()


class _Server:
    """State shared by the endpoints: the coach, limits, worker threads and the jobs they run,
    session count and the live sessions."""

    def __init__(self, coach: LiveCoach, limits: ServerLimits, model_name: str) -> None:
        self.coach = coach
        self.limits = limits
        self.model_name = model_name
        self.executor = ThreadPoolExecutor(limits.worker_threads, thread_name_prefix="livefit")
        self.jobs: set[_Job] = set()  # running in a worker thread now
        self.jobs_lock = threading.Lock()  # the threads add and remove them
        self.sessions: set[LiveSession] = set()
        self.closing = False  # shutting down: no new sessions
        self.active = 0
        self.served = 0
        self.started = time.time()
        head = coach.head
        self.exercises: list[str] = list(head.exercises) if head is not None else []
        self.rest_labels = set(LiveConfig().rest_labels)

    def check_exercise(self, exercise: Any) -> str | None:
        """None when ``exercise`` is usable in ``start``, else the reason."""
        if exercise is None:
            if self.coach.head is None:
                return "this coach cannot recognise the exercise: name one in 'start'"
            return None
        known = [e for e in self.exercises if e not in self.rest_labels]
        if not isinstance(exercise, str) or not exercise.strip() or len(exercise) > 64:
            return f"'exercise' must be null or an exercise name, got {_short(exercise)}"
        if known and exercise not in known:
            return f"unknown exercise {_short(exercise)}; this coach knows: {', '.join(known)}"
        return None

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
        return (f"the server is busy: {self.active} of {self.limits.max_sessions} sessions in "
                "use; try again later")  # fmt: skip

    # -- worker jobs and shutdown -------------------------------------------------------------
    async def run_job(self, job: _Job, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread, tracked as ``job`` while it runs (``/health``)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._tracked, job, fn, args)

    def _tracked(self, job: _Job, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
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

    def stuck_jobs(self) -> tuple[int, list[_Job]]:
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
            _log(logging.INFO, "shutting down", sessions=len(sessions))
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
            _log(logging.ERROR, "worker threads still busy after shutdown: leaving them", jobs=jobs)
        return len(left)

    def health(self) -> dict[str, Any]:
        from livefit.provenance import library_versions

        model = self.coach.model.config
        lm = model.lm_path or (
            f"tiny LM {model.tiny_lm.num_layers}x{model.tiny_lm.hidden_size}"
            if model.tiny_lm is not None else "unknown"
        )  # fmt: skip
        p = self.coach.preprocess
        running, stuck = self.stuck_jobs()
        return {
            "status": "degraded" if stuck else "ok",
            "sessions": {"active": self.active, "max": self.limits.max_sessions,
                         "served": self.served},  # fmt: skip
            "workers": {"threads": self.limits.worker_threads, "busy": running,
                        "stuck": len(stuck), "stuck_seconds": self.limits.stuck_seconds,
                        "stuck_jobs": [{"kind": j.kind, "session": j.session} for j in stuck]},
            "model": {"name": self.model_name, "language_model": str(lm),
                      "front_end": "pose" if self.coach.pose else "cnn",
                      "cnn_input": None if self.coach.pose else f"{p.width}x{p.height}",
                      "exercises": self.exercises},
            "versions": library_versions(("livefit", "torch", "fastapi", "uvicorn")),
            "protocol": PROTOCOL_VERSION,
            "uptime_s": round(time.time() - self.started, 1),
        }  # fmt: skip


def create_app(coach: LiveCoach, limits: ServerLimits = ServerLimits(),
               model_name: str = "bundled coach",
               access: AccessPolicy | None = None) -> FastAPI:  # fmt: skip
    """The web app over one loaded coach; every session shares it (see the module docstring).
    ``access`` says who may use it (``livefit.app.access``; None: this machine's pages only)."""
    server = _Server(coach, limits, model_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        server.executor.shutdown(wait=False, cancel_futures=True)

    # No /docs or /redoc: Swagger UI and ReDoc load their scripts from a CDN.
    app = FastAPI(title="livefit live coach", lifespan=lifespan, docs_url=None, redoc_url=None)
    protect(app, access if access is not None else AccessPolicy.for_bind("127.0.0.1"))
    app.state.server = server
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/health")
    async def health() -> JSONResponse:
        status = server.health()  # 503 when degraded: a load balancer's probe sees it too
        return JSONResponse(status, status_code=200 if status["status"] == "ok" else 503)

    @app.websocket("/ws")
    async def live(ws: WebSocket) -> None:
        await ws.accept()
        if not server.acquire():
            message = server.full_message()
            _log(logging.WARNING, "session refused", client=_client(ws), error=message)
            await ws.send_text(json.dumps({"type": "error", "message": message, "fatal": True,
                                           "code": CLOSE_TRY_LATER}))  # fmt: skip
            await ws.close(CLOSE_TRY_LATER, "server busy")
            return
        try:
            await LiveSession(ws, server).run()
        finally:
            server.release()

    @app.post("/upload")
    async def upload(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await _upload(server, request))
        except UploadError as err:
            _log(logging.WARNING, "upload refused", client=_client(request), error=str(err))
            # The body may be unread (too big, server full): close the connection after the
            # answer, or the server would still read and discard all of it (uvicorn keep-alive).
            return JSONResponse({"type": "error", "message": str(err)}, status_code=err.status,
                                headers={"connection": "close"})  # fmt: skip

    return app


async def _upload(server: _Server, request: Request) -> dict[str, Any]:
    """``POST /upload``: take a session slot, store the ``video`` part (within the size limit),
    coach it, answer. The slot comes first: with every slot taken the upload is refused (503)
    before a byte of its body is read or spooled."""
    limit = server.limits.max_upload_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise UploadError(
            f"upload of {int(length) / 2**20:.1f} MB is larger than the limit "
            f"({limit / 2**20:g} MB): send a shorter video", 413,
        )  # fmt: skip
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadError("send the video as multipart/form-data in a field named 'video'", 400)
    if not server.acquire():
        raise UploadError(server.full_message(), 503)
    try:
        parser = MultiPartParser(request.headers, _limited(request.stream(), limit),
                                 max_files=1, max_fields=4)  # fmt: skip
        try:
            form = await parser.parse()
        except MultiPartException as err:
            raise UploadError(f"malformed upload: {err.message}", 400) from None
        try:
            video = form.get("video")
            if not isinstance(video, UploadFile):
                raise UploadError("the upload has no file in a field named 'video'", 400)
            exercise = form.get("exercise") or None
            problem = server.check_exercise(exercise)
            if problem:
                raise UploadError(problem, 422)
            name = Path(video.filename or "upload").name
            return await _coach_upload(server, video, name, exercise)  # type: ignore[arg-type]
        finally:
            await form.close()
    finally:
        server.release()


async def _coach_upload(server: _Server, video: UploadFile, name: str,
                        exercise: str | None) -> dict[str, Any]:  # fmt: skip
    fd, tmp = tempfile.mkstemp(prefix="livefit-upload-", suffix=Path(name).suffix[:8])
    started = time.perf_counter()
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await video.read(1 << 20):
                out.write(chunk)
        config = LiveConfig(exercise=exercise, max_frame_pixels=server.limits.max_upload_pixels)
        job = _Job("upload", name)
        result = await server.run_job(
            job, coach_video, server.coach, Path(tmp), config, name,
            server.limits.max_upload_pixels, job.touch,
        )  # fmt: skip
    finally:
        os.unlink(tmp)
    _log(logging.INFO, "upload coached", video=name, frames=result["frames"],
         seconds=result["seconds"], feedbacks=len(result["feedbacks"]),
         rtf=result["stats"]["real_time_factor"],
         wall_s=round(time.perf_counter() - started, 3))  # fmt: skip
    return result


__all__ = [
    "FrameError",
    "JsonLogFormatter",
    "LiveSession",
    "ServerLimits",
    "configure_logging",
    "create_app",
    "decode_jpeg",
    "encode_jpeg",
    "frame_message",
    "jpeg_size",
    "parse_frame",
]
