"""The JSON-lines logs of ``livefit serve``: ``JsonLogFormatter`` (one object per line: time,
level, logger, message and the record's fields), ``configure_logging`` (livefit and uvicorn on
stderr; the CLI calls it) and ``log_event``, which the session, the upload, the shared server
state and the app call once per session start, end and error, upload and shutdown.

Imported by every other module of the web app; imports none of them.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import Request, WebSocket

log = logging.getLogger("livefit.serve")


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


def log_event(level: int, message: str, **fields: Any) -> None:
    log.log(level, message, extra={"fields": fields})


def client_address(ws: WebSocket | Request) -> str:
    return f"{ws.client.host}:{ws.client.port}" if ws.client else "unknown"
