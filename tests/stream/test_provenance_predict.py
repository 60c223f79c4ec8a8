"""``livefit predict`` never loses or mixes work: files it did not write are refused (never
truncated), the settings sidecar names the model by its files' hashes, bad options and paths are
one ``error:`` line, and kill -9 then resume writes the uninterrupted run's file byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from qevd_fixture import FSpan, WorkoutSpec, write_quirk_tree, write_split
from stream_helpers import talkative
from typer.testing import CliRunner

from livefit.cli import app
from livefit.stream.engine import EngineConfig
from livefit.stream.predict import PredictError, predict

CONFIG = EngineConfig(constraint="mask", max_feedback_tokens=6)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = write_quirk_tree(tmp_path_factory.mktemp("qevd"), feature_shape=(64, 7, 5))
    model_dir = tmp_path_factory.mktemp("model")
    talkative(1).save_pretrained(model_dir)
    return root, model_dir


def short_workout(exercises: int = 8) -> WorkoutSpec:
    """One workout of ``exercises`` 8 s exercises (10 fps), each a transition and one feedback:
    as many segments, each quick to predict."""
    spans = []
    for e in range(exercises):
        first = 80 * e
        spans.append(FSpan(f"Exercise {e + 1} is next!", first, first + 9, True, 0.0))
        spans.append(FSpan("Go lower.", first + 20, first + 39))
    spans.append(FSpan("All done!", 80 * exercises, 80 * exercises + 9, True, 0.0))
    return WorkoutSpec("long_range_videos/0001.mp4", spans, 80 * exercises + 20)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["predict", *args])
    return result.exit_code, result.output


def _one_error(code: int, output: str, *needles: str) -> None:
    assert code == 2, output
    assert output.startswith("error: ") and len(output.strip().splitlines()) == 1, output
    for needle in needles:
        assert needle in output, (needle, output)


def test_files_predict_did_not_write_are_never_touched(setup, tmp_path):
    root, model_dir = setup
    out = tmp_path / "notes.txt"
    for text in ("my notes, not JSON", '{"segment_id": "0001:0", "feedbacks": []}\n'):
        out.write_text(text)  # a stranger's file, or one whose settings file was lost
        with pytest.raises(PredictError, match="no notes.txt.config.json beside it"):
            predict(root, model_dir, out, config=CONFIG, progress=False)
        assert out.read_text() == text
    code, output = _cli("--data", str(root), "--model", str(model_dir), "--out", str(out))
    _one_error(code, output, str(out), "refusing to append to or truncate")
    assert out.read_text() == text

    # Ours (it has the sidecar), but the only line is not a torn record: refused, kept.
    predict(root, model_dir, tmp_path / "p.jsonl", config=CONFIG, progress=False, limit=1)
    (tmp_path / "p.jsonl").write_text("garbage without a newline")
    with pytest.raises(PredictError, match="p.jsonl:1: not a prediction line"):
        predict(root, model_dir, tmp_path / "p.jsonl", config=CONFIG, progress=False)
    assert (tmp_path / "p.jsonl").read_text() == "garbage without a newline"

    empty = tmp_path / "empty.jsonl"
    empty.touch()  # an empty file holds nothing to lose: used
    assert predict(root, model_dir, empty, config=CONFIG, progress=False, limit=1)["segments"] == 1


def test_new_weights_at_the_same_path_are_another_model(setup, tmp_path):
    root, model_dir = setup
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    out = tmp_path / "p.jsonl"
    predict(root, model, out, config=CONFIG, progress=False, limit=1)
    settings = json.loads((tmp_path / "p.jsonl.config.json").read_text())
    assert settings["model"] == str(model.resolve())
    assert set(settings["model_sha256"]) >= {"config.json", "model.safetensors"}
    talkative(2).save_pretrained(model)  # retrained in place
    before = out.read_bytes()
    with pytest.raises(PredictError, match=r"other settings .*model_sha256 \(.*model\.safetensors"):
        predict(root, model, out, config=CONFIG, progress=False)
    assert out.read_bytes() == before


def test_another_data_version_is_refused(setup, tmp_path):
    root, model_dir = setup
    data = tmp_path / "data"
    shutil.copytree(root, data)
    out = tmp_path / "p.jsonl"
    predict(data, model_dir, out, config=CONFIG, progress=False, limit=1)
    settings = json.loads((tmp_path / "p.jsonl.config.json").read_text())
    assert settings["data"]["annotations_sha256"] and settings["data"]["features_producer"] is None
    annotations = data / "QEVD-FIT-COACH-Benchmark" / "feedbacks_long_range.json"
    annotations.write_text(annotations.read_text() + "\n")  # the annotations were edited
    before = out.read_bytes()
    with pytest.raises(PredictError, match=r"other settings .*data\.annotations_sha256"):
        predict(data, model_dir, out, config=CONFIG, progress=False)
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--limit", "-1"], ["--limit must be a positive count, not -1"]),
        (["--limit", "0"], ["--limit must be a positive count, not 0"]),
        (["--window", "0"], ["--window must be a positive count"]),
        (["--cache-capacity", "-5"], ["--cache-capacity must be a positive count"]),
        (["--temperature", "0"], ["--temperature must be a positive number"]),
        (["--device", "abacus"], ["--device 'abacus': not a torch device"]),
    ],
)
def test_bad_counts_and_devices_are_one_line_errors(setup, tmp_path, args, needles):
    root, model_dir = setup
    out = tmp_path / "p.jsonl"
    code, output = _cli("--data", str(root), "--model", str(model_dir), "--out", str(out), *args)
    _one_error(code, output, *needles)
    assert not out.exists()


def test_bad_out_paths_and_cuda_without_cuda_are_one_line_errors(setup, tmp_path):
    root, model_dir = setup
    base = ["--data", str(root), "--model", str(model_dir)]
    (tmp_path / "afile").write_text("keep me")
    _one_error(*_cli(*base, "--out", str(tmp_path)), f"--out {tmp_path}: is a folder")
    under = tmp_path / "afile" / "p.jsonl"
    _one_error(*_cli(*base, "--out", str(under)), f"{tmp_path / 'afile'} is a file, not a folder")
    assert (tmp_path / "afile").read_text() == "keep me"
    with pytest.raises(PredictError, match="--limit must be a positive"):
        predict(root, model_dir, tmp_path / "p.jsonl", limit=-1, progress=False)
    if not torch.cuda.is_available():
        out = tmp_path / "p.jsonl"
        _one_error(*_cli(*base, "--out", str(out), "--device", "cuda"), "CUDA is not available")


@pytest.mark.slow(13)
def test_kill_9_then_resume_writes_the_uninterrupted_file(tmp_path):
    root = tmp_path / "data"
    write_split(root, "test", [short_workout(10)], feature_shape=(64, 7, 5))
    talkative(1).save_pretrained(tmp_path / "model")
    args = ["--data", str(root), "--model", str(tmp_path / "model"), "--sample"]
    code, output = _cli(*args, "--out", str(tmp_path / "clean.jsonl"))
    assert code == 0, output
    clean = (tmp_path / "clean.jsonl").read_bytes()
    assert clean.count(b"\n") == 10 and b'"text"' in clean  # the sampled coach speaks

    out = tmp_path / "killed.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same bits as this one-thread process
    cmd = [sys.executable, "-m", "livefit", "predict", *args, "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out.is_file() and out.stat().st_size) and proc.poll() is None:
        assert time.monotonic() < deadline, "no progress from predict"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # the first segment is written: kill it mid-run
    proc.wait()
    written = out.read_bytes().count(b"\n")
    assert 0 < written < 10 and clean.startswith(out.read_bytes()[: clean.index(b"\n")])

    code, output = _cli(*args, "--out", str(out))
    assert code == 0 and f"({written} already done)" in output, output
    assert out.read_bytes() == clean
