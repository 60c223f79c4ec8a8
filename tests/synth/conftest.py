"""A tiny QEVD-SIM dataset generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from livefit.synth.generate import generate
from livefit.synth.presets import preset


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("qevd_sim_tiny")
    generate(preset("tiny"), root, seed=0, workers=1, progress=False)
    return root
