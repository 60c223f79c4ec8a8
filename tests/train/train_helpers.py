"""Helpers for the train tests (the clip fixture lives in tests/vision/vision_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "vision"))
from vision_helpers import FINE, LABELS, make_clips, tiny_config  # noqa: E402

__all__ = ["FINE", "LABELS", "make_clips", "tiny_config"]
