"""The README's picture: the page coaching a real person (the sit-ups clip of
``benchmarks/real_people.json``, fetched by ``scripts/fetch_real_people.py``) with the bundled pose
coach, in headless Chromium against the real server; a screenshot ``SECONDS`` into the clip.

    .venv/bin/python scripts/readme_picture.py [--clip aipose_situps.mp4] [--seconds 9]
        [--out docs/images/serve_real_person.png]

Needs what the browser test needs (Debian's chromium, playwright) and the pose extra.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "app"))


def main() -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_FLAGS

    from livefit.app.serve_cli import UVICORN_WEBSOCKETS
    from livefit.app.server import ServerLimits, create_app
    from livefit.stream.live import LiveCoach

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    clips = Path(os.environ.get("LIVEFIT_REAL_PEOPLE", REPO / ".cache" / "real_people"))
    parser.add_argument("--clip", type=Path, default=clips / "aipose_situps.mp4")
    parser.add_argument("--seconds", type=float, default=9.0)
    parser.add_argument("--out", type=Path, default=REPO / "docs/images/serve_real_person.png")
    args = parser.parse_args()
    if not args.clip.is_file():
        parser.error(f"{args.clip}: no such clip (python scripts/fetch_real_people.py)")
    app = create_app(LiveCoach.load(vision="pose"), ServerLimits(), history=None)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **UVICORN_WEBSOCKETS)
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 700})
        page.goto(f"http://127.0.0.1:{port}")
        page.set_input_files("#file", str(args.clip))
        page.wait_for_function("document.querySelector('#status').textContent === 'live'")
        page.wait_for_timeout(int(args.seconds * 1000))
        page.screenshot(path=str(args.out))
        browser.close()
    server.should_exit = True
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
