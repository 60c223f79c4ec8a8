"""The bad-input corpus for long jobs and video files: two ``predict`` runs on one output, a
resume of a file that holds a segment twice, ``data synth`` into a folder it did not start, a
full disk, and video paths that are not videos (a directory, a link loop, frames too small, a
file cut short).

Same rules as ``tests/test_bad_inputs.py``: each case runs the real CLI root and must end in exit
status 2 with exactly one ``error: ...`` line naming the culprit, no traceback, and every file
that existed before byte for byte as it was. Data are tiny: the QEVD fixture tree with 4-value
features and the built-in ``silent`` coach (no model to load), zero-video synth runs, and videos
of a few dozen frames made here with PyAV.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qevd_fixture import write_quirk_tree  # noqa: E402

from livefit.cli import app  # noqa: E402

runner = CliRunner()
FAST = ["--fast", "--no-progress", "--no-display"]
NO_VIDEOS = [
    "--train-workouts",
    "0",
    "--test-workouts",
    "0",
    "--train-clips",
    "0",
    "--test-clips",
    "0",
]


# ---- the checks every case shares ---------------------------------------------------------------
def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def clean_error(tmp: Path, argv: list[str], *culprits: str) -> str:
    """Run ``livefit ARGV``: one ``error:`` line naming every culprit, exit 2, no traceback, no
    file under ``tmp`` changed. Returns the line."""
    before = snapshot(tmp)
    result = runner.invoke(app, argv, env={"COLUMNS": "200"})
    out = result.output
    assert "Traceback" not in out and "livefit crashed" not in out, out
    assert result.exit_code == 2, (result.exit_code, out, result.exception)
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    for culprit in culprits:
        assert culprit in errors[0], (culprit, errors[0])
    after = snapshot(tmp)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    assert not changed, f"pre-existing files modified or removed: {changed}"
    return errors[0]


def ok(argv: list[str]) -> str:
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.fixture(autouse=True, scope="module")
def _keep_torch_threads():
    """``livefit coach`` sets torch's thread count for the process: give it back afterwards."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ---- predict: one run per output, and no segment twice ------------------------------------------
def _predict(tmp: Path, *extra: str) -> list[str]:
    root = tmp / "root"
    if not root.is_dir():
        write_quirk_tree(root, feature_shape=(4, 1, 1))
    return ["predict", "--data", str(root), "--out", str(tmp / "p.jsonl"), *extra]


HOLD = """
import sys
from livefit.io import exclusive_output
with exclusive_output(sys.argv[1], "--out", "livefit predict"):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes it, or kills this process
"""


