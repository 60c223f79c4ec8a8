"""Shared fixtures for the streaming tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream_helpers import talkative  # noqa: E402

from livefit.model.stream_vlm import StreamVLM  # noqa: E402


@pytest.fixture(scope="session")
def models() -> list[StreamVLM]:
    return [talkative(seed) for seed in (0, 1, 2)]
