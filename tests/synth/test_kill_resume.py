"""kill -9 during ``livefit data synth``, then resume: the dataset is byte for byte the one an
uninterrupted run writes (synthesis is seeded per video and every file is written atomically;
the resumed run removes the temporary files the killed one left)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# One worker runs this module: its module-scoped fixtures are built once (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("test_kill_resume")

# The tiny preset, cut to a few videos so three runs take seconds.
ARGS = [
    "data",
    "synth",
    "--preset",
    "tiny",
    "--seed",
    "3",
    "--test-workouts",
    "1",
    "--train-workouts",
    "1",
    "--train-clips",
    "4",
    "--test-clips",
    "2",
]


def _synth(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "livefit", *ARGS, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _videos(out: Path) -> int:
    return sum(1 for _ in out.rglob("*.mp4")) if out.is_dir() else 0


def _kill_after(out: Path, videos: int, delay: float) -> bool:
    """Start a run, SIGKILL it ``delay`` s after ``videos`` videos exist; False if it finished
    first."""
    proc = _synth(out)
    deadline = time.monotonic() + 120
    while _videos(out) < videos and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The files of one uninterrupted run of ``ARGS``: every kill pattern below is compared
    with the same run, so it is made once."""
    ref = tmp_path_factory.mktemp("synth_ref") / "ref"
    whole = _synth(ref)
    assert whole.wait(timeout=300) == 0, whole.stderr.read() if whole.stderr else ""
    return _tree(ref)


@pytest.mark.parametrize("seed", [0, 1])
def test_kill9_then_resume_writes_the_same_bytes(
    reference: dict[str, bytes], tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    out = tmp_path / "killed"
    killed = 0
    for videos in sorted(rng.sample(range(1, 6), 2)):  # two kills at random points
        killed += _kill_after(out, videos, rng.uniform(0.0, 0.2))
    assert killed, "the run finished before it could be killed: nothing was tested"
    resumed = _synth(out)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read() if resumed.stderr else ""
    want, got = reference, _tree(out)
    assert sorted(got) == sorted(want)  # no temporary file left, nothing missing
    assert [name for name in want if want[name] != got[name]] == []
