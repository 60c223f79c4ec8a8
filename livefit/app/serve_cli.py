"""``livefit serve``: load the coach once and serve the web app (``livefit.app.server``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from livefit.app.cli import CnnOpt, ModelOpt, ThreadsOpt, VisionOpt

# JPEG frames do not compress: per-message deflate (which browsers offer) only spends the event
# loop's time inflating them (a third of it at 64 sessions, before it was switched off).
UVICORN_WEBSOCKETS = {"ws_per_message_deflate": False, "ws_max_size": 16 * 2**20}


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0: every interface).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    model: ModelOpt = None,
    cnn: CnnOpt = None,
    vision: VisionOpt = "cnn",
    max_sessions: Annotated[int, typer.Option(help="Live sessions at once.")] = 8,
    max_fps: Annotated[float, typer.Option(help="Frames per second accepted per session.")] = 30.0,
    max_upload_mb: Annotated[float, typer.Option(help="Largest video upload, in MB.")] = 200.0,
    threads: ThreadsOpt = 1,
    workers: Annotated[int, typer.Option(help="Threads that decode and coach frames.")] = 2,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the live coach as a web app (browser camera or video file).

    The page streams the browser camera (or a video file) to the coach and shows its feedback
    as captions, a timeline and speech.
    """
    import torch
    import uvicorn

    from livefit.app.server import ServerLimits, configure_logging
    from livefit.vision.weights import WeightsError

    if min(max_sessions, workers) < 1 or max_fps <= 0 or max_upload_mb <= 0:
        typer.echo("error: --max-sessions, --workers, --max-fps and --max-upload-mb must be "
                   "positive", err=True)  # fmt: skip
        raise typer.Exit(2)
    problem = _cannot_listen(host, port)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        typer.echo(f"error: unknown --log-level {log_level!r}", err=True)
        raise typer.Exit(2)
    if threads:
        torch.set_num_threads(threads)
    configure_logging(log_level)
    limits = ServerLimits(
        max_sessions=max_sessions,
        max_fps=max_fps,
        max_upload_bytes=int(max_upload_mb * 2**20),
        worker_threads=workers,
    )
    try:
        app = serve_app(model, cnn, vision, limits)
    except (FileNotFoundError, ValueError, WeightsError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"livefit serve: open http://{host}:{port}/ (Ctrl-C stops)", err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level.lower(),
        **UVICORN_WEBSOCKETS,
    )


def serve_app(model: Path | None, cnn: Path | None, vision: str, limits: Any) -> Any:
    """The app ``livefit serve`` runs: the coach (``--vision``'s bundled one unless ``--model``
    or ``--cnn`` say otherwise) behind the web app, with ``limits`` (``ServerLimits``)."""
    from livefit.app.server import create_app
    from livefit.stream.live import LiveCoach

    coach = LiveCoach.load(model, cnn, vision=vision)
    if model is not None:
        name = str(model)
    else:
        name = "bundled pose coach" if vision == "pose" else "bundled coach"
    return create_app(coach, limits, model_name=name)


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (checked before the model loads, so
    a taken port is one clear line instead of a server that starts and dies)."""
    import socket

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
