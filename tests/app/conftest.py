"""Shared fixtures for the web app tests: the bundled coach and one fresh tiny QEVD-SIM workout
(3 exercises with rests, 30 fps), decoded once and resampled to the page's 16 fps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from livefit.stream.live import LiveCoach

PAGE_FPS = 16.0


@pytest.fixture(scope="session")
def bundled_coach():
    """The bundled coach, with one torch thread as ``livefit serve`` runs it (several threads
    per tiny call only fight each other and the server's other threads on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield LiveCoach.load()
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def workout_video(tmp_path_factory) -> Path:
    """The mp4 of a fresh tiny synthetic workout (about 55 s)."""
    from livefit.synth.generate import generate
    from livefit.synth.presets import preset
    from livefit.vision.extract import list_jobs

    root = tmp_path_factory.mktemp("serve-workout")
    config = preset("tiny", train_workouts=0, test_workouts=1, train_clips=0, test_clips=0)
    generate(config, root, 0, workers=1, progress=False)
    _, (job,) = list_jobs(root, "test")
    return job.video


@pytest.fixture(scope="session")
def workout_frames(workout_video) -> list[np.ndarray]:
    """The workout's RGB frames at 16 fps (what the page sends), frame k captured at k / 16 s."""
    from livefit.vision.preprocess import decode_frames, resample_indices

    decoded = list(decode_frames(workout_video))
    times = np.array([t for _, t in decoded], dtype=np.float64)
    return [decoded[i][0] for i in resample_indices(times, PAGE_FPS)]
