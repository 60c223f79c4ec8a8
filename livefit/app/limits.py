"""What one ``livefit serve`` server accepts: ``ServerLimits`` (every limit is answered with a
message naming it) and ``RateLimiter``, the token bucket behind the per-socket rate limits.

The lowest module of the web app: ``livefit.app.frames`` checks frame messages against the
limits, ``livefit.app.session`` and ``livefit.app.upload`` enforce the rest,
``livefit.app.serve_cli`` builds them from its options.
"""

from __future__ import annotations

from dataclasses import dataclass


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
