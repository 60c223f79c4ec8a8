"""Shared fixtures for the web app tests: the bundled coach and the session's tiny QEVD-SIM
workout (3 exercises with rests, 30 fps), decoded once and resampled to the page's 16 fps."""

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
def workout_video(sim_workout_head_root) -> Path:
    """The mp4 of the session's tiny synthetic workout cut to its first 20 s (a rest, then its
    first exercise with its start and summary; tests/conftest.py)."""
    from livefit.vision.extract import list_jobs

    _, (job,) = list_jobs(sim_workout_head_root, "test")
    return job.video


@pytest.fixture(scope="session")
def workout_frames(workout_video) -> list[np.ndarray]:
    """Those 20 s as RGB frames at 16 fps (what the page sends), frame k captured at k / 16 s."""
    from livefit.vision.preprocess import decode_frames, resample_indices

    decoded = list(decode_frames(workout_video))
    times = np.array([t for _, t in decoded], dtype=np.float64)
    return [decoded[i][0] for i in resample_indices(times, PAGE_FPS)]
