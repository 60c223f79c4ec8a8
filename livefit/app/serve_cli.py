"""``livefit serve``: load the coach once and serve the web app (``livefit.app.server``)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from livefit.app.access import AccessPolicy, host_name, is_loopback
from livefit.app.cli import CameraVisionOpt, CnnOpt, ModelOpt, ThreadsOpt, choose_vision
from livefit.app.history import History
from livefit.options import finite
from livefit.vision.errors import WeightsError

# JPEG frames do not compress: per-message deflate (which browsers offer) only spends the event
# loop's time inflating them (a third of it at 64 sessions, before it was switched off).
UVICORN_WEBSOCKETS = {"ws_per_message_deflate": False, "ws_max_size": 16 * 2**20}
# Shutdown (SIGTERM, Ctrl-C) within 5 s whatever the worker threads do: at most 1 s for live
# sockets to be told and closed (1001), 2 s for requests to finish (then uvicorn cancels them),
# 0.5 s for the worker threads' current jobs; threads still busy then are left (``os._exit``).
CLOSE_SOCKETS_SECONDS = 1.0
GRACEFUL_SECONDS = 2
WORKERS_SECONDS = 0.5

ALLOW_ORIGIN_HELP = (
    "Another web page (an origin, like http://mybox.local:8000) that may use the server; "
    "repeatable. Default: only the server's own page."
)
ALLOW_HOST_HELP = "Another host name the server is reached by (like mybox.local); repeatable."
TOKEN_HELP = "Token every request must carry; made up when --host is beyond loopback."


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0: every interface).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    model: ModelOpt = None,
    cnn: CnnOpt = None,
    vision: CameraVisionOpt = None,
    max_sessions: Annotated[int, typer.Option(help="Live sessions at once.")] = 8,
    max_fps: Annotated[
        float,
        typer.Option(
            help="Frames per second accepted per session.", callback=finite(above=0, at_most=1000)
        ),
    ] = 30.0,
    max_upload_mb: Annotated[
        float,
        typer.Option(help="Largest video upload, in MB.", callback=finite(above=0, at_most=1e6)),
    ] = 200.0,
    threads: ThreadsOpt = 1,
    workers: Annotated[int, typer.Option(help="Threads that decode and coach frames.")] = 2,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    allow_origin: Annotated[list[str] | None, typer.Option(help=ALLOW_ORIGIN_HELP)] = None,
    allow_host: Annotated[list[str] | None, typer.Option(help=ALLOW_HOST_HELP)] = None,
    token: Annotated[
        str | None, typer.Option(envvar="LIVEFIT_SERVE_TOKEN", help=TOKEN_HELP)
    ] = None,
    history: Annotated[
        bool,
        typer.Option(
            help="Store every finished session in the workout history (the page's History "
            "view, livefit history; LIVEFIT_HISTORY names another database)."
        ),
    ] = True,
) -> None:
    """Serve the live coach as a web app (browser camera or video file).

    The page streams the browser camera (or a video file) to the coach and shows its feedback
    as captions, a timeline and speech.
    """
    import torch

    from livefit.app.server import (  # lazy: fastapi, torch off --help
        ServerLimits,
        configure_logging,
    )

    if min(max_sessions, workers) < 1:  # the float options are checked by ``finite``
        typer.echo("error: --max-sessions and --workers must be positive", err=True)
        raise typer.Exit(2)
    problem = _cannot_listen(host, port)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        typer.echo(f"error: unknown --log-level {log_level!r}", err=True)
        raise typer.Exit(2)
    try:
        access = AccessPolicy.for_bind(
            host, allow_hosts=allow_host or (), allow_origins=allow_origin or (), token=token
        )
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    if not is_loopback(host):
        typer.echo(
            f"warning: --host {host} listens beyond this machine: anyone who reaches it with "
            "the token can use the coach, and nothing is encrypted (no TLS); see docs/serve.md, "
            "Security model",
            err=True,
        )
    if threads:
        torch.set_num_threads(threads)
    configure_logging(log_level)
    limits = ServerLimits(
        max_sessions=max_sessions,
        max_fps=max_fps,
        max_upload_bytes=int(max_upload_mb * 2**20),
        worker_threads=workers,
    )
    vision, why = choose_vision(vision, True, model is not None or cnn is not None)
    try:
        app = serve_app(model, cnn, vision, limits, access, history)
    except (FileNotFoundError, ValueError, WeightsError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"livefit serve: the {vision} coach ({why})", err=True)
    shown = "localhost" if host in ("0.0.0.0", "::") else host_name(host, "--host")
    query = f"?token={access.token}" if access.token else ""
    typer.echo(f"livefit serve: open http://{shown}:{port}/{query} (Ctrl-C stops)", err=True)
    run_server(app, host, port, log_level.lower())


def run_server(app: Any, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` (``create_app``'s) with uvicorn until SIGTERM or Ctrl-C, then stop within
    5 s whatever its worker threads do: live sockets are closed (1001) first, uvicorn cancels
    the requests still running after ``GRACEFUL_SECONDS``, and worker threads still busy after
    that (a stuck job) do not hold the process: it exits without joining them."""
    import uvicorn

    state = app.state.server  # livefit.app.serve_state.ServerState

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            await state.shut_down(CLOSE_SOCKETS_SECONDS)
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        **UVICORN_WEBSOCKETS,
    )
    server = Server(config)
    try:
        server.run()  # SIGTERM: uvicorn raises it again once stopped, which ends the process
    except KeyboardInterrupt:  # Ctrl-C stops the server: not an error (as ``uvicorn.run``)
        pass
    if state.stop_workers(WORKERS_SECONDS):  # logged; exiting normally would join them forever
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0 if server.started else 3)
    if not server.started:
        raise typer.Exit(3)  # uvicorn could not start (it logged why), as ``uvicorn.run``


def serve_app(
    model: Path | None,
    cnn: Path | None,
    vision: str,
    limits: Any,
    access: AccessPolicy | None = None,
    history: bool = False,
) -> Any:
    """The app ``livefit serve`` runs: the coach (``--vision``'s bundled one unless ``--model``
    or ``--cnn`` say otherwise) behind the web app, with ``limits`` (``ServerLimits``) and
    ``access`` (``AccessPolicy``; None: this machine's pages only); ``history``: store finished
    sessions in the workout history (``livefit.app.history``)."""
    from livefit.app.server import create_app  # lazy: fastapi, torch off --help
    from livefit.stream.live import LiveCoach  # lazy: torch, cv2 off --help

    coach = LiveCoach.load(model, cnn, vision=vision)
    if model is not None:
        name = str(model)
    else:
        name = "bundled pose coach" if vision == "pose" else "bundled coach"
    store = History() if history else None
    return create_app(coach, limits, model_name=name, access=access, history=store)


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (checked before the model loads, so
    a taken port is one clear line instead of a server that starts and dies)."""
    if not 0 <= port <= 65535:
        return f"--port must be between 0 and 65535, got {port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        return f"--host {host!r}: cannot resolve it ({err.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            return f"cannot listen on {host}:{port} ({err.strerror}); is another server there?"
    return None


def register(groups: dict[str, typer.Typer]) -> None:
    groups["root"].command("serve")(serve)
