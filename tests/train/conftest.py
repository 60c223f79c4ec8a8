"""The session's tiny QEVD-SIM data root, copied, with features from a tiny random CNN, shared by
the coach tests; and one ``livefit train --preset tiny`` run."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "vision"))
sys.path.insert(0, str(Path(__file__).parents[1]))
from run_once import built_once  # noqa: E402
from vision_helpers import random_model, tiny_config  # noqa: E402

from livefit.vision.extract import run_extraction  # noqa: E402
from livefit.vision.front_ends import save_front_end  # noqa: E402


@pytest.fixture(scope="session")
def coach_root(sim_tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's tiny preset (2 + 2 workouts of three 8 s exercises, 24 + 12
    clips) + features of a random tiny CNN (24 channels, 2 x 2 maps: 4 vectors of 24
    per step) for every video."""
    torch.set_num_threads(1)

    def build(root: Path) -> None:
        shutil.copytree(sim_tiny_root, root)
        cnn = random_model(tiny_config(input_height=28, input_width=20))
        save_front_end(cnn, root / "cnn")
        for split, clips in (("train", False), ("test", False), ("train", True), ("test", True)):
            summary = run_extraction(root, split, cnn, clips, progress=False)
            assert not summary.failed, summary.failed

    return built_once(tmp_path_factory, "coach_root", build)


@pytest.fixture(scope="session")
def tiny_run(sim_tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``livefit train --preset tiny`` once: (run folder, the command's output). Its data folder
    starts as a copy of the session's tiny QEVD-SIM, which is what its synth step makes (the same
    preset and seed): the step resumes past every video instead of rendering it again."""
    from typer.testing import CliRunner

    from livefit.cli import app

    def build(folder: Path) -> None:
        shutil.copytree(sim_tiny_root, folder / "run" / "data")
        args = ["train", "--preset", "tiny", "--out", str(folder / "run"), "--no-progress"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        (folder / "output.txt").write_text(result.output)

    folder = built_once(tmp_path_factory, "tiny_run", build)
    return folder / "run", (folder / "output.txt").read_text()
