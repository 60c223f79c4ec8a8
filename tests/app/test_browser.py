"""The page in a real headless Chromium against the real server (uvicorn on a free port): the
camera is Chromium's file-backed fake camera playing a synthetic workout (a y4m it loops), or a
video file picked in the page; the coach's captions must appear while the workout plays.

Needs Debian's ``chromium`` (``LIVEFIT_CHROMIUM`` names another binary) and the ``playwright``
Python package (its own browser downloads are never used). Without them these tests skip, unless
``LIVEFIT_REQUIRE_BROWSER`` is set (CI), where they fail. Screenshots go to
``$LIVEFIT_ARTIFACTS`` (default ``tests-artifacts/``).
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from livefit.app.history import History
from livefit.app.serve_cli import UVICORN_WEBSOCKETS
from livefit.app.server import ServerLimits, create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LIVEFIT_CHROMIUM", "/usr/bin/chromium")
# This closed machine refuses Chromium's own connections unless they are switched off.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
FPS = 16
CLIP = (7.0, 18.0)  # seconds of the workout shown: a rest, then the first exercise (its first
# feedback comes about 8 s in)
FEEDBACK_TIMEOUT_MS = 60_000


def browser_problem() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set LIVEFIT_CHROMIUM)"
    return None


PROBLEM = browser_problem()
REQUIRED = bool(os.environ.get("LIVEFIT_REQUIRE_BROWSER"))
# Skipped before any fixture is built; with LIVEFIT_REQUIRE_BROWSER (CI) they fail instead.
# One worker runs this module: its module-scoped server and browser are started once.
pytestmark = [
    pytest.mark.skipif(PROBLEM is not None and not REQUIRED, reason=str(PROBLEM)),
    pytest.mark.xdist_group("test_browser"),
]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """RGB frames -> an uncompressed YUV4MPEG2 (4:2:0) file, what Chromium's fake camera reads."""
    import cv2

    height, width = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())  # Y, U, V planes


@pytest.fixture(scope="session", autouse=True)
def _browser_required() -> None:
    if PROBLEM is not None:
        pytest.fail(f"{PROBLEM}, and LIVEFIT_REQUIRE_BROWSER is set")


@pytest.fixture(scope="module")
def clip(workout_frames) -> list[np.ndarray]:
    lo, hi = (int(t * FPS) for t in CLIP)
    return workout_frames[lo:hi]


@pytest.fixture(scope="module")
def server_url(bundled_coach, tmp_path_factory):
    """The real server (uvicorn, in a thread) on a free port, with a workout history."""
    yield from serve(bundled_coach, tmp_path_factory)


@pytest.fixture(scope="module")
def pose_server_url(pose_estimator_available, tmp_path_factory):
    """The same with the bundled pose coach (what ``serve`` runs for a camera)."""
    from livefit.stream.live import LiveCoach

    yield from serve(LiveCoach.load(vision="pose"), tmp_path_factory)


