"""A local stand-in for an OpenAI-compatible chat server, shared by the tests of every LLM
client (judge, Socratic and turn-based baselines, benchmark): nothing leaves the machine.

``with StandInChat(answer) as server: ... server.url``; ``answer(body)`` returns the reply text,
or an int HTTP status to fail that request. ``server.requests`` holds the JSON bodies received,
``server.paths`` and ``server.auth`` their paths and Authorization headers, in order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandInChat:
    def __init__(self, answer: Callable[[dict[str, Any]], str | int], suffix: str = "") -> None:
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.auth: list[str | None] = []
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    owner.requests.append(body)
                    owner.paths.append(self.path)
                    owner.auth.append(self.headers.get("Authorization"))
                reply = answer(body)
                if isinstance(reply, int):
                    self.send_response(reply)
                    self.end_headers()
                    return
                data = json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": reply}}]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{suffix}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> StandInChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
