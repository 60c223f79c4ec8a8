"""``POST /upload`` of ``livefit serve``: a whole video file coached server-side (multipart field
``video``, optional field ``exercise``), its events and summary returned as JSON and the session
stored in the workout history (``history_id``). The upload takes its
session slot before its body is read (every slot taken: 503 at once), the body is refused as
soon as it passes ``max_upload_bytes`` (413), and ``coach_video`` runs every frame through one
pipeline in a worker thread; an upload that cannot be coached is an ``UploadError`` carrying
its HTTP status.

Where it sits: the ``POST /upload`` route of ``livefit.app.server`` calls ``handle_upload``;
the slot and the worker job come from ``livefit.app.serve_state``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from livefit.app.serve_log import log_event
from livefit.app.serve_state import Job, ServerState
from livefit.app.summary import SessionSummary, summarize
from livefit.stream.live import LiveCoach, LiveConfig, LiveEvent, LiveInputError
from livefit.vision.preprocess import VideoError, decode_frames


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


def coach_video(
    coach: LiveCoach,
    path: Path,
    config: LiveConfig,
    name: str,
    max_pixels: int,
    progress: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], list[LiveEvent], SessionSummary]:
    """Worker thread: every frame of a video file through one pipeline at full speed (stream
    times from the video's timestamps) -> (the ``POST /upload`` answer, its events, its
    summary). ``progress`` is called
    after each frame (``/health`` tells a long upload from a stuck one by it). A video the
    pipeline cannot use (frames too small, a time jump) is an ``UploadError`` (422) naming it."""
    pipe = coach.pipeline(config)
    events: list[LiveEvent] = []
    frames = 0
    try:
        for frame, pts in decode_frames(path):
            if frame.shape[0] * frame.shape[1] > max_pixels:
                raise UploadError(
                    f"{name}: frames of {frame.shape[1]}x{frame.shape[0]} pixels are larger "
                    f"than the limit ({max_pixels:,} pixels)",
                    422,
                )
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
    summary = summarize(events, pipe.stats.media_seconds)
    answer = {
        "type": "upload",
        "video": name,
        "frames": frames,
        "seconds": round(pipe.stats.media_seconds, 3),
        "events": [e.to_json() for e in events],
        "feedbacks": [e.to_json() for e in events if e.kind == "feedback"],
        "summary": summary.to_json(),
        "stats": pipe.stats.to_json(),
    }
    return answer, events, summary


async def handle_upload(server: ServerState, request: Request) -> dict[str, Any]:
    """``POST /upload``: take a session slot, store the ``video`` part (within the size limit),
    coach it, answer. The slot comes first: with every slot taken the upload is refused (503)
    before a byte of its body is read or spooled."""
    limit = server.limits.max_upload_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise UploadError(
            f"upload of {int(length) / 2**20:.1f} MB is larger than the limit "
            f"({limit / 2**20:g} MB): send a shorter video",
            413,
        )
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadError("send the video as multipart/form-data in a field named 'video'", 400)
    if not server.acquire():
        raise UploadError(server.full_message(), 503)
    try:
        parser = MultiPartParser(
            request.headers, _limited(request.stream(), limit), max_files=1, max_fields=4
        )
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


async def _coach_upload(
    server: ServerState, video: UploadFile, name: str, exercise: str | None
) -> dict[str, Any]:
    fd, tmp = tempfile.mkstemp(prefix="livefit-upload-", suffix=Path(name).suffix[:8])
    started = time.perf_counter()
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await video.read(1 << 20):
                out.write(chunk)
        config = LiveConfig(exercise=exercise, max_frame_pixels=server.limits.max_upload_pixels)
        job = Job("upload", name)
        result, events, summary = await server.run_job(
            job,
            coach_video,
            server.coach,
            Path(tmp),
            config,
            name,
            server.limits.max_upload_pixels,
            job.touch,
        )
    finally:
        os.unlink(tmp)
    result["history_id"] = await server.run_job(
        Job("history", name), server.remember, "upload", summary, events, name
    )
    log_event(
        logging.INFO,
        "upload coached",
        video=name,
        frames=result["frames"],
        seconds=result["seconds"],
        feedbacks=len(result["feedbacks"]),
        rtf=result["stats"]["real_time_factor"],
        wall_s=round(time.perf_counter() - started, 3),
    )
    return result
