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


def _video(root: Path) -> Path:
    """The mp4 of the one test workout under ``root``."""
    from livefit.vision.extract import list_jobs

    _, (job,) = list_jobs(root, "test")
    return job.video


def _page_frames(video: Path) -> list[np.ndarray]:
    """``video``'s RGB frames at 16 fps (what the page sends), frame k captured at k / 16 s."""
    from livefit.vision.preprocess import decode_frames, resample_indices

    decoded = list(decode_frames(video))
    times = np.array([t for _, t in decoded], dtype=np.float64)
    return [decoded[i][0] for i in resample_indices(times, PAGE_FPS)]


@pytest.fixture(scope="session")
def workout_video(sim_workout_root) -> Path:
    """The mp4 of the session's tiny synthetic workout (about 55 s; tests/conftest.py)."""
    return _video(sim_workout_root)


@pytest.fixture(scope="session")
def workout_frames(workout_video) -> list[np.ndarray]:
    """The workout's frames as the page sends them (16 fps)."""
    return _page_frames(workout_video)


@pytest.fixture(scope="session")
def workout_head_video(sim_workout_head_root) -> Path:
    """The mp4 of the workout's first 20 s (its first exercise; tests/conftest.py)."""
    return _video(sim_workout_head_root)


@pytest.fixture(scope="session")
def workout_head_frames(workout_head_video) -> list[np.ndarray]:
    """The first 20 s's frames as the page sends them (16 fps)."""
    return _page_frames(workout_head_video)
