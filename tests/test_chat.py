"""The shared LLM client (``livefit.chat``): the HTTP backend against a local stand-in server
(body, key, retries, errors) and the local backend's prompt for a base LM."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from livefit.chat import ChatConfig, ChatError, HTTPChat, completions_url, make_chat


class _Server:
    def __init__(self, fail_first: int = 0, status: int = 503):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({**body, "auth": self.headers.get("Authorization")})
                if len(outer.requests) <= fail_first:
                    self.send_response(status)
                    self.end_headers()
                    return
                data = json.dumps({"choices": [{"message": {"content": "Hi."}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_urls():
    assert completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"
    with pytest.raises(ChatError, match="expected http"):
        HTTPChat(ChatConfig(url="localhost:8000"))
    with pytest.raises(ChatError, match="not both"):
        make_chat(ChatConfig(url="http://h", model_path="/x"))
    with pytest.raises(ChatError, match="no LM configured"):
        make_chat(ChatConfig())
    with pytest.raises(ChatError, match="chat model directory is missing"):
        make_chat(ChatConfig(model_path="/no/such/dir"))


def test_http_chat_sends_the_sampling_settings_and_retries(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LIVEFIT_CHAT_API_KEY", "sk-chat")
    messages = [{"role": "user", "content": "Coach me."}]
    with _Server(fail_first=1) as server:
        chat = make_chat(ChatConfig(url=server.url, model="m", top_k=None, backoff_s=0.01))
        assert chat.complete(messages, seed=7) == "Hi."
    assert len(server.requests) == 2  # one 503, then the answer
    body = server.requests[-1]
    assert body == {"messages": messages, "temperature": 0.6, "top_p": 0.9, "max_tokens": 64,
                    "model": "m", "seed": 7, "auth": "Bearer sk-chat"}  # fmt: skip
    with _Server(fail_first=9, status=400) as server:
        with pytest.raises(ChatError, match="HTTP 400"):
            HTTPChat(ChatConfig(url=server.url, backoff_s=0.01)).complete(messages, None)
