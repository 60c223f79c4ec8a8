"""``livefit data synth`` / ``livefit data contact-sheet`` through the real CLI root."""

from __future__ import annotations

from pathlib import Path

import cv2
from typer.testing import CliRunner

from livefit.cli import app

runner = CliRunner()


def test_bad_preset_is_a_clean_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["data", "synth", "--preset", "huge", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "error: unknown preset 'huge'" in res.output
    assert not (tmp_path / "QEVD-FIT-300K").exists()


def test_contact_sheet_draws_frames_and_captions(tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    res = runner.invoke(
        app,
        [
            "data",
            "contact-sheet",
            str(tiny_root),
            "--out",
            str(out),
            "--rows",
            "1",
            "--columns",
            "3",
            "--clips",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    img = cv2.imread(str(out))
    # 1 title + 1 row of 3 workout tiles, 1 title + 1 row of 3 clip tiles; frames enlarged 1.5x.
    assert img.shape[1] >= 3 * 240 and img.shape[0] > 2 * 336
    assert img.std() > 20  # not a blank page


def test_contact_sheet_on_a_folder_without_data(tmp_path: Path) -> None:
    res = runner.invoke(app, ["data", "contact-sheet", str(tmp_path), "--out", "x.png"])
    assert res.exit_code == 2
    assert "error:" in res.output and "feedbacks_long_range.json" in res.output


def test_resuming_with_another_seed_is_refused(tmp_path: Path) -> None:
    args = [
        "data",
        "synth",
        "--preset",
        "tiny",
        "--out",
        str(tmp_path),
        "--train-workouts",
        "0",
        "--test-workouts",
        "0",
        "--train-clips",
        "1",
        "--test-clips",
        "0",
    ]
    assert runner.invoke(app, [*args, "--seed", "1"]).exit_code == 0
    res = runner.invoke(app, [*args, "--seed", "2"])
    assert res.exit_code == 2
    assert "synth_run.json" in res.output and "seed 1 -> 2" in res.output
    # Growing a split with the same seed is a resume, not a conflict.
    grown = [a if a != "1" else "2" for a in args]
    assert runner.invoke(app, [*grown, "--seed", "1"]).exit_code == 0
    assert (tmp_path / "QEVD-FIT-300K/train/videos/train_000001.mp4").is_file()
