"""``livefit features extract`` records which CNN made the features and never mixes two: the
manifest, refusal of another model or of unrecorded files, ``--overwrite`` killed half way, clear
errors for a wrong ``--model`` / ``--device``, and kill -9 then resume, byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner
from vision_helpers import make_split, random_model

from livefit.cli import app
from livefit.provenance import state_dict_sha256
from livefit.vision import cnn_extract
from livefit.vision.extract import MANIFEST, ExtractionError, list_jobs, run_extraction
from livefit.vision.front_ends import save_front_end

FOLDER = "QEVD-FIT-COACH-Benchmark/efficientnet_features"


@pytest.fixture
def one_thread():
    """Extraction on one thread, as the subprocesses run it: the same bits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def models(tmp_path):
    """Two tiny CNNs that differ only in their weights, saved as checkpoint folders."""
    for name, seed in (("cnn_a", 0), ("cnn_b", 1)):
        save_front_end(random_model(seed=seed), tmp_path / name)
    return tmp_path / "cnn_a", tmp_path / "cnn_b"


def _extract(root: Path, model: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["features", "extract", str(root), "--model", str(model), "--threads", "1", *extra]
    )
    return result.exit_code, result.output


def _files(root: Path) -> dict[str, bytes]:
    """Every features and timestamps file of the split, by name, as bytes."""
    _, jobs = list_jobs(root, "test")
    return {
        p.name: p.read_bytes()
        for j in jobs
        for p in (j.features_out, j.timestamps_out)
        if p.exists()
    }


def test_manifest_records_the_cnn_and_another_model_is_refused(tmp_path, models, one_thread):
    cnn_a, cnn_b = models
    make_split(tmp_path / "data")
    assert _extract(tmp_path / "data", cnn_a)[0] == 0
    manifest = json.loads((tmp_path / "data" / FOLDER / MANIFEST).read_text())
    weights = state_dict_sha256(random_model(seed=0).state_dict())
    assert manifest["status"] == "complete" and manifest["format"] == "livefit-features/1"
    assert manifest["producer"]["cnn"]["weights_sha256"] == weights
    assert manifest["producer"]["cnn"]["config"]["feature_channels"] == 24
    assert manifest["producer"]["preprocess"]["height"] == 32
    assert manifest["model_path"] == str(cnn_a.resolve())
    assert manifest["written_by"]["livefit"] and "git" in manifest["written_by"]
    _, (job, _) = list_jobs(tmp_path / "data", "test")
    assert json.loads(job.provenance_out.read_text()) == {"producer_id": manifest["producer_id"]}

    before = _files(tmp_path / "data")
    code, output = _extract(tmp_path / "data", cnn_b)
    assert code == 2 and output.startswith("error: ") and len(output.strip().splitlines()) == 1
    assert "cnn.weights_sha256" in output and "--overwrite" in output and FOLDER in output
    assert _files(tmp_path / "data") == before  # nothing touched

    code, output = _extract(tmp_path / "data", cnn_b, "--overwrite")
    assert code == 0 and "2 extracted" in output, output
    after = json.loads((tmp_path / "data" / FOLDER / MANIFEST).read_text())
    assert after["producer"]["cnn"]["weights_sha256"] != weights
    assert after["status"] == "complete"
    assert all(
        before[name] != data
        for name, data in _files(tmp_path / "data").items()
        if name.endswith("_features.npy")
    )


