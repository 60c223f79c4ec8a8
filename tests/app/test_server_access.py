"""Who may use ``livefit serve`` (``livefit.app.access``): other web pages (Origin), rebound host
names (Host), other machines (token), and nothing loaded from outside, through FastAPI's
TestClient, the real CLI (CliRunner) and one real uvicorn process."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from typer.testing import CliRunner

from livefit.app.access import COOKIE, AccessPolicy
from livefit.app.cli import choose_vision
from livefit.app.server import STATIC_DIR, ServerLimits, create_app

SITE = "http://127.0.0.1"  # TestClient's requests go to this server as this host
EVIL = "https://evil.example"
TOKEN = "s3cret-Token_1"


@contextmanager
def serve(coach, access: AccessPolicy | None = None, base_url: str = SITE, **limits):
    app = create_app(coach, ServerLimits(**limits), access=access)
    with TestClient(app, base_url=base_url) as client:
        yield client


def ws_url(client: TestClient, path: str) -> str:
    """``path`` on the client's host (TestClient's own WebSocket URLs are ws://testserver)."""
    return f"ws://{client.base_url.netloc.decode()}{path}"


def refused(client: TestClient, path: str = "/ws", **headers: str) -> int:
    """The HTTP status a WebSocket handshake is refused with (fails if it is accepted)."""
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect(ws_url(client, path), headers=headers):
            pass
    return denied.value.status_code


def session_opens(client: TestClient, path: str = "/ws", **headers: str) -> bool:
    """Whether a session opens ('ready'); it is then stopped and closed by the server."""
    with client.websocket_connect(ws_url(client, path), headers=headers) as ws:
        hello = ws.receive_json()
        ws.send_text(json.dumps({"type": "stop"}))
        while ws.receive()["type"] != "websocket.close":
            pass
    return hello["type"] == "ready"


# ---- Origin ---------------------------------------------------------------------------------
def test_a_foreign_page_cannot_open_a_session_and_takes_no_slot(bundled_coach):
    with serve(bundled_coach, max_sessions=1) as client:
        assert refused(client, origin=EVIL) == 403
        assert refused(client, origin="null") == 403  # sandboxed frames, file:// pages
        assert refused(client, origin="http://127.0.0.1:9999") == 403  # another local server
        sessions = client.get("/health").json()["sessions"]
        assert sessions["active"] == 0 and sessions["served"] == 0
        # The one slot is still free: the page's own origin and clients with no Origin get in.
        assert session_opens(client, origin=SITE)
        assert session_opens(client)


def test_a_foreign_upload_is_refused_before_its_body_is_read(bundled_coach):
    read = []

    def body():
        read.append(True)
        yield b"--x\r\nContent-Disposition: form-data; name=video; filename=a.mp4\r\n\r\n"
        yield b"\0" * 1000 + b"\r\n--x--\r\n"

    with serve(bundled_coach) as client:
        answer = client.post(
            "/upload",
            content=body(),
            headers={"origin": EVIL, "content-type": "multipart/form-data; boundary=x"},
        )
        assert answer.status_code == 403 and not read
        assert "other web pages" in answer.json()["message"]
        # The same upload with no Origin reaches the endpoint (and is refused there: no video).
        answer = client.post(
            "/upload", content=body(), headers={"content-type": "multipart/form-data; boundary=x"}
        )
        assert answer.status_code != 403 and read


def test_allow_origin_lets_a_named_page_in(bundled_coach):
    access = AccessPolicy.for_bind("127.0.0.1", allow_origins=["https://coach.example:8443/"])
    with serve(bundled_coach, access) as client:
        assert session_opens(client, origin="https://coach.example:8443")
        assert refused(client, origin="https://coach.example") == 403  # another port
        assert refused(client, origin=EVIL) == 403


