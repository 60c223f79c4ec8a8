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
``exercise``), events returned as JSON; ``GET /api/plans`` the shipped workout plans; ``GET
/history`` the workout history page, ``GET
/api/history`` its sessions (newest first, ``?limit=N``) and per-exercise progress, ``GET
/api/history/{id}`` one session with its events (a history that cannot be read: 409 with the
reason; a server started without one: 404).
Every request first passes ``livefit.app.access`` (Host, Origin and token checks).

The web app by job, each module below importing only those above it:
- ``livefit.app.limits``: ``ServerLimits`` (what one server accepts) and ``RateLimiter``;
- ``livefit.app.frames``: the wire format: protocol version, close codes, frame messages
  (capture time + JPEG) and their checks, JPEG encoding and decoding, ``FrameError``;
- ``livefit.app.serve_log``: JSON-lines logs (``JsonLogFormatter``, ``configure_logging``);
- ``livefit.app.serve_state``: what the endpoints share: session slots, worker jobs, shutdown,
  ``/health``;
- ``livefit.app.session``: one live WebSocket session (``LiveSession``); the WebSocket protocol
  is described there;
- ``livefit.app.upload``: ``POST /upload``;
- ``livefit.app.history``: the workout history (SQLite) that finished sessions go to;
- this module: the app and its routes (``create_app``). It re-exports the names above that
  tests, benchmarks and ``livefit.app.serve_cli`` import from it.

Limits (``ServerLimits``) are answered with a clear message; one session's failure never touches
another's. An upload takes its session slot before its body is read (full: 503 at once). On
shutdown every live socket is closed (1001); ``livefit.app.serve_cli`` bounds the rest (uvicorn's
graceful timeout, then leaving worker threads that are still stuck behind). Logs are JSON
lines (``JsonLogFormatter``), one per session start, end and error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from livefit.app.access import AccessPolicy, protect
from livefit.app.frames import (
    CLOSE_TRY_LATER,
    FrameError,
    decode_jpeg,
    encode_jpeg,
    frame_message,
    jpeg_size,
    parse_frame,
)
from livefit.app.history import History, HistoryError, NoSuchSession
from livefit.app.limits import ServerLimits
from livefit.app.serve_log import JsonLogFormatter, client_address, configure_logging, log_event
from livefit.app.serve_state import Job, ServerState
from livefit.app.session import LiveSession
from livefit.app.upload import UploadError, handle_upload
from livefit.stream.live import LiveCoach

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    coach: LiveCoach,
    limits: ServerLimits = ServerLimits(),  # noqa: B008 (frozen)
    model_name: str = "bundled coach",
    access: AccessPolicy | None = None,
    history: History | None = None,
) -> FastAPI:
    """The web app over one loaded coach; every session shares it (see the module docstring).
    ``access`` says who may use it (``livefit.app.access``; None: this machine's pages only);
    ``history`` is where finished sessions go (None: they are not stored)."""
    server = ServerState(coach, limits, model_name, history)

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

    add_history_routes(app, server)

    @app.get("/api/plans")
    async def plans() -> JSONResponse:
        return JSONResponse({"plans": [p.to_json() for p in server.plans.values()]})

    @app.get("/health")
    async def health() -> JSONResponse:
        status = server.health()  # 503 when degraded: a load balancer's probe sees it too
        return JSONResponse(status, status_code=200 if status["status"] == "ok" else 503)

    @app.websocket("/ws")
    async def live(ws: WebSocket) -> None:
        await ws.accept()
        if not server.acquire():
            message = server.full_message()
            log_event(logging.WARNING, "session refused", client=client_address(ws), error=message)
            await ws.send_text(
                json.dumps(
                    {"type": "error", "message": message, "fatal": True, "code": CLOSE_TRY_LATER}
                )
            )
            await ws.close(CLOSE_TRY_LATER, "server busy")
            return
        try:
            await LiveSession(ws, server).run()
        finally:
            server.release()

    @app.post("/upload")
    async def upload(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await handle_upload(server, request))
        except UploadError as err:
            log_event(
                logging.WARNING, "upload refused", client=client_address(request), error=str(err)
            )
            # The body may be unread (too big, server full): close the connection after the
            # answer, or the server would still read and discard all of it (uvicorn keep-alive).
            return JSONResponse(
                {"type": "error", "message": str(err)},
                status_code=err.status,
                headers={"connection": "close"},
            )

    return app


def add_history_routes(app: FastAPI, server: ServerState) -> None:
    """``GET /history`` (the page), ``/api/history`` and ``/api/history/{id}`` over
    ``server.history``: reads run in a worker thread (SQLite blocks); a history that cannot be
    read is 409 with the reason, an unknown id 404, a server without a history 404."""

    @app.get("/history", include_in_schema=False)
    async def history_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "history.html")

    @app.get("/api/history")
    async def history_list(limit: int = 100) -> JSONResponse:
        def read(store: History) -> dict[str, Any]:
            sessions = store.sessions(max(1, min(limit, 1000)))
            return {
                "database": str(store.path),
                "set_aside": str(store.set_aside) if store.set_aside else None,
                "sessions": [s.to_json() for s in sessions],
                "progress": store.progress(),
            }

        return await _read_history(read)

    @app.get("/api/history/{session_id}")
    async def history_session(session_id: int) -> JSONResponse:
        def read(store: History) -> dict[str, Any]:
            stored, events = store.session(session_id)
            return stored.to_json() | {"events": [e.to_json() for e in events]}

        return await _read_history(read)

    async def _read_history(read: Callable[[History], dict[str, Any]]) -> JSONResponse:
        if server.history is None:
            return JSONResponse(
                {"type": "error", "message": "this server keeps no history (--no-history)"},
                status_code=404,
            )
        try:
            answer = await server.run_job(Job("history", "read"), read, server.history)
        except HistoryError as err:
            status = 404 if isinstance(err, NoSuchSession) else 409
            return JSONResponse({"type": "error", "message": str(err)}, status_code=status)
        return JSONResponse(answer)


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