def test_a_killed_overwrite_resumes_with_the_new_model_only(tmp_path, models, monkeypatch):
    cnn_a, cnn_b = models
    make_split(tmp_path / "data", stems=("w1", "w2", "w3"))
    make_split(tmp_path / "clean", stems=("w1", "w2", "w3"))
    run_extraction(tmp_path / "data", "test", random_model(seed=0), progress=False)
    model_b = random_model(seed=1)
    run_extraction(tmp_path / "clean", "test", model_b, progress=False)

    real, calls = cnn_extract.extract_video, []

    def dies_on_the_second_video(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed half way through the overwrite
        return real(*args, **kwargs)

    monkeypatch.setattr(cnn_extract, "extract_video", dies_on_the_second_video)
    with pytest.raises(KeyboardInterrupt):
        run_extraction(tmp_path / "data", "test", model_b, overwrite=True, progress=False)
    monkeypatch.setattr(cnn_extract, "extract_video", real)
    manifest = json.loads((tmp_path / "data" / FOLDER / MANIFEST).read_text())
    assert manifest["status"] == "in_progress" and manifest["overwrite"]
    from livefit.data.qevd import QEVDFormatError, load_feature_file

    job = list_jobs(tmp_path / "data", "test")[1][0]
    with pytest.raises(QEVDFormatError, match="was interrupted here"):  # readers refuse a mix
        load_feature_file(job.features_out, job.timestamps_out)

    with pytest.raises(ExtractionError, match="cnn.weights_sha256"):  # the old model: refused
        run_extraction(tmp_path / "data", "test", random_model(seed=0), progress=False)
    resumed = run_extraction(tmp_path / "data", "test", model_b, progress=False)
    assert (resumed.done, resumed.skipped) == (2, 1)  # the A files are redone, the B one kept
    assert _files(tmp_path / "data") == _files(tmp_path / "clean")
    assert json.loads((tmp_path / "data" / FOLDER / MANIFEST).read_text())["status"] == "complete"


def test_unrecorded_feature_files_are_refused_then_redone_with_overwrite(tmp_path, models):
    cnn_a, _ = models
    make_split(tmp_path / "data")
    run_extraction(tmp_path / "data", "test", random_model(seed=0), progress=False)
    folder = tmp_path / "data" / FOLDER
    (folder / MANIFEST).unlink()  # as an older livefit (or another tool) left it
    for sidecar in folder.glob("**/*_provenance.json"):
        sidecar.unlink()
    before = _files(tmp_path / "data")
    code, output = _extract(tmp_path / "data", cnn_a)
    assert code == 2 and "no extraction.json records" in output and "--overwrite" in output
    assert "w1_features.npy" in output and len(output.strip().splitlines()) == 1
    assert _files(tmp_path / "data") == before
    code, output = _extract(tmp_path / "data", cnn_a, "--overwrite")
    assert code == 0 and "2 extracted" in output, output
    assert (folder / MANIFEST).is_file()


def test_wrong_model_and_device_are_one_line_errors(tmp_path, models):
    cnn_a, _ = models
    make_split(tmp_path / "data")
    vlm = tmp_path / "vlm"
    vlm.mkdir()
    (vlm / "config.json").write_text(json.dumps({"adapter": {}, "lm_path": None}))
    (vlm / "model.safetensors").write_bytes(b"")
    (vlm / "tokenizer.json").write_text("{}")
    cases = {
        "a Stream-VLM": (["--model", str(vlm)], "Stream-VLM (language model) folder"),
        "device": (["--model", str(cnn_a), "--device", "abacus"], "--device 'abacus'"),
        "threads": (["--model", str(cnn_a), "--threads", "-2"], "--threads"),
        "missing": (["--model", str(tmp_path / "nope")], "nope: CNN checkpoint"),
    }
    if not torch.cuda.is_available():
        cases["cuda"] = (["--model", str(cnn_a), "--device", "cuda"], "CUDA is not available")
    for name, (args, message) in cases.items():
        result = CliRunner().invoke(app, ["features", "extract", str(tmp_path / "data"), *args])
        assert result.exit_code == 2, (name, result.output)
        assert result.output.startswith("error: ") and message in result.output, name
        assert len(result.output.strip().splitlines()) == 1, name
    assert not (tmp_path / "data" / FOLDER).exists()  # nothing written


def test_kill_9_then_resume_gives_the_uninterrupted_files(tmp_path, models, one_thread):
    cnn_a, _ = models
    stems = tuple(f"w{i}" for i in range(8))
    make_split(tmp_path / "data", stems=stems)
    shutil.copytree(tmp_path / "data", tmp_path / "clean")
    run_extraction(tmp_path / "clean", "test", random_model(seed=0), progress=False)

    args = ["features", "extract", str(tmp_path / "data"), "--model", str(cnn_a)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "livefit", *args, "--threads", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = tmp_path / "data" / FOLDER / "long_range_videos"
    deadline = time.monotonic() + 60
    while not list(out.glob("*_provenance.json")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no progress from the extraction"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # progress is visible: kill it mid-run
    proc.wait()
    killed_after = len(list(out.glob("*_provenance.json")))
    assert killed_after < len(stems)  # killed before the end (the videos take ~1 s in all)

    code, output = _extract(tmp_path / "data", cnn_a)
    assert code == 0 and f"{killed_after} already done" in output, output
    assert _files(tmp_path / "data") == _files(tmp_path / "clean")
    manifest = json.loads((tmp_path / "data" / FOLDER / MANIFEST).read_text())
    assert manifest["status"] == "complete"