# ---- Host -----------------------------------------------------------------------------------
@pytest.mark.parametrize("base_url", ["http://evil.example", "http://127.0.0.1.evil.example"])
def test_a_rebound_host_name_gets_nothing(bundled_coach, base_url):
    with serve(bundled_coach, base_url=base_url) as client:
        assert client.get("/health").status_code == 400
        assert client.get("/").status_code == 400
        assert refused(client) == 400
    for name in ("http://localhost:8000", "http://[::1]:8000"):  # every loopback name, any port
        with serve(bundled_coach, base_url=name) as client:
            assert client.get("/health").status_code == 200


def test_a_server_bound_to_a_name_answers_that_name_and_allowed_ones(bundled_coach):
    access = AccessPolicy.for_bind("mybox.local", allow_hosts=["coach.lan"], token=TOKEN)
    for name, status in [("mybox.local", 200), ("coach.lan", 200), ("evil.example", 400)]:
        with serve(bundled_coach, access, base_url=f"http://{name}:8000") as client:
            assert (
                client.get("/health", headers={"authorization": f"Bearer {TOKEN}"}).status_code
                == status
            )


# ---- token ----------------------------------------------------------------------------------
def test_a_token_is_required_and_accepted_three_ways(bundled_coach):
    with serve(bundled_coach, AccessPolicy.for_bind("127.0.0.1", token=TOKEN)) as client:
        for path in ("/health", "/", "/static/app.js", f"/health?token={TOKEN}x"):
            answer = client.get(path)
            assert answer.status_code == 401, path
            assert "?token=" in answer.json()["message"]
        assert client.get("/health", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert refused(client) == 401
        assert refused(client, origin=EVIL) == 403  # a foreign page gets no further with a token

        assert client.get("/health", headers={"authorization": f"Bearer {TOKEN}"}).is_success
        assert client.get(f"/health?token={TOKEN}").is_success
        assert session_opens(client, f"/ws?token={TOKEN}")
        assert session_opens(client, authorization=f"Bearer {TOKEN}")
        assert session_opens(client, cookie=f"{COOKIE}={TOKEN}")
        assert not client.cookies  # none of these set a cookie


def test_the_page_url_with_the_token_sets_the_cookie_the_page_then_uses(bundled_coach):
    with serve(bundled_coach, AccessPolicy.for_bind("127.0.0.1", token=TOKEN)) as client:
        page = client.get(f"/?token={TOKEN}")
        assert page.status_code == 200 and "<html" in page.text.lower()
        cookie = page.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}={TOKEN};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        # The page's own requests carry the cookie and no token of their own.
        assert client.get("/static/app.js").is_success
        assert session_opens(client, origin=SITE)


def test_a_wildcard_bind_needs_a_token_whatever_the_host_name():
    access = AccessPolicy.for_bind("0.0.0.0")
    assert access.hosts == ("*",) and access.token and len(access.token) >= 32
    assert AccessPolicy.for_bind("0.0.0.0").token != access.token
    assert AccessPolicy.for_bind("127.0.0.1").token is None
    assert AccessPolicy.for_bind("::", allow_hosts=["MyBox.local"]).hosts[-1] == "mybox.local"


# ---- nothing from outside -------------------------------------------------------------------
def test_no_docs_pages_that_load_a_cdn(bundled_coach):
    with serve(bundled_coach) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404


def test_the_page_loads_nothing_from_outside():
    files = sorted(p for p in Path(STATIC_DIR).rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"index.html", "app.js", "style.css", "history.html"}
    for path in files:
        # The SVG namespace is a name (createElementNS), never fetched.
        text = path.read_text().replace('"http://www.w3.org/2000/svg"', "")
        found = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I)
        assert not found, f"{path.name} refers to {found}"