def test_a_second_predict_on_the_same_out_is_refused_naming_the_first(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    ok(_predict(tmp_path, "--model", "silent", "--limit", "1"))  # a run that stopped early
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        # Other settings too: the lock is checked before anything is read or written.
        line = clean_error(
            tmp_path,
            _predict(tmp_path, "--model", "periodic"),
            str(out),
            f"pid {holder.pid}",
            socket.gethostname(),
            "started",
        )
        assert "another livefit predict is writing it" in line
        assert line.count(str(out.parent)) <= 2  # the output and its lock file, on one line
    finally:
        holder.send_signal(signal.SIGKILL)  # dies holding it: the kernel releases the lock
        holder.wait()
    assert (tmp_path / "p.jsonl.lock").is_file()  # a note left behind, not a lock
    ok(_predict(tmp_path, "--model", "silent"))
    ids = [json.loads(x)["segment_id"] for x in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) > 1
    assert not (tmp_path / "p.jsonl.lock").exists()  # a run that ends removes its lock file


def test_predict_refuses_to_resume_a_file_with_a_segment_twice(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    ok(_predict(tmp_path, "--model", "silent"))
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join([*lines, lines[0]]))  # what two runs at once left behind
    segment = json.loads(lines[0])["segment_id"]
    clean_error(
        tmp_path,
        _predict(tmp_path, "--model", "silent"),
        f"{out}:{len(lines) + 1}:",
        repr(segment),
        "line 1",
    )


# ---- data synth: only into a folder it started ---------------------------------------------------
def _synth(out: Path, seed: int) -> list[str]:
    return ["data", "synth", "--preset", "tiny", "--seed", str(seed), *NO_VIDEOS, "--out", str(out)]


def test_synth_refuses_a_folder_without_its_run_record(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    ok(_synth(sim, 0))
    (sim / "synth_run.json").unlink()  # killed, its record deleted; rerun with another seed
    clean_error(
        tmp_path, _synth(sim, 1), str(sim), "synth_run.json", "QEVD-FIT-COACH/", "synth_config.json"
    )
    assert not (sim / "synth_run.json").exists()  # nothing recorded as the second seed
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("not synth's\n")
    clean_error(tmp_path, _synth(other, 0), str(other), "todo.txt")
    # An empty folder, or one with only a killed run's temporary record, is a fresh start.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".synth_run.json.ab12cd34.tmp").write_text("{")
    ok(_synth(fresh, 2))
    assert json.loads((fresh / "synth_run.json").read_text())["seed"] == 2


# ---- a full disk: the file that could not be written, in words -----------------------------------
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full to write to")
def test_predict_on_a_full_disk_names_the_file(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    out.symlink_to("/dev/full")  # every write to it fails with ENOSPC, as on a full disk
    line = clean_error(tmp_path, _predict(tmp_path, "--model", "silent"))
    assert line == f"error: {out}: no space left on the disk"


def test_an_atomic_write_on_a_full_disk_names_the_file(tmp_path: Path, monkeypatch) -> None:
    def full(fd: int) -> None:  # what fsync says when the disk fills: no file name
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    line = clean_error(tmp_path, _synth(tmp_path / "sim", 0))
    assert line == f"error: {tmp_path / 'sim' / 'synth_run.json'}: no space left on the disk"


# ---- video files: say what the path is, and what is wrong with the video -------------------------
def write_video(path: Path, size: tuple[int, int], frames: int = 60, **options: str) -> Path:
    """A little moving pattern, ``size`` = (width, height), 30 fps, with PyAV."""
    import av

    fmt = {".mkv": "matroska", ".mp4": "mp4"}[path.suffix]
    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p" if size[0] % 2 == 0 == size[1] % 2 else "yuv444p"
        for i in range(frames):
            img = np.full((size[1], size[0], 3), (i * 4) % 256, np.uint8)
            img[:, i % size[0]] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _directory(tmp: Path) -> Path:
    (tmp / "clip.mp4").mkdir()
    return tmp / "clip.mp4"


def _link_loop(tmp: Path) -> Path:
    (tmp / "a.mp4").symlink_to(tmp / "b.mp4")
    (tmp / "b.mp4").symlink_to(tmp / "a.mp4")
    return tmp / "a.mp4"


def _dangling(tmp: Path) -> Path:
    (tmp / "clip.mp4").symlink_to(tmp / "gone.mp4")
    return tmp / "clip.mp4"


VIDEO_PATHS = {
    "directory": (_directory, "is a directory"),
    "symlink_loop": (_link_loop, "is a symbolic link loop"),
    "dangling_symlink": (_dangling, "symbolic link to a missing file"),
    "frames_1x1": (
        lambda tmp: write_video(tmp / "clip.mp4", (1, 1), 4),
        "1x1 pixels are too small",
    ),
    "frames_2x2": (
        lambda tmp: write_video(tmp / "clip.mp4", (2, 2), 4),
        "2x2 pixels are too small",
    ),
}


@pytest.mark.parametrize("case", list(VIDEO_PATHS))
def test_coach_says_what_is_wrong_with_the_video_path(case: str, tmp_path: Path) -> None:
    make, what = VIDEO_PATHS[case]
    video = make(tmp_path)
    line = clean_error(
        tmp_path,
        ["coach", "--video", str(video), "--out", str(tmp_path / "o"), *FAST],
        str(video),
        what,
    )
    assert "missing" not in line or case == "dangling_symlink"


def test_coach_on_a_truncated_video_says_so_and_where(tmp_path: Path) -> None:
    import av

    from livefit.vision.preprocess import VideoError, decode_frames

    whole = write_video(tmp_path / "whole.mkv", (32, 32), frames=90)
    cut = tmp_path / "cut.mkv"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # a copy that stopped half way
    with av.open(str(cut)) as c:
        decodable = sum(1 for _ in c.decode(video=0))  # no decoder error: it just ends
    assert 0 < decodable < 90
    out = tmp_path / "o"
    clean_error(
        tmp_path,
        ["coach", "--video", str(cut), "--out", str(out), *FAST],
        str(cut),
        "truncated video",
        f"after frame {decodable} ",
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stopped"] == "error" and "truncated" in summary["run"]["error"]
    # Whole videos are not truncated: the mkv, and a faststart mp4 (its index up front).
    fast = write_video(tmp_path / "fast.mp4", (32, 32), frames=90, movflags="+faststart")
    assert sum(1 for _ in decode_frames(whole)) == sum(1 for _ in decode_frames(fast)) == 90
    # The mp4 cut in half stops at a broken packet: truncated, at which frame of how many.
    half = tmp_path / "half.mp4"
    half.write_bytes(fast.read_bytes()[: fast.stat().st_size // 2])
    with pytest.raises(VideoError, match=r"half\.mp4: truncated or corrupt video: .* of 90 "):
        sum(1 for _ in decode_frames(half))
