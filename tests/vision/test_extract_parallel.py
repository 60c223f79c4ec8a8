"""Feature extraction over several local processes writes what one process writes."""

from __future__ import annotations

import numpy as np
from vision_helpers import random_model, tiny_config

from livefit.vision.extract import list_jobs, run_extraction, run_extraction_parallel
from livefit.vision.front_ends import save_front_end


def test_two_processes_write_the_same_files(tmp_path):
    from livefit.synth.generate import generate
    from livefit.synth.presets import preset

    generate(
        preset("tiny", train_workouts=0, test_workouts=0, test_clips=0, train_clips=6),
        tmp_path / "a",
        seed=3,
        progress=False,
    )
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    model = random_model(tiny_config(input_height=28, input_width=20))
    save_front_end(model, tmp_path / "cnn")
    one = run_extraction(tmp_path / "a", "train", model, clips=True, progress=False)
    two = run_extraction_parallel(
        tmp_path / "b", "train", tmp_path / "cnn", clips=True, workers=2, progress=False
    )
    assert (one.done, two.done, two.failed) == (6, 6, [])
    _, jobs_a = list_jobs(tmp_path / "a", "train", clips=True)
    _, jobs_b = list_jobs(tmp_path / "b", "train", clips=True)
    for a, b in zip(jobs_a, jobs_b, strict=True):
        np.testing.assert_allclose(np.load(a.features_out), np.load(b.features_out), atol=1e-5)
        np.testing.assert_array_equal(np.load(a.timestamps_out), np.load(b.timestamps_out))
    again = run_extraction_parallel(
        tmp_path / "b", "train", tmp_path / "cnn", clips=True, workers=2, progress=False
    )
    assert (again.done, again.skipped) == (0, 6)  # resumable like one process