# ---- the CLI --------------------------------------------------------------------------------
@pytest.fixture
def started(monkeypatch):
    """``livefit serve`` up to ``run_server``, which is not called: no model is loaded and
    nothing listens -> a function running the CLI and returning (result, the AccessPolicy)."""
    import livefit.app.serve_cli as serve_cli
    import livefit.app.server as server

    seen: dict = {}
    monkeypatch.setattr(serve_cli, "_cannot_listen", lambda host, port: None)
    monkeypatch.setattr(server, "configure_logging", lambda level: None)
    monkeypatch.setattr(serve_cli, "serve_app", lambda *a: seen.update(access=a[4]))
    monkeypatch.setattr(serve_cli, "run_server", lambda app, host, *a: seen.update(host=host))

    def run(*args: str, env: dict | None = None):
        from livefit.cli import app

        seen.clear()
        result = CliRunner().invoke(app, ["serve", "--threads", "0", *args], env=env)
        return result, seen.get("access")

    return run


def test_serving_beyond_loopback_warns_and_requires_a_token(started):
    result, access = started("--host", "0.0.0.0", "--port", "8123")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("warning: --host 0.0.0.0 listens beyond this machine")
    assert access.token and access.hosts == ("*",)
    assert lines[1] == "livefit serve: the {} coach ({})".format(*choose_vision(None, True))
    assert f"open http://localhost:8123/?token={access.token} " in lines[2]


def test_the_token_comes_from_the_option_or_the_environment(started):
    result, access = started("--host", "192.168.7.7", env={"LIVEFIT_SERVE_TOKEN": TOKEN})
    assert result.exit_code == 0 and access.token == TOKEN and access.hosts == ("192.168.7.7",)
    result, access = started("--token", TOKEN, "--allow-origin", "http://Coach.example")
    assert result.exit_code == 0 and "warning" not in result.output
    assert access.token == TOKEN and access.origins == ("http://coach.example:80",)
    assert f"/?token={TOKEN} " in result.output


def test_loopback_needs_no_token_and_says_nothing(started):
    result, access = started()
    assert result.exit_code == 0 and access == AccessPolicy.for_bind("127.0.0.1")
    vision, why = choose_vision(None, camera=True)  # pose where `make test` runs
    assert result.output.splitlines() == [
        f"livefit serve: the {vision} coach ({why})",
        "livefit serve: open http://127.0.0.1:8000/ (Ctrl-C stops)",
    ]


@pytest.mark.parametrize(
    "args, named",
    [
        (["--allow-origin", "evil.example"], "--allow-origin 'evil.example'"),
        (["--allow-origin", "null"], "--allow-origin 'null'"),
        (["--allow-host", "mybox:8000"], "--allow-host 'mybox:8000'"),
        (["--token", "two words"], "--token"),
        (["--token", ""], "--token"),
    ],
)
def test_bad_access_options_are_one_error_line(started, args, named):
    result, access = started(*args)
    assert result.exit_code == 2 and access is None
    assert result.output.count("\n") == 1 and result.output.startswith(f"error: {named}")


# ---- a real server --------------------------------------------------------------------------
def test_the_real_server_refuses_a_foreign_page_and_a_rebound_name():
    """``python -m livefit serve`` on a free loopback port, reached with the ``websockets``
    client the way a browser would: the foreign Origin's handshake gets a clean 403."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livefit",
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
            "--allow-origin",
            "http://coach.example",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                with urllib.request.urlopen(f"http://{base}/health", timeout=2) as answer:
                    assert json.load(answer)["status"] == "ok"
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)

        for origin in (EVIL, "null"):
            with pytest.raises(InvalidStatus) as denied:
                connect(f"ws://{base}/ws", origin=origin, open_timeout=5)
            assert denied.value.response.status_code == 403
        for origin in (f"http://{base}", "http://coach.example", None):
            with connect(f"ws://{base}/ws", origin=origin, open_timeout=5) as ws:
                assert json.loads(ws.recv(timeout=5))["type"] == "ready"

        rebound = urllib.request.Request(f"http://{base}/health", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as bad_host:
            urllib.request.urlopen(rebound, timeout=5)
        assert bad_host.value.code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    log = proc.stderr.read()
    assert "Traceback" not in log and "access refused" in log
