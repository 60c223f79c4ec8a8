"""Shared fixtures of the evaluator tests: WordNet is loaded once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The QEVD fixture writer lives in tests/ (shared with tests/data and benchmarks/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="session")
def wordnet():
    from livefit.eval.wordnet import load_wordnet

    return load_wordnet()
