"""The tiny QEVD-SIM dataset of the session (``sim_tiny_root`` in tests/conftest.py), read-only."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_root(sim_tiny_root: Path) -> Path:
    """``preset("tiny")``, seed 0, generated once per session and shared with tests/train."""
    return sim_tiny_root