def serve(coach, tmp_path_factory):
    import uvicorn

    history = History(tmp_path_factory.mktemp("history") / "history.sqlite3")
    app = create_app(coach, ServerLimits(max_sessions=4), history=history)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", **UVICORN_WEBSOCKETS
    )  # as `livefit serve` runs it
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(clip, tmp_path_factory):
    """Headless Chromium whose fake camera loops ``clip``."""
    from playwright.sync_api import sync_playwright

    y4m = tmp_path_factory.mktemp("camera") / "workout.y4m"
    write_y4m(y4m, clip, FPS)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={y4m}"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def artifacts() -> Path:
    out = Path(os.environ.get("LIVEFIT_ARTIFACTS", ROOT / "tests-artifacts"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def wait_for_captions(page, bundled_coach) -> dict:
    """Wait until the first feedback is on the page; check what the page shows then."""
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.wait_for_selector("#timeline li.feedback", timeout=FEEDBACK_TIMEOUT_MS)
    shown = page.evaluate("""() => ({
        caption: document.querySelector('#caption').textContent,
        captionShown: document.querySelector('#caption').classList.contains('show'),
        feedback: document.querySelector('#timeline li.feedback p').textContent,
        exercise: document.querySelector('#timeline li.feedback .what').textContent,
        status: document.querySelector('#status').textContent,
        error: document.querySelector('#error').hidden ? ''
            : document.querySelector('#error').textContent,
        coached: Number(document.querySelector('#st-in').textContent),
    })""")
    assert not errors, errors
    assert shown["feedback"].strip() and shown["caption"] == shown["feedback"], shown
    assert shown["captionShown"], shown
    exercise = shown["exercise"].removeprefix("· ")
    assert exercise in bundled_coach.head.exercises and exercise != "general", shown
    assert shown["status"] == "live" and not shown["error"], shown
    assert shown["coached"] > 0, shown
    return shown


@pytest.mark.slow(17)
def test_the_camera_page_shows_live_captions(browser, server_url, bundled_coach, artifacts):
    page = browser.new_page(viewport={"width": 1200, "height": 760})
    try:
        page.goto(server_url)
        page.wait_for_selector("#exercise-choice option[value='squats']", state="attached")
        tic = time.monotonic()
        page.click("#camera")
        wait_for_captions(page, bundled_coach)
        assert page.evaluate("maxHeight") == 240  # the frame height the server's 'ready' asked
        page.wait_for_timeout(300)  # let the caption's fade-in finish for the picture
        page.screenshot(path=str(artifacts / "serve_camera.png"))
        assert time.monotonic() - tic < FEEDBACK_TIMEOUT_MS / 1000
        page.click("#stop")  # the server ends the session cleanly
        page.wait_for_function("document.querySelector('#status').textContent === 'ended'")
        # After Stop: the last frame stays, the live overlays go, the summary appears.
        page.wait_for_selector("#summary:not([hidden])")
        after = page.evaluate("""() => {
            const still = document.querySelector('#still');
            const { width, height } = still;
            const pixels = still.getContext('2d').getImageData(0, 0, width, height).data;
            let lit = 0;
            for (let i = 0; i < pixels.length; i += 4) lit += pixels[i] + pixels[i + 1] > 40;
            return {
                stillShown: !still.hidden, lit: lit / (pixels.length / 4),
                caption: document.querySelector('#caption').classList.contains('show'),
                badge: !document.querySelector('#exercise').hidden,
                rows: [...document.querySelectorAll('#summary-table tr')].slice(1)
                    .map((r) => [...r.children].map((c) => c.textContent)),
                note: document.querySelector('#summary-note').textContent,
            };
        }""")
        assert after["stillShown"] and after["lit"] > 0.2, after  # a picture, not black
        assert not after["caption"] and not after["badge"], after
        assert after["rows"] and all(r[0] in bundled_coach.head.exercises for r in after["rows"])
        assert "saved as session" in after["note"], after
        page.screenshot(path=str(artifacts / "serve_summary.png"))
        # The History view lists the session; picking it shows its summary and lines.
        page.click("header nav a[href='/history']")
        page.wait_for_selector("#sessions button.session")
        page.click("#sessions button.session")
        page.wait_for_selector("#detail table.summary")
        detail = page.evaluate("""() => ({
            rows: document.querySelectorAll('#detail table.summary tr').length - 1,
            said: document.querySelectorAll('#detail ol.timeline li').length,
            plot: document.querySelectorAll('#progress svg.chart circle').length
                + document.querySelectorAll('#progress .empty').length,
        })""")
        assert detail["rows"] == len(after["rows"]) and detail["said"] >= 1, detail
        assert detail["plot"] >= 1, detail
        page.screenshot(path=str(artifacts / "history.png"))
    finally:
        page.close()


@pytest.mark.slow(12)
def test_a_video_file_plays_with_the_pose_coach_its_skeleton_and_count(
    browser, pose_server_url, bundled_coach, clip, artifacts, tmp_path
):
    from livefit.synth.writer import write_video

    video = tmp_path / "workout.mp4"
    write_video(video, clip, FPS, clip[0].shape[1], clip[0].shape[0])
    page = browser.new_page(viewport={"width": 1200, "height": 760})
    try:
        page.goto(pose_server_url)
        # Follow the shipped warm-up plan: its first exercise is coached from the first frame.
        page.wait_for_selector("#plan-choice option[value='warm-up']", state="attached")
        page.select_option("#plan-choice", "warm-up")
        assert page.is_disabled("#exercise-choice")  # a plan names the exercises
        page.set_input_files("#file", str(video))
        shown = wait_for_captions(page, bundled_coach)
        assert shown["exercise"] == "· jumping jacks", shown
        assert page.text_content("#exercise") == "jumping jacks"
        assert page.evaluate("maxHeight") == 480 and page.evaluate("skeleton.length") > 10
        # The skeleton the coach sees is drawn over the video, where the video is.
        page.wait_for_function("Number(document.querySelector('#skeleton').dataset.drawn) > 16")
        drawn = page.evaluate("""() => {
            const el = document.querySelector('#skeleton'), box = el.getBoundingClientRect();
            const v = document.querySelector('#video').getBoundingClientRect();
            const px = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
            let lit = 0;
            for (let i = 3; i < px.length; i += 4) lit += px[i] > 0;
            return {lit, inside: box.left >= v.left - 1 && box.right <= v.right + 1
                && box.top >= v.top - 1 && box.bottom <= v.bottom + 1};
        }""")
        assert drawn["lit"] > 200 and drawn["inside"], drawn
        page.screenshot(path=str(artifacts / "serve_file_pose.png"))
        # at the end of the file the page stops the session and the server closes it cleanly
        page.wait_for_function(
            "document.querySelector('#status').textContent === 'ended'", timeout=30_000
        )
    finally:
        page.close()


def test_the_phone_layout_and_the_report_fit_a_390_px_screen(
    browser, server_url, artifacts, tmp_path
):
    from types import SimpleNamespace

    from livefit.app.report_html import write_report

    phone = {"width": 390, "height": 844}
    page = browser.new_page(viewport=phone, device_scale_factor=2)
    try:
        page.goto(server_url)
        assert page.get_attribute("link[rel=icon]", "href") == "/static/favicon.svg"
        assert page.request.get(f"{server_url}/static/favicon.svg").ok
        page.click("#camera")
        page.wait_for_function("document.querySelector('#video').videoWidth > 0")
        page.evaluate("showCaption('Keep your back straight and your chest up, please!')")
        page.wait_for_timeout(700)  # the caption's fade-in
        box = page.evaluate("""() => {
            const r = (s) => document.querySelector(s).getBoundingClientRect();
            const v = r('#video'), c = r('#caption');
            return {page: document.documentElement.scrollWidth, width: v.width,
                    top: v.top, height: v.height, capTop: c.top, capBottom: c.bottom};
        }""")
        page.screenshot(path=str(artifacts / "serve_phone.png"))
        assert page.is_hidden("#placeholder")  # no prompt over a playing camera
        page.click("#stop")
        assert box["page"] <= phone["width"], box  # nothing spills sideways
        assert box["width"] >= 0.9 * (phone["width"] - 2 * 13), box  # the video fills the width
        # the caption stays in the video's lowest quarter: below the middle of the body
        assert box["capTop"] >= box["top"] + 0.75 * box["height"], box
        assert box["capBottom"] <= box["top"] + box["height"] + 1, box
    finally:
        page.close()
    truth = SimpleNamespace(spans=[(0.0, 30.0, "squats")], lines=[(2.0, "Let's go!")])
    stats = {"media_seconds": 30.0, "real_time_factor": 0.1, "frames_dropped": 0, "steps": 120}
    summary = {
        "files": {"video": None},
        "feedbacks": [{"time": 4.0, "text": "Get deeper in that squat, please!"}],
        "stats": {**stats, "feedbacks": 1},
    }
    metrics = {
        "livefit coach": dict.fromkeys(
            ("t_f_score", "precision", "recall", "meteor", "rouge_l"), 0.5
        )
    }
    report = write_report(tmp_path, truth, summary, metrics, "seed 7")
    page = browser.new_page(viewport=phone)
    try:
        page.goto(report.as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= phone["width"]
        page.screenshot(path=str(artifacts / "report_phone.png"), full_page=True)
    finally:
        page.close()
