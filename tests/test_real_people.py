"""The smoke test of ``benchmarks/real_people.py``: the real-people clips are there with the
recorded sha256 (``scripts/fetch_real_people.py``), and the pose coach runs over the labelled span
of the shortest one (Sports2D's 2.6 s of jumping jacks, a walker passing) and writes its report.
Not a target: only that it runs and reports each number. Without the clips it skips, unless
LIVEFIT_REQUIRE_REAL_PEOPLE=1 (``make test``), where it fails."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow(6)
def test_the_real_people_benchmark_runs_and_reports(pose_estimator_available, tmp_path):
    manifest = json.loads((ROOT / "benchmarks" / "real_people.json").read_text())
    clips = Path(os.environ.get("LIVEFIT_REAL_PEOPLE", ROOT / ".cache" / "real_people"))
    missing = [c["file"] for c in manifest["clips"] if not (clips / c["file"]).is_file()]
    if missing:
        message = f"no real-people clips {missing} in {clips}: python scripts/fetch_real_people.py"
        if os.environ.get("LIVEFIT_REQUIRE_REAL_PEOPLE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    for clip in manifest["clips"]:
        digest = hashlib.sha256((clips / clip["file"]).read_bytes()).hexdigest()
        assert digest == clip["sha256"], clip["file"]
    args = ["--clips", str(clips), "--coaches", "pose", "--span-only", "--only", "sports2d"]
    args += ["--results", str(tmp_path)]
    spec = importlib.util.spec_from_file_location("real_people", ROOT / "benchmarks/real_people.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    benchmark.main(args)
    result = json.loads((tmp_path / "real_people.json").read_text())
    (clip,) = [c for c in manifest["clips"] if "sports2d" in c["file"]]
    assert [r["clip"] for r in result["rows"]] == [clip["name"]]
    for row in result["rows"]:
        assert row["frames_in_span"] > 16 and 0 <= row["on_right_person"] <= 1
        assert row["exercise_named"] and row["reps_counter"] >= 0 and row["reps_coach"] >= 0
    assert "frames on the person" in (tmp_path / "real_people.md").read_text()
