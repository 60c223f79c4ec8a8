"""Fixtures every test folder shares."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def pose_estimator_available() -> None:
    """The pose path's estimator (``ai-edge-litert`` and MediaPipe Pose's models) loads, or the
    test is skipped; ``make test`` sets LIVEFIT_REQUIRE_POSE=1, which makes it a failure."""
    from livefit.vision.pose_estimator import PoseEstimator, PoseEstimatorError

    try:
        PoseEstimator.load()
    except PoseEstimatorError as err:
        if os.environ.get("LIVEFIT_REQUIRE_POSE") == "1":
            raise
        pytest.skip(str(err))
